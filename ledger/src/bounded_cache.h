// Bounded in-memory caches of the store.
//
// Two generations approximate LRU at O(1) per call: hits in the old generation move to the
// new one, and when the new generation is full the old one is dropped.
#pragma once

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "city/crypto/bytes.h"
#include "smt_tree.h"

namespace city::ledger {

template <typename Key, typename Value, typename KeyHash = std::hash<Key>>
class TwoGenerationCache {
 public:
  explicit TwoGenerationCache(size_t capacity)
      : generation_limit_(std::max<size_t>(1, capacity / 2)) {}

  std::optional<Value> Find(const Key& key) {
    std::lock_guard lock(mutex_);
    if (auto it = young_.find(key); it != young_.end()) return it->second;
    auto it = old_.find(key);
    if (it == old_.end()) return std::nullopt;
    Value value = std::move(it->second);
    old_.erase(it);
    PutLocked(key, value);
    return value;
  }

  // Replaces what the cache held for `key`.
  void Put(const Key& key, Value value) {
    std::lock_guard lock(mutex_);
    old_.erase(key);
    PutLocked(key, std::move(value));
  }

  void Erase(const Key& key) {
    std::lock_guard lock(mutex_);
    young_.erase(key);
    old_.erase(key);
  }

  void Clear() {
    std::lock_guard lock(mutex_);
    young_.clear();
    old_.clear();
  }

 private:
  using Map = std::unordered_map<Key, Value, KeyHash>;

  void PutLocked(const Key& key, Value value) {
    if (young_.size() >= generation_limit_ && !young_.contains(key)) {
      old_ = std::move(young_);
      young_ = Map();
    }
    young_.insert_or_assign(key, std::move(value));
  }

  const size_t generation_limit_;
  std::mutex mutex_;
  Map young_;  // guarded by mutex_
  Map old_;    // guarded by mutex_
};

namespace smt {

struct NodeRefHash {
  size_t operator()(const NodeRef& ref) const {
    size_t prefix = 0;
    std::memcpy(&prefix, ref.hash.bytes.data(), sizeof prefix);
    return prefix ^ ref.version;
  }
};

// State tree nodes. Nodes are immutable and stored under their hash, so a cached node can
// never be stale; the cache only saves LevelDB reads on the hot upper levels of the tree,
// which every update and proof walks.
using NodeCache = TwoGenerationCache<NodeRef, Node, NodeRefHash>;

}  // namespace smt

// The newest value of each recently read or written state key (nullopt: absent), as of the
// store's tip. The store updates it in the same step as the tip, so a hit is always the
// value at the tip; a read at the tip is then one hash lookup instead of a LevelDB seek.
using LatestStateCache = TwoGenerationCache<std::string, std::optional<Bytes>>;

}  // namespace city::ledger
