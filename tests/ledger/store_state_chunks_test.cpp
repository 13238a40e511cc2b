// A store's state as snapshot chunks (LedgerStore::StateSubtrees, StateChunk): the summaries
// make the version's state root, every chunk checks against them (CheckStateChunk), and the
// chunks together are exactly the state at that version, in an archive store and in a pruned
// one; what a store no longer holds answers kPruned.
#include <gtest/gtest.h>

#include <random>

#include "city/ledger/store.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::Must;

class StoreStateChunksTest : public ::testing::Test {
 protected:
  // The test chain's keys are all private (the tree's right half); one public key, alone in
  // the left half, makes a leaf that sits above any split.
  void Build(const StoreOptions& options, uint64_t blocks) {
    Genesis genesis = test::ChainGenesis();
    const StateEntry lone{test::ToBytes("governance/lone"), test::ToBytes("public")};
    genesis.writes.push_back({lone.key, lone.value, kNoTransaction});
    store_ = Must(LedgerStore::Create(tmp_.path() / "store", genesis, options));
    test::ChainReplay chain;
    states_ = {chain.state()};
    states_[0].emplace(lone.key, lone.value);
    for (uint64_t h = 1; h <= blocks; ++h) {
      Must(store_->Commit(chain.Advance()), "commit");
      states_.push_back(chain.state());
      states_.back().emplace(lone.key, lone.value);
    }
  }

  // Every chunk of a random partition checks, and together they are the state at `version`.
  void ExpectChunksMakeTheState(uint64_t version, size_t split_depth, std::mt19937_64& rng) {
    const std::string at =
        "version " + std::to_string(version) + ", split depth " + std::to_string(split_depth);
    const std::vector<SubtreeSummary> manifest = Must(store_->StateSubtrees(version, split_depth));
    ASSERT_EQ(manifest.size(), size_t{1} << split_depth) << at;
    if (split_depth > 0) {  // the public half: its one leaf, summarized where its path falls
      size_t leaves = 0;
      for (size_t i = 0; i < manifest.size() / 2; ++i) {
        leaves += manifest[i].kind == SubtreeKind::kOneLeaf;
        EXPECT_NE(manifest[i].kind, SubtreeKind::kInner) << at;
      }
      EXPECT_EQ(leaves, 1u) << at;
    }
    EXPECT_EQ(Must(RootOfSubtrees(manifest)), Must(store_->StateRootAt(version))) << at;
    test::StateMap rebuilt;
    for (size_t first = 0; first < manifest.size();) {
      const size_t count = std::min<size_t>(1 + rng() % 4, manifest.size() - first);
      const std::vector<StateEntry> chunk =
          Must(store_->StateChunk(version, split_depth, first, count));
      const Status checked = CheckStateChunk(manifest, first, count, chunk);
      ASSERT_TRUE(checked.ok()) << at << ": " << checked.ToString();
      for (const StateEntry& entry : chunk) {
        EXPECT_TRUE(rebuilt.emplace(entry.key, entry.value).second) << at << ": a key twice";
      }
      if (!chunk.empty()) {  // a peer's altered value is caught
        std::vector<StateEntry> altered = chunk;
        altered.back().value.push_back('!');
        EXPECT_EQ(CheckStateChunk(manifest, first, count, altered).code(),
                  ErrorCode::kUnauthenticated)
            << at;
      }
      first += count;
    }
    EXPECT_EQ(rebuilt, states_.at(version)) << at;
  }

  test::TempDir tmp_;
  std::unique_ptr<LedgerStore> store_;
  std::vector<test::StateMap> states_;  // states_[v]: the state at version v
};

TEST_F(StoreStateChunksTest, ChunksAtEveryVersionMakeThatVersionsState) {
  Build({}, 20);
  std::mt19937_64 rng(5);
  for (const uint64_t version : {0u, 1u, 7u, 20u}) {
    for (const size_t split_depth : {0u, 1u, 3u, 6u, 10u, 16u}) {
      ExpectChunksMakeTheState(version, split_depth, rng);
    }
  }
}

TEST_F(StoreStateChunksTest, APrunedStoreServesTheVersionsItHoldsAndSaysPrunedBelow) {
  Build({.retain_blocks = 6}, 24);
  const uint64_t lowest = store_->lowest_height();
  ASSERT_EQ(lowest, 19u);
  std::mt19937_64 rng(6);
  for (uint64_t version = lowest; version <= 24; ++version) {
    ExpectChunksMakeTheState(version, 4, rng);
  }
  EXPECT_EQ(store_->StateSubtrees(lowest - 1, 4).status().code(), ErrorCode::kPruned);
  EXPECT_EQ(store_->StateChunk(lowest - 1, 4, 0, 16).status().code(), ErrorCode::kPruned);
  EXPECT_EQ(store_->StateChunk(25, 4, 0, 16).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->StateSubtrees(25, 4).status().code(), ErrorCode::kNotFound);
}

TEST_F(StoreStateChunksTest, BadSplitsAndRangesAreRefused) {
  Build({}, 3);
  EXPECT_EQ(store_->StateSubtrees(3, kMaxSplitDepth + 1).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->StateChunk(3, 4, 0, 0).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->StateChunk(3, 4, 16, 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->StateChunk(3, 4, 15, 2).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->StateChunk(3, kMaxSplitDepth + 1, 0, 1).status().code(),
            ErrorCode::kInvalidArgument);
  // Oversized entries are refused before anything is hashed.
  const std::vector<SubtreeSummary> manifest = Must(store_->StateSubtrees(3, 0));
  const std::vector<StateEntry> huge = {{Bytes(kMaxStateKeyBytes + 1, 'k'), Bytes{1}}};
  EXPECT_EQ(CheckStateChunk(manifest, 0, 1, huge).code(), ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace city::ledger
