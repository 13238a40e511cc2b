// Many independent signatures verified at once on every core: a fixed set of worker threads
// that the calling thread joins, so a caller with a block of a thousand signatures waits
// about a thousand verifies divided by the cores, not a thousand verifies. Answers are
// exactly city::Verify's, in the order asked. Thread-safe: calls from several threads share
// the workers (each call still finishes, on its own thread if need be).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "city/crypto/ed25519.h"

namespace city {

struct SignedMessage {
  const PublicKey* key = nullptr;
  ByteSpan message;
  const Signature* signature = nullptr;
};

class VerifierPool {
 public:
  // `threads` in all, the caller's included: 0 is one per hardware thread, 1 verifies on
  // the caller's thread alone.
  explicit VerifierPool(size_t threads = 0);
  ~VerifierPool();  // lets running calls finish, then joins the workers
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  // One answer per item, in order (1: valid). The items' bytes must live until it returns.
  std::vector<uint8_t> VerifyAll(std::span<const SignedMessage> items);

  size_t threads() const { return workers_.size() + 1; }

 private:
  struct Job;  // one VerifyAll call, worked on by whoever claims its chunks

  static bool RunChunk(Job& job);
  void WorkerLoop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;  // guarded by mutex_; jobs with chunks to claim
  bool stopping_ = false;                  // guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace city
