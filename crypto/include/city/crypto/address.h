// Account addresses as people see them: "city1" + bech32m (BIP-350) of the 32-byte public
// key. The BCH checksum detects every error of up to four characters and any swap of two
// neighbours, so a typo is refused instead of sending to a stranger.
#pragma once

#include <string>
#include <string_view>

#include "city/crypto/ed25519.h"

namespace city {

inline constexpr std::string_view kAddressPrefix = "city";

std::string EncodeAddress(const PublicKey& key);

// Accepts all-lower or all-upper case. Errors (kInvalidArgument) name what is wrong: prefix,
// length, character, checksum, or a key that is not a valid curve point.
Result<PublicKey> DecodeAddress(std::string_view address);

}  // namespace city
