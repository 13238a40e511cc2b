// Work sharing through one counter per call: every thread on a job claims the next chunk of
// its items until none are left, so no chunk runs twice and a slow thread holds up nobody.
#include "city/crypto/verifier_pool.h"

#include <algorithm>
#include <atomic>

namespace city {

namespace {
// Small enough to spread a block over the cores, large enough that claiming is free.
constexpr size_t kChunk = 16;
}  // namespace

struct VerifierPool::Job {
  std::span<const SignedMessage> items;
  std::vector<uint8_t> valid;
  size_t chunks = 0;
  std::atomic<size_t> next_chunk{0};
  std::atomic<size_t> unfinished{0};
  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;  // guarded by mutex
};

VerifierPool::VerifierPool(size_t threads) {
  if (threads == 0) threads = std::max<size_t>(std::thread::hardware_concurrency(), 1);
  workers_.reserve(threads - 1);
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

VerifierPool::~VerifierPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

std::vector<uint8_t> VerifierPool::VerifyAll(std::span<const SignedMessage> items) {
  auto job = std::make_shared<Job>();
  job->items = items;
  job->valid.assign(items.size(), 0);
  job->chunks = (items.size() + kChunk - 1) / kChunk;
  job->unfinished = job->chunks;
  if (job->chunks == 0) return {};
  if (job->chunks > 1 && !workers_.empty()) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(job);
    }
    wake_.notify_all();
  }
  while (RunChunk(*job)) {
  }
  std::unique_lock lock(job->mutex);
  job->finished_cv.wait(lock, [&] { return job->finished; });
  return std::move(job->valid);
}

bool VerifierPool::RunChunk(Job& job) {
  const size_t chunk = job.next_chunk.fetch_add(1, std::memory_order_relaxed);
  if (chunk >= job.chunks) return false;
  const size_t end = std::min((chunk + 1) * kChunk, job.items.size());
  for (size_t i = chunk * kChunk; i < end; ++i) {
    const SignedMessage& item = job.items[i];
    job.valid[i] = Verify(*item.key, item.message, *item.signature) ? 1 : 0;
  }
  // acq_rel: whoever finishes the last chunk sees every other chunk's answers.
  if (job.unfinished.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(job.mutex);
    job.finished = true;
    job.finished_cv.notify_all();
  }
  return true;
}

void VerifierPool::WorkerLoop() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left to help with
      job = jobs_.front();
      // A job whose chunks are all claimed needs no more helpers.
      if (job->next_chunk.load(std::memory_order_relaxed) >= job->chunks) {
        jobs_.pop_front();
        continue;
      }
    }
    while (RunChunk(*job)) {
    }
  }
}

}  // namespace city
