// BLAKE2b-256 hashing with domain separation: every kind of object hashes under its own tag,
// so bytes valid as one kind can never be mistaken for another.
#pragma once

#include <sodium.h>

#include <string_view>

#include "city/crypto/bytes.h"

namespace city {

struct Hash256 : FixedBytes<Hash256, 32> {};

// Plain BLAKE2b with a 32-byte output, no tag. Use TaggedHash for anything the ledger
// stores or signs.
Hash256 Blake2b256(ByteSpan data);

// Streaming tagged hash: H(u8 len(tag) || tag || data...). The length prefix keeps tags
// prefix-free, so ("a", "bc") and ("ab", "c") never collide.
class TaggedHasher {
 public:
  explicit TaggedHasher(std::string_view tag);
  // Keyed BLAKE2b (a MAC): without the key (16..64 bytes) nobody can compute or test a hash,
  // so a dictionary of likely inputs learns nothing.
  TaggedHasher(std::string_view tag, ByteSpan key);
  TaggedHasher& Update(ByteSpan data);
  TaggedHasher& UpdateU32(uint32_t value);  // little-endian
  Hash256 Finish();

 private:
  crypto_generichash_state state_;
};

Hash256 TaggedHash(std::string_view tag, ByteSpan data);

}  // namespace city
