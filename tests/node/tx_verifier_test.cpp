// The signature pipeline: per-position answers, the cache (hits, never a failure, bounded
// oldest-first), which thread answers, concurrent callers, and shutdown with work queued.
#include "city/node/tx_verifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "support/ledger_fixtures.h"

namespace city::node {
namespace {

using ledger::Transaction;

Transaction Valid(uint64_t nonce, uint8_t key = 1) {
  return test::SampleTransaction(test::TestKey(key), nonce);
}

Transaction BadSignature(uint64_t nonce) {
  Transaction tx = Valid(nonce);
  tx.signature.bytes[10] ^= 0x01;
  return tx;
}

Transaction ArgsChangedAfterSigning(uint64_t nonce) {
  Transaction tx = Valid(nonce);
  tx.args[0] ^= 0x01;
  return tx;
}

// Valid and invalid in a fixed pattern; the answer VerifySignature gives each.
std::vector<Transaction> Mixed(size_t count, uint64_t first_nonce = 0) {
  std::vector<Transaction> txs;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t nonce = first_nonce + i;
    if (i % 7 == 3) {
      txs.push_back(BadSignature(nonce));
    } else if (i % 11 == 5) {
      txs.push_back(ArgsChangedAfterSigning(nonce));
    } else {
      txs.push_back(Valid(nonce));
    }
  }
  return txs;
}

std::vector<bool> Expected(const std::vector<Transaction>& txs) {
  std::vector<bool> out;
  for (const Transaction& tx : txs) out.push_back(tx.VerifySignature());
  return out;
}

std::vector<bool> VerifyAsyncAndWait(TxVerifier& verifier, std::vector<Transaction> txs) {
  std::promise<std::vector<bool>> answer;
  std::future<std::vector<bool>> future = answer.get_future();
  verifier.VerifyAsync(std::move(txs),
                       [&answer](std::vector<bool> valid) { answer.set_value(std::move(valid)); });
  return future.get();
}

TEST(TxVerifier, AnswersEachPositionOfAMixedSet) {
  TxVerifier verifier({.threads = 2, .batch_size = 2});
  const std::vector<Transaction> txs{
      Valid(0), BadSignature(1), Valid(2), Valid(3), ArgsChangedAfterSigning(4), Valid(5)};
  const std::vector<bool> expected{true, false, true, true, false, true};
  EXPECT_EQ(verifier.VerifyNow(txs), expected);
  EXPECT_EQ(VerifyAsyncAndWait(verifier, txs), expected);
  const TxVerifierStats stats = verifier.Stats();
  EXPECT_EQ(stats.verified, 4u);
  EXPECT_EQ(stats.cache_hits, 4u);  // the valid ones, the second time
  EXPECT_EQ(stats.failed, 4u);      // the invalid ones, both times
}

// A callback that throws on a worker thread is logged; the worker lives on and answers the
// next request (before the guard, std::terminate ended the node).
TEST(TxVerifier, AThrowingCallbackDoesNotKillTheWorker) {
  TxVerifier verifier({.threads = 1, .batch_size = 1});
  std::promise<void> thrown;
  verifier.VerifyAsync(Mixed(4, 100), [&thrown](std::vector<bool>) {
    thrown.set_value();
    throw std::runtime_error("a caller's bug");
  });
  thrown.get_future().wait();
  const std::vector<Transaction> next = Mixed(6, 200);
  EXPECT_EQ(VerifyAsyncAndWait(verifier, next), Expected(next));
}

TEST(TxVerifier, ASecondVerificationIsACacheHit) {
  TxVerifier verifier({.threads = 1});
  const Transaction tx = Valid(0);
  EXPECT_FALSE(verifier.IsKnownValid(tx.SignedHash()));
  EXPECT_EQ(verifier.VerifyNow({&tx, 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.Stats().verified, 1u);
  EXPECT_EQ(verifier.Stats().cache_hits, 0u);
  EXPECT_EQ(verifier.VerifyNow({&tx, 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.Stats().verified, 1u);
  EXPECT_EQ(verifier.Stats().cache_hits, 1u);
  EXPECT_TRUE(verifier.IsKnownValid(tx.SignedHash()));
  EXPECT_EQ(verifier.Stats().cache_hits, 2u);
  EXPECT_EQ(verifier.Stats().cache_entries, 1u);
}

TEST(TxVerifier, AnInvalidSignatureIsNeverCached) {
  TxVerifier verifier({.threads = 1});
  const Transaction bad = BadSignature(0);
  EXPECT_EQ(verifier.VerifyNow({&bad, 1}), std::vector<bool>{false});
  EXPECT_EQ(VerifyAsyncAndWait(verifier, {bad}), std::vector<bool>{false});
  const TxVerifierStats stats = verifier.Stats();
  EXPECT_EQ(stats.failed, 2u);
  EXPECT_EQ(stats.verified, 0u);
  EXPECT_EQ(stats.cache_hits, 0u);
  EXPECT_EQ(stats.cache_entries, 0u);
  EXPECT_FALSE(verifier.IsKnownValid(bad.SignedHash()));
}

TEST(TxVerifier, TheSameBodySignedByAnotherKeyIsNotAHit) {
  TxVerifier verifier({.threads = 1});
  const Transaction by_one = Valid(0, 1);
  const Transaction by_two = Valid(0, 2);
  ASSERT_NE(by_one.SignedHash(), by_two.SignedHash());
  EXPECT_EQ(verifier.VerifyNow({&by_one, 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.VerifyNow({&by_two, 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.Stats().verified, 2u);
  EXPECT_EQ(verifier.Stats().cache_hits, 0u);
  // One's signature under the other's name: not cached, and it fails.
  Transaction swapped = by_two;
  swapped.signature = by_one.signature;
  EXPECT_EQ(verifier.VerifyNow({&swapped, 1}), std::vector<bool>{false});
}

TEST(TxVerifier, TheCacheEvictsItsOldestEntry) {
  TxVerifier verifier({.threads = 1, .cache_entries = 4});
  std::vector<Transaction> txs;
  for (uint64_t n = 0; n < 5; ++n) {
    txs.push_back(Valid(n));
    ASSERT_EQ(verifier.VerifyNow({&txs.back(), 1}), std::vector<bool>{true});
  }
  EXPECT_EQ(verifier.Stats().cache_entries, 4u);
  EXPECT_FALSE(verifier.IsKnownValid(txs[0].SignedHash()));
  for (uint64_t n = 1; n < 5; ++n) EXPECT_TRUE(verifier.IsKnownValid(txs[n].SignedHash()));
  // The evicted one verifies again, and pushes out the next oldest.
  EXPECT_EQ(verifier.VerifyNow({&txs[0], 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.Stats().verified, 6u);
  EXPECT_FALSE(verifier.IsKnownValid(txs[1].SignedHash()));
  EXPECT_TRUE(verifier.IsKnownValid(txs[0].SignedHash()));
}

TEST(TxVerifier, ANoCacheVerifierVerifiesEveryTime) {
  TxVerifier verifier({.threads = 1, .cache_entries = 0});
  const Transaction tx = Valid(0);
  EXPECT_EQ(verifier.VerifyNow({&tx, 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.VerifyNow({&tx, 1}), std::vector<bool>{true});
  EXPECT_EQ(verifier.Stats().verified, 2u);
  EXPECT_EQ(verifier.Stats().cache_entries, 0u);
}

TEST(TxVerifier, VerifyNowOfManyEqualsSequentialVerification) {
  const std::vector<Transaction> txs = Mixed(1000);
  TxVerifier verifier({.threads = 2, .batch_size = 16});
  EXPECT_EQ(verifier.VerifyNow(txs), Expected(txs));
  const TxVerifierStats stats = verifier.Stats();
  EXPECT_EQ(stats.verified + stats.failed + stats.cache_hits, 1000u);
  EXPECT_EQ(stats.queue_depth, 0u);
}

TEST(TxVerifier, EmptyInputIsAnsweredAtOnceOnTheCallersThread) {
  TxVerifier verifier({.threads = 1});
  EXPECT_TRUE(verifier.VerifyNow({}).empty());
  int calls = 0;
  std::thread::id answered_on;
  verifier.VerifyAsync({}, [&](std::vector<bool> valid) {
    EXPECT_TRUE(valid.empty());
    answered_on = std::this_thread::get_id();
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(answered_on, std::this_thread::get_id());
}

TEST(TxVerifier, AnswersFromTheCacheAloneComeOnTheCallersThread) {
  TxVerifier verifier({.threads = 2});
  const std::vector<Transaction> txs{Valid(0), Valid(1), Valid(2)};
  ASSERT_EQ(verifier.VerifyNow(txs), std::vector<bool>(3, true));
  int calls = 0;
  std::thread::id answered_on;
  verifier.VerifyAsync(txs, [&](std::vector<bool> valid) {
    EXPECT_EQ(valid, std::vector<bool>(3, true));
    answered_on = std::this_thread::get_id();
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(answered_on, std::this_thread::get_id());
}

TEST(TxVerifier, OtherAnswersComeOnceOnAWorker) {
  const std::vector<Transaction> txs = Mixed(20);
  std::atomic<int> calls{0};
  std::vector<bool> answer;
  {
    TxVerifier verifier({.threads = 2, .batch_size = 3});
    std::promise<std::thread::id> answered_on;
    std::future<std::thread::id> future = answered_on.get_future();
    verifier.VerifyAsync(txs, [&](std::vector<bool> valid) {
      if (++calls > 1) return;
      answer = std::move(valid);
      answered_on.set_value(std::this_thread::get_id());
    });
    EXPECT_NE(future.get(), std::this_thread::get_id());
  }
  // The workers are joined now, so a second call would have happened.
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(answer, Expected(txs));
}

TEST(TxVerifier, ConcurrentCallersEachGetTheirOwnAnswers) {
  TxVerifier verifier({.threads = 2, .batch_size = 4});
  constexpr size_t kCallers = 4;
  constexpr size_t kRounds = 8;
  // Overlapping sets, so callers race on the same cache entries.
  std::vector<std::vector<Transaction>> sets;
  for (size_t c = 0; c < kCallers; ++c) sets.push_back(Mixed(30, c * 10));
  std::atomic<size_t> wrong{0};
  std::vector<std::thread> callers;
  for (size_t c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      const std::vector<bool> expected = Expected(sets[c]);
      for (size_t round = 0; round < kRounds; ++round) {
        if (round % 2 == 0) {
          if (VerifyAsyncAndWait(verifier, sets[c]) != expected) ++wrong;
        } else if (verifier.VerifyNow(sets[c]) != expected) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(wrong.load(), 0u);
  const TxVerifierStats stats = verifier.Stats();
  EXPECT_EQ(stats.verified + stats.failed + stats.cache_hits, kCallers * kRounds * 30);
  EXPECT_EQ(stats.queue_depth, 0u);
}

// A worker held inside a callback: work queued behind it is visible in queue_depth, and
// VerifyNow still finishes because its caller does the batches itself.
TEST(TxVerifier, VerifyNowProgressesWhileTheWorkersAreBusy) {
  TxVerifier verifier({.threads = 1, .batch_size = 8});
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  verifier.VerifyAsync({Valid(0)}, [&](std::vector<bool>) {
    std::unique_lock lock(mutex);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return entered; });
  }
  std::promise<std::vector<bool>> queued_answer;
  const std::vector<Transaction> queued = Mixed(10, 100);
  verifier.VerifyAsync(queued,
                       [&](std::vector<bool> valid) { queued_answer.set_value(std::move(valid)); });
  EXPECT_EQ(verifier.Stats().queue_depth, 10u);

  const std::vector<Transaction> now = Mixed(40, 200);
  EXPECT_EQ(verifier.VerifyNow(now), Expected(now));

  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(queued_answer.get_future().get(), Expected(queued));
  EXPECT_EQ(verifier.Stats().queue_depth, 0u);
}

TEST(TxVerifier, DestroyingWithWorkQueuedAnswersEveryRequest) {
  constexpr size_t kRequests = 30;
  std::vector<std::vector<Transaction>> sets;
  for (size_t r = 0; r < kRequests; ++r) sets.push_back(Mixed(5, r * 5));
  std::atomic<size_t> answered{0};
  std::atomic<size_t> wrong{0};
  std::atomic<size_t> chained{0};
  {
    TxVerifier verifier({.threads = 1, .batch_size = 1});
    for (size_t r = 0; r < kRequests; ++r) {
      verifier.VerifyAsync(sets[r], [&, r](std::vector<bool> valid) {
        if (valid != Expected(sets[r])) ++wrong;
        ++answered;
        // A callback that asks for more while the verifier is shutting down still gets
        // its answer.
        if (r == kRequests - 1) {
          verifier.VerifyAsync({Valid(999, 3)}, [&](std::vector<bool> again) {
            if (again != std::vector<bool>{true}) ++wrong;
            ++chained;
          });
        }
      });
    }
  }
  EXPECT_EQ(answered.load(), kRequests);
  EXPECT_EQ(chained.load(), 1u);
  EXPECT_EQ(wrong.load(), 0u);
}

TEST(TxVerifier, ThreadCountFollowsTheOptions) {
  EXPECT_EQ(TxVerifier({.threads = 3}).threads(), 3u);
  EXPECT_GE(TxVerifier({.threads = 0}).threads(), 1u);
}

}  // namespace
}  // namespace city::node
