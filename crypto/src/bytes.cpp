// Hex encoding of byte strings.
#include "city/crypto/bytes.h"

#include <array>
#include <cstdint>

namespace city {
namespace {

// Each byte's digit value, 0xff for a byte that is not a hex digit: one load per digit,
// because block bodies come to auditors as megabytes of hex.
constexpr std::array<uint8_t, 256> kHexValues = [] {
  std::array<uint8_t, 256> values{};
  values.fill(0xff);
  for (int c = '0'; c <= '9'; ++c) values[c] = uint8_t(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) values[c] = uint8_t(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) values[c] = uint8_t(c - 'A' + 10);
  return values;
}();

int HexValue(char c) {
  const uint8_t value = kHexValues[static_cast<uint8_t>(c)];
  return value == 0xff ? -1 : value;
}

}  // namespace

std::string ToHex(ByteSpan bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Status(ErrorCode::kInvalidArgument, "hex string has an odd length");
  }
  Bytes out(hex.size() / 2);
  uint8_t invalid = 0;  // the high bits of every digit value: set by any byte not a digit
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t hi = kHexValues[static_cast<uint8_t>(hex[2 * i])];
    const uint8_t lo = kHexValues[static_cast<uint8_t>(hex[2 * i + 1])];
    invalid |= hi | lo;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (invalid & 0xf0) {
    for (size_t i = 0; i < hex.size(); ++i) {
      if (HexValue(hex[i]) < 0) {
        return Status(ErrorCode::kInvalidArgument,
                      "not a hex digit at position " + std::to_string(i));
      }
    }
  }
  return out;
}

}  // namespace city
