// The versioned sparse Merkle tree behind the state store: batch updates that touch only
// the paths of the changed keys, and proofs. Storage is behind NodeSource.
//
// A node is stored once, under (the version that created it, its hash), and never
// rewritten: an update creates new nodes for the changed paths and retires the old ones,
// so every retained version's root still reaches an intact tree. A leaf that moves up when
// its sibling is deleted keeps its reference, because a leaf's hash does not depend on its
// depth.
#pragma once

#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "city/ledger/smt.h"

namespace city::ledger::smt {

struct NodeRef {
  uint64_t version = 0;
  Hash256 hash;  // all zero: the empty subtree

  bool empty() const { return hash.IsZero(); }
  friend bool operator==(const NodeRef&, const NodeRef&) = default;
};

struct Node {
  bool is_leaf = false;
  SmtLeaf leaf;         // is_leaf
  NodeRef left, right;  // !is_leaf

  Hash256 Hash() const;
};

// Node bytes on disk: 0x01 ‖ path ‖ value_hash, or 0x02 ‖ left ‖ right with each child as
// u64 BE version ‖ hash.
Bytes EncodeNode(const Node& node);
Result<Node> DecodeNode(ByteSpan bytes);

class NodeSource {
 public:
  virtual ~NodeSource() = default;
  // The node stored under `ref`; kCorruption when missing or not matching ref.hash.
  virtual Result<Node> Load(const NodeRef& ref) const = 0;
};

struct Update {
  Hash256 path;
  std::optional<Hash256> value_hash;  // nullopt: delete
};

struct Delta {
  NodeRef root;
  std::vector<std::pair<NodeRef, Node>> created;
  std::vector<NodeRef> retired;  // reachable from the old root, not from the new one
};

// `updates` sorted by path, one per path. Loads only the nodes on the updated paths.
Result<Delta> ApplyUpdates(const NodeSource& source, const NodeRef& root, uint64_t version,
                           std::span<const Update> updates);

struct PathProof {
  StateProof proof;
  std::optional<Hash256> value_hash;  // the key's leaf, when present
};
Result<PathProof> Prove(const NodeSource& source, const NodeRef& root, const Hash256& path);

}  // namespace city::ledger::smt
