// Long-poll waiters (feed.h).
#include "feed.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <utility>
#include <vector>

namespace city::node {

struct CommitFeed::Waiter {
  Waiter(boost::asio::io_context& io, Condition c, Done d)
      : condition(std::move(c)), done(std::move(d)), timer(io) {}
  Condition condition;
  Done done;
  boost::asio::steady_timer timer;
  std::atomic<bool> finished{false};
};

CommitFeed::CommitFeed(boost::asio::io_context& io, size_t max_waiters)
    : io_(io), max_waiters_(max_waiters) {}

CommitFeed::~CommitFeed() { CancelAll(); }

bool CommitFeed::Wait(Condition condition, std::chrono::milliseconds timeout, Done done) {
  if (condition()) {
    done(true);
    return true;
  }
  auto waiter = std::make_shared<Waiter>(io_, std::move(condition), std::move(done));
  {
    std::lock_guard lock(mutex_);
    if (waiters_.size() >= max_waiters_) return false;
    // Armed before anyone else can see the waiter, so no other thread touches the timer
    // while it is being set up.
    waiter->timer.expires_after(timeout);
    waiter->timer.async_wait([this, weak = std::weak_ptr<Waiter>(waiter)](auto) {
      if (auto w = weak.lock()) Finish(w, false);
    });
    waiters_.push_back(waiter);
  }
  // A commit between the first check and registration would otherwise go unnoticed.
  if (waiter->condition()) Finish(waiter, true);
  return true;
}

void CommitFeed::Finish(const std::shared_ptr<Waiter>& waiter, bool satisfied) {
  if (waiter->finished.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    waiters_.remove(waiter);
  }
  waiter->timer.cancel();
  // Answers are built off the committing thread (the consensus strand): a long-poll answer
  // reads blocks, and consensus must not wait for that.
  boost::asio::post(io_, [waiter, satisfied] { waiter->done(satisfied); });
}

void CommitFeed::Notify() {
  std::vector<std::shared_ptr<Waiter>> ready;
  {
    std::lock_guard lock(mutex_);
    for (const auto& waiter : waiters_) {
      if (waiter->condition()) ready.push_back(waiter);
    }
  }
  for (const auto& waiter : ready) Finish(waiter, true);
}

void CommitFeed::CancelAll() {
  std::vector<std::shared_ptr<Waiter>> all;
  {
    std::lock_guard lock(mutex_);
    all.assign(waiters_.begin(), waiters_.end());
  }
  for (const auto& waiter : all) Finish(waiter, false);
}

size_t CommitFeed::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace city::node
