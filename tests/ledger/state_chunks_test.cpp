// State chunks (ledger/state_chunks.h): a manifest of subtree summaries makes the tree's root
// exactly (with its compression, also where leaves share prefixes across the split), every
// honest chunking checks, and a chunk that drops, adds, alters, repeats or misplaces a leaf is
// refused, as is a manifest that does not make the root.
#include "city/ledger/state_chunks.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace city::ledger {
namespace {

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 hash;
  for (auto& byte : hash.bytes) byte = static_cast<uint8_t>(rng());
  return hash;
}

// Leaves with random paths, and some that share long prefixes with another (so leaves sit
// deep, below the split, and single leaves sit above it): path -> value hash.
std::map<Hash256, Hash256> RandomLeaves(std::mt19937_64& rng, size_t count) {
  std::map<Hash256, Hash256> leaves;
  while (leaves.size() < count) {
    Hash256 path = RandomHash(rng);
    if (!leaves.empty() && rng() % 3 == 0) {
      auto it = leaves.begin();
      std::advance(it, static_cast<ptrdiff_t>(rng() % leaves.size()));
      const size_t shared = rng() % 40;  // bits in common with that leaf, at least
      for (size_t bit = 0; bit < shared; ++bit) {
        const size_t byte = bit / 8;
        const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
        path.bytes[byte] =
            static_cast<uint8_t>((path.bytes[byte] & ~mask) | (it->first.bytes[byte] & mask));
      }
    }
    leaves.emplace(path, RandomHash(rng));
  }
  return leaves;
}

std::vector<SmtLeaf> AsLeaves(const std::map<Hash256, Hash256>& leaves) {
  std::vector<SmtLeaf> out;
  for (const auto& [path, value_hash] : leaves) out.push_back({path, value_hash});
  return out;
}

std::vector<SubtreeSummary> ManifestOf(const std::vector<SmtLeaf>& leaves, size_t split_depth) {
  std::vector<SubtreeSummary> manifest(size_t{1} << split_depth);
  size_t at = 0;
  for (size_t index = 0; index < manifest.size(); ++index) {
    const size_t begin = at;
    while (at < leaves.size() && SubtreeIndex(leaves[at].path, split_depth) == index) ++at;
    manifest[index] = SummarizeSubtree(std::span(leaves).subspan(begin, at - begin), split_depth);
  }
  return manifest;
}

// The leaves of subtrees [first, first + count).
std::vector<SmtLeaf> ChunkOf(const std::vector<SmtLeaf>& leaves, size_t split_depth, size_t first,
                             size_t count) {
  std::vector<SmtLeaf> chunk;
  for (const SmtLeaf& leaf : leaves) {
    const size_t index = SubtreeIndex(leaf.path, split_depth);
    if (index >= first && index < first + count) chunk.push_back(leaf);
  }
  return chunk;
}

TEST(StateChunks, TheManifestMakesTheTreesRootAtEverySplitDepth) {
  std::mt19937_64 rng(20261207);
  for (int round = 0; round < 300; ++round) {
    const std::map<Hash256, Hash256> leaves = RandomLeaves(rng, rng() % 60);
    const std::vector<SmtLeaf> sorted = AsLeaves(leaves);
    const size_t split_depth = rng() % 9;
    const std::vector<SubtreeSummary> manifest = ManifestOf(sorted, split_depth);
    const Result<Hash256> root = RootOfSubtrees(manifest);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(*root, SmtRootOf(leaves))
        << "round " << round << ", " << leaves.size() << " leaves, split depth " << split_depth;
  }
}

TEST(StateChunks, EveryHonestChunkingChecksAndEveryAlteredChunkIsRefused) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    const std::vector<SmtLeaf> leaves = AsLeaves(RandomLeaves(rng, 1 + rng() % 50));
    const size_t split_depth = 1 + rng() % 6;
    const std::vector<SubtreeSummary> manifest = ManifestOf(leaves, split_depth);
    const std::string at = "round " + std::to_string(round);
    for (size_t first = 0; first < manifest.size();) {
      const size_t count = std::min<size_t>(1 + rng() % 5, manifest.size() - first);
      std::vector<SmtLeaf> chunk = ChunkOf(leaves, split_depth, first, count);
      ASSERT_TRUE(CheckChunk(manifest, first, count, chunk).ok()) << at;
      if (!chunk.empty()) {
        std::vector<SmtLeaf> dropped = chunk;
        dropped.erase(dropped.begin() + static_cast<ptrdiff_t>(rng() % dropped.size()));
        EXPECT_FALSE(CheckChunk(manifest, first, count, dropped).ok()) << at << ": dropped";
        std::vector<SmtLeaf> altered = chunk;
        altered[rng() % altered.size()].value_hash.bytes[rng() % 32] ^= 0x10;
        EXPECT_EQ(CheckChunk(manifest, first, count, altered).code(), ErrorCode::kUnauthenticated)
            << at << ": altered";
        std::vector<SmtLeaf> repeated = chunk;
        repeated.insert(repeated.begin(), chunk.front());
        EXPECT_FALSE(CheckChunk(manifest, first, count, repeated).ok()) << at << ": repeated";
        if (chunk.size() >= 2) {
          std::vector<SmtLeaf> swapped = chunk;
          std::swap(swapped.front(), swapped.back());
          EXPECT_FALSE(CheckChunk(manifest, first, count, swapped).ok()) << at << ": swapped";
        }
      }
      // A leaf of a subtree after the chunk's, appended.
      if (first + count < manifest.size()) {
        const std::vector<SmtLeaf> next = ChunkOf(leaves, split_depth, first + count, 1);
        if (!next.empty()) {
          std::vector<SmtLeaf> spilled = chunk;
          spilled.push_back(next.front());
          EXPECT_EQ(CheckChunk(manifest, first, count, spilled).code(), ErrorCode::kMalformed)
              << at << ": spilled";
        }
      }
      // A made-up leaf inside the chunk's first subtree.
      SmtLeaf extra{RandomHash(rng), RandomHash(rng)};
      for (size_t bit = 0; bit < split_depth; ++bit) {
        const uint8_t mask = static_cast<uint8_t>(0x80 >> bit);
        const bool one = (first >> (split_depth - 1 - bit)) & 1;
        extra.path.bytes[0] =
            static_cast<uint8_t>(one ? extra.path.bytes[0] | mask : extra.path.bytes[0] & ~mask);
      }
      std::vector<SmtLeaf> added = chunk;
      added.push_back(extra);
      std::sort(added.begin(), added.end(),
                [](const SmtLeaf& a, const SmtLeaf& b) { return a.path < b.path; });
      EXPECT_FALSE(CheckChunk(manifest, first, count, added).ok()) << at << ": added";
      first += count;
    }
  }
}

TEST(StateChunks, AManifestThatDoesNotMakeTheRootOrIsMalformedIsRefused) {
  std::mt19937_64 rng(11);
  const std::map<Hash256, Hash256> leaves = RandomLeaves(rng, 40);
  const std::vector<SmtLeaf> sorted = AsLeaves(leaves);
  std::vector<SubtreeSummary> manifest = ManifestOf(sorted, 4);
  const Hash256 root = SmtRootOf(leaves);
  for (size_t i = 0; i < manifest.size(); ++i) {
    std::vector<SubtreeSummary> changed = manifest;
    if (changed[i].kind == SubtreeKind::kInner) {
      changed[i].hash.bytes[5] ^= 0x01;
    } else {  // a made-up leaf of that subtree in its place (or the real one's value changed)
      SmtLeaf leaf{RandomHash(rng), RandomHash(rng)};
      leaf.path.bytes[0] = static_cast<uint8_t>((i << 4) | (leaf.path.bytes[0] & 0x0f));
      changed[i] = {SubtreeKind::kOneLeaf, SmtLeafHash(leaf.path, leaf.value_hash), leaf};
    }
    const Result<Hash256> other = RootOfSubtrees(changed);
    ASSERT_TRUE(other.ok()) << "subtree " << i << ": " << other.status().ToString();
    EXPECT_NE(*other, root) << "subtree " << i;
  }
  // A kind that does not fit the hash, and sizes that are not a power of two up to 2^16.
  std::vector<SubtreeSummary> inconsistent = manifest;
  inconsistent[0] = {SubtreeKind::kEmpty, RandomHash(rng), {}};
  EXPECT_EQ(RootOfSubtrees(inconsistent).status().code(), ErrorCode::kMalformed);
  inconsistent[0] = {SubtreeKind::kInner, Hash256{}, {}};
  EXPECT_EQ(RootOfSubtrees(inconsistent).status().code(), ErrorCode::kMalformed);
  inconsistent[0] = {static_cast<SubtreeKind>(7), RandomHash(rng), {}};
  EXPECT_EQ(RootOfSubtrees(inconsistent).status().code(), ErrorCode::kMalformed);
  inconsistent[0] = {SubtreeKind::kEmpty, Hash256{}, {RandomHash(rng), RandomHash(rng)}};
  EXPECT_EQ(RootOfSubtrees(inconsistent).status().code(), ErrorCode::kMalformed);
  inconsistent[0] = {SubtreeKind::kInner, RandomHash(rng), {RandomHash(rng), RandomHash(rng)}};
  EXPECT_EQ(RootOfSubtrees(inconsistent).status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(RootOfSubtrees(std::vector<SubtreeSummary>(3)).status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(RootOfSubtrees({}).status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(RootOfSubtrees(std::vector<SubtreeSummary>(size_t{1} << 17)).status().code(),
            ErrorCode::kMalformed);
  // The empty tree: one empty subtree, or many.
  EXPECT_EQ(*RootOfSubtrees(std::vector<SubtreeSummary>(1)), Hash256{});
  EXPECT_EQ(*RootOfSubtrees(std::vector<SubtreeSummary>(64)), Hash256{});
  // Chunks outside the manifest.
  EXPECT_EQ(CheckChunk(manifest, 16, 1, {}).code(), ErrorCode::kMalformed);
  EXPECT_EQ(CheckChunk(manifest, 15, 2, {}).code(), ErrorCode::kMalformed);
  EXPECT_EQ(CheckChunk(manifest, 0, 0, {}).code(), ErrorCode::kMalformed);
  EXPECT_EQ(CheckChunk(std::vector<SubtreeSummary>(3), 0, 1, {}).code(), ErrorCode::kMalformed);
}

// Review finding: a lone leaf hashes the same under any sibling it collapses with, so a
// manifest that listed it one subtree over made the true root, and the honest chunks of both
// subtrees were then refused. A one-leaf summary names its leaf, which must lie in it.
TEST(StateChunks, ALoneLeafListedInTheWrongSubtreeIsRefusedThoughTheRootWouldMatch) {
  std::mt19937_64 rng(13);
  Hash256 path = RandomHash(rng);
  path.bytes[0] &= 0x3f;  // subtree 0 of 4
  const std::vector<SmtLeaf> leaves = {{path, RandomHash(rng)}};
  const std::vector<SubtreeSummary> manifest = ManifestOf(leaves, 2);
  ASSERT_EQ(manifest[0].kind, SubtreeKind::kOneLeaf);
  EXPECT_EQ(*RootOfSubtrees(manifest), SmtRootOf({{path, leaves[0].value_hash}}));
  std::vector<SubtreeSummary> moved = manifest;
  std::swap(moved[0], moved[1]);
  EXPECT_EQ(RootOfSubtrees(moved).status().code(), ErrorCode::kMalformed);
  // The leaf must be the one hashed, too.
  std::vector<SubtreeSummary> other_leaf = manifest;
  other_leaf[0].leaf.value_hash.bytes[0] ^= 1;
  EXPECT_EQ(RootOfSubtrees(other_leaf).status().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(CheckChunk(manifest, 0, 4, leaves).ok());
}

// Review finding: beside a non-empty sibling, a lone leaf's hash labelled as an inner node's
// makes the same root; the honest chunk must still check (only the hash is bound).
TEST(StateChunks, AnHonestChunkChecksWhateverKindTheManifestLabelsItsHash) {
  std::mt19937_64 rng(17);
  Hash256 a = RandomHash(rng);
  Hash256 b = RandomHash(rng);
  a.bytes[0] &= 0x7f;  // subtree 0 of 2
  b.bytes[0] |= 0x80;  // subtree 1 of 2
  const std::vector<SmtLeaf> leaves = {{a, RandomHash(rng)}, {b, RandomHash(rng)}};
  std::vector<SubtreeSummary> relabelled = ManifestOf(leaves, 1);
  ASSERT_EQ(relabelled[0].kind, SubtreeKind::kOneLeaf);
  relabelled[0] = {SubtreeKind::kInner, relabelled[0].hash, {}};
  ASSERT_EQ(*RootOfSubtrees(relabelled),
            SmtRootOf({{a, leaves[0].value_hash}, {b, leaves[1].value_hash}}));
  EXPECT_TRUE(CheckChunk(relabelled, 0, 1, std::span(leaves).first(1)).ok());
  EXPECT_TRUE(CheckChunk(relabelled, 0, 2, leaves).ok());
}

}  // namespace
}  // namespace city::ledger
