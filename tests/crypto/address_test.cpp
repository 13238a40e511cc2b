// Account addresses: round trips, and that typos are caught rather than accepted.
#include "city/crypto/address.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace city {
namespace {

constexpr std::string_view kAlphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

KeyPair FixedKey() {
  std::array<uint8_t, kSeedSize> seed{};
  seed.fill(7);
  return KeyPair::FromSeed(seed);
}

TEST(Address, IsPinnedForAFixedKey) {
  const std::string address = EncodeAddress(FixedKey().public_key());
  EXPECT_EQ(address.size(), 63u);
  EXPECT_TRUE(address.starts_with("city1"));
  // Golden: changing the address format must be a deliberate decision.
  EXPECT_EQ(address, "city1af9xcclzn3fq40h42pa3xtk9lx25wa4wh6l8hyjzrm4xj9zx6gkqpslrkw");
}

TEST(Address, DecodesBackToTheKey) {
  const PublicKey key = FixedKey().public_key();
  Result<PublicKey> decoded = DecodeAddress(EncodeAddress(key));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, key);
}

TEST(Address, AcceptsUpperCaseButNotMixedCase) {
  std::string address = EncodeAddress(FixedKey().public_key());
  std::string upper = address;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_TRUE(DecodeAddress(upper).ok());
  std::string mixed = address;
  mixed[10] = static_cast<char>(std::toupper(mixed[10]));
  if (mixed == address) mixed[11] = static_cast<char>(std::toupper(mixed[11]));
  EXPECT_EQ(DecodeAddress(mixed).status().code(), ErrorCode::kInvalidArgument);
}

TEST(Address, EverySingleCharacterTypoIsDetected) {
  const std::string address = EncodeAddress(FixedKey().public_key());
  for (size_t i = 5; i < address.size(); ++i) {
    for (char c : kAlphabet) {
      if (c == address[i]) continue;
      std::string typo = address;
      typo[i] = c;
      EXPECT_FALSE(DecodeAddress(typo).ok()) << "typo at " << i << " to '" << c << "' accepted";
    }
  }
}

TEST(Address, SwappedNeighboursAreDetected) {
  const std::string address = EncodeAddress(FixedKey().public_key());
  for (size_t i = 5; i + 1 < address.size(); ++i) {
    if (address[i] == address[i + 1]) continue;
    std::string swapped = address;
    std::swap(swapped[i], swapped[i + 1]);
    EXPECT_FALSE(DecodeAddress(swapped).ok()) << "swap at " << i << " accepted";
  }
}

TEST(Address, ErrorsSayWhatIsWrong) {
  const std::string address = EncodeAddress(FixedKey().public_key());
  EXPECT_NE(DecodeAddress("bank" + address.substr(4)).status().message().find("start with"),
            std::string::npos);
  EXPECT_NE(DecodeAddress(address.substr(0, 62)).status().message().find("characters"),
            std::string::npos);
  std::string bad_char = address;
  bad_char[20] = 'b';  // not in the bech32 alphabet
  EXPECT_NE(DecodeAddress(bad_char).status().message().find("position 20"), std::string::npos);
}

TEST(Address, RefusesAKeyThatIsNotACurvePoint) {
  PublicKey identity;
  identity.bytes[0] = 1;  // small order: signs everything under lax verifiers
  EXPECT_NE(DecodeAddress(EncodeAddress(identity)).status().message().find("valid Ed25519"),
            std::string::npos);
}

RC_GTEST_PROP(Address, RoundTripsForGeneratedKeys, (const std::array<uint8_t, 32>& seed)) {
  const PublicKey key = KeyPair::FromSeed(seed).public_key();
  Result<PublicKey> decoded = DecodeAddress(EncodeAddress(key));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == key);
}

}  // namespace
}  // namespace city
