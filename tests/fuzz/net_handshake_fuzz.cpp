// libFuzzer target fuzz_decode_net_handshake: the link handshake fed by an attacker. A
// responder gets a fuzzed M1 then M3, an initiator a fuzzed M2 (each either raw bytes or a
// genuine message with fuzz-chosen bit flips, so deep states are reached), and a relay may
// alter all three messages of a genuine exchange. Nothing may crash, a failure must be final,
// and no side may finish unless the signatures it relied on really verify.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "city/net/handshake.h"

namespace {

using city::Bytes;
using city::ByteSpan;
using city::Hash256;
using city::KeyPair;
using city::PublicKey;
using city::net::Handshake;

void Check(bool condition) {
  if (!condition) std::abort();
}

std::shared_ptr<const KeyPair> Key(uint8_t fill) {
  std::array<uint8_t, city::kSeedSize> seed{};
  seed.fill(fill);
  return std::make_shared<const KeyPair>(KeyPair::FromSeed(seed));
}

struct World {
  std::shared_ptr<const KeyPair> initiator = Key(1);
  std::shared_ptr<const KeyPair> responder = Key(2);
  std::shared_ptr<const KeyPair> other = Key(3);
  Hash256 network = city::net::NetworkId("city-fuzz");
  std::set<PublicKey> allowed = {initiator->public_key(), responder->public_key(),
                                 other->public_key()};
  std::array<uint8_t, city::net::kEphemeralSecretBytes> initiator_secret{};
  std::array<uint8_t, city::net::kEphemeralSecretBytes> responder_secret{};
  World() {
    initiator_secret.fill(0x11);
    responder_secret.fill(0x22);
  }
  Handshake NewInitiator() const {
    Handshake h = Handshake::Initiator(initiator, network, responder->public_key());
    h.UseEphemeralSecretForTesting(initiator_secret);
    return h;
  }
  Handshake NewResponder() const {
    Handshake h = Handshake::Responder(responder, network, allowed);
    h.UseEphemeralSecretForTesting(responder_secret);
    return h;
  }
};

const World& TheWorld() {
  static const World world;
  return world;
}

// The genuine messages of the fixed exchange, as mutation bases.
struct Genuine {
  Bytes m1, m2, m3;
};
const Genuine& TheGenuine() {
  static const Genuine genuine = [] {
    Handshake i = TheWorld().NewInitiator();
    Handshake r = TheWorld().NewResponder();
    Genuine g;
    g.m1 = i.Start();
    g.m2 = *r.Receive(g.m1);
    g.m3 = *i.Receive(g.m2);
    Check(r.Receive(g.m3).ok() && i.done() && r.done());
    return g;
  }();
  return genuine;
}

// Either raw fuzz bytes, or `base` with a few bits flipped; `changed` says if it differs.
Bytes MessageFrom(FuzzedDataProvider& input, const Bytes& base, bool* changed = nullptr) {
  Bytes out;
  if (input.ConsumeBool()) {
    out = input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange<size_t>(0, base.size() + 8));
  } else {
    out = base;
    const size_t flips = input.ConsumeIntegralInRange<size_t>(0, 3);
    for (size_t i = 0; i < flips; ++i) {
      out[input.ConsumeIntegralInRange<size_t>(0, out.size() - 1)] ^=
          input.ConsumeIntegral<uint8_t>();
    }
  }
  if (changed) *changed = out != base;
  return out;
}

void CheckFailedForGood(Handshake& side, ByteSpan any_message) {
  Check(!side.done());
  Check(side.expected_size() == 0);
  Check(!side.TakeSession().ok());
  Check(!side.Receive(any_message).ok());
}

Hash256 ResponderDigest(ByteSpan m1, ByteSpan m2) {
  return city::TaggedHasher("city.net.responder.v1")
      .Update(m1)
      .Update(m2.first(64))  // e_R || id_R
      .Finish();
}

// A responder fed an attacker's M1 and M3.
void FuzzResponder(FuzzedDataProvider& input) {
  const World& world = TheWorld();
  Handshake responder = world.NewResponder();
  const Bytes m1 = MessageFrom(input, TheGenuine().m1);
  city::Result<Bytes> m2 = responder.Receive(m1);
  if (!m2.ok()) return CheckFailedForGood(responder, m1);
  Check(m2->size() == city::net::kHandshakeM2Bytes);
  Check(responder.claimed_peer().has_value());
  const PublicKey claimed = *responder.claimed_peer();
  Check(world.allowed.contains(claimed) && claimed != world.responder->public_key());
  const Bytes m3 = MessageFrom(input, TheGenuine().m3);
  city::Result<Bytes> nothing = responder.Receive(m3);
  if (!nothing.ok()) return CheckFailedForGood(responder, m3);
  // Finished: M3 must really be the claimed key's signature over M1 || M2.
  Check(responder.done());
  Check(m3.size() == city::Signature::kSize);
  const Hash256 digest =
      city::TaggedHasher("city.net.initiator.v1").Update(m1).Update(*m2).Finish();
  Check(city::Verify(claimed, digest.span(), *city::Signature::FromSpan(m3)));
  Check(responder.TakeSession().ok());
}

// An initiator fed an attacker's M2.
void FuzzInitiator(FuzzedDataProvider& input) {
  const World& world = TheWorld();
  Handshake initiator = world.NewInitiator();
  const Bytes m1 = initiator.Start();
  const Bytes m2 = MessageFrom(input, TheGenuine().m2);
  city::Result<Bytes> m3 = initiator.Receive(m2);
  if (!m3.ok()) return CheckFailedForGood(initiator, m2);
  Check(initiator.done());
  Check(m2.size() == city::net::kHandshakeM2Bytes);
  const PublicKey responder = *PublicKey::FromSpan(ByteSpan(m2).subspan(32, 32));
  Check(responder == world.responder->public_key());
  Check(city::Verify(responder, ResponderDigest(m1, m2).span(),
                     *city::Signature::FromSpan(ByteSpan(m2).subspan(64))));
  Check(initiator.TakeSession().ok());
}

// A relay that may alter each message of a genuine exchange.
void FuzzRelay(FuzzedDataProvider& input) {
  const World& world = TheWorld();
  Handshake initiator = world.NewInitiator();
  Handshake responder = world.NewResponder();
  bool altered = false, changed = false;
  const Bytes m1 = initiator.Start();
  const Bytes m1_seen = MessageFrom(input, m1, &changed);
  altered |= changed;
  city::Result<Bytes> m2 = responder.Receive(m1_seen);
  if (!m2.ok()) return CheckFailedForGood(responder, m1);
  const Bytes m2_seen = MessageFrom(input, *m2, &changed);
  altered |= changed;
  city::Result<Bytes> m3 = initiator.Receive(m2_seen);
  if (!m3.ok()) return CheckFailedForGood(initiator, m2_seen);
  const Bytes m3_seen = MessageFrom(input, *m3, &changed);
  altered |= changed;
  city::Result<Bytes> end = responder.Receive(m3_seen);
  if (!end.ok()) return CheckFailedForGood(responder, m3_seen);
  // Both finished: only possible if the relay changed nothing, and then they agree.
  Check(!altered);
  city::Result<city::net::LinkSession> mine = initiator.TakeSession();
  city::Result<city::net::LinkSession> yours = responder.TakeSession();
  Check(mine.ok() && yours.ok());
  Check(mine->transcript == yours->transcript);
  Check(std::memcmp(mine->send_key.data(), yours->receive_key.data(), mine->send_key.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  switch (input.ConsumeIntegralInRange<int>(0, 2)) {
    case 0:
      FuzzResponder(input);
      break;
    case 1:
      FuzzInitiator(input);
      break;
    default:
      FuzzRelay(input);
      break;
  }
  return 0;
}
