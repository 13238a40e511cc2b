// The mempool's admission rules, block selection (nonce runs, exclusion, expiry, limits,
// fairness between senders), removal and byte accounting, checked against a simple
// reference model by a property test, and a concurrency smoke test for ThreadSanitizer.
#include "city/node/mempool.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "support/ledger_fixtures.h"

namespace city::node {
namespace {

using ledger::Transaction;

const KeyPair& Key(size_t i) {
  static const std::vector<KeyPair> keys = [] {
    std::vector<KeyPair> out;
    for (uint8_t k = 1; k <= 8; ++k) out.push_back(test::TestKey(k));
    return out;
  }();
  return keys.at(i);
}

// `variant` changes the arguments, so one (sender, nonce) can have several ids.
Transaction MakeTx(const KeyPair& key, uint64_t nonce, uint64_t expiry = 1000, size_t args = 96,
                   uint8_t variant = 0) {
  Transaction tx;
  tx.chain_id = std::string(test::kTestChain);
  tx.nonce = nonce;
  tx.expiry_height = expiry;
  tx.contract = "ubi";
  tx.method = "transfer";
  tx.args = Bytes(args, variant);
  tx.Sign(key);
  return tx;
}

size_t SizeOf(const Transaction& tx) { return ledger::Encode(tx).size(); }

std::optional<AddRefusal> AddTx(Mempool& pool, const Transaction& tx, uint64_t committed = 0,
                                uint64_t next_height = 1) {
  return pool.Add(tx, tx.Id(), SizeOf(tx), committed, next_height);
}

// What Add answered: nullopt when added, else "duplicate" or the refusal's stable name.
std::optional<std::string> ErrorOf(const std::optional<AddRefusal>& refusal) {
  if (!refusal) return std::nullopt;
  return refusal->duplicate ? "duplicate" : AdmissionName(refusal->reason);
}

// Committed next nonces, as the chain state would answer them.
struct Nonces {
  std::map<PublicKey, uint64_t> next;
  std::map<PublicKey, int> calls;
  std::function<uint64_t(const PublicKey&)> Fn() {
    return [this](const PublicKey& key) {
      ++calls[key];
      auto it = next.find(key);
      return it == next.end() ? 0 : it->second;
    };
  }
};

std::vector<uint64_t> NoncesOf(const std::vector<Transaction>& txs) {
  std::vector<uint64_t> out;
  for (const Transaction& tx : txs) out.push_back(tx.nonce);
  return out;
}

std::vector<Transaction> SelectAll(const Mempool& pool, uint64_t height = 1,
                                   const std::set<Hash256>& exclude = {}) {
  Nonces nonces;
  return pool.Select(1000, 1 << 30, height, nonces.Fn(), exclude);
}

TEST(Admission, NamesAreStableAndOnlyFormatAndSignatureFaultsArePeerFaults) {
  const std::vector<std::tuple<Admission, std::string, bool>> expected = {
      {Admission::kWrongChain, "wrong_chain", true},
      {Admission::kInvalid, "invalid", true},
      {Admission::kTooLarge, "too_large", true},
      {Admission::kAlreadyCommitted, "already_committed", false},
      {Admission::kExpired, "expired", false},
      {Admission::kExpiryTooFar, "expiry_too_far", false},
      {Admission::kNonceUsed, "nonce_used", false},
      {Admission::kNonceConflict, "nonce_conflict", false},
      {Admission::kNonceGap, "nonce_gap", false},
      {Admission::kSenderFull, "sender_full", false},
      {Admission::kClientFull, "client_full", false},
      {Admission::kMempoolFull, "mempool_full", false},
      {Admission::kOverloaded, "overloaded", false},
      {Admission::kBadSignature, "bad_signature", true},
  };
  for (const auto& [reason, name, peer_fault] : expected) {
    EXPECT_EQ(AdmissionName(reason), name);
    EXPECT_EQ(IsPeerFault(reason), peer_fault) << name;
  }
  EXPECT_TRUE(IsBackpressure(Admission::kMempoolFull));
  EXPECT_TRUE(IsBackpressure(Admission::kClientFull));
  EXPECT_FALSE(IsBackpressure(Admission::kNonceGap));
}

TEST(MempoolAdd, RefusesADuplicateId) {
  Mempool pool;
  const Transaction tx = MakeTx(Key(0), 0);
  EXPECT_EQ(AddTx(pool, tx), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, tx)), "duplicate");
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.Stats().added, 1u);
  EXPECT_EQ(pool.Stats().refused, 1u);
}

TEST(MempoolAdd, RefusesATransactionExpiredBeforeTheNextHeight) {
  Mempool pool;
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 0, /*expiry=*/5), 0, /*next_height=*/6)), "expired");
  // expiry_height is the last height that may include it, so equal is still fine.
  EXPECT_EQ(AddTx(pool, MakeTx(Key(0), 0, /*expiry=*/6), 0, /*next_height=*/6), std::nullopt);
}

TEST(MempoolAdd, RefusesAUsedNonceWithAClearMessage) {
  Mempool pool;
  const std::optional<AddRefusal> refusal = AddTx(pool, MakeTx(Key(0), 3), /*committed=*/5);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(ErrorOf(refusal), "nonce_used");
  EXPECT_EQ(refusal->message, "nonce 3 already used; the sender's next nonce is 5");
  EXPECT_EQ(AddTx(pool, MakeTx(Key(0), 5), /*committed=*/5), std::nullopt);
}

TEST(MempoolAdd, RefusesANonceTooFarAhead) {
  Mempool pool({.max_nonce_gap = 10});
  EXPECT_EQ(AddTx(pool, MakeTx(Key(0), 15), /*committed=*/5), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 16), /*committed=*/5)), "nonce_gap");
}

TEST(MempoolAdd, NonceGapNearTheTopOfTheRangeDoesNotOverflow) {
  Mempool pool({.max_nonce_gap = 1000});
  const uint64_t top = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(AddTx(pool, MakeTx(Key(0), top), /*committed=*/top - 1), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(1), top), /*committed=*/0)), "nonce_gap");
}

TEST(MempoolAdd, RefusesASecondTransactionWithTheSameSenderAndNonce) {
  Mempool pool;
  EXPECT_EQ(AddTx(pool, MakeTx(Key(0), 4, 1000, 96, 1)), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 4, 1000, 96, 2))), "nonce_conflict");
  // Another sender may use the same nonce.
  EXPECT_EQ(AddTx(pool, MakeTx(Key(1), 4)), std::nullopt);
}

TEST(MempoolAdd, RefusesASenderAtItsLimit) {
  Mempool pool({.max_per_sender = 3});
  for (uint64_t n = 0; n < 3; ++n) ASSERT_EQ(AddTx(pool, MakeTx(Key(0), n)), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 3))), "sender_full");
  EXPECT_EQ(AddTx(pool, MakeTx(Key(1), 0)), std::nullopt);
}

TEST(MempoolAdd, RefusesWhenTheCountLimitIsReached) {
  Mempool pool({.max_transactions = 2});
  const Transaction a = MakeTx(Key(0), 0);
  const Transaction b = MakeTx(Key(1), 0);
  ASSERT_EQ(AddTx(pool, a), std::nullopt);
  ASSERT_EQ(AddTx(pool, b), std::nullopt);
  const std::optional<AddRefusal> refusal = AddTx(pool, MakeTx(Key(2), 0));
  ASSERT_TRUE(refusal);
  EXPECT_EQ(ErrorOf(refusal), "mempool_full");
  EXPECT_EQ(refusal->message, "mempool full: 2 transactions, " +
                                  std::to_string(SizeOf(a) + SizeOf(b)) + " bytes pending");
}

TEST(MempoolAdd, RefusesWhenTheByteLimitWouldBeExceededAndAcceptsAfterRemoval) {
  const Transaction a = MakeTx(Key(0), 0);
  const Transaction b = MakeTx(Key(1), 0);
  const Transaction c = MakeTx(Key(2), 0);
  // Room for two and a byte short of the third.
  Mempool pool({.max_bytes = SizeOf(a) + SizeOf(b) + SizeOf(c) - 1});
  ASSERT_EQ(AddTx(pool, a), std::nullopt);
  ASSERT_EQ(AddTx(pool, b), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, c)), "mempool_full");
  Nonces nonces;
  nonces.next[a.sender] = 1;
  pool.RemoveCommitted({a}, nonces.Fn());
  EXPECT_EQ(AddTx(pool, c), std::nullopt);
}

TEST(MempoolAdd, ChecksRunInTheDocumentedOrder) {
  Mempool pool({.max_transactions = 1, .max_per_sender = 1, .max_nonce_gap = 5});
  const Transaction first = MakeTx(Key(0), 0, 10);
  ASSERT_EQ(AddTx(pool, first), std::nullopt);
  // Duplicate before expiry.
  EXPECT_EQ(ErrorOf(AddTx(pool, first, 0, 50)), "duplicate");
  // Expired before a used nonce.
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(1), 0, 10), 3, 50)), "expired");
  // Expiry beyond the horizon before a used nonce.
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(2), 1, 1'000'000), 3)), "expiry_too_far");
  // A used nonce and a gap before anything about the pool's contents.
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(2), 1, 10), 3)), "nonce_used");
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(2), 9, 10), 3)), "nonce_gap");
  // A conflict before the sender's limit, the sender's limit before the pool's.
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 0, 10, 96, 7))), "nonce_conflict");
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 1, 10))), "sender_full");
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(1), 0, 10))), "mempool_full");
  EXPECT_EQ(pool.Stats().refused, 8u);
  EXPECT_EQ(pool.size(), 1u);
}

TEST(MempoolAdd, RefusesAnExpiryBeyondTheHorizon) {
  Mempool pool({.max_expiry_horizon = 100});
  EXPECT_EQ(AddTx(pool, MakeTx(Key(0), 0, /*expiry=*/110), 0, /*next_height=*/10), std::nullopt);
  const std::optional<AddRefusal> refusal =
      AddTx(pool, MakeTx(Key(0), 1, /*expiry=*/111), 0, /*next_height=*/10);
  EXPECT_EQ(ErrorOf(refusal), "expiry_too_far");
  EXPECT_EQ(refusal->message, "expiry height 111 is more than 100 above the next height 10");
  const uint64_t top = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(1), 0, top), 0, 10)), "expiry_too_far");
}

// The fill attack in small: senders flood the pool with transactions behind a nonce gap.
TEST(MempoolEvict, AFullPoolEvictsTheOldestGappedForOneThatCanRunAndNothingForOneThatCannot) {
  Mempool pool({.max_transactions = 4});
  // Key 0 and key 1 each hold two transactions behind a gap (nonce 0 is missing).
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 1), 0, 1), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 1), 0, 2), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 2), 0, 2), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 2), 0, 3), std::nullopt);
  EXPECT_EQ(pool.Stats().gapped, 4u);
  EXPECT_EQ(pool.RunnableCount(100), 0u);
  // Another gapped one is refused, and the refusal evicts nothing.
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(2), 5), 0, 3)), "mempool_full");
  EXPECT_EQ(pool.size(), 4u);
  // One that can run takes the place of the oldest gapped one (key 0, nonce 1).
  const Transaction honest = MakeTx(Key(2), 0);
  ASSERT_EQ(AddTx(pool, honest, 0, 3), std::nullopt);
  EXPECT_TRUE(pool.Contains(honest.Id()));
  EXPECT_FALSE(pool.Contains(MakeTx(Key(0), 1).Id()));
  EXPECT_TRUE(pool.Contains(MakeTx(Key(0), 2).Id()));
  EXPECT_EQ(pool.Stats().evicted, 1u);
  EXPECT_EQ(pool.Stats().gapped, 3u);
  EXPECT_EQ(pool.RunnableCount(100), 1u);
}

TEST(MempoolEvict, AFullPoolWithNothingGappedRefusesEvenOneThatCanRun) {
  Mempool pool({.max_transactions = 2});
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 0)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 0)), std::nullopt);
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(2), 0))), "mempool_full");
  EXPECT_EQ(pool.Stats().evicted, 0u);
}

TEST(MempoolEvict, ASenderAtItsLimitTradesItsHighestGappedForOneThatCanRun) {
  Mempool pool({.max_per_sender = 3});
  for (uint64_t n : {0, 5, 6}) ASSERT_EQ(AddTx(pool, MakeTx(Key(0), n)), std::nullopt);
  // Gapped newcomers stay refused; the next runnable one evicts nonce 6.
  EXPECT_EQ(ErrorOf(AddTx(pool, MakeTx(Key(0), 3))), "sender_full");
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 1)), std::nullopt);
  EXPECT_FALSE(pool.Contains(MakeTx(Key(0), 6).Id()));
  EXPECT_EQ(pool.PendingRun(Key(0).public_key(), 0), 2u);
  EXPECT_EQ(pool.Stats().evicted, 1u);
}

TEST(MempoolEvict, GappedTransactionsLeaveAfterTheBoundUnlessTheGapCloses) {
  Mempool pool({.gap_eviction_heights = 5});
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 1), 0, /*next_height=*/10), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 1), 0, /*next_height=*/10), std::nullopt);
  EXPECT_EQ(pool.Expire(14), 0u);
  // Key 1's gap closes in time: both of its transactions can run and stay.
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 0), 0, 14), std::nullopt);
  EXPECT_EQ(pool.Expire(15), 1u);
  EXPECT_FALSE(pool.Contains(MakeTx(Key(0), 1).Id()));
  EXPECT_EQ(pool.PendingRun(Key(1).public_key(), 0), 2u);
  EXPECT_EQ(pool.Stats().evicted, 1u);
  EXPECT_EQ(pool.Stats().gapped, 0u);
}

TEST(MempoolEvict, ARunnableTransactionThatExpiresLeavesTheRestBehindAGap) {
  Mempool pool({.gap_eviction_heights = 3});
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 0, /*expiry=*/5), 0, 1), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 1, /*expiry=*/50), 0, 1), std::nullopt);
  EXPECT_EQ(pool.RunnableCount(10), 2u);
  EXPECT_EQ(pool.Expire(6), 2u);  // nonce 0 expired; then nonce 1 has waited 5 heights
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.Stats().expired, 1u);
  EXPECT_EQ(pool.Stats().evicted, 1u);
}

TEST(MempoolEvict, NewsOfACommittedNonceClearsWhatCanNeverRun) {
  Mempool pool;
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 0)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 2)), std::nullopt);  // gapped
  // Another validator's block committed nonces 0 and 1 of key 0 (with other transactions).
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 3), /*committed=*/2), std::nullopt);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.PendingRun(Key(0).public_key(), 2), 2u);
  EXPECT_EQ(pool.Stats().gapped, 0u);
}

TEST(MempoolQuota, OneClientCannotTakeMoreThanItsShare) {
  Mempool pool({.max_per_client = 2});
  constexpr uint64_t kClient = 77;
  ASSERT_EQ(pool.Add(MakeTx(Key(0), 0), MakeTx(Key(0), 0).Id(), 200, 0, 1, kClient), std::nullopt);
  ASSERT_EQ(pool.Add(MakeTx(Key(1), 0), MakeTx(Key(1), 0).Id(), 200, 0, 1, kClient), std::nullopt);
  EXPECT_EQ(ErrorOf(pool.Add(MakeTx(Key(2), 0), MakeTx(Key(2), 0).Id(), 200, 0, 1, kClient)),
            "client_full");
  // Another client, and gossip (no client), are not held to it.
  EXPECT_EQ(pool.Add(MakeTx(Key(2), 0), MakeTx(Key(2), 0).Id(), 200, 0, 1, 78), std::nullopt);
  EXPECT_EQ(AddTx(pool, MakeTx(Key(3), 0)), std::nullopt);
  // A committed transaction gives its client's slot back.
  Nonces nonces;
  nonces.next[Key(0).public_key()] = 1;
  pool.RemoveCommitted({MakeTx(Key(0), 0)}, nonces.Fn());
  EXPECT_EQ(pool.Add(MakeTx(Key(4), 0), MakeTx(Key(4), 0).Id(), 200, 0, 1, kClient), std::nullopt);
}

TEST(MempoolSelect, OutOfOrderArrivalIsSelectedInNonceOrder) {
  Mempool pool;
  for (uint64_t n : {2, 0, 1}) ASSERT_EQ(AddTx(pool, MakeTx(Key(0), n)), std::nullopt);
  EXPECT_EQ(NoncesOf(SelectAll(pool)), (std::vector<uint64_t>{0, 1, 2}));
  // Selection does not remove anything.
  EXPECT_EQ(pool.size(), 3u);
}

TEST(MempoolSelect, AGapEndsTheSendersRun) {
  Mempool pool;
  for (uint64_t n : {0, 1, 3, 4}) ASSERT_EQ(AddTx(pool, MakeTx(Key(0), n)), std::nullopt);
  EXPECT_EQ(NoncesOf(SelectAll(pool)), (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(pool.PendingRun(Key(0).public_key(), 0), 2u);
  EXPECT_EQ(pool.PendingRun(Key(0).public_key(), 3), 2u);
  EXPECT_EQ(pool.PendingRun(Key(0).public_key(), 2), 0u);
  EXPECT_EQ(pool.PendingRun(Key(1).public_key(), 0), 0u);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 2)), std::nullopt);
  EXPECT_EQ(NoncesOf(SelectAll(pool)), (std::vector<uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(pool.PendingRun(Key(0).public_key(), 0), 5u);
}

TEST(MempoolSelect, StartsAtTheSendersNextNonce) {
  Mempool pool;
  for (uint64_t n : {0, 1, 2}) ASSERT_EQ(AddTx(pool, MakeTx(Key(0), n)), std::nullopt);
  Nonces nonces;
  nonces.next[Key(0).public_key()] = 1;  // nonce 0 committed, not yet removed
  EXPECT_EQ(NoncesOf(pool.Select(100, 1 << 20, 1, nonces.Fn(), {})), (std::vector<uint64_t>{1, 2}));
  nonces.next[Key(0).public_key()] = 7;  // nothing pending at 7
  EXPECT_TRUE(pool.Select(100, 1 << 20, 1, nonces.Fn(), {}).empty());
}

TEST(MempoolSelect, ExcludedTransactionsAreSkippedWithoutBreakingTheRun) {
  Mempool pool;
  std::vector<Transaction> txs;
  for (uint64_t n = 0; n < 4; ++n) {
    txs.push_back(MakeTx(Key(0), n));
    ASSERT_EQ(AddTx(pool, txs.back()), std::nullopt);
  }
  const std::set<Hash256> exclude{txs[0].Id(), txs[2].Id()};
  EXPECT_EQ(NoncesOf(SelectAll(pool, 1, exclude)), (std::vector<uint64_t>{1, 3}));
}

TEST(MempoolSelect, AnExpiredTransactionIsSkippedAndEndsTheRun) {
  Mempool pool;
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 0, 100)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 1, 5)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 2, 100)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 0, 5)), std::nullopt);
  EXPECT_EQ(NoncesOf(SelectAll(pool, /*height=*/5)), (std::vector<uint64_t>{0, 0, 1, 2}));
  EXPECT_EQ(NoncesOf(SelectAll(pool, /*height=*/6)), (std::vector<uint64_t>{0}));
}

TEST(MempoolSelect, OneBusySenderCannotStarveAnother) {
  Mempool pool;
  for (uint64_t n = 0; n < 100; ++n) ASSERT_EQ(AddTx(pool, MakeTx(Key(0), n)), std::nullopt);
  for (uint64_t n = 0; n < 3; ++n) ASSERT_EQ(AddTx(pool, MakeTx(Key(1), n)), std::nullopt);
  Nonces nonces;
  const std::vector<Transaction> selected = pool.Select(10, 1 << 20, 1, nonces.Fn(), {});
  ASSERT_EQ(selected.size(), 10u);
  // Round robin, the sender whose oldest transaction arrived first leading each pass.
  const PublicKey a = Key(0).public_key();
  const PublicKey b = Key(1).public_key();
  const std::vector<PublicKey> expected_senders{a, b, a, b, a, b, a, a, a, a};
  for (size_t i = 0; i < selected.size(); ++i) {
    EXPECT_EQ(selected[i].sender, expected_senders[i]) << "position " << i;
  }
  EXPECT_EQ(NoncesOf(selected), (std::vector<uint64_t>{0, 0, 1, 1, 2, 2, 3, 4, 5, 6}));
}

TEST(MempoolSelect, SendersAreOrderedByTheirOldestPendingTransaction) {
  Mempool pool;
  const Transaction b0 = MakeTx(Key(1), 0);
  ASSERT_EQ(AddTx(pool, b0), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 0)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 1)), std::nullopt);
  Nonces nonces;
  std::vector<Transaction> selected = pool.Select(1, 1 << 20, 1, nonces.Fn(), {});
  ASSERT_EQ(selected.size(), 1u);
  EXPECT_EQ(selected[0].sender, Key(1).public_key());
  // Once b0 commits, the sender's oldest pending one arrived after Key(0)'s.
  nonces.next[Key(1).public_key()] = 1;
  pool.RemoveCommitted({b0}, nonces.Fn());
  selected = pool.Select(1, 1 << 20, 1, nonces.Fn(), {});
  ASSERT_EQ(selected.size(), 1u);
  EXPECT_EQ(selected[0].sender, Key(0).public_key());
}

TEST(MempoolSelect, ASendersPlaceInLineMovesToItsNextOldestArrival) {
  Mempool pool;
  const Transaction a0 = MakeTx(Key(0), 0);
  ASSERT_EQ(AddTx(pool, a0), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 1)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(1), 0)), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(0), 2)), std::nullopt);
  Nonces nonces;
  nonces.next[Key(0).public_key()] = 1;
  pool.RemoveCommitted({a0}, nonces.Fn());
  // Key(0)'s nonce 1 arrived before Key(1)'s transaction; its nonce 2 after.
  const std::vector<Transaction> selected = pool.Select(1, 1 << 20, 1, nonces.Fn(), {});
  ASSERT_EQ(selected.size(), 1u);
  EXPECT_EQ(selected[0].sender, Key(0).public_key());
}

TEST(MempoolSelect, ATransactionThatDoesNotFitEndsOnlyItsSendersRun) {
  Mempool pool;
  const Transaction big = MakeTx(Key(0), 0, 1000, 600);
  const Transaction after_big = MakeTx(Key(0), 1, 1000, 10);
  const Transaction b = MakeTx(Key(1), 0, 1000, 10);
  const Transaction c = MakeTx(Key(2), 0, 1000, 10);
  for (const Transaction& tx : {big, after_big, b, c}) ASSERT_EQ(AddTx(pool, tx), std::nullopt);
  const size_t max_bytes = SizeOf(b) + SizeOf(c) + SizeOf(after_big) + 5;
  ASSERT_LT(max_bytes, SizeOf(big));
  Nonces nonces;
  const std::vector<Transaction> selected = pool.Select(100, max_bytes, 1, nonces.Fn(), {});
  // after_big would fit, but cannot be included without nonce 0.
  EXPECT_EQ(selected, (std::vector<Transaction>{b, c}));
}

TEST(MempoolSelect, RespectsTheByteBudgetExactly) {
  Mempool pool;
  std::vector<Transaction> txs;
  for (uint64_t n = 0; n < 5; ++n) {
    txs.push_back(MakeTx(Key(0), n));
    ASSERT_EQ(AddTx(pool, txs.back()), std::nullopt);
  }
  Nonces nonces;
  const size_t three = SizeOf(txs[0]) + SizeOf(txs[1]) + SizeOf(txs[2]);
  EXPECT_EQ(pool.Select(100, three, 1, nonces.Fn(), {}).size(), 3u);
  EXPECT_EQ(pool.Select(100, three - 1, 1, nonces.Fn(), {}).size(), 2u);
  EXPECT_TRUE(pool.Select(0, 1 << 20, 1, nonces.Fn(), {}).empty());
}

TEST(MempoolSelect, AsksEachSendersNextNonceAtMostOnce) {
  Mempool pool;
  for (size_t s = 0; s < 4; ++s) {
    for (uint64_t n = 0; n < 5; ++n) ASSERT_EQ(AddTx(pool, MakeTx(Key(s), n)), std::nullopt);
  }
  Nonces nonces;
  EXPECT_EQ(pool.Select(100, 1 << 20, 1, nonces.Fn(), {}).size(), 20u);
  EXPECT_EQ(nonces.calls.size(), 4u);
  for (const auto& [key, calls] : nonces.calls) EXPECT_EQ(calls, 1);
}

// Selection runs on the consensus thread for every block: a small block from a large pool
// must not walk every sender in line.
TEST(MempoolSelect, ASmallBlockDoesNotVisitTheWholeLine) {
  Mempool pool;
  const Transaction tx = MakeTx(Key(0), 0);
  const size_t size = SizeOf(tx);
  for (uint32_t s = 0; s < 2000; ++s) {
    // Distinct senders without 2000 key derivations: the pool never checks signatures.
    Transaction copy = tx;
    std::memcpy(copy.sender.bytes.data(), &s, sizeof s);
    ASSERT_EQ(pool.Add(copy, copy.Id(), size, 0, 1), std::nullopt);
  }
  Nonces nonces;
  EXPECT_EQ(pool.Select(10, 1 << 20, 1, nonces.Fn(), {}).size(), 10u);
  EXPECT_EQ(nonces.calls.size(), 10u);
}

TEST(MempoolRemove, CommittedTransactionsAndStaleLowerNoncesGo) {
  Mempool pool;
  std::vector<Transaction> a;
  for (uint64_t n = 0; n < 5; ++n) {
    a.push_back(MakeTx(Key(0), n, 1000, 96, 1));
    ASSERT_EQ(AddTx(pool, a.back()), std::nullopt);
  }
  const Transaction b0 = MakeTx(Key(1), 0);
  const Transaction b1 = MakeTx(Key(1), 1);
  ASSERT_EQ(AddTx(pool, b0), std::nullopt);
  ASSERT_EQ(AddTx(pool, b1), std::nullopt);
  ASSERT_EQ(AddTx(pool, MakeTx(Key(2), 0)), std::nullopt);

  // The block holds a[0], a different transaction with a's nonce 2 (so a[1] and a[2] can
  // never commit), and b0.
  const Transaction rival = MakeTx(Key(0), 2, 1000, 96, 9);
  Nonces nonces;
  nonces.next[Key(0).public_key()] = 3;
  nonces.next[Key(1).public_key()] = 1;
  pool.RemoveCommitted({a[0], rival, b0}, nonces.Fn());

  EXPECT_FALSE(pool.Contains(a[0].Id()));
  EXPECT_FALSE(pool.Contains(a[1].Id()));
  EXPECT_FALSE(pool.Contains(a[2].Id()));
  EXPECT_TRUE(pool.Contains(a[3].Id()));
  EXPECT_TRUE(pool.Contains(a[4].Id()));
  EXPECT_FALSE(pool.Contains(b0.Id()));
  EXPECT_TRUE(pool.Contains(b1.Id()));
  EXPECT_EQ(pool.size(), 4u);
  EXPECT_EQ(pool.Stats().removed_committed, 4u);
  // Once per sender in the block, however many of its transactions it holds.
  EXPECT_EQ(nonces.calls[Key(0).public_key()], 1);
  EXPECT_EQ(nonces.calls[Key(1).public_key()], 1);
  EXPECT_EQ(nonces.calls.count(Key(2).public_key()), 0u);
  EXPECT_EQ(NoncesOf(pool.Select(100, 1 << 20, 1, nonces.Fn(), {})),
            (std::vector<uint64_t>{3, 1, 0, 4}));
}

TEST(MempoolRemove, ExpireDropsTransactionsBelowTheNextHeight) {
  Mempool pool;
  const Transaction a = MakeTx(Key(0), 0, 5);
  const Transaction b = MakeTx(Key(1), 0, 10);
  const Transaction c = MakeTx(Key(1), 1, 15);
  for (const Transaction& tx : {a, b, c}) ASSERT_EQ(AddTx(pool, tx), std::nullopt);
  EXPECT_EQ(pool.Expire(5), 0u);
  EXPECT_EQ(pool.Expire(11), 2u);
  EXPECT_FALSE(pool.Get(a.Id()));
  EXPECT_FALSE(pool.Get(b.Id()));
  ASSERT_TRUE(pool.Get(c.Id()));
  EXPECT_EQ(*pool.Get(c.Id()), c);
  const MempoolStats stats = pool.Stats();
  EXPECT_EQ(stats.expired, 2u);
  EXPECT_EQ(stats.transactions, 1u);
  EXPECT_EQ(stats.senders, 1u);
  EXPECT_EQ(stats.bytes, SizeOf(c));
}

TEST(MempoolRemove, ByteAccountingReturnsToZero) {
  Mempool pool;
  std::vector<Transaction> txs;
  size_t total = 0;
  for (size_t s = 0; s < 3; ++s) {
    for (uint64_t n = 0; n < 4; ++n) {
      txs.push_back(MakeTx(Key(s), n, 10 + n, 20 * n + s));
      total += SizeOf(txs.back());
      ASSERT_EQ(AddTx(pool, txs.back()), std::nullopt);
    }
  }
  EXPECT_EQ(pool.Stats().bytes, total);
  EXPECT_EQ(pool.Stats().senders, 3u);
  Nonces nonces;
  nonces.next[Key(0).public_key()] = 2;
  pool.RemoveCommitted({txs[0], txs[1]}, nonces.Fn());
  total -= SizeOf(txs[0]) + SizeOf(txs[1]);
  EXPECT_EQ(pool.Stats().bytes, total);
  EXPECT_EQ(pool.Expire(12), 4u);  // expiry 10 and 11 of senders 1 and 2
  EXPECT_EQ(pool.Expire(100), 6u);
  const MempoolStats stats = pool.Stats();
  EXPECT_EQ(stats.transactions, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.senders, 0u);
  EXPECT_EQ(stats.added, 12u);
  EXPECT_EQ(stats.removed_committed, 2u);
  EXPECT_EQ(stats.expired, 10u);
}

// ---- A reference model, checked operation by operation -----------------------------------

struct ModelEntry {
  Transaction tx;
  Hash256 id;
  size_t size;
  uint64_t seq;
  uint64_t arrival_height = 0;
};

// Straightforward and slow: linear scans, nothing indexed. Reads the committed next nonces
// from the test's map, which the pool learns through Add and RemoveCommitted.
class Model {
 public:
  Model(MempoolOptions options, const std::map<PublicKey, uint64_t>& committed)
      : options_(options), committed_(committed) {}

  std::optional<std::string> Add(const ModelEntry& in, uint64_t committed, uint64_t next_height) {
    for (const ModelEntry& e : entries_) {
      if (e.id == in.id) return "duplicate";
    }
    if (in.tx.expiry_height < next_height) return "expired";
    if (in.tx.expiry_height - next_height > options_.max_expiry_horizon) return "expiry_too_far";
    if (in.tx.nonce < committed) return "nonce_used";
    if (in.tx.nonce - committed > options_.max_nonce_gap) return "nonce_gap";
    size_t of_sender = 0;
    const ModelEntry* highest = nullptr;
    for (const ModelEntry& e : entries_) {
      if (e.tx.sender != in.tx.sender) continue;
      if (e.tx.nonce == in.tx.nonce) return "nonce_conflict";
      ++of_sender;
      if (!highest || e.tx.nonce > highest->tx.nonce) highest = &e;
    }
    const bool runnable = RunnableNonce(in.tx.sender, in.tx.nonce);
    std::optional<uint64_t> evict_of_sender;
    if (of_sender >= options_.max_per_sender) {
      if (!runnable || !Gapped(*highest)) return "sender_full";
      evict_of_sender = highest->seq;
    }
    size_t evictable = 0;
    size_t evictable_bytes = 0;
    for (const ModelEntry& e : entries_) {
      if (runnable && Gapped(e)) {
        ++evictable;
        evictable_bytes += e.size;
      }
    }
    if (entries_.size() - evictable >= options_.max_transactions ||
        bytes() - evictable_bytes + in.size > options_.max_bytes) {
      return "mempool_full";
    }
    if (evict_of_sender) EraseSeq(*evict_of_sender);
    while (entries_.size() >= options_.max_transactions || bytes() + in.size > options_.max_bytes) {
      EraseSeq(OldestGapped()->seq);
    }
    entries_.push_back(in);
    entries_.back().seq = next_seq_++;
    entries_.back().arrival_height = next_height;
    return std::nullopt;
  }

  // Every nonce from the committed one up to `nonce` is pending.
  bool RunnableNonce(const PublicKey& sender, uint64_t nonce) const {
    for (uint64_t n = committed_.at(sender); n < nonce; ++n) {
      if (!Find(sender, n)) return false;
    }
    return nonce >= committed_.at(sender);
  }
  bool Gapped(const ModelEntry& e) const { return !RunnableNonce(e.tx.sender, e.tx.nonce); }
  size_t GappedCount() const {
    return std::count_if(entries_.begin(), entries_.end(),
                         [&](const ModelEntry& e) { return Gapped(e); });
  }
  const ModelEntry* OldestGapped() const {
    const ModelEntry* oldest = nullptr;
    for (const ModelEntry& e : entries_) {
      if (!Gapped(e)) continue;
      if (!oldest ||
          std::pair{e.arrival_height, e.seq} < std::pair{oldest->arrival_height, oldest->seq}) {
        oldest = &e;
      }
    }
    return oldest;
  }
  void EraseSeq(uint64_t seq) {
    std::erase_if(entries_, [&](const ModelEntry& e) { return e.seq == seq; });
  }

  const ModelEntry* Find(const PublicKey& sender, uint64_t nonce) const {
    for (const ModelEntry& e : entries_) {
      if (e.tx.sender == sender && e.tx.nonce == nonce) return &e;
    }
    return nullptr;
  }

  std::vector<Transaction> Select(size_t max_count, size_t max_bytes, uint64_t height,
                                  const std::map<PublicKey, uint64_t>& next,
                                  const std::set<Hash256>& exclude) const {
    // Senders by their oldest pending arrival.
    std::map<PublicKey, uint64_t> oldest;
    for (const ModelEntry& e : entries_) {
      auto [it, fresh] = oldest.emplace(e.tx.sender, e.seq);
      if (!fresh) it->second = std::min(it->second, e.seq);
    }
    std::vector<std::pair<uint64_t, PublicKey>> line;
    for (const auto& [sender, seq] : oldest) line.emplace_back(seq, sender);
    std::sort(line.begin(), line.end());
    // Each sender's candidates: the run from its next nonce, minus excluded, cut at the
    // first expired one.
    std::vector<std::vector<const ModelEntry*>> runs;
    for (const auto& [seq, sender] : line) {
      std::vector<const ModelEntry*> run;
      auto it = next.find(sender);
      for (uint64_t n = it == next.end() ? 0 : it->second;; ++n) {
        const ModelEntry* e = Find(sender, n);
        if (!e) break;
        if (exclude.contains(e->id)) continue;
        if (e->tx.expiry_height < height) break;
        run.push_back(e);
      }
      runs.push_back(run);
    }
    std::vector<Transaction> out;
    std::vector<bool> active(runs.size(), true);
    size_t bytes_left = max_bytes;
    for (size_t pass = 0;; ++pass) {
      bool any = false;
      for (size_t s = 0; s < runs.size(); ++s) {
        if (!active[s]) continue;
        if (out.size() >= max_count || bytes_left < Transaction::kMinEncodedSize) return out;
        if (pass >= runs[s].size() || runs[s][pass]->size > bytes_left) {
          active[s] = false;
          continue;
        }
        out.push_back(runs[s][pass]->tx);
        bytes_left -= runs[s][pass]->size;
        any = true;
      }
      if (!any) return out;
    }
  }

  void RemoveCommitted(const std::vector<Transaction>& committed,
                       const std::map<PublicKey, uint64_t>& next) {
    std::erase_if(entries_, [&](const ModelEntry& e) {
      for (const Transaction& tx : committed) {
        if (tx == e.tx) return true;
        if (tx.sender == e.tx.sender && e.tx.nonce < next.at(tx.sender)) return true;
      }
      return false;
    });
  }

  // Expired ones first; then, of what is left, those behind a gap for long enough.
  size_t Expire(uint64_t next_height) {
    size_t dropped = std::erase_if(
        entries_, [&](const ModelEntry& e) { return e.tx.expiry_height < next_height; });
    std::vector<uint64_t> aged;
    for (const ModelEntry& e : entries_) {
      if (Gapped(e) && next_height - e.arrival_height >= options_.gap_eviction_heights) {
        aged.push_back(e.seq);
      }
    }
    for (uint64_t seq : aged) EraseSeq(seq);
    return dropped + aged.size();
  }

  const std::vector<ModelEntry>& entries() const { return entries_; }
  size_t bytes() const {
    size_t total = 0;
    for (const ModelEntry& e : entries_) total += e.size;
    return total;
  }

 private:
  MempoolOptions options_;
  const std::map<PublicKey, uint64_t>& committed_;
  std::vector<ModelEntry> entries_;
  uint64_t next_seq_ = 0;
};

// Signing is the slow part of a run; each (sender, nonce, expiry, variant) is signed once.
const ModelEntry& CachedEntry(size_t sender, uint64_t nonce, uint64_t expiry, uint8_t variant) {
  static std::map<std::tuple<size_t, uint64_t, uint64_t, uint8_t>, ModelEntry> cache;
  auto key = std::tuple{sender, nonce, expiry, variant};
  auto it = cache.find(key);
  if (it == cache.end()) {
    // Sizes differ by variant, so byte limits bite at different places.
    Transaction tx = MakeTx(Key(sender), nonce, expiry, 40 + 80 * variant, variant);
    const Hash256 id = tx.Id();
    const size_t size = SizeOf(tx);
    it = cache.emplace(key, ModelEntry{std::move(tx), id, size, 0}).first;
  }
  return it->second;
}

constexpr size_t kModelSenders = 3;

// rapidcheck's inRange narrows towards `lo` in early (small) cases; operations and limits
// should be drawn from the whole range in every case.
template <typename T>
T Uniform(T lo, T hi) {
  return *rc::gen::resize(100, rc::gen::inRange<T>(lo, hi));
}

RC_GTEST_PROP(MempoolProperty, BehavesLikeTheReferenceModel, ()) {
  const MempoolOptions options{.max_transactions = Uniform<size_t>(4, 16),
                               .max_bytes = Uniform<size_t>(500, 4000),
                               .max_per_sender = Uniform<size_t>(2, 7),
                               .max_nonce_gap = Uniform<uint64_t>(2, 8),
                               .max_expiry_horizon = Uniform<uint64_t>(3, 14),
                               .gap_eviction_heights = Uniform<uint64_t>(1, 6)};
  Mempool pool(options);
  std::map<PublicKey, uint64_t> committed;
  Model model(options, committed);
  for (size_t s = 0; s < kModelSenders; ++s) committed[Key(s).public_key()] = 0;
  uint64_t next_height = 1;
  auto next_nonce = [&](const PublicKey& key) { return committed.at(key); };

  const size_t steps = Uniform<size_t>(1, 150);
  for (size_t step = 0; step < steps; ++step) {
    const int op = Uniform<int>(0, 10);
    if (op < 6) {  // add
      const size_t sender = Uniform<size_t>(0, kModelSenders);
      const uint64_t base = committed.at(Key(sender).public_key());
      // Mostly near the next nonce, so runs form; sometimes used or far ahead.
      const int kind = Uniform<int>(0, 10);
      const uint64_t nonce = kind == 0 && base > 0 ? base - 1
                             : kind < 8            ? base + Uniform<uint64_t>(0, 4)
                                                   : base + Uniform<uint64_t>(0, 10);
      const uint64_t expiry = next_height + Uniform<uint64_t>(0, 12) - 1;
      const uint8_t variant = Uniform<uint8_t>(0, 3);
      const ModelEntry& entry = CachedEntry(sender, nonce, expiry, variant);
      const std::optional<AddRefusal> got =
          pool.Add(entry.tx, entry.id, entry.size, base, next_height);
      const std::optional<std::string> want = model.Add(entry, base, next_height);
      RC_ASSERT(ErrorOf(got) == want);
    } else if (op < 8) {  // select, and check the answer on its own terms too
      const size_t max_count = Uniform<size_t>(0, 12);
      const size_t max_bytes = Uniform<size_t>(0, 2500);
      const uint64_t height = next_height + Uniform<uint64_t>(0, 4);
      std::set<Hash256> exclude;
      for (const ModelEntry& e : model.entries()) {
        if (Uniform<int>(0, 5) == 0) exclude.insert(e.id);
      }
      int calls = 0;
      const std::vector<Transaction> got = pool.Select(
          max_count, max_bytes, height,
          [&](const PublicKey& key) {
            ++calls;
            return next_nonce(key);
          },
          exclude);
      RC_ASSERT(got == model.Select(max_count, max_bytes, height, committed, exclude));
      RC_ASSERT(calls <= static_cast<int>(kModelSenders));
      RC_ASSERT(got.size() <= max_count);
      size_t bytes = 0;
      std::set<Hash256> seen;
      std::map<PublicKey, uint64_t> expected = committed;
      for (const Transaction& tx : got) {
        const Hash256 id = tx.Id();
        RC_ASSERT(seen.insert(id).second);
        RC_ASSERT(!exclude.contains(id));
        RC_ASSERT(tx.expiry_height >= height);
        bytes += SizeOf(tx);
        // Consecutive from the next nonce, allowing for excluded ones in between.
        uint64_t& want = expected.at(tx.sender);
        while (want < tx.nonce) {
          const ModelEntry* skipped = model.Find(tx.sender, want);
          RC_ASSERT(skipped != nullptr);
          RC_ASSERT(exclude.contains(skipped->id));
          ++want;
        }
        RC_ASSERT(tx.nonce == want);
        ++want;
      }
      RC_ASSERT(bytes <= max_bytes);
    } else if (op < 9) {  // commit the next nonce of one sender: the pooled tx or a rival
      const size_t sender = Uniform<size_t>(0, kModelSenders);
      const PublicKey key = Key(sender).public_key();
      const uint64_t nonce = committed.at(key);
      const ModelEntry* pending = model.Find(key, nonce);
      const Transaction tx = pending && *rc::gen::arbitrary<bool>()
                                 ? pending->tx
                                 : CachedEntry(sender, nonce, 1000, 3).tx;
      committed[key] = nonce + 1;
      pool.RemoveCommitted({tx}, next_nonce);
      model.RemoveCommitted({tx}, committed);
    } else {  // the chain moves on
      next_height += Uniform<uint64_t>(0, 3);
      RC_ASSERT(pool.Expire(next_height) == model.Expire(next_height));
    }
    RC_ASSERT(pool.size() == model.entries().size());
    // An unlimited selection after every step shows the whole line, in order.
    RC_ASSERT(pool.Select(1000, 1 << 20, next_height, next_nonce, {}) ==
              model.Select(1000, 1 << 20, next_height, committed, {}));
    const MempoolStats stats = pool.Stats();
    RC_ASSERT(stats.bytes == model.bytes());
    RC_ASSERT(stats.gapped == model.GappedCount());
    RC_ASSERT(pool.RunnableCount(1000) == model.entries().size() - model.GappedCount());
    for (const ModelEntry& e : model.entries()) RC_ASSERT(pool.Contains(e.id));
    for (size_t s = 0; s < kModelSenders; ++s) {
      const PublicKey key = Key(s).public_key();
      uint64_t run = 0;
      while (model.Find(key, committed.at(key) + run)) ++run;
      RC_ASSERT(pool.PendingRun(key, committed.at(key)) == run);
    }
  }
  RC_ASSERT(pool.Expire(std::numeric_limits<uint64_t>::max()) == model.entries().size());
  RC_ASSERT(pool.Stats().bytes == 0u);
  RC_ASSERT(pool.Stats().senders == 0u);
}

// API threads add while the consensus thread selects and removes; run under ThreadSanitizer.
TEST(MempoolConcurrency, AddersSelectorAndRemoverDoNotCorruptThePool) {
  constexpr size_t kThreads = 4;
  constexpr uint64_t kPerThread = 150;
  // Signed up front: the test is about the pool's locking, not signing speed.
  std::vector<std::vector<Transaction>> txs(kThreads);
  for (size_t t = 0; t < kThreads; ++t) {
    for (uint64_t n = 0; n < kPerThread; ++n) txs[t].push_back(MakeTx(Key(t), n));
  }
  Mempool pool;
  std::mutex state_mutex;
  std::map<PublicKey, uint64_t> committed;
  auto next_nonce = [&](const PublicKey& key) {
    std::lock_guard lock(state_mutex);
    return committed[key];
  };
  std::atomic<size_t> adders_done{0};
  std::atomic<uint64_t> accepted{0};
  std::vector<std::thread> adders;
  for (size_t t = 0; t < kThreads; ++t) {
    adders.emplace_back([&, t] {
      for (const Transaction& tx : txs[t]) {
        if (!pool.Add(tx, tx.Id(), SizeOf(tx), next_nonce(tx.sender), 1)) ++accepted;
      }
      ++adders_done;
    });
  }
  uint64_t committed_total = 0;
  std::thread consensus([&] {
    while (adders_done.load() < kThreads || pool.size() > 0) {
      const std::vector<Transaction> block = pool.Select(50, 1 << 20, 1, next_nonce, {});
      {
        std::lock_guard lock(state_mutex);
        for (const Transaction& tx : block) {
          ASSERT_EQ(tx.nonce, committed[tx.sender]);
          committed[tx.sender] = tx.nonce + 1;
        }
      }
      committed_total += block.size();
      pool.RemoveCommitted(block, next_nonce);
      if (block.empty()) std::this_thread::yield();
    }
  });
  for (std::thread& adder : adders) adder.join();
  consensus.join();
  // Every transaction arrived in nonce order per sender, so each was accepted (or refused
  // only as already used, which cannot happen here) and eventually committed.
  EXPECT_EQ(accepted.load(), kThreads * kPerThread);
  EXPECT_EQ(committed_total, kThreads * kPerThread);
  const MempoolStats stats = pool.Stats();
  EXPECT_EQ(stats.transactions, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.removed_committed, kThreads * kPerThread);
}

}  // namespace
}  // namespace city::node
