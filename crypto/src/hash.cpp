// BLAKE2b-256 through libsodium's crypto_generichash.
#include "city/crypto/hash.h"

#include <cassert>

#include "city/crypto/ed25519.h"

namespace city {

Hash256 Blake2b256(ByteSpan data) {
  EnsureSodiumInitialized();
  Hash256 out;
  crypto_generichash(out.bytes.data(), out.bytes.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

TaggedHasher::TaggedHasher(std::string_view tag) : TaggedHasher(tag, ByteSpan()) {}

TaggedHasher::TaggedHasher(std::string_view tag, ByteSpan key) {
  EnsureSodiumInitialized();
  assert(tag.size() <= 255 && "domain tags are short constants");
  assert((key.empty() || (key.size() >= crypto_generichash_KEYBYTES_MIN &&
                          key.size() <= crypto_generichash_KEYBYTES_MAX)) &&
         "a keyed hash takes a 16..64 byte key");
  crypto_generichash_init(&state_, key.empty() ? nullptr : key.data(), key.size(), Hash256::kSize);
  const uint8_t tag_length = static_cast<uint8_t>(tag.size());
  crypto_generichash_update(&state_, &tag_length, 1);
  Update(AsBytes(tag));
}

TaggedHasher& TaggedHasher::Update(ByteSpan data) {
  crypto_generichash_update(&state_, data.data(), data.size());
  return *this;
}

TaggedHasher& TaggedHasher::UpdateU32(uint32_t value) {
  const uint8_t le[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                         static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
  return Update(le);
}

Hash256 TaggedHasher::Finish() {
  Hash256 out;
  crypto_generichash_final(&state_, out.bytes.data(), out.bytes.size());
  return out;
}

Hash256 TaggedHash(std::string_view tag, ByteSpan data) {
  return TaggedHasher(tag).Update(data).Finish();
}

}  // namespace city
