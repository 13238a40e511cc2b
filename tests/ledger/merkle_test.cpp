// The transaction Merkle root: order-sensitive, length-sensitive, leaf/node separated.
#include "city/ledger/merkle.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace city::ledger {
namespace {

std::vector<Hash256> Leaves(size_t n) {
  std::vector<Hash256> leaves;
  for (size_t i = 0; i < n; ++i) leaves.push_back(Blake2b256(AsBytes(std::to_string(i))));
  return leaves;
}

TEST(MerkleRoot, SingleLeafIsItsLeafHash) {
  const auto leaves = Leaves(1);
  EXPECT_EQ(MerkleRoot(leaves), TaggedHash(kMerkleLeafTag, leaves[0].span()));
}

TEST(MerkleRoot, OddLeafMovesUpUnpaired) {
  const auto leaves = Leaves(3);
  const Hash256 left = TaggedHasher(kMerkleNodeTag)
                           .Update(TaggedHash(kMerkleLeafTag, leaves[0].span()).span())
                           .Update(TaggedHash(kMerkleLeafTag, leaves[1].span()).span())
                           .Finish();
  const Hash256 expected = TaggedHasher(kMerkleNodeTag)
                               .Update(left.span())
                               .Update(TaggedHash(kMerkleLeafTag, leaves[2].span()).span())
                               .Finish();
  EXPECT_EQ(MerkleRoot(leaves), expected);
}

TEST(MerkleRoot, DuplicatingTheLastLeafChangesTheRoot) {
  // The Bitcoin flaw (CVE-2012-2459): [a, b, c] and [a, b, c, c] must not share a root.
  auto leaves = Leaves(3);
  const Hash256 root = MerkleRoot(leaves);
  leaves.push_back(leaves.back());
  EXPECT_NE(MerkleRoot(leaves), root);
}

TEST(MerkleRoot, AnInnerNodeCannotPassAsALeaf) {
  const auto leaves = Leaves(2);
  const Hash256 root = MerkleRoot(leaves);
  EXPECT_NE(MerkleRoot(std::vector<Hash256>{root}), root);
}

RC_GTEST_PROP(MerkleRoot, ChangesWhenAnyLeafChangesOrOrderChanges, (uint8_t n_seed, size_t pick)) {
  const size_t n = 2 + n_seed % 40;
  auto leaves = Leaves(n);
  const Hash256 root = MerkleRoot(leaves);
  auto changed = leaves;
  changed[pick % n].bytes[0] ^= 1;
  RC_ASSERT(MerkleRoot(changed) != root);
  auto swapped = leaves;
  std::swap(swapped[pick % n], swapped[(pick + 1) % n]);
  RC_ASSERT(MerkleRoot(swapped) != root);
  auto shorter = leaves;
  shorter.pop_back();
  RC_ASSERT(MerkleRoot(shorter) != root);
}

}  // namespace
}  // namespace city::ledger
