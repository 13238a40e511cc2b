// Long-poll support: waiters that are answered when a committed block makes their condition
// true, or when their time runs out. The API's subscriptions (new blocks, a contract's
// events, a transaction's commit) are built on it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace city::node {

class CommitFeed {
 public:
  // `condition` is checked at once and after every commit (on the committing thread, so it
  // must be cheap); `done(true)` runs once it holds, `done(false)` once `timeout` passes.
  // `done` runs exactly once, on an io_context thread or the committing thread.
  using Condition = std::function<bool()>;
  using Done = std::function<void(bool satisfied)>;

  // At most `max_waiters` in all and `max_per_client` (0: no cap of its own) from one client.
  explicit CommitFeed(boost::asio::io_context& io, size_t max_waiters = 4096,
                      size_t max_per_client = 0);
  ~CommitFeed();

  enum class WaitOutcome { kAccepted, kTooManyWaiters, kTooManyFromClient };
  // Unless accepted, `done` is not called. `client` names who waits (an IP address); ""
  // counts only towards max_waiters.
  WaitOutcome Wait(const std::string& client, Condition condition,
                   std::chrono::milliseconds timeout, Done done);
  // After a commit: answers every waiter whose condition now holds.
  void Notify();
  // Answers every waiter with false (at shutdown).
  void CancelAll();
  size_t waiting() const;
  size_t max_per_client() const { return max_per_client_; }

 private:
  struct Waiter;
  void Finish(const std::shared_ptr<Waiter>& waiter, bool satisfied);

  boost::asio::io_context& io_;
  const size_t max_waiters_;
  const size_t max_per_client_;
  mutable std::mutex mutex_;
  std::list<std::shared_ptr<Waiter>> waiters_;          // guarded by mutex_
  std::unordered_map<std::string, size_t> per_client_;  // guarded by mutex_
};

}  // namespace city::node
