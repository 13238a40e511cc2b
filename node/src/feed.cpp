// Long-poll waiters (feed.h).
#include "feed.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <utility>
#include <vector>

namespace city::node {

struct CommitFeed::Waiter {
  Waiter(boost::asio::io_context& io, std::string who, Condition c, Done d)
      : client(std::move(who)), condition(std::move(c)), done(std::move(d)), timer(io) {}
  const std::string client;
  Condition condition;
  Done done;
  boost::asio::steady_timer timer;
  std::atomic<bool> finished{false};
};

CommitFeed::CommitFeed(boost::asio::io_context& io, size_t max_waiters, size_t max_per_client)
    : io_(io), max_waiters_(max_waiters), max_per_client_(max_per_client) {}

CommitFeed::~CommitFeed() { CancelAll(); }

CommitFeed::WaitOutcome CommitFeed::Wait(const std::string& client, Condition condition,
                                         std::chrono::milliseconds timeout, Done done) {
  if (condition()) {
    done(true);
    return WaitOutcome::kAccepted;
  }
  auto waiter = std::make_shared<Waiter>(io_, client, std::move(condition), std::move(done));
  {
    std::lock_guard lock(mutex_);
    if (waiters_.size() >= max_waiters_) return WaitOutcome::kTooManyWaiters;
    if (!client.empty()) {
      size_t& mine = per_client_[client];
      if (max_per_client_ != 0 && mine >= max_per_client_) {
        return WaitOutcome::kTooManyFromClient;
      }
      ++mine;
    }
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
  return WaitOutcome::kAccepted;
}

void CommitFeed::Finish(const std::shared_ptr<Waiter>& waiter, bool satisfied) {
  if (waiter->finished.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    waiters_.remove(waiter);
    if (auto it = per_client_.find(waiter->client); it != per_client_.end() && --it->second == 0) {
      per_client_.erase(it);
    }
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
