// A bounded in-memory cache of state tree nodes. Nodes are immutable and stored under their
// hash, so a cached node can never be stale; the cache only saves LevelDB reads on the hot
// upper levels of the tree, which every update and proof walks.
//
// Two generations approximate LRU at O(1) per call: hits in the old generation move to the
// new one, and when the new generation is full the old one is dropped.
#pragma once

#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "smt_tree.h"

namespace city::ledger::smt {

class NodeCache {
 public:
  explicit NodeCache(size_t capacity) : generation_limit_(std::max<size_t>(1, capacity / 2)) {}

  std::optional<Node> Find(const NodeRef& ref) {
    std::lock_guard lock(mutex_);
    if (auto it = young_.find(ref); it != young_.end()) return it->second;
    auto it = old_.find(ref);
    if (it == old_.end()) return std::nullopt;
    Node node = it->second;
    old_.erase(it);
    InsertLocked(ref, node);
    return node;
  }

  void Insert(const NodeRef& ref, const Node& node) {
    std::lock_guard lock(mutex_);
    InsertLocked(ref, node);
  }

 private:
  struct RefHash {
    size_t operator()(const NodeRef& ref) const {
      size_t prefix = 0;
      std::memcpy(&prefix, ref.hash.bytes.data(), sizeof prefix);
      return prefix ^ ref.version;
    }
  };
  using Map = std::unordered_map<NodeRef, Node, RefHash>;

  void InsertLocked(const NodeRef& ref, const Node& node) {
    if (young_.size() >= generation_limit_) {
      old_ = std::move(young_);
      young_ = Map();
    }
    young_.emplace(ref, node);
  }

  const size_t generation_limit_;
  std::mutex mutex_;
  Map young_;  // guarded by mutex_
  Map old_;    // guarded by mutex_
};

}  // namespace city::ledger::smt
