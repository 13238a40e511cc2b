// Messages of the next epoch (consensus/next_epoch.h): what is kept for the next core, what
// counts as being past the end, and what a faulty member cannot make of it.
#include "city/consensus/next_epoch.h"

#include "harness.h"

namespace city::consensus::test {
namespace {

class NextEpochTest : public CoreTest {
 protected:
  // A timeout of epoch 1 signed by validator `i`: any member of the next set can send one.
  Message TimeoutOf(size_t i, uint64_t round = 1) const {
    return Timeout::Create({1, round, 0}, QuorumCert::Root(1, 9, Hash256{}), kTestChain, keys_[i]);
  }
  const ledger::ValidatorSet next_ = city::test::SetOf(keys_);
  NextEpochWatch watch_;
};

TEST_F(NextEpochTest, OnlyAMessageSignedByItsSenderAsAMemberOfTheNextSetCounts) {
  const std::string chain(kTestChain);
  EXPECT_TRUE(SignedByMember(keys_[1].public_key(), next_, 1, chain, nullptr, TimeoutOf(1)));
  EXPECT_FALSE(SignedByMember(keys_[2].public_key(), next_, 1, chain, nullptr, TimeoutOf(1)))
      << "relayed by another";
  EXPECT_FALSE(SignedByMember(keys_[1].public_key(), next_, 2, chain, nullptr, TimeoutOf(1)))
      << "of another epoch";
  Timeout unsigned_timeout = std::get<Timeout>(TimeoutOf(1));
  unsigned_timeout.signature = Signature{};
  EXPECT_FALSE(SignedByMember(keys_[1].public_key(), next_, 1, chain, nullptr, unsigned_timeout));
  const KeyPair outsider = city::test::TestKey(77);
  const Message theirs =
      Timeout::Create({1, 1, 0}, QuorumCert::Root(1, 9, Hash256{}), kTestChain, outsider);
  EXPECT_FALSE(SignedByMember(outsider.public_key(), next_, 1, chain, nullptr, theirs));
}

TEST_F(NextEpochTest, OneMemberPastTheEndMovesNobodyAndFPlusOneDoAfterTheGrace) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(watch_.Observe(1000 + i * 500, keys_[1].public_key(), next_, TimeoutOf(1)));
  }
  // f + 1 = 2 members of four: the second arrives, and the first was seen long ago.
  const auto past = watch_.Observe(20'000, keys_[2].public_key(), next_, TimeoutOf(2));
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(past->size(), 2u);
  EXPECT_FALSE(watch_.Observe(20'500, keys_[3].public_key(), next_, TimeoutOf(3)))
      << "not again before the interval";
  EXPECT_TRUE(watch_.Observe(20'000 + NextEpochWatch::kCatchUpEveryMs, keys_[3].public_key(), next_,
                             TimeoutOf(3)));
  EXPECT_EQ(watch_.attempts(), 2u);
}

TEST_F(NextEpochTest, WhatIsKeptIsBoundedPerSenderAndHandedOverOnce) {
  for (uint64_t round = 1; round <= 50; ++round) {
    watch_.Observe(1000, keys_[1].public_key(), next_, TimeoutOf(1, round));
  }
  watch_.Observe(1000, keys_[2].public_key(), next_, TimeoutOf(2));
  const auto kept = watch_.Enter();
  ASSERT_EQ(kept.size(), NextEpochWatch::kMaxKeptPerSender + 1);
  EXPECT_EQ(kept.back().first, keys_[2].public_key());
  EXPECT_TRUE(watch_.Enter().empty());
  EXPECT_EQ(watch_.attempts(), 0u);
}

}  // namespace
}  // namespace city::consensus::test
