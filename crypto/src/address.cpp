// Bech32m (BIP-350) account addresses, written from the BIP's description.
#include "city/crypto/address.h"

#include <array>
#include <vector>

namespace city {
namespace {

constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr uint32_t kBech32mConstant = 0x2bc830a3;
constexpr size_t kChecksumLength = 6;
// 256 key bits in 5-bit groups, rounded up.
constexpr size_t kDataLength = (PublicKey::kSize * 8 + 4) / 5;

uint32_t Polymod(const std::vector<uint8_t>& values) {
  static constexpr uint32_t kGenerator[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                             0x2a1462b3};
  uint32_t checksum = 1;
  for (uint8_t value : values) {
    const uint32_t top = checksum >> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) checksum ^= kGenerator[i];
    }
  }
  return checksum;
}

std::vector<uint8_t> ExpandPrefix(std::string_view prefix) {
  std::vector<uint8_t> out;
  for (char c : prefix) out.push_back(static_cast<uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : prefix) out.push_back(static_cast<uint8_t>(c) & 31);
  return out;
}

std::vector<uint8_t> ChecksumInput(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> values = ExpandPrefix(kAddressPrefix);
  values.insert(values.end(), data.begin(), data.end());
  return values;
}

Status Invalid(std::string message) {
  return Status(ErrorCode::kInvalidArgument, "invalid address: " + std::move(message));
}

}  // namespace

std::string EncodeAddress(const PublicKey& key) {
  std::vector<uint8_t> data;
  uint32_t accumulator = 0;
  int bits = 0;
  for (uint8_t byte : key.bytes) {
    accumulator = (accumulator << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      data.push_back((accumulator >> bits) & 31);
    }
  }
  if (bits > 0) data.push_back((accumulator << (5 - bits)) & 31);

  std::vector<uint8_t> values = ChecksumInput(data);
  values.insert(values.end(), kChecksumLength, 0);
  const uint32_t checksum = Polymod(values) ^ kBech32mConstant;
  for (size_t i = 0; i < kChecksumLength; ++i) {
    data.push_back((checksum >> (5 * (kChecksumLength - 1 - i))) & 31);
  }

  std::string out(kAddressPrefix);
  out += '1';
  for (uint8_t value : data) out += kCharset[value];
  return out;
}

Result<PublicKey> DecodeAddress(std::string_view address) {
  const size_t expected_length = kAddressPrefix.size() + 1 + kDataLength + kChecksumLength;
  if (address.size() != expected_length) {
    return Invalid("expected " + std::to_string(expected_length) + " characters, got " +
                   std::to_string(address.size()));
  }
  bool has_lower = false;
  bool has_upper = false;
  std::string lower(address);
  for (char& c : lower) {
    if (c >= 'a' && c <= 'z') has_lower = true;
    if (c >= 'A' && c <= 'Z') {
      has_upper = true;
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (has_lower && has_upper) return Invalid("mixes upper and lower case");
  const std::string_view text(lower);
  const std::string expected_prefix = std::string(kAddressPrefix) + "1";
  if (!text.starts_with(expected_prefix)) {
    return Invalid("must start with \"" + expected_prefix + "\"");
  }

  std::vector<uint8_t> data;
  for (size_t i = expected_prefix.size(); i < text.size(); ++i) {
    const size_t value = kCharset.find(text[i]);
    if (value == std::string_view::npos) {
      return Invalid("character '" + std::string(1, address[i]) + "' at position " +
                     std::to_string(i) + " is not in the address alphabet");
    }
    data.push_back(static_cast<uint8_t>(value));
  }
  if (Polymod(ChecksumInput(data)) != kBech32mConstant) {
    return Invalid("checksum mismatch (a character is mistyped or missing)");
  }
  data.resize(data.size() - kChecksumLength);

  PublicKey key;
  uint32_t accumulator = 0;
  int bits = 0;
  size_t out = 0;
  for (uint8_t value : data) {
    accumulator = (accumulator << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      key.bytes[out++] = static_cast<uint8_t>(accumulator >> bits);
    }
  }
  if ((accumulator & ((1u << bits) - 1)) != 0) return Invalid("non-zero padding bits");
  if (!key.IsValidPoint()) return Invalid("does not encode a valid Ed25519 public key");
  return key;
}

}  // namespace city
