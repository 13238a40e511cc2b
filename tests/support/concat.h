// Byte strings glued from parts, for tests that build wire messages by hand.
#pragma once

#include <cstring>
#include <initializer_list>

#include "city/crypto/bytes.h"

namespace city::test {

inline Bytes Concat(std::initializer_list<ByteSpan> parts) {
  size_t total = 0;
  for (ByteSpan part : parts) total += part.size();
  Bytes out(total);
  size_t offset = 0;
  for (ByteSpan part : parts) {
    if (!part.empty()) std::memcpy(out.data() + offset, part.data(), part.size());
    offset += part.size();
  }
  return out;
}

}  // namespace city::test
