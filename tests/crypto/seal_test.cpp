#include "city/crypto/seal.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace city {
namespace {

TEST(Seal, OnlyTheRecipientOpensAndAnyChangeIsRefused) {
  const KeyPair patient = KeyPair::Generate();
  const KeyPair someone_else = KeyPair::Generate();
  const std::string_view words = "unconscious, no ID, brought in by ambulance";
  const Bytes text(words.begin(), words.end());
  Result<Bytes> box = SealTo(patient.public_key(), text);
  ASSERT_TRUE(box.ok()) << box.status().ToString();
  EXPECT_EQ(box->size(), text.size() + kSealOverhead);
  EXPECT_EQ(std::search(box->begin(), box->end(), text.begin(), text.end()), box->end())
      << "no plaintext in the box";

  Result<Bytes> opened = OpenSealed(patient, *box);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, text);
  EXPECT_EQ(OpenSealed(someone_else, *box).status().code(), ErrorCode::kUnauthenticated);
  for (size_t i : {size_t(0), size_t(31), box->size() - 1}) {
    Bytes altered = *box;
    altered[i] ^= 0x01;
    EXPECT_EQ(OpenSealed(patient, altered).status().code(), ErrorCode::kUnauthenticated) << i;
  }
  EXPECT_EQ(OpenSealed(patient, Bytes(kSealOverhead - 1)).status().code(),
            ErrorCode::kUnauthenticated);
  // Two seals of the same text differ (an ephemeral key each): equal texts cannot be matched.
  EXPECT_NE(*SealTo(patient.public_key(), text), *box);
}

TEST(Seal, RefusesARecipientThatIsNotAKey) {
  PublicKey bad;
  bad.bytes.fill(0xff);
  EXPECT_EQ(SealTo(bad, AsBytes(std::string_view("x"))).status().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace city
