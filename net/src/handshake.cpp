// The validator link handshake; the wire format and key schedule are in handshake.h.
#include "city/net/handshake.h"

#include <sodium.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace city::net {
namespace {

constexpr std::string_view kMagic = "CITYNET";  // then the version byte
constexpr std::string_view kResponderTag = "city.net.responder.v1";
constexpr std::string_view kInitiatorTag = "city.net.initiator.v1";
constexpr std::string_view kSessionTag = "city.net.session.v1";
constexpr size_t kKeyBytes = 32;

static_assert(kMagic.size() + 1 + 3 * kKeyBytes == kHandshakeM1Bytes);
static_assert(2 * kKeyBytes + Signature::kSize == kHandshakeM2Bytes);
static_assert(Signature::kSize == kHandshakeM3Bytes);
static_assert(crypto_scalarmult_BYTES == kKeyBytes && crypto_scalarmult_SCALARBYTES == kKeyBytes);

enum class Step { kSendM1, kAwaitM1, kAwaitM2, kAwaitM3, kDone, kFailed };

Status Fail(std::string message) {
  return Status(ErrorCode::kUnauthenticated, "handshake: " + std::move(message));
}

std::string ShortKey(const PublicKey& key) { return key.ToHex().substr(0, 16); }

PublicKey KeyAt(ByteSpan bytes, size_t offset) {
  PublicKey key;
  std::copy_n(bytes.begin() + offset, kKeyBytes, key.bytes.begin());
  return key;
}

Signature SignatureAt(ByteSpan bytes, size_t offset) {
  Signature signature;
  std::copy_n(bytes.begin() + offset, Signature::kSize, signature.bytes.begin());
  return signature;
}

// Fills a message of known size front to back. (Preallocated and memcpy'd: GCC 12 at -O3
// misreports vector appends of spans as overflows.)
class MessageWriter {
 public:
  explicit MessageWriter(size_t size) : bytes_(size) {}
  MessageWriter& Put(ByteSpan part) {
    assert(offset_ + part.size() <= bytes_.size());
    std::memcpy(bytes_.data() + offset_, part.data(), part.size());
    offset_ += part.size();
    return *this;
  }
  Bytes Finish() {
    assert(offset_ == bytes_.size());
    return std::move(bytes_);
  }

 private:
  Bytes bytes_;
  size_t offset_ = 0;
};

}  // namespace

Hash256 NetworkId(std::string_view chain_id) {
  return TaggedHash("city.net.network.v1", AsBytes(chain_id));
}

struct Handshake::State {
  std::shared_ptr<const KeyPair> identity;
  Hash256 network;
  bool initiator = false;
  std::optional<PublicKey> expected_peer;  // initiator: whom we dialed
  std::set<PublicKey> allowed;             // responder: who may dial us
  Step step = Step::kFailed;

  SecretBytes ephemeral_secret{kEphemeralSecretBytes};
  SecretBytes shared{kKeyBytes};
  bool ephemeral_ready = false;
  std::array<uint8_t, kKeyBytes> ephemeral_public{};
  std::optional<PublicKey> peer;
  std::array<uint8_t, kKeyBytes> peer_ephemeral{};
  Bytes m1, m2, m3;
  std::optional<LinkSession> session;

  void EnsureEphemeral() {
    if (ephemeral_ready) return;
    randombytes_buf(ephemeral_secret.data(), ephemeral_secret.size());
    DeriveEphemeralPublic();
  }
  void DeriveEphemeralPublic() {
    crypto_scalarmult_base(ephemeral_public.data(), ephemeral_secret.data());
    ephemeral_ready = true;
  }

  // What the responder signs: M1, then its ephemeral key and identity (M2's first part).
  Hash256 ResponderDigest(ByteSpan responder_ephemeral) const {
    const PublicKey& responder = initiator ? *peer : identity->public_key();
    return TaggedHasher(kResponderTag)
        .Update(m1)
        .Update(responder_ephemeral)
        .Update(responder.span())
        .Finish();
  }
  Hash256 InitiatorDigest() const {
    return TaggedHasher(kInitiatorTag).Update(m1).Update(m2).Finish();
  }

  // The X25519 secret, as soon as the peer's ephemeral key arrives: a small-order key is
  // refused before we sign anything for it.
  Status AgreeShared() {
    if (crypto_scalarmult(shared.data(), ephemeral_secret.data(), peer_ephemeral.data()) != 0) {
      return Fail("the peer's ephemeral key is a small-order point");
    }
    return Status::Ok();
  }

  // Both directions' keys from the shared secret and the whole transcript.
  void DeriveSession() {
    LinkSession out;
    out.peer = *peer;
    out.initiator = initiator;
    out.transcript = TaggedHasher(kSessionTag).Update(m1).Update(m2).Update(m3).Finish();
    auto derive = [&](std::string_view label, SecretBytes& key) {
      crypto_generichash_state state;
      crypto_generichash_init(&state, shared.data(), shared.size(), kSessionKeyBytes);
      crypto_generichash_update(&state, out.transcript.bytes.data(), out.transcript.bytes.size());
      crypto_generichash_update(&state, reinterpret_cast<const uint8_t*>(label.data()),
                                label.size());
      crypto_generichash_final(&state, key.data(), kSessionKeyBytes);
      sodium_memzero(&state, sizeof state);
    };
    derive(initiator ? "i2r" : "r2i", out.send_key);
    derive(initiator ? "r2i" : "i2r", out.receive_key);
    session = std::move(out);
    // Nothing that could reopen this session's traffic outlives the key schedule.
    sodium_memzero(shared.data(), shared.size());
    sodium_memzero(ephemeral_secret.data(), ephemeral_secret.size());
  }

  Result<Bytes> OnM1(ByteSpan message) {
    if (std::memcmp(message.data(), kMagic.data(), kMagic.size()) != 0) {
      return Fail("not a CityLedger validator link");
    }
    if (message[kMagic.size()] != kHandshakeVersion) {
      return Fail("protocol version " + std::to_string(message[kMagic.size()]) + " is not ours (" +
                  std::to_string(kHandshakeVersion) + ")");
    }
    size_t offset = kMagic.size() + 1;
    if (!std::equal(network.bytes.begin(), network.bytes.end(), message.begin() + offset)) {
      return Fail("the peer belongs to another network (chain id)");
    }
    offset += kKeyBytes;
    std::copy_n(message.begin() + offset, kKeyBytes, peer_ephemeral.begin());
    offset += kKeyBytes;
    peer = KeyAt(message, offset);
    if (*peer == identity->public_key()) return Fail("the peer claims our own key");
    if (!allowed.contains(*peer)) return Fail("key " + ShortKey(*peer) + " is not a validator");
    m1.assign(message.begin(), message.end());

    EnsureEphemeral();
    if (Status agreed = AgreeShared(); !agreed.ok()) return agreed;
    Signature signature = identity->Sign(ResponderDigest(ephemeral_public).span());
    m2 = MessageWriter(kHandshakeM2Bytes)
             .Put(ephemeral_public)
             .Put(identity->public_key().span())
             .Put(signature.span())
             .Finish();
    step = Step::kAwaitM3;
    return m2;
  }

  Result<Bytes> OnM2(ByteSpan message) {
    std::copy_n(message.begin(), kKeyBytes, peer_ephemeral.begin());
    PublicKey responder = KeyAt(message, kKeyBytes);
    if (responder != *expected_peer) {
      return Fail("dialed " + ShortKey(*expected_peer) + " but " + ShortKey(responder) +
                  " answered");
    }
    peer = responder;
    m2.assign(message.begin(), message.end());
    if (!Verify(responder, ResponderDigest(peer_ephemeral).span(),
                SignatureAt(message, 2 * kKeyBytes))) {
      return Fail("the responder's signature does not verify");
    }
    if (Status agreed = AgreeShared(); !agreed.ok()) return agreed;
    Signature signature = identity->Sign(InitiatorDigest().span());
    m3.assign(signature.bytes.begin(), signature.bytes.end());
    DeriveSession();
    step = Step::kDone;
    return m3;
  }

  Result<Bytes> OnM3(ByteSpan message) {
    if (!Verify(*peer, InitiatorDigest().span(), SignatureAt(message, 0))) {
      return Fail("the initiator's signature does not verify");
    }
    m3.assign(message.begin(), message.end());
    DeriveSession();
    step = Step::kDone;
    return Bytes{};
  }
};

Handshake::Handshake(std::unique_ptr<State> state) : state_(std::move(state)) {}
Handshake::Handshake(Handshake&&) noexcept = default;
Handshake& Handshake::operator=(Handshake&&) noexcept = default;
Handshake::~Handshake() = default;

Handshake Handshake::Initiator(std::shared_ptr<const KeyPair> identity, const Hash256& network,
                               const PublicKey& expected_peer) {
  auto state = std::make_unique<State>();
  state->identity = std::move(identity);
  state->network = network;
  state->initiator = true;
  state->expected_peer = expected_peer;
  state->step = Step::kSendM1;
  return Handshake(std::move(state));
}

Handshake Handshake::Responder(std::shared_ptr<const KeyPair> identity, const Hash256& network,
                               std::set<PublicKey> allowed) {
  auto state = std::make_unique<State>();
  state->identity = std::move(identity);
  state->network = network;
  state->allowed = std::move(allowed);
  state->step = Step::kAwaitM1;
  return Handshake(std::move(state));
}

void Handshake::UseEphemeralSecretForTesting(
    std::span<const uint8_t, kEphemeralSecretBytes> secret) {
  std::copy(secret.begin(), secret.end(), state_->ephemeral_secret.data());
  state_->DeriveEphemeralPublic();
}

Bytes Handshake::Start() {
  State& s = *state_;
  if (s.step != Step::kSendM1) return {};
  s.EnsureEphemeral();
  const uint8_t version[] = {kHandshakeVersion};
  s.m1 = MessageWriter(kHandshakeM1Bytes)
             .Put(AsBytes(kMagic))
             .Put(version)
             .Put(s.network.span())
             .Put(s.ephemeral_public)
             .Put(s.identity->public_key().span())
             .Finish();
  s.step = Step::kAwaitM2;
  return s.m1;
}

size_t Handshake::expected_size() const {
  switch (state_->step) {
    case Step::kAwaitM1:
      return kHandshakeM1Bytes;
    case Step::kAwaitM2:
      return kHandshakeM2Bytes;
    case Step::kAwaitM3:
      return kHandshakeM3Bytes;
    default:
      return 0;
  }
}

Result<Bytes> Handshake::Receive(ByteSpan message) {
  State& s = *state_;
  size_t expected = expected_size();
  if (expected == 0) {
    std::string why = s.step == Step::kSendM1 ? "a message arrived before ours was sent"
                                              : "no message is expected now";
    s.step = Step::kFailed;
    return Fail(std::move(why));
  }
  if (message.size() != expected) {
    s.step = Step::kFailed;
    return Fail("message of " + std::to_string(message.size()) + " bytes, expected " +
                std::to_string(expected));
  }
  Step step = s.step;
  s.step = Step::kFailed;  // until the step below succeeds: any failure is final
  switch (step) {
    case Step::kAwaitM1:
      return s.OnM1(message);
    case Step::kAwaitM2:
      return s.OnM2(message);
    case Step::kAwaitM3:
      return s.OnM3(message);
    default:
      return Status(ErrorCode::kInternal, "handshake: unreachable step");
  }
}

bool Handshake::done() const { return state_->step == Step::kDone; }

std::optional<PublicKey> Handshake::claimed_peer() const { return state_->peer; }

Result<LinkSession> Handshake::TakeSession() {
  State& s = *state_;
  if (s.step != Step::kDone || !s.session.has_value()) {
    return Status(ErrorCode::kInternal, "handshake: no session (not done, or taken already)");
  }
  LinkSession session = std::move(*s.session);
  s.session.reset();
  return session;
}

}  // namespace city::net
