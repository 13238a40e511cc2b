// The validator-link handshake as a pure state machine: what a full exchange yields, the
// documented wire format and key schedule (recomputed independently, and pinned by a golden
// vector), and every refusal the header promises, including relays and replays.
#include "city/net/handshake.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

#include "city/net/frame.h"
#include "support/concat.h"

namespace city::net {
namespace {

using city::test::Concat;

constexpr std::string_view kChain = "city-test";

std::shared_ptr<const KeyPair> KeyFilled(uint8_t fill) {
  std::array<uint8_t, kSeedSize> seed{};
  seed.fill(fill);
  return std::make_shared<const KeyPair>(KeyPair::FromSeed(seed));
}

std::array<uint8_t, kEphemeralSecretBytes> SecretFilled(uint8_t fill) {
  std::array<uint8_t, kEphemeralSecretBytes> secret{};
  secret.fill(fill);
  return secret;
}

std::array<uint8_t, 32> X25519Public(const std::array<uint8_t, 32>& secret) {
  std::array<uint8_t, 32> out{};
  crypto_scalarmult_base(out.data(), secret.data());
  return out;
}

Bytes FromHexOrDie(std::string_view hex) {
  Result<Bytes> bytes = FromHex(hex);
  EXPECT_TRUE(bytes.ok()) << hex;
  return bytes.ok() ? *bytes : Bytes{};
}

std::string HexOf(const SecretBytes& secret) { return ToHex(secret.span()); }

// The session of a handshake the test expects to be done (a failure fails the test).
LinkSession TakeOrThrow(Handshake& side) {
  Result<LinkSession> session = side.TakeSession();
  if (!session.ok()) throw std::runtime_error(session.status().ToString());
  return std::move(session).value();
}

// Three validators (A dials B; C is another member) and an outsider.
class HandshakeTest : public ::testing::Test {
 protected:
  std::shared_ptr<const KeyPair> a_ = KeyFilled(0x01);
  std::shared_ptr<const KeyPair> b_ = KeyFilled(0x02);
  std::shared_ptr<const KeyPair> c_ = KeyFilled(0x03);
  std::shared_ptr<const KeyPair> outsider_ = KeyFilled(0x7f);
  Hash256 network_ = NetworkId(kChain);
  std::set<PublicKey> members_ = {a_->public_key(), b_->public_key(), c_->public_key()};

  Handshake InitiatorAToB() { return Handshake::Initiator(a_, network_, b_->public_key()); }
  Handshake ResponderB() { return Handshake::Responder(b_, network_, members_); }
};

// What one run put on the wire, and each side's outcome.
struct Transcript {
  Bytes m1, m2, m3;
  Status failure;  // the first failure, if any
  bool initiator_done = false;
  bool responder_done = false;
};

// Runs initiator and responder against each other; `tamper` may rewrite each message in
// flight (index 1, 2 or 3), as a relay on the path could.
Transcript Exchange(Handshake& initiator, Handshake& responder,
                    const std::function<void(int, Bytes&)>& tamper = {}) {
  Transcript t;
  auto in_flight = [&](int index, Bytes message) {
    if (tamper) tamper(index, message);
    return message;
  };
  EXPECT_TRUE(responder.Start().empty()) << "a responder has nothing to send first";
  t.m1 = initiator.Start();
  EXPECT_EQ(t.m1.size(), kHandshakeM1Bytes);
  EXPECT_EQ(responder.expected_size(), kHandshakeM1Bytes);
  Result<Bytes> m2 = responder.Receive(in_flight(1, t.m1));
  if (!m2.ok()) {
    t.failure = m2.status();
    return t;
  }
  t.m2 = *m2;
  EXPECT_EQ(initiator.expected_size(), kHandshakeM2Bytes);
  Result<Bytes> m3 = initiator.Receive(in_flight(2, t.m2));
  if (!m3.ok()) {
    t.failure = m3.status();
    return t;
  }
  t.m3 = *m3;
  t.initiator_done = initiator.done();
  EXPECT_EQ(responder.expected_size(), kHandshakeM3Bytes);
  Result<Bytes> nothing = responder.Receive(in_flight(3, t.m3));
  if (!nothing.ok()) {
    t.failure = nothing.status();
    return t;
  }
  EXPECT_TRUE(nothing->empty()) << "the responder has nothing to send after M3";
  t.responder_done = responder.done();
  return t;
}

void ExpectFailedForGood(Handshake& side) {
  EXPECT_FALSE(side.done());
  EXPECT_EQ(side.expected_size(), 0u) << "a failure is final";
  EXPECT_FALSE(side.TakeSession().ok());
}

TEST_F(HandshakeTest, FullExchangeGivesMatchingSessions) {
  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  EXPECT_FALSE(initiator.claimed_peer().has_value());
  EXPECT_FALSE(responder.claimed_peer().has_value());
  Transcript t = Exchange(initiator, responder);
  ASSERT_TRUE(t.failure.ok()) << t.failure.ToString();
  EXPECT_EQ(t.m2.size(), kHandshakeM2Bytes);
  EXPECT_EQ(t.m3.size(), kHandshakeM3Bytes);
  ASSERT_TRUE(t.initiator_done);
  ASSERT_TRUE(t.responder_done);
  EXPECT_EQ(initiator.expected_size(), 0u);
  EXPECT_EQ(responder.expected_size(), 0u);
  EXPECT_EQ(initiator.claimed_peer(), b_->public_key());
  EXPECT_EQ(responder.claimed_peer(), a_->public_key());

  Result<LinkSession> mine = initiator.TakeSession();
  Result<LinkSession> yours = responder.TakeSession();
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  ASSERT_TRUE(yours.ok()) << yours.status().ToString();
  EXPECT_TRUE(mine->initiator);
  EXPECT_FALSE(yours->initiator);
  EXPECT_EQ(mine->peer, b_->public_key());
  EXPECT_EQ(yours->peer, a_->public_key());
  EXPECT_EQ(mine->transcript, yours->transcript);
  EXPECT_FALSE(mine->transcript.IsZero());
  ASSERT_EQ(mine->send_key.size(), kSessionKeyBytes);
  ASSERT_EQ(mine->receive_key.size(), kSessionKeyBytes);
  EXPECT_EQ(HexOf(mine->send_key), HexOf(yours->receive_key));
  EXPECT_EQ(HexOf(mine->receive_key), HexOf(yours->send_key));
  EXPECT_NE(HexOf(mine->send_key), HexOf(mine->receive_key)) << "one key per direction";
}

TEST_F(HandshakeTest, SessionKeysOpenEachOthersFrames) {
  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  ASSERT_TRUE(Exchange(initiator, responder).responder_done);
  LinkSession mine = TakeOrThrow(initiator);
  LinkSession yours = TakeOrThrow(responder);
  FrameSealer a_to_b(std::move(mine.send_key), 1024);
  FrameDecoder b_from_a(std::move(yours.receive_key), 1024);
  FrameSealer b_to_a(std::move(yours.send_key), 1024);
  FrameDecoder a_from_b(std::move(mine.receive_key), 1024);
  std::vector<Frame> at_b, at_a;
  ASSERT_TRUE(b_from_a.Feed(*a_to_b.Seal(FrameKind::kMessage, AsBytes("hello b")), at_b).ok());
  ASSERT_TRUE(a_from_b.Feed(*b_to_a.Seal(FrameKind::kMessage, AsBytes("hello a")), at_a).ok());
  ASSERT_EQ(at_b.size(), 1u);
  ASSERT_EQ(at_a.size(), 1u);
  EXPECT_EQ(at_b[0].body, Bytes(AsBytes("hello b").begin(), AsBytes("hello b").end()));
  EXPECT_EQ(at_a[0].body, Bytes(AsBytes("hello a").begin(), AsBytes("hello a").end()));
}

TEST_F(HandshakeTest, RandomEphemeralKeysGiveFreshSessionsEachRun) {
  Handshake first_i = InitiatorAToB(), first_r = ResponderB();
  Handshake second_i = InitiatorAToB(), second_r = ResponderB();
  Transcript first = Exchange(first_i, first_r);
  Transcript second = Exchange(second_i, second_r);
  ASSERT_TRUE(first.responder_done && second.responder_done);
  EXPECT_NE(first.m1, second.m1);
  EXPECT_NE(first.m2, second.m2);
  LinkSession one = TakeOrThrow(first_i), two = TakeOrThrow(second_i);
  EXPECT_NE(one.transcript, two.transcript);
  EXPECT_NE(HexOf(one.send_key), HexOf(two.send_key));
}

TEST_F(HandshakeTest, FixedEphemeralSecretsGiveReproducibleTranscripts) {
  auto run = [&] {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    initiator.UseEphemeralSecretForTesting(SecretFilled(0x11));
    responder.UseEphemeralSecretForTesting(SecretFilled(0x22));
    Transcript t = Exchange(initiator, responder);
    EXPECT_TRUE(t.responder_done);
    return std::make_pair(t, TakeOrThrow(initiator).transcript);
  };
  auto [first, first_transcript] = run();
  auto [second, second_transcript] = run();
  EXPECT_EQ(first.m1, second.m1);
  EXPECT_EQ(first.m2, second.m2);
  EXPECT_EQ(first.m3, second.m3);
  EXPECT_EQ(first_transcript, second_transcript);
}

// Recomputes every byte from the header's description with libsodium and the tagged hash
// directly, so the implementation and its documentation cannot drift apart.
TEST_F(HandshakeTest, FollowsTheDocumentedWireFormatAndKeySchedule) {
  const auto initiator_secret = SecretFilled(0x11);
  const auto responder_secret = SecretFilled(0x22);
  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  initiator.UseEphemeralSecretForTesting(initiator_secret);
  responder.UseEphemeralSecretForTesting(responder_secret);
  Transcript t = Exchange(initiator, responder);
  ASSERT_TRUE(t.responder_done);

  const auto e_i = X25519Public(initiator_secret);
  const auto e_r = X25519Public(responder_secret);
  const uint8_t version[] = {kHandshakeVersion};
  const Bytes m1 =
      Concat({AsBytes("CITYNET"), version, network_.span(), e_i, a_->public_key().span()});
  EXPECT_EQ(ToHex(t.m1), ToHex(m1));

  const Hash256 responder_digest = TaggedHasher("city.net.responder.v1")
                                       .Update(m1)
                                       .Update(e_r)
                                       .Update(b_->public_key().span())
                                       .Finish();
  const Bytes m2 = Concat({e_r, b_->public_key().span(), b_->Sign(responder_digest.span()).span()});
  EXPECT_EQ(ToHex(t.m2), ToHex(m2));

  const Hash256 initiator_digest =
      TaggedHasher("city.net.initiator.v1").Update(m1).Update(m2).Finish();
  EXPECT_EQ(ToHex(t.m3), a_->Sign(initiator_digest.span()).ToHex());

  const Hash256 transcript =
      TaggedHasher("city.net.session.v1").Update(m1).Update(m2).Update(t.m3).Finish();
  std::array<uint8_t, 32> shared{};
  ASSERT_EQ(crypto_scalarmult(shared.data(), initiator_secret.data(), e_r.data()), 0);
  auto derive = [&](std::string_view label) {
    const Bytes input = Concat({transcript.span(), AsBytes(label)});
    std::array<uint8_t, kSessionKeyBytes> key{};
    crypto_generichash(key.data(), key.size(), input.data(), input.size(), shared.data(),
                       shared.size());
    return ToHex(key);
  };
  LinkSession session = TakeOrThrow(initiator);
  EXPECT_EQ(session.transcript, transcript);
  EXPECT_EQ(HexOf(session.send_key), derive("i2r"));
  EXPECT_EQ(HexOf(session.receive_key), derive("r2i"));
}

// Golden vector: validator seeds 0x01.. (initiator) and 0x02.. (responder), ephemeral secrets
// 0x11.. and 0x22.., chain "city-test". A change to any of these bytes is a protocol change.
TEST_F(HandshakeTest, GoldenVectorPinsTheWireBytes) {
  constexpr std::string_view kNetworkId =
      "5de092a7b01dfd67de8dccc430e2dff534e47f5cf1814158c1a32fc39ced0e57";
  constexpr std::string_view kM1 =
      "434954594e4554015de092a7b01dfd67de8dccc430e2dff534e47f5cf1814158"
      "c1a32fc39ced0e577b4e909bbe7ffe44c465a220037d608ee35897d31ef972f0"
      "7f74892cb0f73f138a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121b"
      "f3748801b40f6f5c";
  constexpr std::string_view kM2 =
      "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20"
      "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
      "165ab2f1cba59a2192226d964cbe508b0aaeab726e85fefe73199681d7d50e6e"
      "73df305bf6ddecf6dc2b287ed02dfa0c85b0b41f1e8f82baaf45b884c1b40f07";
  constexpr std::string_view kM3 =
      "1f85df90039b87f9570cedf739358ce2d0cd72a2b6e0302747ef6e2a4a9e1e52"
      "86da11cf9f6adbbdeb827645380cfa8353688ba8f25291f7364ac824e09e850e";
  constexpr std::string_view kTranscript =
      "223afde4e823c8b2840b8ae0489abdb6ea8e757f4ace6dcc81cca7317c961364";
  constexpr std::string_view kInitiatorSendKey =
      "ef41e65ac0cd5b3142cfba295dc5a91ddde51e4a87f844cd06f2dfe00c4c8d99";

  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  initiator.UseEphemeralSecretForTesting(SecretFilled(0x11));
  responder.UseEphemeralSecretForTesting(SecretFilled(0x22));
  Transcript t = Exchange(initiator, responder);
  ASSERT_TRUE(t.responder_done);
  LinkSession session = TakeOrThrow(initiator);
  EXPECT_EQ(network_.ToHex(), kNetworkId);
  EXPECT_EQ(ToHex(t.m1), kM1);
  EXPECT_EQ(ToHex(t.m2), kM2);
  EXPECT_EQ(ToHex(t.m3), kM3);
  EXPECT_EQ(session.transcript.ToHex(), kTranscript);
  EXPECT_EQ(HexOf(session.send_key), kInitiatorSendKey);
}

TEST_F(HandshakeTest, NetworkIdDependsOnTheChainId) {
  EXPECT_EQ(NetworkId("city-test"), NetworkId("city-test"));
  EXPECT_NE(NetworkId("city-test"), NetworkId("city-test2"));
  EXPECT_NE(NetworkId(""), NetworkId("city-test"));
}

TEST_F(HandshakeTest, RefusesAnotherNetwork) {
  Handshake initiator = Handshake::Initiator(a_, NetworkId("other-chain"), b_->public_key());
  Handshake responder = ResponderB();
  Transcript t = Exchange(initiator, responder);
  EXPECT_FALSE(t.failure.ok());
  EXPECT_FALSE(t.failure.message().empty());
  EXPECT_TRUE(t.m2.empty()) << "refused at M1: the responder signs nothing";
  ExpectFailedForGood(responder);
}

TEST_F(HandshakeTest, RefusesAnInitiatorOutsideTheAllowedSet) {
  Handshake initiator = Handshake::Initiator(outsider_, network_, b_->public_key());
  Handshake responder = ResponderB();
  Transcript t = Exchange(initiator, responder);
  EXPECT_FALSE(t.failure.ok());
  EXPECT_TRUE(t.m2.empty());
  EXPECT_EQ(responder.claimed_peer(), std::optional<PublicKey>(outsider_->public_key()))
      << "the claimed key is there for the log";
  ExpectFailedForGood(responder);
}

TEST_F(HandshakeTest, RefusesItsOwnKeyEvenWhenAllowed) {
  ASSERT_TRUE(members_.contains(b_->public_key()));
  Handshake initiator = Handshake::Initiator(b_, network_, b_->public_key());
  Handshake responder = ResponderB();
  Transcript t = Exchange(initiator, responder);
  EXPECT_FALSE(t.failure.ok());
  EXPECT_TRUE(t.m2.empty());
  ExpectFailedForGood(responder);
}

TEST_F(HandshakeTest, RefusesTheWrongResponderAnsweringADial) {
  Handshake initiator = InitiatorAToB();
  Handshake responder = Handshake::Responder(c_, network_, members_);  // C, not B
  Transcript t = Exchange(initiator, responder);
  EXPECT_FALSE(t.failure.ok());
  EXPECT_FALSE(t.m2.empty()) << "C answered";
  EXPECT_TRUE(t.m3.empty()) << "A must not sign for the wrong peer";
  ExpectFailedForGood(initiator);
  EXPECT_FALSE(responder.done());
}

TEST_F(HandshakeTest, RefusesABadSignatureInM2) {
  for (size_t bit : {0u, 7u, 100u, 511u}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Transcript t = Exchange(initiator, responder, [&](int index, Bytes& message) {
      if (index == 2) message[64 + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    });
    EXPECT_FALSE(t.failure.ok()) << "bit " << bit;
    EXPECT_TRUE(t.m3.empty());
    ExpectFailedForGood(initiator);
  }
}

TEST_F(HandshakeTest, RefusesABadSignatureInM3) {
  for (size_t bit : {0u, 9u, 300u, 511u}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Transcript t = Exchange(initiator, responder, [&](int index, Bytes& message) {
      if (index == 3) message[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    });
    EXPECT_FALSE(t.failure.ok()) << "bit " << bit;
    EXPECT_FALSE(t.responder_done);
    ExpectFailedForGood(responder);
  }
}

// Whatever a relay changes, in whichever message, the two sides never both finish.
TEST_F(HandshakeTest, AnyFlippedBitInAnyMessageFailsTheHandshake) {
  for (int index = 1; index <= 3; ++index) {
    const size_t size = index == 1   ? kHandshakeM1Bytes
                        : index == 2 ? kHandshakeM2Bytes
                                     : kHandshakeM3Bytes;
    for (size_t offset = 0; offset < size; ++offset) {
      Handshake initiator = InitiatorAToB();
      Handshake responder = ResponderB();
      Transcript t = Exchange(initiator, responder, [&](int at, Bytes& message) {
        if (at == index) message[offset] ^= static_cast<uint8_t>(1u << (offset % 8));
      });
      EXPECT_FALSE(t.failure.ok()) << "M" << index << " byte " << offset;
      EXPECT_FALSE(initiator.done() && responder.done()) << "M" << index << " byte " << offset;
    }
  }
}

TEST_F(HandshakeTest, RefusesWrongMessageSizes) {
  for (size_t size : {size_t{0}, kHandshakeM1Bytes - 1, kHandshakeM1Bytes + 1}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Bytes m1 = initiator.Start();
    m1.resize(size, 0);
    EXPECT_FALSE(responder.Receive(m1).ok()) << size;
    ExpectFailedForGood(responder);
  }
  for (size_t size : {kHandshakeM2Bytes - 1, kHandshakeM2Bytes + 1}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Bytes m2 = *responder.Receive(initiator.Start());
    m2.resize(size, 0);
    EXPECT_FALSE(initiator.Receive(m2).ok()) << size;
    ExpectFailedForGood(initiator);
  }
  for (size_t size : {kHandshakeM3Bytes - 1, kHandshakeM3Bytes + 1}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Bytes m3 = *initiator.Receive(*responder.Receive(initiator.Start()));
    m3.resize(size, 0);
    EXPECT_FALSE(responder.Receive(m3).ok()) << size;
    ExpectFailedForGood(responder);
  }
}

TEST_F(HandshakeTest, AFailureIsFinalEvenIfTheRightMessageFollows) {
  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  Bytes m1 = initiator.Start();
  Bytes short_m1(m1.begin(), m1.end() - 1);
  EXPECT_FALSE(responder.Receive(short_m1).ok());
  EXPECT_FALSE(responder.Receive(m1).ok());
  ExpectFailedForGood(responder);
}

TEST_F(HandshakeTest, RefusesMessagesOutOfOrder) {
  {  // The initiator hears before it has spoken.
    Handshake initiator = InitiatorAToB();
    Handshake other = InitiatorAToB();
    Handshake responder = ResponderB();
    Bytes m2 = *responder.Receive(other.Start());
    EXPECT_FALSE(initiator.Receive(m2).ok());
    ExpectFailedForGood(initiator);
  }
  {  // Anything after the end.
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Transcript t = Exchange(initiator, responder);
    ASSERT_TRUE(t.responder_done);
    EXPECT_FALSE(responder.Receive(t.m3).ok());
    EXPECT_FALSE(initiator.Receive(t.m2).ok());
  }
  {  // M3 where M1 is expected (and padded to M1's size, so only the order is wrong).
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Handshake fresh = ResponderB();
    Transcript t = Exchange(initiator, responder);
    Bytes m3_as_m1 = t.m3;
    m3_as_m1.resize(kHandshakeM1Bytes, 0);
    EXPECT_FALSE(fresh.Receive(m3_as_m1).ok());
    ExpectFailedForGood(fresh);
  }
}

TEST_F(HandshakeTest, RefusesWrongMagicOrVersion) {
  for (size_t offset : {size_t{0}, size_t{6}, size_t{7}}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Bytes m1 = initiator.Start();
    m1[offset] = offset == 7 ? static_cast<uint8_t>(kHandshakeVersion + 1) : uint8_t{'X'};
    EXPECT_FALSE(responder.Receive(m1).ok()) << offset;
    ExpectFailedForGood(responder);
  }
}

// Points of small order on Curve25519 (canonical and not): X25519 with any clamped scalar
// gives zero, so the "shared" secret would be known to everyone.
std::vector<std::array<uint8_t, 32>> SmallOrderPoints() {
  std::vector<std::array<uint8_t, 32>> points;
  for (std::string_view hex :
       {"0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}) {
    std::array<uint8_t, 32> point{};
    Bytes bytes = FromHexOrDie(hex);
    std::copy(bytes.begin(), bytes.end(), point.begin());
    points.push_back(point);
  }
  return points;
}

// A genuine validator (A, whose key we hold) that sends a small-order ephemeral key and signs
// everything correctly: only the small-order check can stop it.
TEST_F(HandshakeTest, RefusesASmallOrderEphemeralKeyInM1) {
  for (const auto& point : SmallOrderPoints()) {
    Handshake responder = ResponderB();
    const uint8_t version[] = {kHandshakeVersion};
    const Bytes m1 =
        Concat({AsBytes("CITYNET"), version, network_.span(), point, a_->public_key().span()});
    Result<Bytes> m2 = responder.Receive(m1);
    if (m2.ok()) {  // Refusing at M1 would be as good; refusing at M3 is required.
      const Hash256 digest = TaggedHasher("city.net.initiator.v1").Update(m1).Update(*m2).Finish();
      EXPECT_FALSE(responder.Receive(a_->Sign(digest.span()).span()).ok()) << ToHex(point);
    }
    ExpectFailedForGood(responder);
  }
}

TEST_F(HandshakeTest, RefusesASmallOrderEphemeralKeyInM2) {
  for (const auto& point : SmallOrderPoints()) {
    Handshake initiator = InitiatorAToB();
    const Bytes m1 = initiator.Start();
    const Hash256 digest = TaggedHasher("city.net.responder.v1")
                               .Update(m1)
                               .Update(point)
                               .Update(b_->public_key().span())
                               .Finish();
    const Bytes m2 = Concat({point, b_->public_key().span(), b_->Sign(digest.span()).span()});
    EXPECT_FALSE(initiator.Receive(m2).ok()) << ToHex(point);
    ExpectFailedForGood(initiator);
  }
}

// A relay that substitutes its own ephemeral key (to read the traffic) in either direction.
TEST_F(HandshakeTest, RefusesARelaySwappingAnEphemeralKey) {
  const auto relay_public = X25519Public(SecretFilled(0x33));
  for (int direction : {1, 2}) {
    Handshake initiator = InitiatorAToB();
    Handshake responder = ResponderB();
    Transcript t = Exchange(initiator, responder, [&](int index, Bytes& message) {
      if (index != direction) return;
      const size_t offset = index == 1 ? 8 + 32 : 0;  // e_I in M1, e_R in M2
      std::copy(relay_public.begin(), relay_public.end(), message.begin() + offset);
    });
    EXPECT_FALSE(t.failure.ok()) << "swapped in M" << direction;
    EXPECT_FALSE(initiator.done()) << "swapped in M" << direction;
    EXPECT_FALSE(responder.done()) << "swapped in M" << direction;
  }
}

TEST_F(HandshakeTest, RefusesSignaturesReplayedFromAnotherRun) {
  Handshake old_initiator = InitiatorAToB();
  Handshake old_responder = ResponderB();
  Transcript recorded = Exchange(old_initiator, old_responder);
  ASSERT_TRUE(recorded.responder_done);

  // An old M2 offered to a new dial from A.
  Handshake initiator = InitiatorAToB();
  (void)initiator.Start();
  EXPECT_FALSE(initiator.Receive(recorded.m2).ok());
  ExpectFailedForGood(initiator);

  // A whole old initiator side (M1 then M3) replayed to B, which answers with a fresh key.
  Handshake responder = ResponderB();
  Result<Bytes> fresh_m2 = responder.Receive(recorded.m1);
  ASSERT_TRUE(fresh_m2.ok()) << "M1 alone proves nothing, so it is answered";
  EXPECT_NE(*fresh_m2, recorded.m2);
  EXPECT_FALSE(responder.Receive(recorded.m3).ok());
  ExpectFailedForGood(responder);
}

TEST_F(HandshakeTest, TakeSessionOnlyOnceAndOnlyWhenDone) {
  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  EXPECT_FALSE(initiator.TakeSession().ok());
  Bytes m2 = *responder.Receive(initiator.Start());
  EXPECT_FALSE(responder.TakeSession().ok()) << "not done before M3";
  Bytes m3 = *initiator.Receive(m2);
  ASSERT_TRUE(responder.Receive(m3).ok());
  EXPECT_TRUE(initiator.TakeSession().ok());
  EXPECT_FALSE(initiator.TakeSession().ok());
  EXPECT_TRUE(responder.TakeSession().ok());
  EXPECT_FALSE(responder.TakeSession().ok());
}

TEST_F(HandshakeTest, MovedHandshakeCarriesItsState) {
  Handshake initiator = InitiatorAToB();
  Handshake responder = ResponderB();
  Bytes m1 = initiator.Start();
  Handshake moved = std::move(initiator);
  Handshake assigned = ResponderB();
  assigned = std::move(responder);
  Bytes m3 = *moved.Receive(*assigned.Receive(m1));
  ASSERT_TRUE(assigned.Receive(m3).ok());
  EXPECT_TRUE(moved.done());
  EXPECT_TRUE(assigned.done());
}

}  // namespace
}  // namespace city::net
