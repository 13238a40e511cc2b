// The store's bounded caches, through their internal header.
#include "bounded_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace city::ledger {
namespace {

// Every key lands in set 0 (the hash is 0) or, for odd keys, set 1: so a test can fill one
// set and watch which entry it gives up.
struct SetOfParity {
  size_t operator()(uint64_t key) const { return key % 2; }
};
using Cache = SetAssociativeCache<uint64_t, uint64_t, SetOfParity>;

TEST(SetAssociativeCache, HoldsWhatWasPutAndReplacesAKeysValue) {
  Cache cache(64);
  EXPECT_FALSE(cache.Find(2).has_value());
  cache.Put(2, 20);
  cache.Put(3, 30);
  EXPECT_EQ(cache.Find(2), 20u);
  EXPECT_EQ(cache.Find(3), 30u);
  cache.Put(2, 21);
  EXPECT_EQ(cache.Find(2), 21u);
  // The replacement took the key's own slot: the set's other three slots are still free.
  for (uint64_t key : {4, 6, 8}) cache.Put(key, key * 10);
  EXPECT_EQ(cache.Find(2), 21u);
}

TEST(SetAssociativeCache, AFullSetGivesUpItsLeastRecentlyUsed) {
  Cache cache(64);
  ASSERT_EQ(Cache::kWays, 4u);
  for (uint64_t key : {0, 2, 4, 6}) cache.Put(key, key + 100);
  // 0 is touched, so 2 is now the least recently used of the set.
  ASSERT_TRUE(cache.Find(0).has_value());
  cache.Put(8, 108);
  EXPECT_FALSE(cache.Find(2).has_value());
  for (uint64_t key : {0, 4, 6, 8}) EXPECT_EQ(cache.Find(key), key + 100) << key;
  // The other set was never touched.
  cache.Put(1, 101);
  EXPECT_EQ(cache.Find(1), 101u);
  EXPECT_EQ(cache.Find(8), 108u);
}

TEST(SetAssociativeCache, CapacityIsRoundedToWholeSetsOfAPowerOfTwo) {
  EXPECT_EQ(Cache(1).capacity(), 4u);
  EXPECT_EQ(Cache(64).capacity(), 64u);
  EXPECT_EQ(Cache(100).capacity(), 128u);
}

// The state tree's nodes, with real hashes: a table far smaller than the nodes put keeps
// answering with what was put for every key it still holds, and holds its capacity's worth.
TEST(SetAssociativeCache, NodeCacheNeverAnswersWithAnotherNode) {
  smt::NodeCache cache(256);
  std::vector<smt::NodeRef> refs;
  for (uint64_t i = 0; i < 4096; ++i) {
    smt::Node node;
    node.is_leaf = true;
    node.leaf.path = TaggedHash("path", AsBytes(std::to_string(i)));
    node.leaf.value_hash = TaggedHash("value", AsBytes(std::to_string(i)));
    const smt::NodeRef ref{i / 7, node.Hash()};
    refs.push_back(ref);
    cache.Put(ref, node);
  }
  size_t held = 0;
  for (uint64_t i = 0; i < refs.size(); ++i) {
    if (std::optional<smt::Node> found = cache.Find(refs[i])) {
      ++held;
      EXPECT_EQ(found->Hash(), refs[i].hash);
    }
  }
  EXPECT_GT(held, cache.capacity() / 2);
  EXPECT_LE(held, cache.capacity());
}

}  // namespace
}  // namespace city::ledger
