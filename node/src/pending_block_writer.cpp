// Pending blocks written off the consensus thread (pending_block_writer.h).
#include "pending_block_writer.h"

#include <spdlog/spdlog.h>

#include <string>

namespace city::node {

PendingBlockWriter::PendingBlockWriter(Chain& chain) : chain_(chain), thread_([this] { Run(); }) {}

PendingBlockWriter::~PendingBlockWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void PendingBlockWriter::Put(const ledger::Block& block) { Enqueue({true, block}); }

// The store finds a pending block by its height and header hash: the transactions need not
// be copied to delete it.
void PendingBlockWriter::Delete(const ledger::Block& block) {
  Enqueue({false, ledger::Block{block.header, {}, block.signature}});
}

void PendingBlockWriter::Enqueue(Job job) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
    ++unfinished_;
  }
  changed_.notify_all();
}

Status PendingBlockWriter::WaitAll() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return unfinished_ == 0; });
  return failed_;
}

void PendingBlockWriter::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything asked was done
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Status status =
        job.put ? chain_.PutPendingBlock(job.block) : chain_.DeletePendingBlock(job.block);
    const uint64_t height = job.block.header.height;
    lock.lock();
    if (!status.ok()) {
      if (!job.put) {
        spdlog::warn("consensus: cannot delete a dropped pending block: {}", status.ToString());
      } else if (failed_.ok()) {
        failed_ = Status(status.code(),
                         "cannot store block " + std::to_string(height) + ": " + status.message());
      }
    }
    --unfinished_;
    changed_.notify_all();
  }
}

}  // namespace city::node
