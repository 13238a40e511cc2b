// The caching signature verifier.
#include "city/crypto/verifier.h"

#include <sodium.h>

namespace city {

CachingVerifier::CachingVerifier(size_t capacity) : capacity_(capacity) {
  EnsureSodiumInitialized();
  randombytes_buf(salt_.bytes.data(), salt_.bytes.size());
}

bool CachingVerifier::Verify(const PublicKey& key, ByteSpan message, const Signature& signature) {
  const Hash256 id = TaggedHasher("city.verify-cache.v1")
                         .Update(salt_.span())
                         .Update(key.span())
                         .Update(signature.span())
                         .Update(message)
                         .Finish();
  {
    std::lock_guard lock(mutex_);
    if (known_.contains(id)) {
      ++hits_;
      return true;
    }
    ++misses_;
  }
  if (!city::Verify(key, message, signature)) return false;
  std::lock_guard lock(mutex_);
  if (capacity_ > 0 && known_.insert(id).second) {
    order_.push_back(id);
    if (order_.size() > capacity_) {
      known_.erase(order_.front());
      order_.pop_front();
    }
  }
  return true;
}

uint64_t CachingVerifier::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

uint64_t CachingVerifier::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace city
