// Requests per second per client: a token bucket for each key (a client's IP). A bucket
// holds up to `burst` tokens and refills at `per_second`; a request takes one or is refused.
// The number of buckets is bounded: a full bucket is the same as no bucket, so full ones
// are dropped first, and past `max_keys` busy ones a new key goes unlimited rather than
// evicting a client that is being limited (the connection caps still bound it).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace city::net {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(double per_second, double burst, size_t max_keys = 100'000);

  // True when `key` may make a request at `now` (and takes a token).
  bool Allow(const std::string& key, Clock::time_point now = Clock::now());
  size_t tracked() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  double Refilled(const Bucket& bucket, Clock::time_point now) const;
  void DropFullBuckets(Clock::time_point now);

  const double per_second_;
  const double burst_;
  const size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mutex_
  Clock::time_point last_sweep_{};                   // guarded by mutex_
};

}  // namespace city::net
