// The signature pipeline: a cache pass on the caller's thread, then batches of the misses
// spread over worker threads (and, for VerifyNow, the caller), each batch claimed through
// its request's counter so no batch runs twice and nobody waits on a queue to get work.
#include "city/node/tx_verifier.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <utility>

#include "keyed_hash.h"

namespace city::node {

struct TxVerifier::Request {
  std::vector<ledger::Transaction> owned;  // VerifyAsync's transactions, kept alive here
  std::span<const ledger::Transaction> txs;
  std::vector<Hash256> signed_hashes;  // one per tx
  std::vector<size_t> misses;          // positions the cache did not answer
  // Not vector<bool>: batches on different threads write neighbouring positions.
  std::vector<uint8_t> valid;
  size_t batches = 0;
  bool counted_in_queue = false;  // its misses were added to queued_txs_
  std::atomic<size_t> next_batch{0};
  std::atomic<size_t> unfinished{0};

  std::function<void(std::vector<bool>)> done;  // VerifyAsync
  std::mutex mutex;                             // VerifyNow waits on these
  std::condition_variable finished_cv;
  bool finished = false;  // guarded by mutex

  std::vector<bool> Answer() const { return {valid.begin(), valid.end()}; }
};

// Keyed (keyed_hash.h): senders cannot predict which bucket a signed transaction lands in.
size_t TxVerifier::KeyedHash::operator()(const Hash256& value) const {
  return internal::KeyedHash(value.bytes.data(), value.bytes.size());
}

TxVerifier::TxVerifier(TxVerifierOptions options)
    : batch_size_(std::max<size_t>(options.batch_size, 1)), cache_capacity_(options.cache_entries) {
  EnsureSodiumInitialized();
  size_t threads = options.threads;
  if (threads == 0) threads = std::thread::hardware_concurrency();
  threads = std::max<size_t>(threads, 1);
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

TxVerifier::~TxVerifier() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void TxVerifier::Prepare(Request& request) {
  const std::span<const ledger::Transaction> txs = request.txs;
  request.signed_hashes.reserve(txs.size());
  for (const ledger::Transaction& tx : txs) request.signed_hashes.push_back(tx.SignedHash());
  request.valid.assign(txs.size(), 0);
  uint64_t hits = 0;
  {
    std::lock_guard lock(cache_mutex_);
    for (size_t i = 0; i < txs.size(); ++i) {
      if (cache_.contains(request.signed_hashes[i])) {
        request.valid[i] = 1;
        ++hits;
      } else {
        request.misses.push_back(i);
      }
    }
  }
  cache_hits_ += hits;
  request.batches = (request.misses.size() + batch_size_ - 1) / batch_size_;
  request.unfinished = request.batches;
}

void TxVerifier::VerifyAsync(std::vector<ledger::Transaction> txs,
                             std::function<void(std::vector<bool> valid)> done) {
  auto request = std::make_shared<Request>();
  request->owned = std::move(txs);
  request->txs = request->owned;
  Prepare(*request);
  if (request->batches == 0) {
    done(request->Answer());
    return;
  }
  request->done = std::move(done);
  Enqueue(request, request->batches, /*urgent=*/false);
}

std::vector<bool> TxVerifier::VerifyNow(std::span<const ledger::Transaction> txs) {
  auto request = std::make_shared<Request>();
  request->txs = txs;
  Prepare(*request);
  if (request->batches == 0) return request->Answer();
  // This thread takes at least one batch itself; workers are offered the others.
  if (request->batches > 1) Enqueue(request, request->batches - 1, /*urgent=*/true);
  while (RunOneBatch(*request)) {
  }
  std::unique_lock lock(request->mutex);
  request->finished_cv.wait(lock, [&] { return request->finished; });
  return request->Answer();
}

bool TxVerifier::IsKnownValid(const Hash256& signed_hash) {
  std::lock_guard lock(cache_mutex_);
  if (!cache_.contains(signed_hash)) return false;
  ++cache_hits_;
  return true;
}

TxVerifierStats TxVerifier::Stats() const {
  TxVerifierStats stats;
  stats.cache_hits = cache_hits_.load();
  stats.verified = verified_.load();
  stats.failed = failed_.load();
  stats.queue_depth = queued_txs_.load();
  std::lock_guard lock(cache_mutex_);
  stats.cache_entries = cache_.size();
  return stats;
}

size_t TxVerifier::threads() const { return workers_.size(); }

void TxVerifier::Enqueue(const std::shared_ptr<Request>& request, size_t tokens, bool urgent) {
  {
    std::lock_guard lock(queue_mutex_);
    // Shutting down: the workers may be gone already, so the caller's thread does the work
    // rather than anything being queued that nobody would answer.
    if (!stopping_) {
      request->counted_in_queue = true;
      queued_txs_ += request->misses.size();
      for (size_t i = 0; i < tokens; ++i) {
        // A proposal's signatures (VerifyNow) hold up consensus; gossip can wait behind them.
        if (urgent) {
          queue_.push_front(request);
        } else {
          queue_.push_back(request);
        }
      }
      tokens = std::min(tokens, workers_.size());
    } else {
      tokens = 0;
    }
  }
  if (tokens == 0) {
    while (RunOneBatch(*request)) {
    }
    return;
  }
  for (size_t i = 0; i < tokens; ++i) queue_cv_.notify_one();
}

bool TxVerifier::RunOneBatch(Request& request) {
  const size_t batch = request.next_batch.fetch_add(1, std::memory_order_relaxed);
  if (batch >= request.batches) return false;
  const size_t begin = batch * batch_size_;
  const size_t end = std::min(begin + batch_size_, request.misses.size());
  if (request.counted_in_queue) queued_txs_ -= end - begin;
  try {
    VerifyBatch(request, begin, end);
  } catch (const std::exception& e) {
    // The batch's transactions stay unverified (refused), and the request still completes:
    // its caller must not wait forever for an answer.
    spdlog::error("verifier: a batch of {} signatures failed: {}", end - begin, e.what());
  } catch (...) {
    spdlog::error("verifier: a batch of {} signatures failed", end - begin);
  }
  // acq_rel: whoever finishes last sees every other batch's answers.
  if (request.unfinished.fetch_sub(1, std::memory_order_acq_rel) == 1) Complete(request);
  return true;
}

void TxVerifier::VerifyBatch(Request& request, size_t begin, size_t end) {
  // Asked again: the same transaction may have verified for another request (gossip brings
  // one transaction from several peers at once) since this request's cache pass.
  std::vector<uint8_t> cached(end - begin, 0);
  uint64_t hits = 0;
  {
    std::lock_guard lock(cache_mutex_);
    for (size_t k = begin; k < end; ++k) {
      if (cache_.contains(request.signed_hashes[request.misses[k]])) {
        cached[k - begin] = 1;
        ++hits;
      }
    }
  }
  uint64_t passed = 0;
  uint64_t rejected = 0;
  for (size_t k = begin; k < end; ++k) {
    const size_t position = request.misses[k];
    if (cached[k - begin]) {
      request.valid[position] = 1;
    } else if (request.txs[position].VerifySignature()) {
      request.valid[position] = 1;
      ++passed;
    } else {
      ++rejected;
    }
  }
  cache_hits_ += hits;
  verified_ += passed;
  failed_ += rejected;
  if (passed == 0 || cache_capacity_ == 0) return;
  std::lock_guard lock(cache_mutex_);
  for (size_t k = begin; k < end; ++k) {
    const size_t position = request.misses[k];
    if (cached[k - begin] || !request.valid[position]) continue;
    const Hash256& signed_hash = request.signed_hashes[position];
    if (!cache_.insert(signed_hash).second) continue;
    cache_order_.push_back(signed_hash);
    if (cache_order_.size() > cache_capacity_) {
      cache_.erase(cache_order_.front());
      cache_order_.pop_front();
    }
  }
}

void TxVerifier::Complete(Request& request) {
  if (request.done) {
    try {
      request.done(request.Answer());
    } catch (const std::exception& e) {
      spdlog::error("verifier: a verification callback failed: {}", e.what());
    } catch (...) {
      spdlog::error("verifier: a verification callback failed");
    }
    return;
  }
  std::lock_guard lock(request.mutex);
  request.finished = true;
  request.finished_cv.notify_one();
}

void TxVerifier::WorkerLoop() {
  while (true) {
    std::shared_ptr<Request> request;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      // Stopping still drains the queue, so no accepted request loses its callback.
      if (queue_.empty()) return;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    RunOneBatch(*request);
  }
}

}  // namespace city::node
