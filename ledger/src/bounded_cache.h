// Bounded in-memory caches of the store.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "city/crypto/bytes.h"
#include "smt_tree.h"

namespace city::ledger {

// Two generations approximate LRU at O(1) per call: hits in the old generation move to the
// new one, and when the new generation is full the old one is dropped. For values of any
// size (strings, byte strings).
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

// A fixed table of about `capacity` slots in sets of kWays: a key lives only in its set, and
// a new key takes the place of the set's least recently used. For small fixed-size keys and
// values: nothing is allocated per entry, nothing is freed in bulk, and every slot holds an
// entry once the table has filled (a two-generation map of the state tree's nodes spent a
// sixth of a commit in its hash maps, allocation and the frees of dropping a generation).
// The table is zeroed memory from the system, so its pages count only once used.
template <typename Key, typename Value, typename KeyHash>
class SetAssociativeCache {
  static_assert(std::is_trivially_copyable_v<Key> && std::is_trivially_copyable_v<Value>,
                "slots are zeroed memory, not constructed");

 public:
  static constexpr size_t kWays = 4;

  explicit SetAssociativeCache(size_t capacity)
      : sets_(std::bit_ceil(std::max<size_t>(1, capacity / kWays))),
        slots_(static_cast<Slot*>(std::calloc(sets_ * kWays, sizeof(Slot)))) {
    if (slots_ == nullptr) throw std::bad_alloc();
  }

  std::optional<Value> Find(const Key& key) {
    std::lock_guard lock(mutex_);
    for (Slot& slot : SetOf(key)) {
      if (slot.used != 0 && slot.key == key) {
        slot.used = ++clock_;
        return slot.value;
      }
    }
    return std::nullopt;
  }

  // Replaces what the cache held for `key`.
  void Put(const Key& key, const Value& value) {
    std::lock_guard lock(mutex_);
    std::span<Slot> set = SetOf(key);
    Slot* target = &set[0];
    for (Slot& slot : set) {
      if (slot.used != 0 && slot.key == key) {
        target = &slot;
        break;
      }
      if (slot.used < target->used) target = &slot;  // an empty slot (0) goes first
    }
    target->key = key;
    target->value = value;
    target->used = ++clock_;
  }

  size_t capacity() const { return sets_ * kWays; }

 private:
  struct Slot {
    Key key;
    Value value;
    uint64_t used;  // when last touched, by clock_; 0: empty
  };
  struct Free {
    void operator()(Slot* slots) const { std::free(slots); }
  };

  std::span<Slot> SetOf(const Key& key) {
    return {slots_.get() + (KeyHash{}(key) & (sets_ - 1)) * kWays, kWays};
  }

  const size_t sets_;  // a power of two
  std::mutex mutex_;
  std::unique_ptr<Slot[], Free> slots_;  // guarded by mutex_
  uint64_t clock_ = 0;                   // guarded by mutex_
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
using NodeCache = SetAssociativeCache<NodeRef, Node, NodeRefHash>;

}  // namespace smt

// The newest value of each recently read or written state key (nullopt: absent), as of the
// store's tip. The store updates it in the same step as the tip, so a hit is always the
// value at the tip; a read at the tip is then one hash lookup instead of a LevelDB seek.
using LatestStateCache = TwoGenerationCache<std::string, std::optional<Bytes>>;

}  // namespace city::ledger
