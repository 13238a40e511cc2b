// Binary Merkle root over signed transaction hashes; the construction is described in merkle.h.
#include "city/ledger/merkle.h"

#include <vector>

namespace city::ledger {

Hash256 MerkleRoot(std::span<const Hash256> leaves) {
  if (leaves.empty()) return TaggedHash(kMerkleEmptyTag, {});
  std::vector<Hash256> level;
  level.reserve(leaves.size());
  for (const Hash256& leaf : leaves) level.push_back(TaggedHash(kMerkleLeafTag, leaf.span()));
  while (level.size() > 1) {
    std::vector<Hash256> next;
    next.reserve((level.size() + 1) / 2);
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(TaggedHasher(kMerkleNodeTag)
                         .Update(level[i].span())
                         .Update(level[i + 1].span())
                         .Finish());
    }
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  return level.front();
}

}  // namespace city::ledger
