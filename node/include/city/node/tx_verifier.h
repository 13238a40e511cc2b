// Transaction signatures, verified once per node: a pool of worker threads verifies in
// batches, and a cache keyed by the transaction's SignedHash (which commits to sender,
// body and signature) remembers every signature that verified. A transaction that comes
// back (gossip, a proposal, execution) is answered from the cache, never verified again.
//
// Only successes are cached; a bad signature is verified again each time it is presented
// (the caller refuses it and scores whoever sent it). The cache is bounded (oldest out first).
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "city/ledger/types.h"

namespace city::node {

struct TxVerifierOptions {
  size_t threads = 0;  // 0: one per hardware thread
  size_t batch_size = 64;
  size_t cache_entries = 1 << 18;
};

struct TxVerifierStats {
  uint64_t cache_hits = 0;     // signatures answered from the cache
  uint64_t verified = 0;       // signatures that ran libsodium and passed
  uint64_t failed = 0;         // signatures that ran libsodium and failed
  uint64_t queue_depth = 0;    // transactions waiting for a worker now
  uint64_t cache_entries = 0;  // now
};

class TxVerifier {
 public:
  explicit TxVerifier(TxVerifierOptions options = {});
  ~TxVerifier();  // finishes queued work, then joins the workers
  TxVerifier(const TxVerifier&) = delete;
  TxVerifier& operator=(const TxVerifier&) = delete;

  // Verifies `txs` on the workers (split into batches of batch_size); calls `done` once,
  // on a worker thread (or on the caller's thread if every answer came from the cache),
  // with one bool per transaction in order.
  void VerifyAsync(std::vector<ledger::Transaction> txs,
                   std::function<void(std::vector<bool> valid)> done);
  // The same, waiting for the answer; large sets are spread over the workers and the
  // calling thread also takes batches, so a proposal's signatures are checked in parallel.
  std::vector<bool> VerifyNow(std::span<const ledger::Transaction> txs);
  // Cache lookup only: true if this exact signed transaction verified before (counts a hit).
  bool IsKnownValid(const Hash256& signed_hash);

  TxVerifierStats Stats() const;
  size_t threads() const;

 private:
  // Keyed with a per-process random key, so nobody can aim signed hashes at one bucket.
  struct KeyedHash {
    size_t operator()(const Hash256& value) const;
  };
  struct Request;  // one VerifyAsync or VerifyNow call, shared by whoever works on it

  void Prepare(Request& request);
  void Enqueue(const std::shared_ptr<Request>& request, size_t tokens, bool urgent);
  bool RunOneBatch(Request& request);
  void VerifyBatch(Request& request, size_t begin, size_t end);
  static void Complete(Request& request);
  void WorkerLoop();

  const size_t batch_size_;
  const size_t cache_capacity_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  // One entry per batch; a worker claims whichever batch of that request is next, so an
  // entry whose batches were all taken (by the VerifyNow caller) is simply dropped.
  std::deque<std::shared_ptr<Request>> queue_;  // guarded by queue_mutex_
  bool stopping_ = false;                       // guarded by queue_mutex_
  std::atomic<uint64_t> queued_txs_{0};         // in batches nobody has claimed yet

  mutable std::mutex cache_mutex_;
  std::unordered_set<Hash256, KeyedHash> cache_;  // guarded by cache_mutex_
  std::deque<Hash256> cache_order_;               // oldest first; guarded by cache_mutex_

  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> verified_{0};
  std::atomic<uint64_t> failed_{0};

  std::vector<std::thread> workers_;  // last: they start once everything above exists
};

}  // namespace city::node
