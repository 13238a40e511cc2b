// State chunks checked against a manifest of subtree summaries (state_chunks.h).
#include "city/ledger/state_chunks.h"

#include <string>

namespace city::ledger {
namespace {

bool IsPowerOfTwo(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

size_t Log2(size_t power_of_two) { return static_cast<size_t>(__builtin_ctzll(power_of_two)); }

// The parent of two sibling subtrees, compressed as the tree is: one leaf under an otherwise
// empty subtree moves up; an inner node exists only above two leaves or more.
SubtreeSummary Combine(const SubtreeSummary& left, const SubtreeSummary& right) {
  if (left.kind == SubtreeKind::kEmpty && right.kind != SubtreeKind::kInner) return right;
  if (right.kind == SubtreeKind::kEmpty && left.kind != SubtreeKind::kInner) return left;
  return {SubtreeKind::kInner, SmtNodeHash(left.hash, right.hash), {}};
}

}  // namespace

size_t SubtreeIndex(const Hash256& path, size_t split_depth) {
  size_t index = 0;
  for (size_t depth = 0; depth < split_depth; ++depth) {
    index = (index << 1) | static_cast<size_t>(PathBit(path, depth));
  }
  return index;
}

namespace {

bool Consistent(const SubtreeSummary& summary, size_t index, size_t split_depth) {
  const bool no_leaf = summary.leaf == SmtLeaf{};
  switch (summary.kind) {
    case SubtreeKind::kEmpty:
      return summary.hash.IsZero() && no_leaf;
    case SubtreeKind::kOneLeaf:
      return summary.hash == SmtLeafHash(summary.leaf.path, summary.leaf.value_hash) &&
             SubtreeIndex(summary.leaf.path, split_depth) == index;
    case SubtreeKind::kInner:
      return !summary.hash.IsZero() && no_leaf;
  }
  return false;
}

}  // namespace

SubtreeSummary SummarizeSubtree(std::span<const SmtLeaf> leaves, size_t depth) {
  if (leaves.empty()) return {};
  if (leaves.size() == 1) {
    return {SubtreeKind::kOneLeaf, SmtLeafHash(leaves[0].path, leaves[0].value_hash), leaves[0]};
  }
  return {SubtreeKind::kInner, SmtSubtreeRoot(leaves, depth), {}};
}

Result<Hash256> RootOfSubtrees(std::span<const SubtreeSummary> subtrees) {
  if (!IsPowerOfTwo(subtrees.size()) || Log2(subtrees.size()) > kMaxSplitDepth) {
    return Status(ErrorCode::kMalformed,
                  "a state manifest must list a power of two of subtrees, "
                  "at most 2^" +
                      std::to_string(kMaxSplitDepth));
  }
  const size_t split_depth = Log2(subtrees.size());
  std::vector<SubtreeSummary> level(subtrees.begin(), subtrees.end());
  for (size_t i = 0; i < level.size(); ++i) {
    if (!Consistent(level[i], i, split_depth)) {
      return Status(ErrorCode::kMalformed,
                    "subtree " + std::to_string(i) + " of the state manifest is inconsistent");
    }
  }
  while (level.size() > 1) {
    for (size_t i = 0; i < level.size() / 2; ++i)
      level[i] = Combine(level[2 * i], level[2 * i + 1]);
    level.resize(level.size() / 2);
  }
  return level[0].hash;
}

Status CheckChunk(std::span<const SubtreeSummary> manifest, size_t first, size_t count,
                  std::span<const SmtLeaf> leaves) {
  if (!IsPowerOfTwo(manifest.size()) || Log2(manifest.size()) > kMaxSplitDepth) {
    return {ErrorCode::kMalformed, "the state manifest's size is not a power of two"};
  }
  if (count == 0 || first >= manifest.size() || count > manifest.size() - first) {
    return {ErrorCode::kMalformed, "the chunk's subtrees lie outside the state manifest"};
  }
  const size_t split_depth = Log2(manifest.size());
  size_t at = 0;
  for (size_t index = first; index < first + count; ++index) {
    const size_t begin = at;
    while (at < leaves.size() && SubtreeIndex(leaves[at].path, split_depth) == index) {
      if (at > begin && !(leaves[at - 1].path < leaves[at].path)) {
        return {ErrorCode::kMalformed, "the chunk's leaves are out of order or repeated"};
      }
      ++at;
    }
    // The hash alone: the root binds it, but not the kind beside a non-empty sibling (a lone
    // leaf's hash listed as an inner node's makes the same root), and an honest chunk must
    // not be refused for a label.
    if (SummarizeSubtree(leaves.subspan(begin, at - begin), split_depth).hash !=
        manifest[index].hash) {
      return {ErrorCode::kUnauthenticated, "the chunk's leaves of subtree " +
                                               std::to_string(index) +
                                               " do not make the summary the state manifest holds"};
    }
  }
  if (at != leaves.size()) {
    return {ErrorCode::kMalformed,
            "the chunk holds a leaf out of order or outside its subtrees (leaf " +
                std::to_string(at) + ")"};
  }
  return Status::Ok();
}

Status CheckStateChunk(std::span<const SubtreeSummary> manifest, size_t first, size_t count,
                       std::span<const StateEntry> entries) {
  std::vector<SmtLeaf> leaves;
  leaves.reserve(entries.size());
  for (const StateEntry& entry : entries) {
    if (entry.key.size() > kMaxStateKeyBytes || entry.value.size() > kMaxStateValueBytes) {
      return {ErrorCode::kTooLarge, "a state chunk holds a key or value over the state limits"};
    }
    leaves.push_back({StateKeyPath(entry.key), StateValueHash(entry.value)});
  }
  return CheckChunk(manifest, first, count, leaves);
}

}  // namespace city::ledger
