// The validator link handshake: ephemeral X25519 keys, each side signing the transcript with
// its Ed25519 validator key, and per-direction session keys derived from both. A pure state
// machine over fixed-size messages (no sockets), so it is tested and fuzzed on its own.
//
// Wire format (all sizes fixed, so the socket code reads exactly expected_size() bytes):
//   M1 initiator -> responder, 104 bytes:
//        "CITYNET" || u8 version(1) || network id (32) || e_I (32) || id_I (32)
//   M2 responder -> initiator, 128 bytes:
//        e_R (32) || id_R (32) || sig_R (64)
//        sig_R = Sign(id_R, TaggedHash("city.net.responder.v1", M1 || e_R || id_R))
//   M3 initiator -> responder, 64 bytes:
//        sig_I = Sign(id_I, TaggedHash("city.net.initiator.v1", M1 || M2))
// e_* are ephemeral X25519 public keys, id_* Ed25519 validator keys, the network id is
// NetworkId(chain id). Each signature covers both identities and both ephemeral keys, so a
// relay can neither swap an ephemeral key nor make one side believe it talks to someone else
// (identity misbinding); the role tags stop a signature being reflected back.
// Session keys: shared = X25519(e_self, e_peer) (an all-zero result, from a small-order
// point, is refused); transcript = TaggedHash("city.net.session.v1", M1 || M2 || M3);
// key(label) = BLAKE2b-256(key = shared, transcript || label), label "i2r" or "r2i".
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "city/crypto/bytes.h"
#include "city/crypto/ed25519.h"
#include "city/crypto/hash.h"

namespace city::net {

inline constexpr uint8_t kHandshakeVersion = 1;
inline constexpr size_t kHandshakeM1Bytes = 104;
inline constexpr size_t kHandshakeM2Bytes = 128;
inline constexpr size_t kHandshakeM3Bytes = 64;
inline constexpr size_t kSessionKeyBytes = 32;
inline constexpr size_t kEphemeralSecretBytes = 32;

// Which network a link belongs to: TaggedHash("city.net.network.v1", chain id). Links
// between nodes of different chains fail at M1.
Hash256 NetworkId(std::string_view chain_id);

// What a finished handshake yields: who the peer is, and the keys for each direction.
struct LinkSession {
  PublicKey peer;
  bool initiator = false;  // this side dialed
  SecretBytes send_key{kSessionKeyBytes};
  SecretBytes receive_key{kSessionKeyBytes};
  Hash256 transcript;  // the same on both ends; names the link in logs and tie-breaks
};

class Handshake {
 public:
  // The dialing side, which knows whom it dialed: a responder with any other key is refused.
  static Handshake Initiator(std::shared_ptr<const KeyPair> identity, const Hash256& network,
                             const PublicKey& expected_peer);
  // The accepting side: only initiators whose key is in `allowed` (and is not its own) pass.
  static Handshake Responder(std::shared_ptr<const KeyPair> identity, const Hash256& network,
                             std::set<PublicKey> allowed);

  // Tests only: fixes the ephemeral secret (instead of the OS random source) so that
  // transcripts are reproducible. Call before Start/Receive.
  void UseEphemeralSecretForTesting(std::span<const uint8_t, kEphemeralSecretBytes> secret);

  // Initiator: M1, to send first. Responder: nothing to start (empty).
  Bytes Start();

  // How many bytes the next message must have; 0 once the handshake is done or failed.
  size_t expected_size() const;

  // One whole received message. On success, the bytes to send back (possibly empty). Any
  // failure is final, always kUnauthenticated, and its message says why (for the log):
  // wrong size, wrong magic or version, another network, an unknown or unexpected peer, our
  // own key, a signature that does not verify, a small-order ephemeral key (refused on
  // arrival, before this side signs anything).
  Result<Bytes> Receive(ByteSpan message);

  // True once the last message has been sent (initiator) or checked (responder).
  bool done() const;
  // The peer's claimed key, once known (responder: after M1, not yet authenticated until
  // done()). For logs.
  std::optional<PublicKey> claimed_peer() const;

  // Only after done(): the session. Call once.
  Result<LinkSession> TakeSession();

  Handshake(Handshake&&) noexcept;
  Handshake& operator=(Handshake&&) noexcept;
  ~Handshake();

 private:
  struct State;
  explicit Handshake(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace city::net
