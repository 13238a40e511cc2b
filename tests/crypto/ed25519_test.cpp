// Ed25519 signing and the strict verification rule the consensus depends on.
#include "city/crypto/ed25519.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sodium.h>

#include "city/crypto/verifier.h"

namespace city {
namespace {

Bytes Hex(std::string_view hex) { return *FromHex(hex); }

std::span<const uint8_t, kSeedSize> SeedOf(const Bytes& bytes) {
  return std::span<const uint8_t, kSeedSize>(bytes.data(), kSeedSize);
}

// RFC 8032, section 7.1, TEST 1 (empty message).
const Bytes kRfcSeed = Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
constexpr std::string_view kRfcPublic =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr std::string_view kRfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
    "1cf9b46bd25bf5f0595bbe24655141438e7a100b";

TEST(Ed25519, MatchesRfc8032Vector) {
  const KeyPair key = KeyPair::FromSeed(SeedOf(kRfcSeed));
  EXPECT_EQ(key.public_key().ToHex(), kRfcPublic);
  const Signature signature = key.Sign({});
  EXPECT_EQ(signature.ToHex(), kRfcSignature);
  EXPECT_TRUE(Verify(key.public_key(), {}, signature));
}

TEST(Ed25519, RejectsOtherMessageKeyOrSignature) {
  const KeyPair key = KeyPair::Generate();
  const KeyPair other = KeyPair::Generate();
  const Signature signature = key.Sign(AsBytes("pay 10"));
  EXPECT_TRUE(Verify(key.public_key(), AsBytes("pay 10"), signature));
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("pay 11"), signature));
  EXPECT_FALSE(Verify(other.public_key(), AsBytes("pay 10"), signature));
  Signature flipped = signature;
  flipped.bytes[10] ^= 0x01;
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("pay 10"), flipped));
}

// S + L verifies in lax implementations (the same point); the strict rule requires S < L,
// or one signature could be turned into a second valid one (malleability).
TEST(Ed25519, RejectsNonCanonicalS) {
  const KeyPair key = KeyPair::FromSeed(SeedOf(kRfcSeed));
  Signature signature = key.Sign(AsBytes("m"));
  const Bytes order = Hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  unsigned carry = 0;
  for (size_t i = 0; i < 32; ++i) {
    const unsigned sum = signature.bytes[32 + i] + order[i] + carry;
    signature.bytes[32 + i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("m"), signature));
}

// The identity point as public key with R = identity and S = 0 "verifies" every message
// under a permissive verifier (OpenSSL accepts it). Ours must refuse it.
TEST(Ed25519, RejectsSmallOrderKeyThatWouldSignEverything) {
  PublicKey identity;
  identity.bytes[0] = 0x01;
  Signature forged;
  forged.bytes[0] = 0x01;  // R = identity, S = 0
  EXPECT_FALSE(identity.IsValidPoint());
  EXPECT_FALSE(Verify(identity, AsBytes("anything"), forged));
  EXPECT_FALSE(Verify(identity, AsBytes("anything else"), forged));
}

TEST(Ed25519, RejectsSmallOrderR) {
  const KeyPair key = KeyPair::Generate();
  Signature signature = key.Sign(AsBytes("m"));
  std::fill(signature.bytes.begin(), signature.bytes.begin() + 32, 0);
  signature.bytes[0] = 0x01;  // R = identity
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("m"), signature));
}

TEST(Ed25519, GeneratedKeysAreValidPointsAndDistinct) {
  const KeyPair a = KeyPair::Generate();
  const KeyPair b = KeyPair::Generate();
  EXPECT_TRUE(a.public_key().IsValidPoint());
  EXPECT_NE(a.public_key(), b.public_key());
}

// Valid keys are remembered per thread, one per slot chosen by the key's first bytes: a key
// sharing a remembered key's slot (the same first 8 bytes) is still checked in full.
TEST(Ed25519, RememberedValidKeysNeverValidateAnotherKey) {
  const PublicKey valid = KeyPair::Generate().public_key();
  ASSERT_TRUE(valid.IsValidPoint());
  ASSERT_TRUE(valid.IsValidPoint());
  int invalid_seen = 0;
  for (uint8_t last = 0; last < 64; ++last) {
    PublicKey other = valid;
    other.bytes[31] ^= uint8_t(last + 1);
    const bool expected = crypto_core_ed25519_is_valid_point(other.bytes.data()) == 1;
    EXPECT_EQ(other.IsValidPoint(), expected) << int(last);
    EXPECT_EQ(other.IsValidPoint(), expected) << int(last);
    invalid_seen += expected ? 0 : 1;
  }
  EXPECT_GT(invalid_seen, 0);
  PublicKey identity;
  identity.bytes[0] = 0x01;
  EXPECT_FALSE(identity.IsValidPoint());
  EXPECT_FALSE(PublicKey{}.IsValidPoint());
}

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  SecretBytes a(32);
  std::fill(a.data(), a.data() + 32, 0xab);
  SecretBytes b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.size(), 32u);
  EXPECT_EQ(b.data()[31], 0xab);
}

RC_GTEST_PROP(Ed25519, SignatureOverFlippedMessageFails,
              (const std::vector<uint8_t>& message, size_t bit)) {
  RC_PRE(!message.empty());
  static const KeyPair key = KeyPair::Generate();
  const Signature signature = key.Sign(message);
  RC_ASSERT(Verify(key.public_key(), message, signature));
  std::vector<uint8_t> flipped = message;
  flipped[(bit / 8) % flipped.size()] ^= static_cast<uint8_t>(1u << (bit % 8));
  RC_ASSERT(!Verify(key.public_key(), flipped, signature));
}

}  // namespace
}  // namespace city

namespace city {
namespace {

TEST(CachingVerifier, AnswersLikeVerifyAndCachesOnlySuccesses) {
  CachingVerifier cache(2);
  const KeyPair key = KeyPair::Generate();
  const Signature good = key.Sign(AsBytes("a"));
  Signature bad = good;
  bad.bytes[0] ^= 1;
  EXPECT_TRUE(cache.Verify(key.public_key(), AsBytes("a"), good));
  EXPECT_TRUE(cache.Verify(key.public_key(), AsBytes("a"), good));
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_FALSE(cache.Verify(key.public_key(), AsBytes("a"), bad));
  EXPECT_FALSE(cache.Verify(key.public_key(), AsBytes("a"), bad));   // never cached
  EXPECT_FALSE(cache.Verify(key.public_key(), AsBytes("b"), good));  // other message
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(CachingVerifier, StaysWithinCapacity) {
  CachingVerifier cache(2);
  const KeyPair key = KeyPair::Generate();
  std::vector<Signature> sigs;
  for (char m : std::string("xyz")) sigs.push_back(key.Sign(AsBytes(std::string(1, m))));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cache.Verify(key.public_key(), AsBytes(std::string(1, "xyz"[i])), sigs[i]));
  }
  const uint64_t misses = cache.misses();
  EXPECT_TRUE(cache.Verify(key.public_key(), AsBytes("x"), sigs[0]));  // evicted: verified again
  EXPECT_EQ(cache.misses(), misses + 1);
  EXPECT_TRUE(cache.Verify(key.public_key(), AsBytes("z"), sigs[2]));  // still cached
  EXPECT_EQ(cache.misses(), misses + 1);
}

}  // namespace
}  // namespace city
