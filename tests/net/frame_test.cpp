// Encrypted link frames on their own: the documented wire format, round trips through any
// chunking of the stream, and the decoder's refusals (altered, replayed, reordered, dropped,
// oversized, malformed frames), each final and each bounded in memory.
#include "city/net/frame.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sodium.h>

#include <cstring>
#include <optional>
#include <string>

#include "city/net/handshake.h"
#include "support/concat.h"

namespace city::net {
namespace {

using city::test::Concat;

constexpr size_t kMax = 4096;                           // L, the ciphertext, at most
constexpr size_t kMaxBody = kMax - 1 - kFrameTagBytes;  // the largest body that fits
using RawKey = std::array<uint8_t, kSessionKeyBytes>;

RawKey KeyFilled(uint8_t fill) {
  RawKey key{};
  key.fill(fill);
  return key;
}

SecretBytes Secret(const RawKey& key) {
  SecretBytes secret(key.size());
  std::memcpy(secret.data(), key.data(), key.size());
  return secret;
}

Bytes Body(size_t size, uint8_t salt = 0) {
  Bytes body(size);
  for (size_t i = 0; i < size; ++i) body[i] = static_cast<uint8_t>(i * 31 + salt);
  return body;
}

std::array<uint8_t, 4> LengthPrefix(uint32_t length) {
  return {static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
          static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 24)};
}

// One frame built from frame.h's description with libsodium alone: any plaintext (so unknown
// kinds and keep-alives with a body can be made), any counter.
Bytes SealByHand(const RawKey& key, uint64_t counter, ByteSpan plaintext) {
  const auto length = LengthPrefix(static_cast<uint32_t>(plaintext.size() + kFrameTagBytes));
  std::array<uint8_t, 12> nonce{};
  for (size_t i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(counter >> (8 * i));
  Bytes wire(kFrameLengthBytes + plaintext.size() + kFrameTagBytes);
  std::memcpy(wire.data(), length.data(), length.size());
  unsigned long long written = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(wire.data() + kFrameLengthBytes, &written,
                                            plaintext.data(), plaintext.size(), length.data(),
                                            length.size(), nullptr, nonce.data(), key.data());
  return wire;
}

Bytes SealOrDie(FrameSealer& sealer, FrameKind kind, ByteSpan body) {
  Result<Bytes> wire = sealer.Seal(kind, body);
  EXPECT_TRUE(wire.ok()) << wire.status().ToString();
  return wire.ok() ? *wire : Bytes{};
}

class FrameTest : public ::testing::Test {
 protected:
  RawKey key_ = KeyFilled(0x42);
  FrameSealer sealer_{Secret(key_), kMax};
  FrameDecoder decoder_{Secret(key_), kMax};
  std::vector<Frame> out_;

  Bytes Message(ByteSpan body) { return SealOrDie(sealer_, FrameKind::kMessage, body); }
};

TEST_F(FrameTest, RoundTripsKindsAndSizes) {
  const std::vector<size_t> sizes = {0, 1, 2, 100, kMaxBody - 1, kMaxBody};
  Bytes stream;
  for (size_t size : sizes) {
    Bytes wire = Message(Body(size));
    EXPECT_EQ(wire.size(), kFrameOverheadBytes + size);
    stream.insert(stream.end(), wire.begin(), wire.end());
  }
  Bytes keep_alive = SealOrDie(sealer_, FrameKind::kKeepAlive, {});
  EXPECT_EQ(keep_alive.size(), kFrameOverheadBytes);
  stream.insert(stream.end(), keep_alive.begin(), keep_alive.end());
  EXPECT_EQ(sealer_.frames_sealed(), sizes.size() + 1);

  ASSERT_TRUE(decoder_.Feed(stream, out_).ok());
  ASSERT_EQ(out_.size(), sizes.size() + 1);
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(out_[i].kind, FrameKind::kMessage);
    EXPECT_EQ(out_[i].body, Body(sizes[i])) << "frame " << i;
  }
  EXPECT_EQ(out_.back().kind, FrameKind::kKeepAlive);
  EXPECT_TRUE(out_.back().body.empty());
  EXPECT_EQ(decoder_.frames_opened(), sizes.size() + 1);
  EXPECT_FALSE(decoder_.mid_frame());
  EXPECT_EQ(decoder_.buffered_bytes(), 0u);
}

TEST_F(FrameTest, MatchesTheDocumentedWireFormat) {
  for (uint64_t counter = 0; counter < 3; ++counter) {
    const Bytes body = Body(10 + counter, static_cast<uint8_t>(counter));
    const uint8_t kind[] = {static_cast<uint8_t>(FrameKind::kMessage)};
    EXPECT_EQ(ToHex(Message(body)), ToHex(SealByHand(key_, counter, Concat({kind, body}))))
        << "frame " << counter;
  }
  const uint8_t keep_alive[] = {static_cast<uint8_t>(FrameKind::kKeepAlive)};
  EXPECT_EQ(ToHex(SealOrDie(sealer_, FrameKind::kKeepAlive, {})),
            ToHex(SealByHand(key_, 3, keep_alive)));
}

TEST_F(FrameTest, SealRefusesABodyOverTheMaximumAndStaysUsable) {
  for (size_t size : {kMaxBody + 1, kMax, kMax * 10}) {
    Result<Bytes> wire = sealer_.Seal(FrameKind::kMessage, Body(size));
    ASSERT_FALSE(wire.ok()) << size;
    EXPECT_EQ(wire.status().code(), ErrorCode::kTooLarge) << size;
  }
  // A refused frame must not use up a nonce, or the peer could not open the next one.
  EXPECT_EQ(sealer_.frames_sealed(), 0u);
  ASSERT_TRUE(decoder_.Feed(Message(Body(5)), out_).ok());
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].body, Body(5));
}

// The socket hands the decoder a stream cut anywhere: the frames must come out the same.
// (All choices are drawn up front and bounded, so a failure shrinks quickly.)
RC_GTEST_PROP(FrameStream, AnyChunkingYieldsTheSameFrames, ()) {
  constexpr size_t kSmallMax = 300;
  constexpr size_t kLargestBody = kSmallMax - 1 - kFrameTagBytes;
  const RawKey key = KeyFilled(*rc::gen::arbitrary<uint8_t>());
  const auto count = *rc::gen::inRange<size_t>(0, 25);
  const auto sizes = *rc::gen::container<std::vector<size_t>>(
      count, rc::gen::inRange<size_t>(0, kLargestBody + 1));
  const auto cuts = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(0, 2 * kSmallMax)));
  FrameSealer sealer(Secret(key), kSmallMax);
  FrameDecoder decoder(Secret(key), kSmallMax);
  Bytes stream;
  std::vector<Frame> expected;
  for (size_t i = 0; i < sizes.size(); ++i) {
    // Every fifth frame is a keep-alive, so both kinds interleave.
    const bool keep_alive = i % 5 == 4;
    Frame frame{keep_alive ? FrameKind::kKeepAlive : FrameKind::kMessage,
                keep_alive ? Bytes{} : Body(sizes[i], static_cast<uint8_t>(i))};
    Result<Bytes> wire = sealer.Seal(frame.kind, frame.body);
    RC_ASSERT(wire.ok());
    stream.insert(stream.end(), wire->begin(), wire->end());
    expected.push_back(std::move(frame));
  }
  std::vector<Frame> got;
  size_t offset = 0;
  for (size_t n = 0; offset < stream.size(); ++n) {
    // Cycle through the cuts; a zero-length read is allowed, but keep moving.
    size_t chunk = std::min(cuts[n % cuts.size()], stream.size() - offset);
    if (chunk == 0 && n % cuts.size() == cuts.size() - 1) chunk = 1;
    RC_ASSERT(decoder.Feed(ByteSpan(stream).subspan(offset, chunk), got).ok());
    offset += chunk;
    RC_ASSERT(decoder.buffered_bytes() <= kSmallMax + kFrameLengthBytes);
  }
  RC_ASSERT(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    RC_ASSERT(got[i].kind == expected[i].kind);
    RC_ASSERT(got[i].body == expected[i].body);
  }
  RC_ASSERT(!decoder.mid_frame());
  RC_ASSERT(decoder.frames_opened() == expected.size());
}

TEST_F(FrameTest, ByteAtATimeKeepsOnlyTheUnfinishedFrame) {
  const Bytes wire = Message(Body(kMaxBody));
  for (size_t i = 0; i + 1 < wire.size(); ++i) {
    ASSERT_TRUE(decoder_.Feed(ByteSpan(wire).subspan(i, 1), out_).ok());
    EXPECT_TRUE(decoder_.mid_frame());
    EXPECT_EQ(decoder_.buffered_bytes(), i + 1);
  }
  ASSERT_TRUE(decoder_.Feed(ByteSpan(wire).last(1), out_).ok());
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_FALSE(decoder_.mid_frame());
  EXPECT_EQ(decoder_.buffered_bytes(), 0u);
}

// A good frame, then one altered at `offset` (length, ciphertext or tag), then a good one and
// enough padding for any altered length to complete. Only the first frame may come out.
TEST_F(FrameTest, AnAlteredByteAnywhereEndsTheStream) {
  const Bytes first = Message(Body(8, 1));
  const Bytes target = Message(Body(40, 2));
  const Bytes after = Message(Body(8, 3));
  const Bytes padding(kMax + kFrameLengthBytes, 0);
  for (size_t offset = 0; offset < target.size(); ++offset) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      Bytes altered = target;
      altered[offset] ^= flip;
      FrameDecoder decoder(Secret(key_), kMax);
      std::vector<Frame> out;
      Status status = decoder.Feed(Concat({first, altered, after, padding}), out);
      EXPECT_FALSE(status.ok()) << "offset " << offset << " flip " << int{flip};
      if (offset >= kFrameLengthBytes) {
        EXPECT_EQ(status.code(), ErrorCode::kUnauthenticated) << "offset " << offset;
      }
      ASSERT_EQ(out.size(), 1u) << "offset " << offset << ": frames before the bad one stay";
      EXPECT_EQ(out[0].body, Body(8, 1));
      EXPECT_LE(decoder.buffered_bytes(), kMax + kFrameLengthBytes);
    }
  }
}

TEST_F(FrameTest, AReplayedFrameFails) {
  const Bytes frame0 = Message(Body(3, 0));
  ASSERT_TRUE(decoder_.Feed(frame0, out_).ok());
  Status replay = decoder_.Feed(frame0, out_);
  EXPECT_EQ(replay.code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(out_.size(), 1u);
}

TEST_F(FrameTest, ReorderedFramesFail) {
  const Bytes frame0 = Message(Body(3, 0));
  const Bytes frame1 = Message(Body(3, 1));
  Status status = decoder_.Feed(Concat({frame1, frame0}), out_);
  EXPECT_EQ(status.code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(out_.empty());
}

TEST_F(FrameTest, ADroppedFrameFails) {
  const Bytes frame0 = Message(Body(3, 0));
  (void)Message(Body(3, 1));  // lost on the way
  const Bytes frame2 = Message(Body(3, 2));
  Status status = decoder_.Feed(Concat({frame0, frame2}), out_);
  EXPECT_EQ(status.code(), ErrorCode::kUnauthenticated);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].body, Body(3, 0));
  EXPECT_EQ(decoder_.frames_opened(), 1u);
}

TEST_F(FrameTest, WrongKeyFails) {
  FrameDecoder other(Secret(KeyFilled(0x43)), kMax);
  EXPECT_EQ(other.Feed(Message(Body(3)), out_).code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(out_.empty());
}

TEST_F(FrameTest, OversizeLengthIsRefusedBeforeTheBodyIsBuffered) {
  for (uint32_t length : {static_cast<uint32_t>(kMax + 1), 0x7fffffffu, 0xffffffffu}) {
    FrameDecoder decoder(Secret(key_), kMax);
    std::vector<Frame> out;
    const auto prefix = LengthPrefix(length);
    // The prefix alone is enough to refuse: no body byte has been sent yet.
    ASSERT_TRUE(decoder.Feed(ByteSpan(prefix).first(3), out).ok());
    EXPECT_TRUE(decoder.mid_frame());
    Status status = decoder.Feed(ByteSpan(prefix).last(1), out);
    EXPECT_EQ(status.code(), ErrorCode::kTooLarge) << length;
    EXPECT_LE(decoder.buffered_bytes(), kFrameLengthBytes);
  }
  // With a megabyte of body behind it in the same read, none of it is kept.
  const Bytes flood = Concat({LengthPrefix(0xffffffffu), Bytes(1 << 20, 0xaa)});
  Status status = decoder_.Feed(flood, out_);
  EXPECT_EQ(status.code(), ErrorCode::kTooLarge);
  EXPECT_LE(decoder_.buffered_bytes(), kFrameLengthBytes);
}

TEST_F(FrameTest, LengthAtTheMaximumIsAcceptedAndWaitedFor) {
  const Bytes wire = Message(Body(kMaxBody));
  ASSERT_TRUE(decoder_.Feed(ByteSpan(wire).first(wire.size() - 1), out_).ok());
  EXPECT_TRUE(decoder_.mid_frame());
  EXPECT_EQ(decoder_.buffered_bytes(), kMax + kFrameLengthBytes - 1);
  EXPECT_TRUE(out_.empty());
}

TEST_F(FrameTest, LengthTooShortForATagIsMalformed) {
  for (uint32_t length : {0u, 1u, 15u}) {
    FrameDecoder decoder(Secret(key_), kMax);
    std::vector<Frame> out;
    const Bytes wire = Concat({LengthPrefix(length), Bytes(64, 0)});
    EXPECT_EQ(decoder.Feed(wire, out).code(), ErrorCode::kMalformed) << length;
    EXPECT_TRUE(out.empty());
  }
  // Room for a tag but not for the kind byte: still no frame.
  FrameDecoder decoder(Secret(key_), kMax);
  std::vector<Frame> out;
  EXPECT_FALSE(decoder.Feed(Concat({LengthPrefix(16), Bytes(64, 0)}), out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_F(FrameTest, AnUnknownKindIsMalformed) {
  for (uint8_t kind : {uint8_t{2}, uint8_t{0x7f}, uint8_t{0xff}}) {
    FrameDecoder decoder(Secret(key_), kMax);
    std::vector<Frame> out;
    const uint8_t good[] = {static_cast<uint8_t>(FrameKind::kMessage), 'o', 'k'};
    const uint8_t bad[] = {kind, 'x'};
    Status status = decoder.Feed(
        Concat({SealByHand(key_, 0, good), SealByHand(key_, 1, bad), SealByHand(key_, 2, good)}),
        out);
    EXPECT_EQ(status.code(), ErrorCode::kMalformed) << int{kind};
    ASSERT_EQ(out.size(), 1u) << "only the frame before the bad one";
  }
}

TEST_F(FrameTest, AKeepAliveWithABodyIsMalformed) {
  const uint8_t plaintext[] = {static_cast<uint8_t>(FrameKind::kKeepAlive), 0};
  EXPECT_EQ(decoder_.Feed(SealByHand(key_, 0, plaintext), out_).code(), ErrorCode::kMalformed);
  EXPECT_TRUE(out_.empty());
}

TEST_F(FrameTest, FeedAfterAFailureFailsAndYieldsNothing) {
  const Bytes frame0 = Message(Body(3, 0));
  const Bytes frame1 = Message(Body(3, 1));
  Bytes broken = frame0;
  broken.back() ^= 1;
  ASSERT_FALSE(decoder_.Feed(broken, out_).ok());
  // The genuine frames, offered afterwards, are refused: the link has ended.
  EXPECT_FALSE(decoder_.Feed(frame0, out_).ok());
  EXPECT_FALSE(decoder_.Feed(frame1, out_).ok());
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(decoder_.frames_opened(), 0u);
  EXPECT_EQ(decoder_.buffered_bytes(), 0u);
}

TEST_F(FrameTest, EmptyFeedIsHarmless) {
  EXPECT_TRUE(decoder_.Feed({}, out_).ok());
  const Bytes wire = Message(Body(7));
  ASSERT_TRUE(decoder_.Feed(ByteSpan(wire).first(2), out_).ok());
  EXPECT_TRUE(decoder_.Feed({}, out_).ok());
  ASSERT_TRUE(decoder_.Feed(ByteSpan(wire).subspan(2), out_).ok());
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].body, Body(7));
}

TEST_F(FrameTest, EachDirectionNeedsItsOwnCounterSequence) {
  // Two sealers under one key restart the counter: the second stream's first frame is a
  // replay of counter 0 to a decoder that has moved on.
  FrameSealer restarted(Secret(key_), kMax);
  ASSERT_TRUE(decoder_.Feed(Message(Body(4, 0)), out_).ok());
  EXPECT_EQ(decoder_.Feed(SealOrDie(restarted, FrameKind::kMessage, Body(4, 9)), out_).code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(out_.size(), 1u);
}

}  // namespace
}  // namespace city::net
