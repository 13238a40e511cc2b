// The consensus wire format (messages.h): 0x01, a kind byte, then the object's canonical body.
// Every kind round-trips; truncated, padded, mislabelled or random bytes are a Status.
#include "city/consensus/messages.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <string>

#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

namespace city::consensus {
namespace {

using test::kTestChain;

const std::vector<KeyPair>& Keys() {
  static const std::vector<KeyPair> keys = test::TestValidators(4);
  return keys;
}

// One of each kind, in kind order (0x01 .. 0x06).
const std::vector<Message>& Samples() {
  static const ledger::Block block = test::SampleBlock(Keys(), 3, true);
  static const std::vector<Message> samples = {
      Proposal{block},
      ledger::Vote::Create(test::SampleVoteData(), kTestChain, Keys()[1]),
      test::SampleTimeouts(Keys(), 1)[0],
      BlockRequest{block.Hash()},
      BlockResponse{test::SampleBlock(Keys(), 0, false)},
      SyncCerts{test::SampleQc(Keys(), 3), block.header.timeout_cert},
  };
  return samples;
}

// The canonical encoding of a ledger object without its leading 0x01.
template <typename T>
Bytes Body(const T& object) {
  const Bytes full = ledger::Encode(object);
  return Bytes(full.begin() + 1, full.end());
}

// Reserved up front: GCC 12 warns (falsely, -Warray-bounds) on growing a 2-byte literal.
Bytes Frame(uint8_t kind, const Bytes& body) {
  Bytes out;
  out.reserve(2 + body.size());
  out.push_back(0x01);
  out.push_back(kind);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

TEST(MessagesTest, EveryKindRoundTrips) {
  for (const Message& message : Samples()) {
    SCOPED_TRACE(MessageKindName(message));
    const Bytes bytes = EncodeMessage(message);
    const Result<Message> decoded = DecodeMessage(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->index(), message.index());
    EXPECT_TRUE(*decoded == message);
    EXPECT_EQ(EncodeMessage(*decoded), bytes);
  }
}

TEST(MessagesTest, FrameIsFlagThenKindThenTheObjectBody) {
  const std::vector<Message>& samples = Samples();
  const auto& proposal = std::get<Proposal>(samples[0]);
  const auto& vote = std::get<ledger::Vote>(samples[1]);
  const auto& timeout = std::get<ledger::Timeout>(samples[2]);
  const auto& request = std::get<BlockRequest>(samples[3]);
  const auto& response = std::get<BlockResponse>(samples[4]);
  EXPECT_EQ(EncodeMessage(samples[0]), Frame(0x01, Body(proposal.block)));
  EXPECT_EQ(EncodeMessage(samples[1]), Frame(0x02, Body(vote)));
  EXPECT_EQ(EncodeMessage(samples[2]), Frame(0x03, Body(timeout)));
  EXPECT_EQ(EncodeMessage(samples[3]),
            Frame(0x04, Bytes(request.hash.bytes.begin(), request.hash.bytes.end())));
  EXPECT_EQ(EncodeMessage(samples[4]), Frame(0x05, Body(response.block)));
  // Optional fields: a 0/1 flag, then the object inline (ledger/codec.h).
  const auto& sync = std::get<SyncCerts>(samples[5]);
  Bytes sync_body;
  for (const Bytes& part :
       {Bytes(1, 0x01), Body(*sync.high_qc), Bytes(1, 0x01), Body(*sync.last_tc)}) {
    sync_body.insert(sync_body.end(), part.begin(), part.end());
  }
  EXPECT_EQ(EncodeMessage(samples[5]), Frame(0x06, sync_body));
  EXPECT_EQ(EncodeMessage(SyncCerts{}), (Frame(0x06, Bytes(2, 0x00))));
}

TEST(MessagesTest, SyncCertsWithEitherCertificateAbsentRoundTrips) {
  const auto& full = std::get<SyncCerts>(Samples()[5]);
  for (const SyncCerts& sync : {SyncCerts{}, SyncCerts{full.high_qc, std::nullopt},
                                SyncCerts{std::nullopt, full.last_tc}}) {
    const Result<Message> decoded = DecodeMessage(EncodeMessage(sync));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(*decoded == Message(sync));
  }
  // An optional's flag is 0 or 1, nothing else.
  EXPECT_FALSE(DecodeMessage(Frame(0x06, {0x02, 0x00})).ok());
}

// A proposal and a block response carry the same object; only the kind tells them apart.
TEST(MessagesTest, ProposalAndBlockResponseOfOneBlockDecodeToTheirOwnKinds) {
  const ledger::Block block = test::SampleBlock(Keys(), 1, false);
  const Result<Message> proposal = DecodeMessage(EncodeMessage(Proposal{block}));
  const Result<Message> response = DecodeMessage(EncodeMessage(BlockResponse{block}));
  ASSERT_TRUE(proposal.ok() && response.ok());
  EXPECT_TRUE(std::holds_alternative<Proposal>(*proposal));
  EXPECT_TRUE(std::holds_alternative<BlockResponse>(*response));
}

TEST(MessagesTest, EveryTruncationIsRefused) {
  for (const Message& message : Samples()) {
    SCOPED_TRACE(MessageKindName(message));
    const Bytes bytes = EncodeMessage(message);
    // Every prefix of the small messages; every 13th of the blocks (plus the last few).
    const size_t step = bytes.size() > 2000 ? 13 : 1;
    for (size_t length = 0; length < bytes.size(); length += step) {
      EXPECT_FALSE(DecodeMessage(ByteSpan(bytes.data(), length)).ok()) << "length " << length;
    }
    for (size_t cut = 1; cut <= 8 && cut <= bytes.size(); ++cut) {
      EXPECT_FALSE(DecodeMessage(ByteSpan(bytes.data(), bytes.size() - cut)).ok());
    }
  }
}

TEST(MessagesTest, TrailingBytesAreRefused) {
  for (const Message& message : Samples()) {
    SCOPED_TRACE(MessageKindName(message));
    Bytes bytes = EncodeMessage(message);
    bytes.push_back(0);
    EXPECT_FALSE(DecodeMessage(bytes).ok());
  }
}

TEST(MessagesTest, UnknownKindIsRefused) {
  const Bytes vote_body = Body(std::get<ledger::Vote>(Samples()[1]));
  for (uint8_t kind : {0x00, 0x07, 0x08, 0x7f, 0x80, 0xff}) {
    const Result<Message> decoded = DecodeMessage(Frame(kind, vote_body));
    ASSERT_FALSE(decoded.ok()) << "kind " << int{kind};
    EXPECT_EQ(decoded.status().code(), ErrorCode::kMalformed) << decoded.status().ToString();
  }
}

TEST(MessagesTest, WrongKindForTheBodyIsRefused) {
  // A vote's body under the timeout and block-request kinds.
  const Bytes vote_body = Body(std::get<ledger::Vote>(Samples()[1]));
  EXPECT_FALSE(DecodeMessage(Frame(0x03, vote_body)).ok());
  EXPECT_FALSE(DecodeMessage(Frame(0x04, vote_body)).ok());
  EXPECT_FALSE(DecodeMessage(Frame(0x01, vote_body)).ok());
}

TEST(MessagesTest, FrameNotStartingWithTheFlagIsRefused) {
  Bytes bytes = EncodeMessage(Samples()[1]);
  for (uint8_t flag : {0x00, 0x02, 0xff}) {
    bytes[0] = flag;
    EXPECT_FALSE(DecodeMessage(bytes).ok());
  }
  EXPECT_FALSE(DecodeMessage(Bytes{}).ok());
  EXPECT_FALSE(DecodeMessage(Bytes{0x01}).ok());
}

TEST(MessagesTest, OversizedFrameIsRefusedAsTooLarge) {
  Bytes bytes(ledger::kMaxFrameBytes + 1, 0);
  bytes[0] = 0x01;
  bytes[1] = 0x01;
  const Result<Message> decoded = DecodeMessage(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), ErrorCode::kTooLarge) << decoded.status().ToString();
}

TEST(MessagesTest, KindNamesAreDistinct) {
  std::set<std::string> names;
  for (const Message& message : Samples()) {
    ASSERT_NE(MessageKindName(message), nullptr);
    names.insert(MessageKindName(message));
  }
  EXPECT_EQ(names.size(), 6u);
  EXPECT_EQ(names.count(""), 0u);
}

// Random bytes behind a valid flag and a plausible kind: never a crash, and anything that does
// decode is canonical (re-encodes to the same bytes).
RC_GTEST_PROP(MessagesProperty, ArbitraryBytesDecodeCanonicallyOrFail, ()) {
  const auto kind = *rc::gen::inRange<uint8_t>(0, 9);
  const auto tail = *rc::gen::container<Bytes>(rc::gen::arbitrary<uint8_t>());
  const Bytes bytes = Frame(kind, tail);
  const Result<Message> decoded = DecodeMessage(bytes);
  if (decoded.ok()) RC_ASSERT(EncodeMessage(*decoded) == bytes);
}

// Single-byte corruption of a valid vote either fails to decode or yields a different vote.
RC_GTEST_PROP(MessagesProperty, FlippedByteNeverDecodesToTheSameVote, ()) {
  const Message vote = Samples()[1];
  Bytes bytes = EncodeMessage(vote);
  const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
  const auto flip = *rc::gen::inRange<int>(1, 256);
  bytes[at] ^= static_cast<uint8_t>(flip);
  const Result<Message> decoded = DecodeMessage(bytes);
  if (decoded.ok()) RC_ASSERT(!(*decoded == vote));
}

}  // namespace
}  // namespace city::consensus
