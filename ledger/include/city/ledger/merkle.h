// The binary Merkle root over a block's signed transaction hashes (its tx_root).
//
// Leaves and inner nodes hash under different tags, so an inner node can never pass as a
// leaf; an odd node at the end of a level moves up unchanged instead of being paired with
// itself, so no two different lists of ids share a root.
#pragma once

#include <span>

#include "city/crypto/hash.h"

namespace city::ledger {

inline constexpr std::string_view kMerkleEmptyTag = "city.merkle.empty.v1";
inline constexpr std::string_view kMerkleLeafTag = "city.merkle.leaf.v1";
inline constexpr std::string_view kMerkleNodeTag = "city.merkle.node.v1";

Hash256 MerkleRoot(std::span<const Hash256> leaves);

}  // namespace city::ledger
