// Batch updates and proofs over the versioned sparse Merkle tree (smt_tree.h).
#include "smt_tree.h"

#include <cstring>

namespace city::ledger::smt {
namespace {

constexpr uint8_t kLeafKind = 1;
constexpr uint8_t kInnerKind = 2;
constexpr size_t kLeafBytes = 1 + 32 + 32;
constexpr size_t kRefBytes = 8 + 32;
constexpr size_t kInnerBytes = 1 + 2 * kRefBytes;

void PutRef(Bytes& out, const NodeRef& ref) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(uint8_t(ref.version >> shift));
  out.insert(out.end(), ref.hash.bytes.begin(), ref.hash.bytes.end());
}

NodeRef GetRef(const uint8_t* in) {
  NodeRef ref;
  for (int i = 0; i < 8; ++i) ref.version = (ref.version << 8) | in[i];
  std::memcpy(ref.hash.bytes.data(), in + 8, 32);
  return ref;
}

// Storage failures inside the recursion; ApplyUpdates turns it back into its Status.
struct LoadFailure {
  Status status;
};

// A subtree after an update, and whether it is a single leaf (which may move up). An
// untouched subtree's kind is unknown until needed: loading it just to learn would cost a read.
enum class Kind { kUnknown, kEmpty, kLeaf, kInner };
struct Subtree {
  NodeRef ref;
  Kind kind = Kind::kEmpty;
};

// An entry of a subtree being rebuilt: an existing leaf kept as it is, or a new value.
struct Entry {
  Hash256 path;
  std::optional<NodeRef> existing;
  Hash256 value_hash;
};

class Updater {
 public:
  Updater(const NodeSource& source, uint64_t version, Delta& delta)
      : source_(source), version_(version), delta_(delta) {}

  Subtree Apply(const NodeRef& old, size_t depth, std::span<const Update> updates) {
    if (updates.empty()) return {old, old.empty() ? Kind::kEmpty : Kind::kUnknown};
    if (old.empty()) return Build(depth, NewEntries(updates, std::nullopt));
    const Node node = Load(old);
    if (node.is_leaf) return UpdateLeaf(old, node.leaf, depth, updates);

    const auto split = SplitByBit(updates, depth);
    const Subtree left = Apply(node.left, depth + 1, updates.first(split));
    const Subtree right = Apply(node.right, depth + 1, updates.subspan(split));
    if (left.ref == node.left && right.ref == node.right) return {old, Kind::kInner};
    delta_.retired.push_back(old);
    return Join(left, right);
  }

 private:
  Subtree UpdateLeaf(const NodeRef& old, const SmtLeaf& leaf, size_t depth,
                     std::span<const Update> updates) {
    const Update* own = nullptr;
    bool inserts_other = false;
    for (const Update& update : updates) {
      if (update.path == leaf.path) {
        own = &update;
      } else if (update.value_hash) {
        inserts_other = true;
      }
    }
    const bool leaf_unchanged = own == nullptr || own->value_hash == leaf.value_hash;
    if (leaf_unchanged && !inserts_other) return {old, Kind::kLeaf};  // only no-op deletes
    if (!leaf_unchanged) delta_.retired.push_back(old);
    std::optional<Entry> kept;
    if (leaf_unchanged) kept = Entry{leaf.path, old, leaf.value_hash};
    return Build(depth, NewEntries(updates, kept));
  }

  // The inserted values of `updates`, with the kept leaf (if any) in path order.
  static std::vector<Entry> NewEntries(std::span<const Update> updates,
                                       const std::optional<Entry>& kept) {
    std::vector<Entry> entries;
    entries.reserve(updates.size() + 1);
    bool kept_placed = !kept.has_value();
    for (const Update& update : updates) {
      if (!kept_placed && kept->path < update.path) {
        entries.push_back(*kept);
        kept_placed = true;
      }
      if (kept && update.path == kept->path) {
        kept_placed = true;  // unchanged value: the kept leaf stands for it
        entries.push_back(*kept);
        continue;
      }
      if (update.value_hash) entries.push_back({update.path, std::nullopt, *update.value_hash});
    }
    if (!kept_placed) entries.push_back(*kept);
    return entries;
  }

  Subtree Build(size_t depth, std::span<const Entry> entries) {
    if (entries.empty()) return {};
    if (entries.size() == 1) {
      const Entry& entry = entries.front();
      if (entry.existing) return {*entry.existing, Kind::kLeaf};
      Node leaf;
      leaf.is_leaf = true;
      leaf.leaf = {entry.path, entry.value_hash};
      return {Create(leaf), Kind::kLeaf};
    }
    size_t split = 0;
    while (split < entries.size() && PathBit(entries[split].path, depth) == 0) ++split;
    return Join(Build(depth + 1, entries.first(split)), Build(depth + 1, entries.subspan(split)));
  }

  // A parent of two subtrees; a lone leaf under an otherwise empty parent takes its place.
  Subtree Join(Subtree left, Subtree right) {
    if (left.ref.empty() && right.ref.empty()) return {};
    if (left.ref.empty() && IsLeaf(right)) return {right.ref, Kind::kLeaf};
    if (right.ref.empty() && IsLeaf(left)) return {left.ref, Kind::kLeaf};
    Node inner;
    inner.left = left.ref;
    inner.right = right.ref;
    return {Create(inner), Kind::kInner};
  }

  bool IsLeaf(const Subtree& subtree) {
    if (subtree.kind == Kind::kUnknown) return Load(subtree.ref).is_leaf;
    return subtree.kind == Kind::kLeaf;
  }

  static size_t SplitByBit(std::span<const Update> updates, size_t depth) {
    size_t split = 0;
    while (split < updates.size() && PathBit(updates[split].path, depth) == 0) ++split;
    return split;
  }

  NodeRef Create(const Node& node) {
    const NodeRef ref{version_, node.Hash()};
    delta_.created.emplace_back(ref, node);
    return ref;
  }

  Node Load(const NodeRef& ref) {
    Result<Node> node = source_.Load(ref);
    if (!node.ok()) throw LoadFailure{node.status()};
    return std::move(node).value();
  }

  const NodeSource& source_;
  const uint64_t version_;
  Delta& delta_;
};

}  // namespace

Hash256 Node::Hash() const {
  return is_leaf ? SmtLeafHash(leaf.path, leaf.value_hash) : SmtNodeHash(left.hash, right.hash);
}

Bytes EncodeNode(const Node& node) {
  Bytes out;
  if (node.is_leaf) {
    out.reserve(kLeafBytes);
    out.push_back(kLeafKind);
    out.insert(out.end(), node.leaf.path.bytes.begin(), node.leaf.path.bytes.end());
    out.insert(out.end(), node.leaf.value_hash.bytes.begin(), node.leaf.value_hash.bytes.end());
  } else {
    out.reserve(kInnerBytes);
    out.push_back(kInnerKind);
    PutRef(out, node.left);
    PutRef(out, node.right);
  }
  return out;
}

Result<Node> DecodeNode(ByteSpan bytes) {
  Node node;
  if (bytes.size() == kLeafBytes && bytes[0] == kLeafKind) {
    node.is_leaf = true;
    std::memcpy(node.leaf.path.bytes.data(), bytes.data() + 1, 32);
    std::memcpy(node.leaf.value_hash.bytes.data(), bytes.data() + 33, 32);
    return node;
  }
  if (bytes.size() == kInnerBytes && bytes[0] == kInnerKind) {
    node.left = GetRef(bytes.data() + 1);
    node.right = GetRef(bytes.data() + 1 + kRefBytes);
    if (node.left.empty() && node.right.empty()) {
      return Status{ErrorCode::kCorruption, "state tree node has two empty children"};
    }
    return node;
  }
  return Status{ErrorCode::kCorruption, "state tree node is neither a leaf nor an inner node"};
}

Result<Delta> ApplyUpdates(const NodeSource& source, const NodeRef& root, uint64_t version,
                           std::span<const Update> updates) {
  for (size_t i = 1; i < updates.size(); ++i) {
    if (!(updates[i - 1].path < updates[i].path)) {
      return Status{ErrorCode::kInternal, "state updates must be sorted by path, one per path"};
    }
  }
  Delta delta;
  try {
    delta.root = Updater(source, version, delta).Apply(root, 0, updates).ref;
  } catch (const LoadFailure& failure) {
    return failure.status;
  }
  return delta;
}

Result<PathProof> Prove(const NodeSource& source, const NodeRef& root, const Hash256& path) {
  PathProof result;
  NodeRef ref = root;
  for (size_t depth = 0; !ref.empty(); ++depth) {
    Result<Node> node = source.Load(ref);
    if (!node.ok()) return node.status();
    if (node->is_leaf) {
      if (node->leaf.path == path) {
        result.value_hash = node->leaf.value_hash;
      } else {
        result.proof.other_leaf = node->leaf;
      }
      break;
    }
    if (depth >= kSmtDepth) return Status{ErrorCode::kCorruption, "state tree is too deep"};
    const bool right = PathBit(path, depth) == 1;
    result.proof.siblings.push_back(right ? node->left.hash : node->right.hash);
    ref = right ? node->right : node->left;
  }
  return result;
}

}  // namespace city::ledger::smt
