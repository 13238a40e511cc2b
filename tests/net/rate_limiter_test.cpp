#include "city/net/rate_limiter.h"

#include <gtest/gtest.h>

namespace city::net {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

TEST(RateLimiter, ABurstThenTheRateThenABurstAgainAfterAnIdleWhile) {
  RateLimiter limiter(/*per_second=*/10, /*burst=*/3);
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", t0)) << i;
  EXPECT_FALSE(limiter.Allow("a", t0));
  EXPECT_FALSE(limiter.Allow("a", t0 + 50ms)) << "half a token";
  EXPECT_TRUE(limiter.Allow("a", t0 + 100ms)) << "one token after 1/10 s";
  EXPECT_FALSE(limiter.Allow("a", t0 + 100ms));
  EXPECT_TRUE(limiter.Allow("b", t0)) << "another key has its own bucket";
  // Idle for long: the bucket holds `burst`, not more.
  const Clock::time_point later = t0 + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", later)) << i;
  EXPECT_FALSE(limiter.Allow("a", later));
}

TEST(RateLimiter, KeysAreBoundedAndOnlyFullBucketsMakeRoom) {
  RateLimiter limiter(/*per_second=*/1, /*burst=*/2, /*max_keys=*/2);
  const Clock::time_point t0 = Clock::now();
  EXPECT_TRUE(limiter.Allow("a", t0));
  EXPECT_TRUE(limiter.Allow("a", t0));
  EXPECT_TRUE(limiter.Allow("b", t0));
  EXPECT_EQ(limiter.tracked(), 2u);
  // No room and no full bucket: a new key is served untracked; "a" is not evicted for it.
  EXPECT_TRUE(limiter.Allow("c", t0 + 100ms));
  EXPECT_EQ(limiter.tracked(), 2u);
  EXPECT_FALSE(limiter.Allow("a", t0 + 200ms)) << "a is still limited";
  EXPECT_TRUE(limiter.Allow("c", t0 + 500ms));
  EXPECT_EQ(limiter.tracked(), 2u);
  // By 1.2 s "b" has refilled (a full bucket is the same as none) and makes room; "a" has not.
  EXPECT_TRUE(limiter.Allow("d", t0 + 1200ms));
  EXPECT_EQ(limiter.tracked(), 2u);
  EXPECT_TRUE(limiter.Allow("a", t0 + 1200ms));
  EXPECT_FALSE(limiter.Allow("a", t0 + 1200ms)) << "a kept its bucket through the sweep";
}

}  // namespace
}  // namespace city::net
