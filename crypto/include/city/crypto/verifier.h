// Signature verification behind an interface, so that a node (and the simulator) can verify
// each signature once and answer repeats from a cache. Every implementation must accept
// exactly what city::Verify accepts: the cache remembers answers, it never changes them.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_set>

#include "city/crypto/ed25519.h"
#include "city/crypto/hash.h"

namespace city {

class SignatureVerifier {
 public:
  virtual ~SignatureVerifier() = default;
  virtual bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) = 0;
};

// No cache: every call runs libsodium.
class DirectVerifier final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) override {
    return city::Verify(key, message, signature);
  }
};

// Remembers valid (key, message, signature) triples, keyed by a hash salted per instance
// (so nobody outside can aim collisions at it). Only successes are cached: a bad signature
// costs a verify every time, and the caller scores the peer that sent it. Bounded: the
// oldest entries go first. Thread-safe.
class CachingVerifier final : public SignatureVerifier {
 public:
  explicit CachingVerifier(size_t capacity);

  bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) override;

  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct HashOfHash {
    size_t operator()(const Hash256& h) const {
      size_t out;
      std::memcpy(&out, h.bytes.data(), sizeof out);
      return out;
    }
  };

  const size_t capacity_;
  Hash256 salt_;
  mutable std::mutex mutex_;
  std::unordered_set<Hash256, HashOfHash> known_;  // guarded by mutex_
  std::deque<Hash256> order_;                      // guarded by mutex_
  uint64_t hits_ = 0;                              // guarded by mutex_
  uint64_t misses_ = 0;                            // guarded by mutex_
};

}  // namespace city
