// Byte strings and their hex form, shared by every module.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "city/status.h"

namespace city {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string ToHex(ByteSpan bytes);
// Lower- or upper-case hex, even length; anything else is kInvalidArgument.
Result<Bytes> FromHex(std::string_view hex);

// A fixed-size byte value (hash, key, signature) with ordering and hex helpers. Derived
// names the concrete type (CRTP) so that FromHex on a Hash256 yields a Hash256.
template <typename Derived, size_t N>
struct FixedBytes {
  static constexpr size_t kSize = N;
  std::array<uint8_t, N> bytes{};

  ByteSpan span() const { return bytes; }
  std::string ToHex() const { return city::ToHex(bytes); }
  bool IsZero() const {
    for (uint8_t b : bytes) {
      if (b != 0) return false;
    }
    return true;
  }

  // Only from exactly N bytes; anything else is kInvalidArgument.
  static Result<Derived> FromSpan(ByteSpan in) {
    if (in.size() != N) {
      return Status(ErrorCode::kInvalidArgument,
                    "expected " + std::to_string(N) + " bytes, got " + std::to_string(in.size()));
    }
    Derived out;
    std::copy(in.begin(), in.end(), out.bytes.begin());
    return out;
  }
  static Result<Derived> FromHex(std::string_view hex) {
    Result<Bytes> raw = city::FromHex(hex);
    if (!raw.ok()) return raw.status();
    return FromSpan(*raw);
  }

  friend auto operator<=>(const Derived& a, const Derived& b) { return a.bytes <=> b.bytes; }
  friend bool operator==(const Derived& a, const Derived& b) { return a.bytes == b.bytes; }
};

}  // namespace city
