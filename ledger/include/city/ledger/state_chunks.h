// The state at one version in chunks, each checkable on its own against a certified state
// root: the verification core of state sync (issue 20), pure like smt.h.
//
// The tree's top `split_depth` levels cut the path space into 2^split_depth subtrees by path
// prefix. A snapshot's manifest is the list of their summaries: how many leaves each holds
// (none, one, more) and its hash. RootOfSubtrees recomputes the top of the tree from them,
// with the tree's compression (a subtree of one leaf is that leaf, wherever it sits), so the
// manifest is checked once against the root of a certified header. A chunk is the leaves of
// a run of consecutive subtrees; CheckChunk recomputes each subtree from the chunk's leaves
// and compares it with the manifest. So every chunk is checked as soon as it arrives, from
// whichever peer, in any order, at a cost linear in its size: the manifest is the upper part
// of the range proof that all chunks share, proven once.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "city/ledger/smt.h"

namespace city::ledger {

// 2^16 subtrees at most. A state of a million keys split at depth 10 makes chunks of about a
// thousand keys.
inline constexpr size_t kMaxSplitDepth = 16;

enum class SubtreeKind : uint8_t {
  kEmpty = 0,    // no leaf: hash all zero
  kOneLeaf = 1,  // one leaf: its leaf hash
  kInner = 2,    // two or more: the node hash of its children
};

struct SubtreeSummary {
  SubtreeKind kind = SubtreeKind::kEmpty;
  Hash256 hash;
  // kOneLeaf: the leaf itself (all zero otherwise). Its path pins it to its subtree: a lone
  // leaf hashes the same under any sibling it collapses with, so without it a manifest could
  // list it in the wrong subtree, make the right root, and have honest chunks refused.
  SmtLeaf leaf;
  friend bool operator==(const SubtreeSummary&, const SubtreeSummary&) = default;
};

// The summary of the subtree at `depth` that holds exactly `leaves` (sorted by path, unique,
// all sharing their first `depth` bits; the caller checks that, as CheckChunk does).
SubtreeSummary SummarizeSubtree(std::span<const SmtLeaf> leaves, size_t depth);

// The root of the tree whose subtrees at depth log2(subtrees.size()) are `subtrees`.
// kMalformed unless the size is a power of two up to 2^kMaxSplitDepth and each summary is
// consistent: an empty one hashes to zero; a one-leaf one is its leaf's hash, and the leaf's
// path lies in that subtree; an inner one has a non-zero hash; only a one-leaf one has a leaf.
Result<Hash256> RootOfSubtrees(std::span<const SubtreeSummary> subtrees);

// The subtree (index into the manifest) that `path` falls in, at `split_depth`.
size_t SubtreeIndex(const Hash256& path, size_t split_depth);

// One key's value in a snapshot.
struct StateEntry {
  Bytes key;
  Bytes value;
  friend bool operator==(const StateEntry&, const StateEntry&) = default;
};

// CheckChunk for entries as a peer sends them (in path order): each key and value within the
// state limits (kTooLarge), then their leaves against the manifest.
Status CheckStateChunk(std::span<const SubtreeSummary> manifest, size_t first, size_t count,
                       std::span<const StateEntry> entries);

// Checks a chunk: `leaves` are exactly the leaves of subtrees [first, first + count) of the
// tree `manifest` summarizes (the manifest checked against the root already). kMalformed for
// a range outside the manifest, leaves out of order, repeated or outside the range;
// kUnauthenticated, naming the subtree, when the leaves do not make its summary.
Status CheckChunk(std::span<const SubtreeSummary> manifest, size_t first, size_t count,
                  std::span<const SmtLeaf> leaves);

}  // namespace city::ledger
