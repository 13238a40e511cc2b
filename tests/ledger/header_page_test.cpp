// The binary page of GET /v1/headers: it round-trips, has one encoding per page, and refuses
// what a lying node could send in it (unknown body kinds, bad flags, too many items, lengths
// beyond the bytes, trailing bytes) with a Status.
#include "city/ledger/header_page.h"

#include <gtest/gtest.h>

#include "support/ledger_fixtures.h"

namespace city::ledger {
namespace {

HeaderPage SamplePage() {
  const auto keys = test::TestValidators(4);
  const Block block = test::SampleBlock(keys, 2, false);
  HeaderPage page;
  page.tip = 40;
  page.next_from = 3;
  page.items.push_back({0, Encode(block.header), {}, HeaderPageItem::Body::kNone, {}});
  page.items.push_back({1, Encode(block.header), Encode(test::SampleQc(keys, 3)),
                        HeaderPageItem::Body::kBlock, Encode(block)});
  page.items.push_back({2,
                        Encode(block.header),
                        Encode(test::SampleQc(keys, 3)),
                        HeaderPageItem::Body::kRedacted,
                        {}});
  return page;
}

TEST(HeaderPageEncoding, RoundTripsWithAndWithoutANextPage) {
  HeaderPage page = SamplePage();
  Result<HeaderPage> decoded = Decode<HeaderPage>(Encode(page));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, page);
  page.next_from.reset();
  decoded = Decode<HeaderPage>(Encode(page));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_FALSE(decoded->next_from.has_value());
  EXPECT_EQ(*decoded, page);
}

// A block kept beside a body kind that says there is none would make two encodings of one
// page: the encoder writes no block then, and decoding gives none.
TEST(HeaderPageEncoding, ABlockIsWrittenOnlyWhereTheBodyKindSaysSo) {
  HeaderPage page = SamplePage();
  page.items[2].block = Bytes{1, 2, 3};
  Result<HeaderPage> decoded = Decode<HeaderPage>(Encode(page));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->items[2].block.empty());
  EXPECT_EQ(Encode(*decoded), Encode(page));
}

// Offsets into the encoding of a page with one item and no next page: the 0x01 flag, the tip,
// the next_from flag, the item count, then the item's height, header length...
constexpr size_t kNextFlagAt = 1 + 8;
constexpr size_t kCountAt = kNextFlagAt + 1;
constexpr size_t kItemAt = kCountAt + 4;

Bytes OneItemPage(HeaderPageItem::Body body) {
  HeaderPage page;
  page.tip = 5;
  page.items.push_back({4, Bytes(10, 0xAA), Bytes(6, 0xBB), body,
                        body == HeaderPageItem::Body::kBlock ? Bytes(3, 0xCC) : Bytes{}});
  return Encode(page);
}

TEST(HeaderPageEncoding, RefusesWhatALyingNodeCouldSend) {
  const Bytes good = OneItemPage(HeaderPageItem::Body::kNone);
  ASSERT_TRUE(Decode<HeaderPage>(good).ok());
  const size_t body_at = kItemAt + 8 + 4 + 10 + 4 + 6;

  Bytes kind = good;
  kind[body_at] = 3;  // no such body kind
  EXPECT_EQ(Decode<HeaderPage>(kind).status().code(), ErrorCode::kMalformed);

  Bytes flag = good;
  flag[kNextFlagAt] = 2;
  EXPECT_EQ(Decode<HeaderPage>(flag).status().code(), ErrorCode::kMalformed);

  Bytes count = good;
  const uint32_t too_many = kMaxHeaderPageItems + 1;
  for (size_t i = 0; i < 4; ++i) count[kCountAt + i] = static_cast<uint8_t>(too_many >> (8 * i));
  EXPECT_EQ(Decode<HeaderPage>(count).status().code(), ErrorCode::kTooLarge);

  Bytes length = good;  // the header's length claims far more bytes than follow
  length[kItemAt + 8 + 3] = 0x7F;
  EXPECT_FALSE(Decode<HeaderPage>(length).ok());

  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(Decode<HeaderPage>(trailing).ok());

  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(Decode<HeaderPage>(ByteSpan(good.data(), cut)).ok()) << "cut at " << cut;
  }
  const Bytes with_block = OneItemPage(HeaderPageItem::Body::kBlock);
  Result<HeaderPage> decoded = Decode<HeaderPage>(with_block);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->items[0].block, Bytes(3, 0xCC));
  EXPECT_FALSE(Decode<HeaderPage>(ByteSpan(with_block.data(), with_block.size() - 1)).ok());
}

}  // namespace
}  // namespace city::ledger
