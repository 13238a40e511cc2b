// Proofs from a real store, as properties: for random keys and random inserts, overwrites
// and deletes over several blocks, every ProveState answer verifies against the root, is the
// one proof the tree allows, and no forgery made from it passes; the store's root after each
// block is SmtRootOf over the expected map.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "city/ledger/store.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/smt_reference.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::StateMap;

Bytes UniverseKey(size_t i) { return test::ToBytes("k" + std::to_string(i)); }

Bytes RandomValue() {
  Bytes value = *rc::gen::arbitrary<Bytes>();
  if (value.size() > 40) value.resize(40);
  return value;
}

// Checks every key of the universe at `version` against the model state there.
void CheckVersion(const LedgerStore& store, uint64_t version, const StateMap& state,
                  size_t universe, const Hash256& other_root) {
  const Hash256 root = test::ExpectedRoot(state);
  const test::SmtLeaves leaves = test::SmtLeavesOf(state);
  const Result<Hash256> stored_root = store.StateRootAt(version);
  RC_ASSERT(stored_root.ok());
  RC_ASSERT(*stored_root == root);
  for (size_t i = 0; i < universe; ++i) {
    const Bytes key = UniverseKey(i);
    const Result<StateAt> at = store.ProveState(key, version);
    if (!at.ok()) RC_FAIL("ProveState: " + at.status().ToString());
    RC_ASSERT(at->version == version);
    RC_ASSERT(at->root == root);
    const auto it = state.find(key);
    const std::optional<Bytes> expected =
        it == state.end() ? std::nullopt : std::optional<Bytes>(it->second);
    RC_ASSERT(at->value == expected);
    const Status verified = test::VerifyStateAt(root, key, *at);
    if (!verified.ok()) RC_FAIL("VerifyStateProof: " + verified.ToString());
    // The proof is the canonical one the definition allows.
    RC_ASSERT(at->proof == test::RefProve(leaves, StateKeyPath(key)));
    const Result<std::optional<Bytes>> read = store.GetStateAt(key, version);
    RC_ASSERT(read.ok());
    RC_ASSERT(*read == expected);

    // Forgeries: another value, present claimed absent, absent claimed present, other root.
    if (expected) {
      Bytes wrong = *expected;
      wrong.push_back(0x00);
      RC_ASSERT(!VerifyStateProof(root, key, ByteSpan(wrong), at->proof).ok());
      RC_ASSERT(!VerifyStateProof(root, key, std::nullopt, at->proof).ok());
      RC_ASSERT(!VerifyStateProof(other_root, key, ByteSpan(*expected), at->proof).ok());
    } else {
      const Bytes claimed = test::ToBytes("claimed");
      RC_ASSERT(!VerifyStateProof(root, key, ByteSpan(claimed), at->proof).ok());
      RC_ASSERT(!VerifyStateProof(other_root, key, std::nullopt, at->proof).ok());
    }
  }
}

RC_GTEST_PROP(StoreProofs, EveryProofVerifiesAndRootsMatchTheModel, ()) {
  const size_t universe = *rc::gen::inRange<size_t>(1, 40);
  Genesis genesis = test::ChainGenesis();
  genesis.writes.clear();
  const size_t genesis_keys = *rc::gen::inRange<size_t>(0, universe + 1);
  for (size_t i = 0; i < genesis_keys; ++i) {
    genesis.writes.push_back(
        {UniverseKey(*rc::gen::inRange<size_t>(0, universe)), RandomValue(), kNoTransaction});
  }
  StateMap state;
  test::ApplyWrites(state, genesis.writes);

  test::TempDir tmp;
  Result<std::unique_ptr<LedgerStore>> created = LedgerStore::Create(tmp.path() / "s", genesis);
  if (!created.ok()) RC_FAIL("Create: " + created.status().ToString());
  LedgerStore& store = **created;
  RC_ASSERT(store.tip().state_root == test::ExpectedRoot(state));

  std::vector<StateMap> versions{state};
  const Hash256 unrelated_root = TaggedHash("unrelated", {});
  CheckVersion(store, 0, state, universe, unrelated_root);

  const uint64_t blocks = *rc::gen::inRange<uint64_t>(1, 6);
  Hash256 parent = genesis.block_hash;
  for (uint64_t h = 1; h <= blocks; ++h) {
    CommitRequest request;
    request.block = test::MakeBlock(
        h, parent,
        {test::MakeTransaction(test::ChainUser(h), h, test::ChainUser(h + 1).public_key())});
    request.certificate = test::Certify(request.block);
    request.results.resize(1);
    const size_t writes = *rc::gen::inRange<size_t>(0, 16);
    for (size_t w = 0; w < writes; ++w) {
      StateWrite write;
      write.key = UniverseKey(*rc::gen::inRange<size_t>(0, universe));
      if (*rc::gen::inRange(0, 5) >= 2) write.value = RandomValue();
      write.tx_index = 0;
      request.writes.push_back(std::move(write));
    }
    const Result<CommitInfo> info = store.Commit(request);
    if (!info.ok()) RC_FAIL("Commit: " + info.status().ToString());
    test::ApplyWrites(state, request.writes);
    versions.push_back(state);
    RC_ASSERT(info->state_root == test::ExpectedRoot(state));
    RC_ASSERT(store.tip().state_root == info->state_root);
    CheckVersion(store, h, state, universe,
                 test::ExpectedRoot(versions[h - 1]) == info->state_root
                     ? unrelated_root
                     : test::ExpectedRoot(versions[h - 1]));
    parent = info->block_hash;
  }
  // Old versions still answer with their own roots and proofs.
  for (uint64_t v = 0; v < blocks; ++v)
    CheckVersion(store, v, versions[v], universe, unrelated_root);
}

// Keys whose paths share their first `bits` bits, `count` of them (deterministic search).
std::vector<Bytes> KeysSharingPrefix(size_t bits, size_t count) {
  std::map<uint32_t, std::vector<Bytes>> buckets;
  for (int i = 0;; ++i) {
    Bytes key = test::ToBytes("deep-" + std::to_string(i));
    const Hash256 path = StateKeyPath(key);
    uint32_t top = 0;
    for (size_t b = 0; b < bits; ++b) top = (top << 1) | static_cast<uint32_t>(PathBit(path, b));
    std::vector<Bytes>& bucket = buckets[top];
    bucket.push_back(std::move(key));
    if (bucket.size() == count) return bucket;
  }
}

// Keys deep in the tree (long shared prefixes) inserted, overwritten and deleted over many
// blocks: a lone leaf left by a delete must move back up to where its subtree starts, and a
// new neighbour must push it down again.
TEST(StoreProofs, DeepSharedPrefixesSplitAndCollapse) {
  const std::vector<Bytes> pair = KeysSharingPrefix(20, 2);
  const std::vector<Bytes> triple = KeysSharingPrefix(12, 3);
  std::vector<Bytes> keys = pair;
  keys.insert(keys.end(), triple.begin(), triple.end());
  keys.push_back(test::ToBytes("elsewhere"));
  ASSERT_GE(test::CommonPrefixBits(StateKeyPath(pair[0]), StateKeyPath(pair[1])), 20u);

  Genesis genesis = test::ChainGenesis();
  genesis.writes.clear();
  test::TempDir tmp;
  auto store = test::Must(LedgerStore::Create(tmp.path() / "s", genesis));
  StateMap state;
  Hash256 parent = genesis.block_hash;
  // Each block: (key index, value or delete) in order.
  const std::vector<std::vector<std::pair<int, std::optional<std::string>>>> blocks = {
      {{0, "a"}},                              // one leaf at the root
      {{1, "b"}},                              // split 20+ levels down
      {{5, "r"}, {2, "t1"}},                   // more leaves
      {{1, std::nullopt}},                     // a collapses back up
      {{3, "t2"}, {4, "t3"}, {1, "b2"}},       // triple and pair deep again
      {{0, std::nullopt}, {2, std::nullopt}},  // b2 and t2/t3 regroup
      {{3, std::nullopt}, {5, std::nullopt}},  // t3, b2 remain
      {{4, std::nullopt}},                     // b2 alone at the root
      {{1, std::nullopt}},                     // empty tree
      {{0, "a3"}, {1, "b3"}, {0, std::nullopt}, {1, "b4"}},
  };
  for (size_t b = 0; b < blocks.size(); ++b) {
    SCOPED_TRACE("block " + std::to_string(b + 1));
    const uint64_t h = b + 1;
    CommitRequest request;
    request.block = test::MakeBlock(
        h, parent,
        {test::MakeTransaction(test::ChainUser(h), 500 + h, test::ChainUser(h + 1).public_key())});
    request.certificate = test::Certify(request.block);
    request.results.resize(1);
    for (const auto& [index, value] : blocks[b]) {
      request.writes.push_back({keys[static_cast<size_t>(index)],
                                value ? std::optional<Bytes>(test::ToBytes(*value)) : std::nullopt,
                                0});
    }
    const CommitInfo info = test::Must(store->Commit(request));
    test::ApplyWrites(state, request.writes);
    const test::SmtLeaves leaves = test::SmtLeavesOf(state);
    ASSERT_EQ(info.state_root, test::ExpectedRoot(state));
    ASSERT_EQ(info.state_root, test::RefRoot(leaves));
    for (const Bytes& key : keys) {
      const StateAt at = test::Must(store->ProveState(key, h));
      const auto it = state.find(key);
      EXPECT_EQ(at.value, it == state.end() ? std::nullopt : std::optional<Bytes>(it->second));
      EXPECT_TRUE(test::VerifyStateAt(info.state_root, key, at).ok());
      EXPECT_EQ(at.proof, test::RefProve(leaves, StateKeyPath(key)));
    }
    parent = info.block_hash;
  }
  EXPECT_EQ(test::Must(store->StateRootAt(9)), Hash256{});  // the empty tree
}

}  // namespace
}  // namespace city::ledger
