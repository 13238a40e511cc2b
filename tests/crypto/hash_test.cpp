// BLAKE2b-256 against published vectors, and the domain separation of tagged hashes.
#include "city/crypto/hash.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace city {
namespace {

TEST(Blake2b256, MatchesPublishedVectors) {
  // BLAKE2b with a 32-byte digest, as in the BLAKE2 reference test vectors.
  EXPECT_EQ(Blake2b256({}).ToHex(),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(Blake2b256(AsBytes("abc")).ToHex(),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(TaggedHash, DifferentTagsGiveDifferentHashes) {
  EXPECT_NE(TaggedHash("city.tx.v1", AsBytes("x")), TaggedHash("city.vote.v1", AsBytes("x")));
  EXPECT_NE(TaggedHash("city.tx.v1", AsBytes("x")), Blake2b256(AsBytes("x")));
}

TEST(TaggedHash, TagBoundaryCannotShift) {
  // Without the tag's length prefix these two would hash the same bytes.
  EXPECT_NE(TaggedHash("ab", AsBytes("c")), TaggedHash("a", AsBytes("bc")));
}

TEST(TaggedHash, IsPinned) {
  EXPECT_EQ(TaggedHash("city.test.v1", AsBytes("hello")).ToHex(),
            Blake2b256(AsBytes("\x0c"
                               "city.test.v1hello"))
                .ToHex());
}

RC_GTEST_PROP(TaggedHasher, StreamingEqualsOneShot,
              (const std::vector<uint8_t>& data, size_t split_seed)) {
  const size_t split = data.empty() ? 0 : split_seed % (data.size() + 1);
  TaggedHasher hasher("city.prop.v1");
  hasher.Update(ByteSpan(data).first(split)).Update(ByteSpan(data).subspan(split));
  RC_ASSERT(hasher.Finish() == TaggedHash("city.prop.v1", data));
}

TEST(Hex, RoundTripsAndRejectsBadInput) {
  const Bytes bytes = {0x00, 0x7f, 0x80, 0xff};
  EXPECT_EQ(ToHex(bytes), "007f80ff");
  EXPECT_EQ(*FromHex("007F80ff"), bytes);
  EXPECT_EQ(FromHex("abc").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(FromHex("zz").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Hash256::FromHex("00").status().code(), ErrorCode::kInvalidArgument);
}

// Every byte value that is not one of the 22 hex digits is refused wherever it stands, and
// the error names the first one.
TEST(Hex, EveryNonDigitByteIsRefusedAtItsPosition) {
  const std::string digits = "0123456789abcdefABCDEF";
  for (int c = 0; c < 256; ++c) {
    std::string hex = "00aa" + std::string(1, char(c)) + "F";
    Result<Bytes> decoded = FromHex(hex);
    if (digits.find(char(c)) != std::string::npos) {
      ASSERT_TRUE(decoded.ok()) << c;
      EXPECT_EQ((*decoded)[2] >> 4, std::stoi(std::string(1, char(c)), nullptr, 16)) << c;
    } else {
      ASSERT_FALSE(decoded.ok()) << c;
      EXPECT_EQ(decoded.status().message(), "not a hex digit at position 4") << c;
    }
  }
}

}  // namespace
}  // namespace city
