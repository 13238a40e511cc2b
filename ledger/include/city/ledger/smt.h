// The state commitment: a sparse Merkle tree over hashed keys, and its proofs.
//
// A state key sits at the 256-bit path StateKeyPath(key); bit i of the path (most
// significant bit of byte 0 first) picks the child at depth i, 0 = left. The first bit is
// not hashed but set: public state (IsPublicStateKey) on the left, all other state on the
// right. A proof for a public key, which anyone may ask for, then shows of the private half
// only its root, never a private leaf's hash that a low-entropy value (a balance, an
// address) could be guessed and checked against. The tree is
// compressed: an empty subtree hashes to all zero bytes, and a subtree holding one leaf is
// that leaf, hashed at whatever depth it sits. Leaves and inner nodes hash under different
// tags, and a leaf commits to its whole path, so one set of (key, value) pairs has exactly
// one root.
//
// Everything here is pure (no storage): an auditor checks a proof with the root from a
// certified header, the key, the value and the proof, and nothing else.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "city/crypto/hash.h"
#include "city/ledger/codec.h"

namespace city::ledger {

inline constexpr std::string_view kSmtKeyTag = "city.smt.key.v2";
inline constexpr std::string_view kSmtValueTag = "city.smt.value.v1";
inline constexpr std::string_view kSmtLeafTag = "city.smt.leaf.v1";
inline constexpr std::string_view kSmtNodeTag = "city.smt.node.v1";
inline constexpr size_t kSmtDepth = 256;

inline constexpr size_t kMaxStateKeyBytes = 256;
inline constexpr size_t kMaxStateValueBytes = 64 * 1024;

// State anyone may read: keys in these contracts' spaces ("governance/..."). Everything else
// (the private contracts, the engine's "sys/...") is private. The node's read policy asks the
// same rule, so what it serves and how the tree is split cannot disagree.
inline constexpr std::array<std::string_view, 2> kPublicStateSpaces = {"governance", "logistics"};
bool IsPublicStateSpace(std::string_view contract);
bool IsPublicStateKey(ByteSpan key);

Hash256 StateKeyPath(ByteSpan key);
Hash256 StateValueHash(ByteSpan value);
Hash256 SmtLeafHash(const Hash256& path, const Hash256& value_hash);
Hash256 SmtNodeHash(const Hash256& left, const Hash256& right);
// Bit `depth` of a path: 0 goes left, 1 goes right.
int PathBit(const Hash256& path, size_t depth);

// The root of the tree holding exactly these leaves (path -> value hash), computed from
// scratch. The reference the incremental tree is tested against, and a tool for small sets.
Hash256 SmtRootOf(const std::map<Hash256, Hash256>& leaves);

struct SmtLeaf {
  Hash256 path;
  Hash256 value_hash;

  void EncodeTo(Encoder& encoder) const;
  static SmtLeaf DecodeFrom(Decoder& decoder);
  friend bool operator==(const SmtLeaf&, const SmtLeaf&) = default;
};

// The root of the subtree at `depth` holding exactly `leaves` (sorted by path, unique, all
// sharing their first `depth` bits), computed from scratch like SmtRootOf.
Hash256 SmtSubtreeRoot(std::span<const SmtLeaf> leaves, size_t depth);

// The path from the root to where the key's leaf is, or would be.
//   siblings[i] is the hash of the sibling subtree at depth i + 1 (root side first); the
//   key's leaf, or the place it would take, is at depth siblings.size().
//   other_leaf is set only in a proof of absence whose place is held by another key's leaf;
//   a proof of absence without it ends at an empty subtree.
struct StateProof {
  static constexpr size_t kMaxEncodedSize = 16 + kSmtDepth * 32 + 128;

  std::vector<Hash256> siblings;
  std::optional<SmtLeaf> other_leaf;

  void EncodeTo(Encoder& encoder) const;
  static StateProof DecodeFrom(Decoder& decoder);
  friend bool operator==(const StateProof&, const StateProof&) = default;
};

// Checks that, under `root`, `key` holds `value` (or, when value is nullopt, is absent).
// kOk; kUnauthenticated when the proof does not lead to `root`; kMalformed for a proof no
// tree could produce (too deep, or an other_leaf that cannot stand where it claims).
Status VerifyStateProof(const Hash256& root, ByteSpan key, std::optional<ByteSpan> value,
                        const StateProof& proof);

}  // namespace city::ledger
