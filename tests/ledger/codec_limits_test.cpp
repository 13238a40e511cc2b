// Hostile bytes: forged lengths, wrong flags, trailing data, unsorted signers, oversized
// frames. Each gets a clear error, and decoding never allocates beyond what the input holds.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "city/ledger/smt.h"
#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

// Records the largest single allocation while `g_tracking` is set. GCC 12 sees malloc/free
// behind the replaced operators once inlined and misreports them as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_tracking{false};
std::atomic<size_t> g_largest_allocation{0};
}  // namespace

void* operator new(size_t size) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    size_t seen = g_largest_allocation.load();
    while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace city::ledger {
namespace {

template <typename T>
Status DecodeStatus(const Bytes& bytes) {
  return Decode<T>(bytes).status();
}

template <typename T>
size_t LargestAllocationDecoding(const Bytes& bytes) {
  g_largest_allocation = 0;
  g_tracking = true;
  Result<T> decoded = Decode<T>(bytes);
  g_tracking = false;
  EXPECT_FALSE(decoded.ok());
  return g_largest_allocation;
}

void PutU32(Bytes& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

TEST(CodecLimits, EmptyInputAndWrongFlagAreMalformed) {
  EXPECT_EQ(DecodeStatus<Vote>({}).code(), ErrorCode::kMalformed);
  Bytes bytes = Encode(Vote::Create(test::SampleVoteData(), test::kTestChain, test::TestKey(1)));
  bytes[0] = 0x00;  // cereal would happily read this as big-endian: a second encoding
  EXPECT_EQ(DecodeStatus<Vote>(bytes).code(), ErrorCode::kMalformed);
}

TEST(CodecLimits, TrailingBytesAreRefused) {
  Bytes bytes = Encode(test::SampleTransaction(test::TestKey(1)));
  bytes.push_back(0);
  const Status status = DecodeStatus<Transaction>(bytes);
  EXPECT_EQ(status.code(), ErrorCode::kMalformed);
  EXPECT_NE(status.message().find("trailing"), std::string::npos);
}

TEST(CodecLimits, EveryTruncationIsRefused) {
  const Bytes bytes = Encode(test::SampleBlock(test::TestValidators(4), 2, true));
  for (size_t size = 0; size < bytes.size(); ++size) {
    ASSERT_FALSE(Decode<Block>(ByteSpan(bytes).first(size)).ok()) << "truncated to " << size;
  }
}

TEST(CodecLimits, ForgedArgsLengthIsRefusedWithoutAllocating) {
  Bytes bytes = Encode(test::SampleTransaction(test::TestKey(1)));
  // args length sits after flag, chain id, sender, nonce, expiry, contract and method.
  const size_t args_at = 1 + 4 + test::kTestChain.size() + 32 + 8 + 8 + 4 + 3 + 4 + 8;
  PutU32(bytes, args_at, 0xffffffff);
  EXPECT_EQ(DecodeStatus<Transaction>(bytes).code(), ErrorCode::kTooLarge);
  PutU32(bytes, args_at, kMaxArgsBytes);  // within the limit, but not present
  EXPECT_EQ(DecodeStatus<Transaction>(bytes).code(), ErrorCode::kMalformed);
  EXPECT_LT(LargestAllocationDecoding<Transaction>(bytes), 4096u);
}

TEST(CodecLimits, ForgedTransactionCountIsRefusedWithoutAllocating) {
  Block block = test::SampleBlock(test::TestValidators(4), 0, false);
  Bytes bytes = Encode(block);
  // The block ends with the transaction count (u32) and the signature (64 bytes).
  const size_t count_at = bytes.size() - 64 - 4;
  PutU32(bytes, count_at, kMaxTransactionsPerBlock);
  const Status status = DecodeStatus<Block>(bytes);
  EXPECT_EQ(status.code(), ErrorCode::kMalformed);
  EXPECT_LT(LargestAllocationDecoding<Block>(bytes), 4 * bytes.size() + 4096);
  PutU32(bytes, count_at, kMaxTransactionsPerBlock + 1);
  EXPECT_EQ(DecodeStatus<Block>(bytes).code(), ErrorCode::kTooLarge);
}

// Lists of hashes (FixedList): a forged count is checked against the bytes present before
// anything is allocated, and a count above the list's maximum is too large.
TEST(CodecLimits, ForgedHashListCountIsRefusedWithoutAllocating) {
  StateProof proof;
  proof.siblings.assign(3, TaggedHash("sibling", {}));
  Bytes bytes = Encode(proof);
  ASSERT_TRUE(Decode<StateProof>(bytes).ok());
  PutU32(bytes, 1, kSmtDepth);  // the count follows the 0x01 flag
  EXPECT_EQ(DecodeStatus<StateProof>(bytes).code(), ErrorCode::kMalformed);
  EXPECT_LT(LargestAllocationDecoding<StateProof>(bytes), 4096u);
  PutU32(bytes, 1, kSmtDepth + 1);
  EXPECT_EQ(DecodeStatus<StateProof>(bytes).code(), ErrorCode::kTooLarge);
}

TEST(CodecLimits, OversizedFrameIsRefusedUnread) {
  const Bytes bytes(Transaction::kMaxEncodedSize + 1, 0x01);
  EXPECT_EQ(DecodeStatus<Transaction>(bytes).code(), ErrorCode::kTooLarge);
}

TEST(CodecLimits, OptionalFlagMustBeZeroOrOne) {
  Block block = test::SampleBlock(test::TestValidators(4), 0, false);
  Bytes bytes = Encode(block);
  // Just before the (empty) next_validators and the transaction count.
  const size_t flag_at = bytes.size() - 64 - 4 - 4 - 1;
  ASSERT_EQ(bytes[flag_at], 0);
  bytes[flag_at] = 2;
  EXPECT_EQ(DecodeStatus<Block>(bytes).code(), ErrorCode::kMalformed);
}

TEST(CodecLimits, UnsortedOrDuplicateSignersAreRefused) {
  const auto keys = test::TestValidators(4);
  QuorumCert qc = test::SampleQc(keys, 3);
  std::swap(qc.signatures[0], qc.signatures[1]);
  EXPECT_EQ(DecodeStatus<QuorumCert>(Encode(qc)).code(), ErrorCode::kMalformed);
  qc.signatures[0] = qc.signatures[1];
  const Status status = DecodeStatus<QuorumCert>(Encode(qc));
  EXPECT_EQ(status.code(), ErrorCode::kMalformed);
  EXPECT_NE(status.message().find("without duplicates"), std::string::npos);
}

TEST(CodecLimits, TooManySignersIsTooLarge) {
  QuorumCert qc = test::SampleQc(test::TestValidators(4), 1);
  Bytes bytes = Encode(qc);
  PutU32(bytes, 1 + 4 * 8 + 32, kMaxValidators + 1);
  EXPECT_EQ(DecodeStatus<QuorumCert>(bytes).code(), ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace city::ledger
