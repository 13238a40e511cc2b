// A slow, independent model of the compressed sparse Merkle tree of smt.h (roots and
// proofs straight from the definitions there), to check the real tree and prover against.
#pragma once

#include <map>
#include <vector>

#include "city/ledger/smt.h"

namespace city::test {

using SmtLeaves = std::map<Hash256, Hash256>;  // path -> value hash

inline Hash256 RefSubtreeRoot(const std::vector<ledger::SmtLeaf>& leaves, size_t depth) {
  if (leaves.empty()) return Hash256{};
  if (leaves.size() == 1) return ledger::SmtLeafHash(leaves[0].path, leaves[0].value_hash);
  std::vector<ledger::SmtLeaf> left;
  std::vector<ledger::SmtLeaf> right;
  for (const ledger::SmtLeaf& leaf : leaves) {
    (ledger::PathBit(leaf.path, depth) == 0 ? left : right).push_back(leaf);
  }
  return ledger::SmtNodeHash(RefSubtreeRoot(left, depth + 1), RefSubtreeRoot(right, depth + 1));
}

inline std::vector<ledger::SmtLeaf> LeafList(const SmtLeaves& leaves) {
  std::vector<ledger::SmtLeaf> out;
  for (const auto& [path, value_hash] : leaves) out.push_back({path, value_hash});
  return out;
}

inline Hash256 RefRoot(const SmtLeaves& leaves) { return RefSubtreeRoot(LeafList(leaves), 0); }

// The one proof the definition allows for `path`: walk down while the subtree holds two or
// more leaves, collecting the other side's root at each depth.
inline ledger::StateProof RefProve(const SmtLeaves& leaves, const Hash256& path) {
  ledger::StateProof proof;
  std::vector<ledger::SmtLeaf> here = LeafList(leaves);
  size_t depth = 0;
  while (here.size() >= 2) {
    std::vector<ledger::SmtLeaf> same;
    std::vector<ledger::SmtLeaf> other;
    const int bit = ledger::PathBit(path, depth);
    for (const ledger::SmtLeaf& leaf : here) {
      (ledger::PathBit(leaf.path, depth) == bit ? same : other).push_back(leaf);
    }
    proof.siblings.push_back(RefSubtreeRoot(other, depth + 1));
    here = std::move(same);
    ++depth;
  }
  if (here.size() == 1 && here[0].path != path) proof.other_leaf = here[0];
  return proof;
}

// How many leading bits two paths share.
inline size_t CommonPrefixBits(const Hash256& a, const Hash256& b) {
  size_t n = 0;
  while (n < ledger::kSmtDepth && ledger::PathBit(a, n) == ledger::PathBit(b, n)) ++n;
  return n;
}

}  // namespace city::test
