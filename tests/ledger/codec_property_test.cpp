// Properties over generated objects: encodings round-trip, any bytes that decode re-encode
// to themselves (one encoding per object), and a flipped bit in a signed object never
// passes verification.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

namespace city::ledger {
namespace {

const std::vector<KeyPair>& Keys() {
  static const std::vector<KeyPair> keys = test::TestValidators(4);
  return keys;
}

template <typename T>
T Arbitrary() {
  return *rc::gen::arbitrary<T>();
}

std::string Text(size_t max) {
  std::string text = Arbitrary<std::string>();
  if (text.size() > max) text.resize(max);
  return text;
}

template <typename T>
T Fixed() {
  T out;
  out.bytes = Arbitrary<decltype(out.bytes)>();
  return out;
}

Bytes Blob(size_t max) {
  Bytes bytes = Arbitrary<Bytes>();
  if (bytes.size() > max) bytes.resize(max);
  return bytes;
}

size_t Count(size_t max) { return *rc::gen::inRange<size_t>(0, max + 1); }

// Arbitrary field values (not necessarily valid signatures): for the codec properties.
Transaction GenTransaction() {
  return {Text(kMaxChainIdLength),
          Fixed<PublicKey>(),
          Arbitrary<uint64_t>(),
          Arbitrary<uint64_t>(),
          Text(kMaxNameLength),
          Text(kMaxNameLength),
          Blob(512),
          Fixed<Signature>()};
}

VoteData GenVoteData() {
  return {Arbitrary<uint64_t>(), Arbitrary<uint64_t>(), Arbitrary<uint64_t>(),
          Arbitrary<uint64_t>(), Fixed<Hash256>()};
}

template <typename T, typename MakeEntry>
std::vector<T> SortedBySigner(size_t count, MakeEntry make) {
  std::vector<T> items;
  for (size_t i = 0; i < count; ++i) items.push_back(make());
  std::sort(items.begin(), items.end(), [](const T& a, const T& b) { return a.signer < b.signer; });
  items.erase(std::unique(items.begin(), items.end(),
                          [](const T& a, const T& b) { return a.signer == b.signer; }),
              items.end());
  return items;
}

QuorumCert GenQuorumCert() {
  return {GenVoteData(), SortedBySigner<CertSignature>(Count(6), [] {
            return CertSignature{Fixed<PublicKey>(), Fixed<Signature>()};
          })};
}

TimeoutCert GenTimeoutCert() {
  return {
      Arbitrary<uint64_t>(), Arbitrary<uint64_t>(),
      SortedBySigner<TimeoutCertEntry>(
          Count(6),
          [] {
            return TimeoutCertEntry{Fixed<PublicKey>(), Arbitrary<uint64_t>(), Fixed<Signature>()};
          }),
      GenQuorumCert()};
}

BlockHeader GenBlockHeader() {
  BlockHeader header{Text(kMaxChainIdLength), Arbitrary<uint64_t>(), Arbitrary<uint64_t>(),
                     Arbitrary<uint64_t>(),   Arbitrary<uint64_t>(), Fixed<Hash256>(),
                     Fixed<PublicKey>(),      Arbitrary<uint64_t>(), Fixed<Hash256>(),
                     Arbitrary<uint64_t>(),   Fixed<Hash256>(),      Fixed<Hash256>(),
                     GenQuorumCert(),         std::nullopt,          {}};
  if (Arbitrary<bool>()) header.timeout_cert = GenTimeoutCert();
  for (size_t i = Count(5); i > 0; --i) header.next_validators.push_back(Fixed<PublicKey>());
  return header;
}

Block GenBlock() {
  Block block{GenBlockHeader(), {}, Fixed<Signature>()};
  for (size_t i = Count(4); i > 0; --i) block.transactions.push_back(GenTransaction());
  return block;
}

Timeout GenTimeout() {
  return {{Arbitrary<uint64_t>(), Arbitrary<uint64_t>(), Arbitrary<uint64_t>()},
          GenQuorumCert(),
          Fixed<PublicKey>(),
          Fixed<Signature>()};
}

template <typename T>
void AssertRoundTrip(const T& object) {
  const Bytes bytes = Encode(object);
  Result<T> decoded = Decode<T>(bytes);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == object);
}

RC_GTEST_PROP(CodecProperty, TransactionRoundTrips, ()) { AssertRoundTrip(GenTransaction()); }
RC_GTEST_PROP(CodecProperty, VoteRoundTrips, ()) {
  AssertRoundTrip(Vote{GenVoteData(), Fixed<PublicKey>(), Fixed<Signature>()});
}
RC_GTEST_PROP(CodecProperty, QuorumCertRoundTrips, ()) { AssertRoundTrip(GenQuorumCert()); }
RC_GTEST_PROP(CodecProperty, TimeoutRoundTrips, ()) { AssertRoundTrip(GenTimeout()); }
RC_GTEST_PROP(CodecProperty, TimeoutCertRoundTrips, ()) { AssertRoundTrip(GenTimeoutCert()); }
RC_GTEST_PROP(CodecProperty, BlockHeaderRoundTrips, ()) { AssertRoundTrip(GenBlockHeader()); }
RC_GTEST_PROP(CodecProperty, BlockRoundTrips, ()) { AssertRoundTrip(GenBlock()); }

// Decoding any bytes either fails cleanly or yields an object whose encoding is exactly
// those bytes. Mutating valid encodings reaches far deeper than uniform noise.
template <typename T>
void AssertCanonicalUnderMutation(Bytes bytes) {
  const size_t edits = *rc::gen::inRange<size_t>(1, 4);
  for (size_t i = 0; i < edits && !bytes.empty(); ++i) {
    const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        bytes[at] = Arbitrary<uint8_t>();
        break;
      case 1:
        bytes.erase(bytes.begin() + static_cast<ptrdiff_t>(at));
        break;
      default:
        bytes.insert(bytes.begin() + static_cast<ptrdiff_t>(at), Arbitrary<uint8_t>());
    }
  }
  Result<T> decoded = Decode<T>(bytes);
  if (decoded.ok()) RC_ASSERT(Encode(*decoded) == bytes);
}

RC_GTEST_PROP(CodecProperty, MutatedTransactionsAreRefusedOrCanonical, ()) {
  AssertCanonicalUnderMutation<Transaction>(Encode(GenTransaction()));
}
RC_GTEST_PROP(CodecProperty, MutatedBlocksAreRefusedOrCanonical, ()) {
  AssertCanonicalUnderMutation<Block>(Encode(GenBlock()));
}
RC_GTEST_PROP(CodecProperty, MutatedTimeoutCertsAreRefusedOrCanonical, ()) {
  AssertCanonicalUnderMutation<TimeoutCert>(Encode(GenTimeoutCert()));
}

RC_GTEST_PROP(CodecProperty, RandomBytesNeverCrashAnyDecoder, (const Bytes& noise)) {
  Bytes bytes = noise;
  if (Arbitrary<bool>()) bytes.insert(bytes.begin(), 0x01);  // get past the flag check
  if (auto tx = Decode<Transaction>(bytes); tx.ok()) RC_ASSERT(Encode(*tx) == bytes);
  if (auto v = Decode<Vote>(bytes); v.ok()) RC_ASSERT(Encode(*v) == bytes);
  if (auto qc = Decode<QuorumCert>(bytes); qc.ok()) RC_ASSERT(Encode(*qc) == bytes);
  if (auto t = Decode<Timeout>(bytes); t.ok()) RC_ASSERT(Encode(*t) == bytes);
  if (auto tc = Decode<TimeoutCert>(bytes); tc.ok()) RC_ASSERT(Encode(*tc) == bytes);
  if (auto h = Decode<BlockHeader>(bytes); h.ok()) RC_ASSERT(Encode(*h) == bytes);
  if (auto b = Decode<Block>(bytes); b.ok()) RC_ASSERT(Encode(*b) == bytes);
}

// Flips one bit of a validly signed object's encoding; whatever decodes must fail `check`.
template <typename T, typename Check>
void AssertBitFlipBreaksVerification(const T& signed_object, Check verifies) {
  RC_ASSERT(verifies(signed_object));
  Bytes bytes = Encode(signed_object);
  const size_t bit = *rc::gen::inRange<size_t>(0, bytes.size() * 8);
  bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  Result<T> decoded = Decode<T>(bytes);
  if (decoded.ok()) RC_ASSERT(!verifies(*decoded));
}

RC_GTEST_PROP(SignedObjects, FlippedTransactionBitFailsVerification, ()) {
  Transaction tx = GenTransaction();
  tx.chain_id = std::string(test::kTestChain);
  tx.Sign(Keys()[*rc::gen::inRange<size_t>(0, Keys().size())]);
  AssertBitFlipBreaksVerification(tx, [](const Transaction& t) { return t.VerifySignature(); });
}

RC_GTEST_PROP(SignedObjects, FlippedVoteBitFailsVerification, ()) {
  const Vote vote = Vote::Create(GenVoteData(), test::kTestChain, Keys()[0]);
  AssertBitFlipBreaksVerification(
      vote, [](const Vote& v) { return v.VerifySignature(test::kTestChain); });
}

RC_GTEST_PROP(SignedObjects, FlippedCertificateBitFailsVerification, ()) {
  const CertContext context = test::TestContext(Keys());
  VoteData data = GenVoteData();
  data.round = std::max<uint64_t>(data.round, 1);
  data.epoch = context.epoch;
  const QuorumCert qc = test::SampleQc(Keys(), *rc::gen::inRange<size_t>(3, 5), data);
  AssertBitFlipBreaksVerification(qc, [&](const QuorumCert& q) { return q.Verify(context).ok(); });
}

RC_GTEST_PROP(SignedObjects, FlippedTimeoutOrTimeoutCertBitFailsVerification, ()) {
  const CertContext context = test::TestContext(Keys());
  const uint64_t round = *rc::gen::inRange<uint64_t>(3, 1000);
  const std::vector<Timeout> timeouts = test::SampleTimeouts(Keys(), 3, round);
  AssertBitFlipBreaksVerification(timeouts[1],
                                  [&](const Timeout& t) { return t.Verify(context).ok(); });
  AssertBitFlipBreaksVerification(TimeoutCert::FromTimeouts(timeouts),
                                  [&](const TimeoutCert& tc) { return tc.Verify(context).ok(); });
}

RC_GTEST_PROP(SignedObjects, FlippedBlockBitFailsVerification, ()) {
  static const Block block = test::SampleBlock(Keys(), 3, true);
  AssertBitFlipBreaksVerification(
      block, [](const Block& b) { return b.CheckStructure(test::kTestChain).ok(); });
}

}  // namespace
}  // namespace city::ledger
