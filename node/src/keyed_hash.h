// Hash-table hashing keyed per process (libsodium's SipHash, crypto_shorthash): transaction
// ids and account keys come from clients, and a random key keeps them from aiming entries
// at one bucket.
#pragma once

#include <sodium.h>

#include <array>
#include <cstring>

#include "city/crypto/ed25519.h"
#include "city/crypto/hash.h"

namespace city::node::internal {

inline const unsigned char* ProcessHashKey() {
  static const std::array<unsigned char, crypto_shorthash_KEYBYTES> key = [] {
    std::array<unsigned char, crypto_shorthash_KEYBYTES> out{};
    EnsureSodiumInitialized();
    randombytes_buf(out.data(), out.size());
    return out;
  }();
  return key.data();
}

inline size_t KeyedHash(const uint8_t* data, size_t size) {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, data, size, ProcessHashKey());
  size_t value = 0;
  std::memcpy(&value, out, sizeof value);
  return value;
}

// For hash tables keyed by transaction ids or account keys.
struct KeyedHasher {
  size_t operator()(const Hash256& id) const { return KeyedHash(id.bytes.data(), id.bytes.size()); }
  size_t operator()(const PublicKey& key) const {
    return KeyedHash(key.bytes.data(), key.bytes.size());
  }
};

}  // namespace city::node::internal
