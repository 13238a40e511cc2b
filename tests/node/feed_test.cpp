// Long-poll waiters (node/src/feed.h): caps in all and per client, and that every accepted
// waiter is answered once, by its condition or its timeout.
#include "feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <thread>

namespace city::node {
namespace {

using namespace std::chrono_literals;
using Outcome = CommitFeed::WaitOutcome;

TEST(CommitFeed, OneClientCannotHoldEveryWaiterAndFreedSlotsAreReused) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  std::atomic<bool> ready{false};
  std::atomic<int> satisfied{0}, timed_out{0};
  {
    CommitFeed feed(io, /*max_waiters=*/5, /*max_per_client=*/2);
    auto wait = [&](const std::string& client, std::chrono::milliseconds timeout = 10s) {
      return feed.Wait(
          client, [&] { return ready.load(); }, timeout,
          [&](bool ok) { ++(ok ? satisfied : timed_out); });
    };
    EXPECT_EQ(wait("10.0.0.1"), Outcome::kAccepted);
    EXPECT_EQ(wait("10.0.0.1"), Outcome::kAccepted);
    EXPECT_EQ(wait("10.0.0.1"), Outcome::kTooManyFromClient);
    EXPECT_EQ(wait("10.0.0.2"), Outcome::kAccepted) << "another client has its own share";
    EXPECT_EQ(wait(""), Outcome::kAccepted);
    EXPECT_EQ(wait(""), Outcome::kAccepted);
    EXPECT_EQ(wait("10.0.0.3"), Outcome::kTooManyWaiters) << "5 in all";
    EXPECT_EQ(feed.waiting(), 5u);

    ready = true;
    feed.Notify();
    EXPECT_EQ(feed.waiting(), 0u);
    ready = false;
    // The answered ones gave their slots back.
    EXPECT_EQ(wait("10.0.0.1", 50ms), Outcome::kAccepted);
    EXPECT_EQ(wait("10.0.0.1", 50ms), Outcome::kAccepted);
    for (int i = 0; i < 200 && timed_out < 2; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(timed_out.load(), 2);
    EXPECT_EQ(wait("10.0.0.1"), Outcome::kAccepted) << "timed-out ones give theirs back too";
  }
  work.reset();
  runner.join();
  EXPECT_EQ(satisfied.load(), 5);
  EXPECT_EQ(timed_out.load(), 3) << "the last one, cancelled when the feed went away";
}

}  // namespace
}  // namespace city::node
