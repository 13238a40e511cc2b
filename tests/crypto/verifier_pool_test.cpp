// The verifier pool answers exactly what city::Verify answers, in order, whatever the number
// of threads, the size of the call or the calls running at once.
#include "city/crypto/verifier_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

namespace city {
namespace {

struct Signed {
  PublicKey key;
  Bytes message;
  Signature signature;
};

// `count` signed messages by a few keys; those at positions where `bad(i)` holds are spoiled
// (the message changed after signing, or the key swapped).
std::vector<Signed> MakeSigned(size_t count, const std::function<bool(size_t)>& bad) {
  std::vector<KeyPair> keys;
  for (int k = 0; k < 3; ++k) keys.push_back(KeyPair::Generate());
  std::vector<Signed> out;
  for (size_t i = 0; i < count; ++i) {
    const KeyPair& key = keys[i % keys.size()];
    Bytes message = {uint8_t(i), uint8_t(i >> 8), 7, 7};
    Signed item{key.public_key(), message, key.Sign(message)};
    if (bad(i)) {
      if (i % 2 == 0) {
        item.message[2] ^= 1;
      } else {
        item.key = keys[(i + 1) % keys.size()].public_key();
      }
    }
    out.push_back(std::move(item));
  }
  return out;
}

std::vector<SignedMessage> View(const std::vector<Signed>& items) {
  std::vector<SignedMessage> out;
  for (const Signed& item : items) out.push_back({&item.key, item.message, &item.signature});
  return out;
}

TEST(VerifierPool, AnswersEveryItemInOrder) {
  for (size_t threads : {1u, 2u, 4u}) {
    VerifierPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (size_t count : {0u, 1u, 15u, 16u, 17u, 200u}) {
      const auto items = MakeSigned(count, [](size_t i) { return i % 7 == 3 || i == 16; });
      const std::vector<uint8_t> valid = pool.VerifyAll(View(items));
      ASSERT_EQ(valid.size(), count);
      for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(valid[i] == 1, Verify(items[i].key, items[i].message, items[i].signature))
            << "threads " << threads << ", item " << i << " of " << count;
        EXPECT_EQ(valid[i] == 1, !(i % 7 == 3 || i == 16));
      }
    }
  }
}

TEST(VerifierPool, CallsFromSeveralThreadsEachGetTheirOwnAnswers) {
  VerifierPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (size_t c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      const auto items = MakeSigned(120, [c](size_t i) { return i % 4 == c; });
      for (int round = 0; round < 5; ++round) {
        const std::vector<uint8_t> valid = pool.VerifyAll(View(items));
        for (size_t i = 0; i < items.size(); ++i) {
          if ((valid[i] == 1) != (i % 4 != c)) ++wrong;
        }
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace city
