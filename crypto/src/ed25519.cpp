// Ed25519 through libsodium, with secrets kept in sodium_malloc'd memory.
#include "city/crypto/ed25519.h"

#include <sodium.h>

#include <array>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace city {

void EnsureSodiumInitialized() {
  static const bool initialized = [] {
    if (sodium_init() < 0) {
      // Without a working libsodium nothing here can be trusted: fatal, not recoverable.
      std::abort();
    }
    return true;
  }();
  (void)initialized;
}

SecretBytes::SecretBytes(size_t size) : size_(size) {
  EnsureSodiumInitialized();
  data_ = static_cast<uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) throw std::bad_alloc();
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) sodium_free(data_);  // zeroes before release
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) sodium_free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

bool PublicKey::IsValidPoint() const {
  // The subgroup check is a scalar multiplication, as dear as verifying a signature, and the
  // same keys come back (a transfer's recipient, an enrolled patient): each thread remembers
  // the last valid keys it checked, two per set (the newer replaces the older). Only valid keys
  // are kept, so a match proves validity.
  struct Set {
    std::array<std::array<uint8_t, 32>, 2> keys;
    uint8_t filled = 0;  // bit w: keys[w] holds a key
    uint8_t older = 0;
  };
  constexpr size_t kSets = 2048;
  thread_local std::array<Set, kSets> known{};
  uint64_t prefix = 0;
  std::memcpy(&prefix, bytes.data(), sizeof prefix);
  Set& set = known[prefix % kSets];
  for (uint8_t way = 0; way < 2; ++way) {
    if ((set.filled >> way & 1) && set.keys[way] == bytes) return true;
  }
  EnsureSodiumInitialized();
  if (crypto_core_ed25519_is_valid_point(bytes.data()) != 1) return false;
  set.keys[set.older] = bytes;
  set.filled |= uint8_t(1 << set.older);
  set.older ^= 1;
  return true;
}

KeyPair::KeyPair(PublicKey public_key, SecretBytes secret)
    : public_key_(public_key), secret_(std::move(secret)) {}

KeyPair KeyPair::Generate() {
  SecretBytes seed(kSeedSize);
  EnsureSodiumInitialized();
  randombytes_buf(seed.data(), seed.size());
  return FromSeed(std::span<const uint8_t, kSeedSize>(seed.data(), kSeedSize));
}

KeyPair KeyPair::FromSeed(std::span<const uint8_t, kSeedSize> seed) {
  EnsureSodiumInitialized();
  SecretBytes secret(crypto_sign_SECRETKEYBYTES);
  PublicKey public_key;
  crypto_sign_seed_keypair(public_key.bytes.data(), secret.data(), seed.data());
  return KeyPair(public_key, std::move(secret));
}

Signature KeyPair::Sign(ByteSpan message) const {
  assert(secret_.data() != nullptr && "signing with a moved-from KeyPair");
  Signature signature;
  crypto_sign_detached(signature.bytes.data(), nullptr, message.data(), message.size(),
                       secret_.data());
  return signature;
}

std::span<const uint8_t, kSeedSize> KeyPair::seed() const {
  return std::span<const uint8_t, kSeedSize>(secret_.data(), kSeedSize);
}

bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) {
  EnsureSodiumInitialized();
  return crypto_sign_verify_detached(signature.bytes.data(), message.data(), message.size(),
                                     key.bytes.data()) == 0;
}

}  // namespace city
