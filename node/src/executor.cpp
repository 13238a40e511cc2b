// Execution off the voting path (executor.h).
#include "executor.h"

namespace city::node {

BlockExecutor::BlockExecutor(Chain& chain, size_t max_backlog, Committed committed)
    : chain_(chain),
      max_backlog_(std::max<size_t>(max_backlog, 1)),
      committed_(std::move(committed)),
      thread_([this] { Run(); }) {}

BlockExecutor::~BlockExecutor() {
  {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BlockExecutor::Submit(const ledger::Block& block, const ledger::QuorumCert& certificate) {
  std::unique_lock<std::recursive_mutex> lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < max_backlog_ || failed_; });
  if (failed_) return;
  queue_.push_back({block, certificate, block.Hash()});
  changed_.notify_all();
}

size_t BlockExecutor::Backlog() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return queue_.size();
}

uint64_t BlockExecutor::SubmittedHeight() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return queue_.empty() ? chain_.tip().height : queue_.back().block.header.height;
}

void BlockExecutor::WaitIdle() {
  std::unique_lock<std::recursive_mutex> lock(mutex_);
  changed_.wait(lock, [&] { return (queue_.empty() || failed_) && !reporting_; });
}

bool BlockExecutor::WaitExecuted(uint64_t height, std::chrono::milliseconds timeout) {
  std::unique_lock<std::recursive_mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    return chain_.tip().height >= height && !failed_;
  }) && !failed_;
}

std::optional<ledger::BlockHeader> BlockExecutor::FindHeader(const Hash256& hash) const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (const Item& item : queue_) {
    if (item.hash == hash) return item.block.header;
  }
  return std::nullopt;
}

void BlockExecutor::AddQueued(QueuedTransactions& into) const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (const Item& item : queue_) {
    for (const ledger::Transaction& tx : item.block.transactions) {
      into.ids.insert(tx.Id());
      ++into.per_sender[tx.sender];
    }
  }
}

void BlockExecutor::Run() {
  while (true) {
    const Item* next = nullptr;
    {
      std::unique_lock<std::recursive_mutex> lock(mutex_);
      changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty() || failed_) return;  // stopping, with everything executed
      next = &queue_.front();                 // stays put: Submit appends, only this thread pops
    }
    Result<ledger::CommitRequest> executed = chain_.Execute(next->block, next->certificate);
    std::optional<Result<CommittedBlockInfo>> done;
    {
      // The commit and the pop together, never while a reader is inside Consistent().
      std::lock_guard<std::recursive_mutex> lock(mutex_);
      if (executed.ok()) {
        done.emplace(chain_.Commit(std::move(*executed)));
      } else {
        done.emplace(executed.status());
      }
      if (!done->ok()) failed_ = true;
      queue_.pop_front();
      reporting_ = true;  // idle only once this block is reported too
    }
    changed_.notify_all();
    const bool ok = done->ok();
    committed_(std::move(*done));
    {
      std::lock_guard<std::recursive_mutex> lock(mutex_);
      reporting_ = false;
    }
    changed_.notify_all();
    if (!ok) return;
  }
}

}  // namespace city::node
