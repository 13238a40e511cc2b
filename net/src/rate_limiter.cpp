// Token buckets per client (rate_limiter.h).
#include "city/net/rate_limiter.h"

#include <algorithm>

namespace city::net {

RateLimiter::RateLimiter(double per_second, double burst, size_t max_keys)
    : per_second_(per_second), burst_(std::max(burst, 1.0)), max_keys_(max_keys) {}

double RateLimiter::Refilled(const Bucket& bucket, Clock::time_point now) const {
  const double seconds = std::chrono::duration<double>(now - bucket.updated).count();
  return std::min(burst_, bucket.tokens + std::max(seconds, 0.0) * per_second_);
}

void RateLimiter::DropFullBuckets(Clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = Refilled(it->second, now) >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

bool RateLimiter::Allow(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto found = buckets_.find(key);
  if (found == buckets_.end()) {
    // A sweep is O(keys): at most one a second, so new keys cannot make every request pay.
    if (buckets_.size() >= max_keys_ && now - last_sweep_ >= std::chrono::seconds(1)) {
      last_sweep_ = now;
      DropFullBuckets(now);
    }
    if (buckets_.size() >= max_keys_) return true;
    buckets_.emplace(key, Bucket{burst_ - 1, now});
    return true;
  }
  Bucket& bucket = found->second;
  bucket.tokens = Refilled(bucket, now);
  bucket.updated = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

size_t RateLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace city::net
