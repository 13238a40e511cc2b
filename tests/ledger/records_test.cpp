// Execution results: encodings round-trip and refuse what exceeds their limits; the result
// root is the Merkle root of the tagged result hashes, in block order.
#include "city/ledger/records.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "city/ledger/merkle.h"
#include "support/ledger_fixtures.h"

namespace city::ledger {
namespace {

TxResult SampleResult(uint32_t code) {
  TxResult result;
  result.code = code;
  result.detail = code == 0 ? "" : "insufficient balance";
  if (code == 0) {
    result.events.push_back({"ubi", "transfer", Bytes{1, 2, 3}});
    result.events.push_back({"emr", "access", Bytes(100, 7)});
    result.related_accounts.push_back(test::TestKey(9).public_key());
  }
  return result;
}

TEST(TxResultEncoding, RoundTrips) {
  for (const uint32_t code : {0u, 3u}) {
    const TxResult result = SampleResult(code);
    Result<TxResult> decoded = Decode<TxResult>(Encode(result));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, result);
  }
}

TEST(TxResultEncoding, RefusesWhatExceedsItsLimits) {
  TxResult detail = SampleResult(1);
  detail.detail = std::string(kMaxResultDetailBytes + 1, 'x');
  EXPECT_FALSE(Decode<TxResult>(Encode(detail)).ok());

  TxResult events = SampleResult(0);
  events.events.assign(kMaxEventsPerTransaction + 1, {"ubi", "transfer", {}});
  EXPECT_FALSE(Decode<TxResult>(Encode(events)).ok());

  TxResult event_data = SampleResult(0);
  event_data.events[0].data.assign(kMaxEventBytes + 1, 0);
  EXPECT_FALSE(Decode<TxResult>(Encode(event_data)).ok());

  TxResult related = SampleResult(0);
  related.related_accounts.assign(kMaxRelatedAccounts + 1, test::TestKey(1).public_key());
  EXPECT_FALSE(Decode<TxResult>(Encode(related)).ok());

  // At the limits, fine.
  TxResult full = SampleResult(0);
  full.related_accounts.assign(kMaxRelatedAccounts, test::TestKey(1).public_key());
  full.events.assign(kMaxEventsPerTransaction, {"ubi", "transfer", Bytes(16, 1)});
  EXPECT_TRUE(Decode<TxResult>(Encode(full)).ok());
}

TEST(ResultRoot, IsTheMerkleRootOfTaggedResultHashes) {
  const std::vector<TxResult> results = {SampleResult(0), SampleResult(3), SampleResult(0)};
  std::vector<Hash256> leaves;
  for (const TxResult& result : results) leaves.push_back(TaggedHash(kResultTag, Encode(result)));
  EXPECT_EQ(ComputeResultRoot(results), MerkleRoot(leaves));
  EXPECT_EQ(ComputeResultRoot({}), MerkleRoot({}));
  const std::vector<TxResult> swapped = {results[1], results[0], results[2]};
  EXPECT_NE(ComputeResultRoot(swapped), ComputeResultRoot(results));
}

RC_GTEST_PROP(TxResultEncoding, ArbitraryResultsRoundTrip, (uint32_t code, std::string detail)) {
  TxResult result;
  result.code = code;
  result.detail = detail.substr(0, kMaxResultDetailBytes);
  const size_t events = *rc::gen::inRange<size_t>(0, 5);
  for (size_t i = 0; i < events; ++i) {
    Bytes data = *rc::gen::arbitrary<Bytes>();
    if (data.size() > kMaxEventBytes) data.resize(kMaxEventBytes);
    result.events.push_back({"c" + std::to_string(i), "e", data});
  }
  const size_t related = *rc::gen::inRange<size_t>(0, kMaxRelatedAccounts + 1);
  for (size_t i = 0; i < related; ++i) {
    PublicKey key;
    key.bytes = *rc::gen::arbitrary<std::array<uint8_t, 32>>();
    result.related_accounts.push_back(key);
  }
  const Result<TxResult> decoded = Decode<TxResult>(Encode(result));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == result);
}

}  // namespace
}  // namespace city::ledger
