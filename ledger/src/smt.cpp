// Sparse Merkle tree hashing, the from-scratch reference root, and proof verification.
#include "city/ledger/smt.h"

#include <algorithm>
#include <iterator>

#include "codec_internal.h"

namespace city::ledger {
namespace {

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SmtLeaf, Visitor>& leaf) {
  v.Fixed(leaf.path);
  v.Fixed(leaf.value_hash);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<StateProof, Visitor>& proof) {
  v.FixedList(proof.siblings, kSmtDepth, "proof siblings");
  v.Optional(proof.other_leaf, "proof other_leaf");
}

// Root of the leaves in [begin, end), all sharing their first `depth` bits.
Hash256 SubtreeRoot(const SmtLeaf* begin, const SmtLeaf* end, size_t depth) {
  if (begin == end) return Hash256{};
  if (std::next(begin) == end) return SmtLeafHash(begin->path, begin->value_hash);
  const SmtLeaf* split = begin;
  while (split != end && PathBit(split->path, depth) == 0) ++split;
  return SmtNodeHash(SubtreeRoot(begin, split, depth + 1), SubtreeRoot(split, end, depth + 1));
}

size_t CommonPrefixBits(const Hash256& a, const Hash256& b) {
  for (size_t i = 0; i < Hash256::kSize; ++i) {
    const uint8_t diff = a.bytes[i] ^ b.bytes[i];
    if (diff != 0) return i * 8 + static_cast<size_t>(__builtin_clz(diff) - 24);
  }
  return kSmtDepth;
}

}  // namespace

CITY_LEDGER_CODEC(SmtLeaf)
CITY_LEDGER_CODEC(StateProof)

bool IsPublicStateSpace(std::string_view contract) {
  return std::find(kPublicStateSpaces.begin(), kPublicStateSpaces.end(), contract) !=
         kPublicStateSpaces.end();
}

bool IsPublicStateKey(ByteSpan key) {
  const std::string_view text(reinterpret_cast<const char*>(key.data()), key.size());
  const size_t slash = text.find('/');
  return slash != std::string_view::npos && IsPublicStateSpace(text.substr(0, slash));
}

Hash256 StateKeyPath(ByteSpan key) {
  Hash256 path = TaggedHash(kSmtKeyTag, key);
  path.bytes[0] = IsPublicStateKey(key) ? (path.bytes[0] & 0x7f) : (path.bytes[0] | 0x80);
  return path;
}
Hash256 StateValueHash(ByteSpan value) { return TaggedHash(kSmtValueTag, value); }

Hash256 SmtLeafHash(const Hash256& path, const Hash256& value_hash) {
  return TaggedHasher(kSmtLeafTag).Update(path.bytes).Update(value_hash.bytes).Finish();
}

Hash256 SmtNodeHash(const Hash256& left, const Hash256& right) {
  return TaggedHasher(kSmtNodeTag).Update(left.bytes).Update(right.bytes).Finish();
}

int PathBit(const Hash256& path, size_t depth) {
  return (path.bytes[depth / 8] >> (7 - depth % 8)) & 1;
}

Hash256 SmtRootOf(const std::map<Hash256, Hash256>& leaves) {
  std::vector<SmtLeaf> sorted;
  sorted.reserve(leaves.size());
  for (const auto& [path, value_hash] : leaves) sorted.push_back({path, value_hash});
  return SmtSubtreeRoot(sorted, 0);
}

Hash256 SmtSubtreeRoot(std::span<const SmtLeaf> leaves, size_t depth) {
  return SubtreeRoot(leaves.data(), leaves.data() + leaves.size(), depth);
}

Status VerifyStateProof(const Hash256& root, ByteSpan key, std::optional<ByteSpan> value,
                        const StateProof& proof) {
  const size_t depth = proof.siblings.size();
  if (depth > kSmtDepth) return {ErrorCode::kMalformed, "proof is deeper than 256 levels"};
  const Hash256 path = StateKeyPath(key);
  Hash256 node;
  if (value) {
    if (proof.other_leaf) {
      return {ErrorCode::kMalformed, "a proof of a value cannot name another leaf"};
    }
    node = SmtLeafHash(path, StateValueHash(*value));
  } else if (proof.other_leaf) {
    // Another key's leaf may hold the place only if it shares the path down to it.
    const SmtLeaf& other = *proof.other_leaf;
    if (other.path == path) {
      return {ErrorCode::kMalformed, "the leaf standing in the key's place is the key itself"};
    }
    if (CommonPrefixBits(other.path, path) < depth) {
      return {ErrorCode::kMalformed, "the leaf standing in the key's place is off its path"};
    }
    node = SmtLeafHash(other.path, other.value_hash);
  }  // else: the key's place is an empty subtree, which hashes to zero
  for (size_t i = depth; i-- > 0;) {
    node = PathBit(path, i) == 0 ? SmtNodeHash(node, proof.siblings[i])
                                 : SmtNodeHash(proof.siblings[i], node);
  }
  if (node != root) {
    return {ErrorCode::kUnauthenticated, value
                                             ? "the proof does not lead to the root for this value"
                                             : "the proof of absence does not lead to the root"};
  }
  return Status::Ok();
}

}  // namespace city::ledger
