// Ed25519 keys, signing and the one verifier every path uses (libsodium's strict rule:
// canonical S < L, canonical encodings, no small-order R or public key). The verifier is
// part of the consensus rules: never verify signatures any other way.
#pragma once

#include <memory>

#include "city/crypto/bytes.h"

namespace city {

struct PublicKey : FixedBytes<PublicKey, 32> {
  // True when the bytes are a canonical encoding of a point in the prime-order subgroup.
  // Costs a scalar multiplication: check keys once where they enter (config, addresses),
  // not on every verify (the verifier rejects bad keys by itself).
  bool IsValidPoint() const;
};

struct Signature : FixedBytes<Signature, 64> {};

// 32 bytes from which a key pair is derived. Only the key pair and the key file code hold
// it, in wiped memory.
inline constexpr size_t kSeedSize = 32;

// Memory for secrets: allocated apart with guard pages, locked out of swap where the OS
// allows, and zeroed when released. Move-only.
class SecretBytes {
 public:
  explicit SecretBytes(size_t size);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> span() const { return {data_, size_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class KeyPair {
 public:
  // A fresh key from the operating system's random source.
  static KeyPair Generate();
  // Deterministic: the same seed always gives the same key (tests, key files).
  static KeyPair FromSeed(std::span<const uint8_t, kSeedSize> seed);

  const PublicKey& public_key() const { return public_key_; }
  Signature Sign(ByteSpan message) const;
  // The seed, for the key file writer; never log or send it.
  std::span<const uint8_t, kSeedSize> seed() const;

 private:
  KeyPair(PublicKey public_key, SecretBytes secret);

  PublicKey public_key_;
  SecretBytes secret_;  // libsodium's 64-byte secret key: seed || public key
};

// libsodium's crypto_sign_verify_detached: the consensus acceptance rule.
[[nodiscard]] bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature);

// Makes sure libsodium is initialised; safe to call from any thread, any number of times.
void EnsureSodiumInitialized();

}  // namespace city
