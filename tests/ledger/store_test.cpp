// LedgerStore behaviour: genesis, commits and their validation, block and transaction reads,
// state at old versions, retention, pending blocks, reopening, concurrent readers.
#include "city/ledger/store.h"

#include <gtest/gtest.h>
#include <leveldb/db.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::ChainGenesis;
using test::ChainKey;
using test::ChainReplay;
using test::ExpectedRoot;
using test::Must;
using test::StateMap;

std::optional<Bytes> Lookup(const StateMap& state, const Bytes& key) {
  const auto it = state.find(key);
  if (it == state.end()) return std::nullopt;
  return it->second;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Create({}); }

  void Create(const StoreOptions& options) {
    store_.reset();
    std::filesystem::remove_all(dir_);
    options_ = options;
    store_ = Must(LedgerStore::Create(dir_, ChainGenesis(), options), "create");
    chain_ = ChainReplay();
    requests_.clear();
    snapshots_ = {chain_.state()};
  }

  void Reopen() {
    store_.reset();
    store_ = Must(LedgerStore::Open(dir_, options_), "reopen");
  }

  // Commits the next block of the deterministic chain and records what it should leave.
  CommitInfo CommitNext() {
    CommitRequest request = chain_.Advance();
    CommitInfo info = Must(store_->Commit(request), "commit");
    requests_.push_back(std::move(request));
    snapshots_.push_back(chain_.state());
    return info;
  }
  void CommitBlocks(size_t n) {
    for (size_t i = 0; i < n; ++i) (void)CommitNext();
  }

  // The next block on the tip, built but not committed.
  CommitRequest NextRequest() const { return test::ChainCommit(chain_.height() + 1, tip_hash()); }
  Hash256 tip_hash() const { return chain_.hash(chain_.height()); }

  void ExpectStateMatches(uint64_t version, const Bytes& key) {
    Result<std::optional<Bytes>> value = store_->GetStateAt(key, version);
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    EXPECT_EQ(*value, Lookup(snapshots_[version], key)) << "version " << version;
  }

  void ExpectProofVerifies(uint64_t version, const Bytes& key) {
    Result<StateAt> at = store_->ProveState(key, version);
    ASSERT_TRUE(at.ok()) << "version " << version << ": " << at.status().ToString();
    EXPECT_EQ(at->version, version);
    EXPECT_EQ(at->root, ExpectedRoot(snapshots_[version])) << "version " << version;
    EXPECT_EQ(at->value, Lookup(snapshots_[version], key)) << "version " << version;
    const Status verified = test::VerifyStateAt(at->root, key, *at);
    EXPECT_TRUE(verified.ok()) << "version " << version << ": " << verified.ToString();
  }

  test::TempDir tmp_;
  std::filesystem::path dir_ = tmp_.path() / "store";
  StoreOptions options_;
  std::unique_ptr<LedgerStore> store_;
  ChainReplay chain_;
  std::vector<CommitRequest> requests_;  // requests_[h - 1] is block h
  std::vector<StateMap> snapshots_;      // snapshots_[v]: the state at version v
};

TEST_F(StoreTest, CreateStartsAtGenesis) {
  const Genesis genesis = ChainGenesis();
  EXPECT_EQ(store_->chain_id(), genesis.chain_id);
  EXPECT_EQ(store_->genesis_hash(), genesis.block_hash);
  const StoreTip tip = store_->tip();
  EXPECT_EQ(tip.height, 0u);
  EXPECT_EQ(tip.block_hash, genesis.block_hash);
  EXPECT_EQ(tip.state_root, ExpectedRoot(chain_.state()));
  EXPECT_EQ(store_->oldest_retained_version(), 0u);
  EXPECT_EQ(Must(store_->StateRootAt(0)), tip.state_root);
  EXPECT_EQ(Must(store_->GetState(ChainKey(3))), test::ToBytes("genesis/3"));
  EXPECT_EQ(Must(store_->GetState(ChainKey(test::kChainKeySpace - 1))), std::nullopt);
  ExpectProofVerifies(0, ChainKey(3));
  ExpectProofVerifies(0, ChainKey(test::kChainKeySpace - 1));

  EXPECT_EQ(store_->StateRootAt(1).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->ProveState(ChainKey(3), 1).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetBlock(1).status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Must(store_->PendingBlocks()).empty());
}

TEST_F(StoreTest, CommitReturnsTheRootsAndAdvancesTheTip) {
  for (uint64_t h = 1; h <= 10; ++h) {
    const CommitInfo info = CommitNext();
    const CommitRequest& request = requests_.back();
    EXPECT_EQ(info.height, h);
    EXPECT_EQ(info.block_hash, request.block.Hash());
    EXPECT_EQ(info.state_root, ExpectedRoot(chain_.state()));
    EXPECT_EQ(info.result_root, ComputeResultRoot(request.results));
    const StoreTip tip = store_->tip();
    EXPECT_EQ(tip.height, h);
    EXPECT_EQ(tip.block_hash, info.block_hash);
    EXPECT_EQ(tip.state_root, info.state_root);
    EXPECT_EQ(Must(store_->StateRootAt(h)), info.state_root);
  }
}

TEST_F(StoreTest, LastWriteToAKeyInABlockWins) {
  CommitRequest request = NextRequest();
  request.writes.clear();
  request.writes.push_back({ChainKey(1), test::ToBytes("first"), 0});
  request.writes.push_back({ChainKey(1), test::ToBytes("second"), 1});
  request.writes.push_back({ChainKey(2), test::ToBytes("set"), 0});
  request.writes.push_back({ChainKey(2), std::nullopt, 1});
  request.writes.push_back({ChainKey(299), std::nullopt, 0});  // deleting an absent key
  request.writes.push_back({ChainKey(298), std::nullopt, 0});
  request.writes.push_back({ChainKey(298), test::ToBytes("back"), 1});
  const CommitInfo info = Must(store_->Commit(request));
  StateMap expected = chain_.state();
  test::ApplyWrites(expected, request.writes);
  EXPECT_EQ(info.state_root, ExpectedRoot(expected));
  EXPECT_EQ(Must(store_->GetState(ChainKey(1))), test::ToBytes("second"));
  EXPECT_EQ(Must(store_->GetState(ChainKey(2))), std::nullopt);
  EXPECT_EQ(Must(store_->GetState(ChainKey(298))), test::ToBytes("back"));
  EXPECT_EQ(Must(store_->GetState(ChainKey(299))), std::nullopt);
  // Key history keeps every write of the block, in block order.
  const Page<KeyWrite> history =
      Must(store_->KeyHistory(ChainKey(1), PageRequest{.cursor = {}, .limit = 10}));
  ASSERT_EQ(history.items.size(), 3u);
  EXPECT_EQ(history.items[0].location, (TxLocation{0, kNoTransaction}));
  EXPECT_EQ(history.items[1].location, (TxLocation{1, 0}));
  EXPECT_EQ(history.items[1].value, test::ToBytes("first"));
  EXPECT_EQ(history.items[2].location, (TxLocation{1, 1}));
  EXPECT_EQ(history.items[2].value, test::ToBytes("second"));
}

// Reads at the tip come from a cache the commit updates: every key, read before and after
// each block, written, deleted, or given a value too large to cache.
TEST_F(StoreTest, TipReadsFollowEveryWrite) {
  auto expect_tip_state = [&](const StateMap& state) {
    for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
      ASSERT_EQ(Must(store_->GetState(ChainKey(k))), Lookup(state, ChainKey(k))) << "key " << k;
    }
  };
  expect_tip_state(chain_.state());
  for (int block = 0; block < 12; ++block) {
    CommitNext();
    expect_tip_state(chain_.state());
  }
  const Bytes large(600, 7);
  CommitRequest request = NextRequest();
  request.writes = {{ChainKey(3), large, 0}, {ChainKey(4), std::nullopt, 0}};
  Must(store_->Commit(request));
  EXPECT_EQ(Must(store_->GetState(ChainKey(3))), large);
  EXPECT_EQ(Must(store_->GetState(ChainKey(3))), large);  // not cached: from LevelDB again
  EXPECT_EQ(Must(store_->GetState(ChainKey(4))), std::nullopt);
  request = test::ChainCommit(chain_.height() + 2, store_->tip().block_hash);
  request.writes = {{ChainKey(3), test::ToBytes("small"), 0}, {ChainKey(4), large, 0}};
  Must(store_->Commit(request));
  EXPECT_EQ(Must(store_->GetState(ChainKey(3))), test::ToBytes("small"));
  EXPECT_EQ(Must(store_->GetState(ChainKey(4))), large);
}

TEST_F(StoreTest, BlocksCertificatesAndTransactionsReadBack) {
  CommitBlocks(8);
  for (uint64_t h = 1; h <= 8; ++h) {
    const CommitRequest& request = requests_[h - 1];
    EXPECT_EQ(Must(store_->GetBlock(h)), request.block);
    EXPECT_EQ(Must(store_->GetHeader(h)), request.block.header);
    EXPECT_EQ(Must(store_->GetCertificate(h)), request.certificate);
    EXPECT_EQ(Must(store_->HeightOf(request.block.Hash())), h);
    EXPECT_EQ(Must(store_->GetResults(h)), request.results);
    for (uint32_t i = 0; i < request.block.transactions.size(); ++i) {
      const Transaction& tx = request.block.transactions[i];
      const TxRecord record = Must(store_->GetTransaction(tx.Id()));
      EXPECT_EQ(record.transaction, tx);
      EXPECT_EQ(record.location, (TxLocation{h, i}));
      EXPECT_EQ(record.result, request.results[i]);
      EXPECT_TRUE(Must(store_->HasTransaction(tx.Id())));
    }
  }
  EXPECT_EQ(store_->GetBlock(9).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetHeader(9).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetCertificate(9).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetResults(9).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->HeightOf(TaggedHash("no.such.block", {})).status().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetTransaction(TaggedHash("no.such.tx", {})).status().code(),
            ErrorCode::kNotFound);
  EXPECT_FALSE(Must(store_->HasTransaction(TaggedHash("no.such.tx", {}))));
  // A block's hash is not a transaction id and the other way round.
  EXPECT_EQ(store_->GetTransaction(requests_[0].block.Hash()).status().code(),
            ErrorCode::kNotFound);
  EXPECT_FALSE(Must(store_->HasTransaction(requests_[0].block.Hash())));
  EXPECT_EQ(store_->HeightOf(requests_[0].block.transactions[0].Id()).status().code(),
            ErrorCode::kNotFound);
}

TEST_F(StoreTest, CommitRefusesATransactionCommittedBefore) {
  CommitBlocks(2);
  const StoreTip before = store_->tip();
  CommitRequest request = NextRequest();
  request.block = test::MakeBlock(
      3, tip_hash(), {requests_[0].block.transactions[1], request.block.transactions[0]});
  request.certificate = test::Certify(request.block);
  const Result<CommitInfo> result = store_->Commit(request);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(store_->tip().height, before.height);
  EXPECT_EQ(store_->tip().state_root, before.state_root);
  EXPECT_EQ(Must(store_->GetTransaction(requests_[0].block.transactions[1].Id())).location,
            (TxLocation{1, 1}));
  EXPECT_EQ(store_->GetTransaction(request.block.transactions[1].Id()).status().code(),
            ErrorCode::kNotFound);
  CommitNext();
  EXPECT_EQ(store_->tip().height, 3u);
}

TEST_F(StoreTest, CommitRefusesATransactionTwiceInOneBlock) {
  CommitRequest request = NextRequest();
  request.block = test::MakeBlock(1, tip_hash(),
                                  {request.block.transactions[0], request.block.transactions[0]});
  request.certificate = test::Certify(request.block);
  EXPECT_FALSE(store_->Commit(request).ok());
  EXPECT_EQ(store_->tip().height, 0u);
  CommitNext();
}

TEST_F(StoreTest, CommitRefusesABlockOfAnotherChain) {
  CommitRequest request = NextRequest();
  request.block.header.chain_id = "another-chain";
  request.block.Sign(test::ChainValidators()[1]);
  request.certificate = test::Certify(request.block);
  const Result<CommitInfo> result = store_->Commit(request);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->tip().height, 0u);
}

TEST_F(StoreTest, EmptyBlockCommits) {
  CommitRequest request;
  request.block = test::MakeBlock(1, tip_hash(), {});
  request.certificate = test::Certify(request.block);
  const CommitInfo info = Must(store_->Commit(request));
  EXPECT_EQ(info.state_root, ExpectedRoot(chain_.state()));
  EXPECT_EQ(info.result_root, ComputeResultRoot({}));
  EXPECT_TRUE(Must(store_->GetResults(1)).empty());
  EXPECT_EQ(Must(store_->GetBlock(1)), request.block);
}

// Each bad request is refused with kInvalidArgument and leaves no trace; the store keeps
// accepting good blocks afterwards (a refused request is not a failed write).
TEST_F(StoreTest, CommitRefusesABlockThatDoesNotExtendTheTip) {
  CommitBlocks(3);
  const StoreTip before = store_->tip();
  const CommitRequest good = NextRequest();

  auto expect_refused = [&](const std::string& what, const CommitRequest& request) {
    SCOPED_TRACE(what);
    const Result<CommitInfo> result = store_->Commit(request);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument) << result.status().ToString();
    const StoreTip tip = store_->tip();
    EXPECT_EQ(tip.height, before.height);
    EXPECT_EQ(tip.block_hash, before.block_hash);
    EXPECT_EQ(tip.state_root, before.state_root);
    EXPECT_EQ(store_->GetBlock(4).status().code(), ErrorCode::kNotFound);
    EXPECT_EQ(store_->StateRootAt(4).status().code(), ErrorCode::kNotFound);
    if (request.block.Hash() != requests_.back().block.Hash()) {
      EXPECT_EQ(store_->HeightOf(request.block.Hash()).status().code(), ErrorCode::kNotFound);
    }
    for (const StateWrite& write : request.writes) {
      EXPECT_EQ(Must(store_->GetState(write.key)), Lookup(chain_.state(), write.key));
    }
  };

  expect_refused("height tip+2", test::ChainCommit(5, tip_hash()));
  expect_refused("height of the tip", requests_.back());
  {
    CommitRequest r = test::ChainCommit(3, chain_.hash(2));
    r.block.header.timestamp_ms += 1;  // a fork of the tip at its height
    r.block.Sign(test::ChainValidators()[0]);
    r.certificate = test::Certify(r.block);
    expect_refused("a fork of the tip", r);
  }
  {
    CommitRequest r = good;
    r.block = test::MakeBlock(4, TaggedHash("not.the.tip", {}), good.block.transactions);
    r.certificate = test::Certify(r.block);
    expect_refused("wrong parent", r);
  }
  {
    CommitRequest r = good;
    r.block = test::MakeBlock(4, chain_.hash(2), good.block.transactions);
    r.certificate = test::Certify(r.block);
    expect_refused("parent is the block below the tip", r);
  }
  {
    CommitRequest r = good;
    r.certificate = test::Certify(test::MakeBlock(4, tip_hash(), {}));
    expect_refused("certificate for another block", r);
  }
  {
    CommitRequest r = good;
    r.certificate = test::Certify(requests_.back().block);
    expect_refused("certificate for the tip", r);
  }
  {
    CommitRequest r = good;
    r.results.pop_back();
    expect_refused("one result missing", r);
  }
  {
    CommitRequest r = good;
    r.results.push_back({});
    expect_refused("one result too many", r);
  }
  {
    CommitRequest r = good;
    r.results.clear();
    expect_refused("no results", r);
  }
  for (uint32_t i = 0; i < good.block.transactions.size(); ++i) {
    EXPECT_EQ(store_->GetTransaction(good.block.transactions[i].Id()).status().code(),
              ErrorCode::kNotFound);
    EXPECT_FALSE(Must(store_->HasTransaction(good.block.transactions[i].Id())));
  }

  CommitNext();
  EXPECT_EQ(store_->tip().height, 4u);
  EXPECT_EQ(store_->tip().state_root, ExpectedRoot(chain_.state()));
}

TEST_F(StoreTest, CommitRefusesOversizedKeysAndValues) {
  const StoreTip before = store_->tip();
  CommitRequest long_key = NextRequest();
  long_key.writes.push_back({Bytes(kMaxStateKeyBytes + 1, 'k'), test::ToBytes("v"), 0});
  CommitRequest long_value = NextRequest();
  long_value.writes.push_back({ChainKey(7), Bytes(kMaxStateValueBytes + 1, 'v'), 0});
  for (const CommitRequest* request : {&long_key, &long_value}) {
    const Result<CommitInfo> result = store_->Commit(*request);
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().code(), ErrorCode::kOk);
    EXPECT_EQ(store_->tip().height, before.height);
    EXPECT_EQ(store_->tip().state_root, before.state_root);
  }
  // The largest allowed key and value are fine.
  CommitRequest largest = NextRequest();
  largest.writes.push_back({Bytes(kMaxStateKeyBytes, 'k'), Bytes(kMaxStateValueBytes, 'v'), 0});
  const CommitInfo info = Must(store_->Commit(largest));
  StateMap expected = chain_.state();
  test::ApplyWrites(expected, largest.writes);
  EXPECT_EQ(info.state_root, ExpectedRoot(expected));
  EXPECT_EQ(Must(store_->GetState(Bytes(kMaxStateKeyBytes, 'k'))), Bytes(kMaxStateValueBytes, 'v'));
}

TEST_F(StoreTest, StateAtEveryOldVersionInArchiveMode) {
  CommitBlocks(12);
  EXPECT_EQ(store_->oldest_retained_version(), 0u);
  for (uint64_t v = 0; v <= 12; ++v) {
    EXPECT_EQ(Must(store_->StateRootAt(v)), ExpectedRoot(snapshots_[v])) << v;
    for (uint64_t k = 0; k < test::kChainKeySpace; ++k) ExpectStateMatches(v, ChainKey(k));
    for (uint64_t k = v % 7; k < test::kChainKeySpace; k += 7) ExpectProofVerifies(v, ChainKey(k));
  }
  for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
    EXPECT_EQ(Must(store_->GetState(ChainKey(k))), Lookup(chain_.state(), ChainKey(k)));
  }
  EXPECT_EQ(store_->GetStateAt(ChainKey(1), 13).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->ProveState(ChainKey(1), 13).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->StateRootAt(13).status().code(), ErrorCode::kNotFound);
}

// retain_versions = N keeps exactly the N newest versions (the tip counts); proofs there
// still verify after the older versions' nodes are gone, also for keys untouched for long.
TEST_F(StoreTest, RetentionKeepsTheNewestVersionsAndPrunesTheRest) {
  for (const uint64_t retain : {1u, 3u}) {
    SCOPED_TRACE("retain_versions " + std::to_string(retain));
    Create({.retain_versions = retain});
    for (uint64_t h = 1; h <= 15; ++h) {
      CommitNext();
      const uint64_t oldest = h + 1 > retain ? h + 1 - retain : 0;
      ASSERT_EQ(store_->oldest_retained_version(), oldest) << "at height " << h;
      for (uint64_t v = oldest; v <= h; ++v) {
        for (uint64_t k = h % 5; k < test::kChainKeySpace; k += 5)
          ExpectProofVerifies(v, ChainKey(k));
      }
      for (uint64_t v = 0; v < oldest; ++v) {
        EXPECT_EQ(store_->ProveState(ChainKey(v), v).status().code(), ErrorCode::kPruned)
            << "pruned version " << v;
        EXPECT_EQ(store_->StateRootAt(v).status().code(), ErrorCode::kPruned)
            << "pruned version " << v;
        // Plain reads still answer there, from the per-key write history (docs/storage.md;
        // store.h's "proofs and reads at old heights" says otherwise).
        const Result<std::optional<Bytes>> read = store_->GetStateAt(ChainKey(v), v);
        ASSERT_TRUE(read.ok()) << read.status().ToString();
        EXPECT_EQ(*read, Lookup(snapshots_[v], ChainKey(v))) << "pruned version " << v;
      }
    }
    Reopen();
    const uint64_t oldest = 16 - retain;
    EXPECT_EQ(store_->oldest_retained_version(), oldest);
    for (uint64_t v = oldest; v <= 15; ++v) {
      for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
        ExpectProofVerifies(v, ChainKey(k));
        ExpectStateMatches(v, ChainKey(k));
      }
    }
    EXPECT_EQ(store_->ProveState(ChainKey(1), oldest - 1).status().code(), ErrorCode::kPruned);
    CommitBlocks(3);
    EXPECT_EQ(store_->oldest_retained_version(), oldest + 3);
    for (uint64_t k = 0; k < test::kChainKeySpace; ++k) ExpectProofVerifies(18, ChainKey(k));
  }
}

// Regression: reopening with a wider retention must not move the oldest retained version
// back over versions already pruned.
TEST_F(StoreTest, WideningRetentionDoesNotClaimPrunedVersions) {
  Create({.retain_versions = 2});
  CommitBlocks(10);
  ASSERT_EQ(store_->oldest_retained_version(), 9u);
  options_.retain_versions = 5;
  Reopen();
  CommitNext();  // tip 11: a window of 5 would start at 7, but 7 and 8 are gone
  EXPECT_EQ(store_->oldest_retained_version(), 9u);
  for (uint64_t v = store_->oldest_retained_version(); v <= 11; ++v) {
    ExpectProofVerifies(v, ChainKey(1));
  }
}

// Retention changed between runs (archive -> pruned -> wider -> narrower -> archive -> pruned):
// oldest_retained_version() always tells the truth (every version from it up verifies,
// every one below is kPruned), and each phase ends with exactly the configured window.
TEST_F(StoreTest, ChangingRetentionAcrossReopensKeepsOldestTruthful) {
  // Full: every version, sampled keys (all keys at the oldest). Light: the edge only.
  auto check = [&](const std::string& when, bool full) {
    SCOPED_TRACE(when);
    const uint64_t tip = store_->tip().height;
    const uint64_t oldest = store_->oldest_retained_version();
    ASSERT_LE(oldest, tip);
    const uint64_t first = full || oldest < 2 ? 0 : oldest - 2;
    const uint64_t last = full ? tip : std::min(tip, oldest + 1);
    for (uint64_t v = first; v <= last; ++v) {
      if (v < oldest) {
        EXPECT_EQ(store_->ProveState(ChainKey(v), v).status().code(), ErrorCode::kPruned)
            << "version " << v << " below oldest " << oldest;
        continue;
      }
      const uint64_t stride = v != oldest ? 37 : full ? 1 : 7;
      for (uint64_t k = v % stride; k < test::kChainKeySpace; k += stride) {
        ExpectProofVerifies(v, ChainKey(k));
      }
    }
  };
  const std::vector<std::pair<uint64_t, int>> phases = {{0, 12}, {3, 12}, {6, 5},
                                                        {2, 10}, {0, 4},  {4, 6}};
  for (size_t p = 0; p < phases.size(); ++p) {
    const auto [retain, blocks] = phases[p];
    options_.retain_versions = retain;
    Reopen();
    const std::string phase = "phase " + std::to_string(p) + " retain " + std::to_string(retain);
    check(phase + " after reopen", true);
    for (int b = 0; b < blocks; ++b) {
      CommitNext();
      check(phase + " at height " + std::to_string(store_->tip().height), false);
    }
    check(phase + " at its end", true);
    const uint64_t tip = store_->tip().height;
    if (retain > 0) {
      EXPECT_EQ(store_->oldest_retained_version(), tip + 1 - retain) << phase;
    }
  }
}

TEST_F(StoreTest, ArchiveModeKeepsEveryVersion) {
  CommitBlocks(30);
  EXPECT_EQ(store_->oldest_retained_version(), 0u);
  for (uint64_t v = 0; v <= 30; ++v) ExpectProofVerifies(v, ChainKey(v));
}

TEST_F(StoreTest, ReopenPreservesTheTipRootsAndBlocks) {
  CommitBlocks(10);
  const StoreTip before = store_->tip();
  Reopen();
  const StoreTip after = store_->tip();
  EXPECT_EQ(after.height, before.height);
  EXPECT_EQ(after.block_hash, before.block_hash);
  EXPECT_EQ(after.state_root, before.state_root);
  EXPECT_EQ(store_->chain_id(), std::string(test::kTestChain));
  EXPECT_EQ(store_->genesis_hash(), test::TestGenesisHash());
  for (uint64_t v = 0; v <= 10; ++v) {
    EXPECT_EQ(Must(store_->StateRootAt(v)), ExpectedRoot(snapshots_[v]));
  }
  for (uint64_t h = 1; h <= 10; ++h) EXPECT_EQ(Must(store_->GetBlock(h)), requests_[h - 1].block);
  CommitBlocks(2);
  EXPECT_EQ(store_->tip().height, 12u);
  Reopen();
  EXPECT_EQ(store_->tip().height, 12u);
  EXPECT_EQ(store_->tip().state_root, ExpectedRoot(chain_.state()));
}

std::vector<Hash256> HashesOf(const std::vector<Block>& blocks) {
  std::vector<Hash256> hashes;
  for (const Block& block : blocks) hashes.push_back(block.Hash());
  std::sort(hashes.begin(), hashes.end());
  return hashes;
}

TEST_F(StoreTest, PendingBlocksSurviveReopenAndGoOnceCommitted) {
  CommitBlocks(2);
  const CommitRequest next = NextRequest();  // height 3
  Block fork = test::MakeBlock(3, tip_hash(), {});
  Block child = test::MakeBlock(4, next.block.Hash(), {});
  CITY_ASSERT_OK(store_->PutPendingBlock(next.block));
  CITY_ASSERT_OK(store_->PutPendingBlock(fork));
  CITY_ASSERT_OK(store_->PutPendingBlock(child));

  std::vector<Hash256> all = {next.block.Hash(), fork.Hash(), child.Hash()};
  std::sort(all.begin(), all.end());
  EXPECT_EQ(HashesOf(Must(store_->PendingBlocks())), all);
  Reopen();
  const std::vector<Block> reopened = Must(store_->PendingBlocks());
  EXPECT_EQ(HashesOf(reopened), all);
  for (const Block& block : reopened) {
    EXPECT_TRUE(block == next.block || block == fork || block == child);
  }

  // Committing height 3 drops both blocks at height 3, keeps the one above.
  (void)CommitNext();
  ASSERT_EQ(requests_.back().block, next.block);
  EXPECT_EQ(HashesOf(Must(store_->PendingBlocks())), std::vector<Hash256>{child.Hash()});
  Reopen();
  EXPECT_EQ(HashesOf(Must(store_->PendingBlocks())), std::vector<Hash256>{child.Hash()});
  (void)CommitNext();
  EXPECT_TRUE(Must(store_->PendingBlocks()).empty());
}

// A commit settles pending blocks from a little below the last commit's height on, not from
// the first pending key (whose deletion markers it would step over every time): every block at
// or below the tip still goes, over many heights and across a reopen, and those above stay.
TEST_F(StoreTest, PendingBlocksGoAsTheirHeightCommitsOverManyHeights) {
  std::map<uint64_t, std::vector<Hash256>> waiting;  // pending blocks above the tip, by height
  for (int step = 0; step < 150; ++step) {
    const CommitRequest next = NextRequest();
    const uint64_t height = next.block.header.height;
    const Block fork = test::MakeBlock(height, tip_hash(), {});
    const Block far = test::MakeBlock(height + 70, next.block.Hash(), {});
    for (const Block* block : {&next.block, &fork, &far}) {
      CITY_ASSERT_OK(store_->PutPendingBlock(*block));
      waiting[block->header.height].push_back(block->Hash());
    }
    if (step == 100) Reopen();
    (void)CommitNext();
    ASSERT_EQ(requests_.back().block, next.block);
    waiting.erase(waiting.begin(), waiting.upper_bound(store_->tip().height));
    std::vector<Hash256> expected;
    for (const auto& [h, hashes] : waiting)
      expected.insert(expected.end(), hashes.begin(), hashes.end());
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(HashesOf(Must(store_->PendingBlocks())), expected) << "after height " << height;
  }
}

TEST_F(StoreTest, PuttingAPendingBlockTwiceKeepsOneCopy) {
  const CommitRequest next = NextRequest();
  CITY_ASSERT_OK(store_->PutPendingBlock(next.block));
  CITY_ASSERT_OK(store_->PutPendingBlock(next.block));
  EXPECT_EQ(Must(store_->PendingBlocks()).size(), 1u);
}

// Readers racing one writer always see one whole committed version: the root they get is
// that version's, and the proof verifies against it.
TEST_F(StoreTest, ConcurrentReadersSeeWholeVersions) {
  constexpr uint64_t kBlocks = 25;
  ChainReplay model;
  std::vector<CommitRequest> requests;
  std::vector<StateMap> snapshots{model.state()};
  std::vector<Hash256> roots{ExpectedRoot(model.state())};
  for (uint64_t h = 1; h <= kBlocks; ++h) {
    requests.push_back(model.Advance());
    snapshots.push_back(model.state());
    roots.push_back(ExpectedRoot(model.state()));
  }

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};
  auto reader = [&](uint64_t seed) {
    uint64_t n = seed;
    while (!done.load()) {
      const StoreTip tip = store_->tip();
      const Bytes key = ChainKey(test::Mix(++n) % test::kChainKeySpace);
      Result<StateAt> at = store_->ProveState(key, tip.height);
      if (!at.ok() || at->root != roots.at(tip.height) || tip.state_root != roots.at(tip.height) ||
          at->value != Lookup(snapshots.at(tip.height), key) ||
          !test::VerifyStateAt(at->root, key, *at).ok()) {
        ++failures;
      }
      // A read at the tip (from the state cache, or LevelDB and then cached) is the value at
      // some tip between before and after it: never one a commit has replaced.
      const uint64_t before = store_->tip().height;
      Result<std::optional<Bytes>> now = store_->GetState(key);
      const uint64_t after = store_->tip().height;
      bool at_some_tip = false;
      for (uint64_t h = before; now.ok() && h <= after; ++h) {
        at_some_tip = at_some_tip || *now == Lookup(snapshots.at(h), key);
      }
      if (!at_some_tip) ++failures;
      ++reads;
    }
  };
  std::thread r1(reader, 1);
  std::thread r2(reader, 1000);
  for (const CommitRequest& request : requests) {
    Result<CommitInfo> info = store_->Commit(request);
    if (!info.ok()) {
      ADD_FAILURE() << info.status().ToString();
      break;
    }
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store_->tip().height, kBlocks);
}

// ---- backups ----

TEST_F(StoreTest, BackupIsTheLedgerAtItsTipWithoutPendingBlocksAndInspectAgrees) {
  CommitBlocks(6);
  const CommitRequest next = NextRequest();
  CITY_ASSERT_OK(store_->PutPendingBlock(next.block));
  const std::filesystem::path copy_dir = tmp_.path() / "backup";
  const StoreCopyInfo made = Must(store_->Backup(copy_dir), "backup");
  EXPECT_EQ(made.tip.height, 6u);
  EXPECT_EQ(made.tip.block_hash, store_->tip().block_hash);
  EXPECT_EQ(made.tip.state_root, store_->tip().state_root);
  EXPECT_EQ(made.chain_id, store_->chain_id());
  EXPECT_EQ(made.genesis_hash, store_->genesis_hash());
  EXPECT_GT(made.records, 6u);
  EXPECT_FALSE(std::filesystem::exists(copy_dir.string() + ".partial"));

  const StoreCopyInfo inspected = Must(LedgerStore::Inspect(copy_dir), "inspect");
  EXPECT_EQ(inspected.content_hash, made.content_hash);
  EXPECT_EQ(inspected.records, made.records);
  EXPECT_EQ(inspected.bytes, made.bytes);
  EXPECT_EQ(inspected.tip.block_hash, made.tip.block_hash);

  std::unique_ptr<LedgerStore> copy = Must(LedgerStore::Open(copy_dir), "open the copy");
  EXPECT_TRUE(Must(copy->PendingBlocks()).empty()) << "consensus's blocks are not the ledger's";
  for (uint64_t h = 1; h <= 6; ++h) EXPECT_EQ(Must(copy->GetBlock(h)), Must(store_->GetBlock(h)));
  for (uint64_t k = 0; k < test::kChainKeySpace; k += 7) {
    EXPECT_EQ(Must(copy->GetState(ChainKey(k))), Must(store_->GetState(ChainKey(k))));
  }
  // The copy is a store of its own: it takes the next block as the original would.
  const CommitInfo original = Must(store_->Commit(next), "commit on the original");
  const CommitInfo copied = Must(copy->Commit(next), "commit on the copy");
  EXPECT_EQ(copied.state_root, original.state_root);

  // A second backup into the same place is refused; the first stays as it was.
  EXPECT_EQ(store_->Backup(copy_dir).status().code(), ErrorCode::kAlreadyExists);
  // A cancelled one (the node stopping) leaves nothing behind.
  const std::atomic<bool> cancel{true};
  const std::filesystem::path cancelled = tmp_.path() / "cancelled";
  EXPECT_EQ(store_->Backup(cancelled, &cancel).status().code(), ErrorCode::kIoError);
  EXPECT_FALSE(std::filesystem::exists(cancelled));
  EXPECT_FALSE(std::filesystem::exists(cancelled.string() + ".partial"));
}

TEST_F(StoreTest, BackupWhileCommitsGoOnIsOneWholeBlock) {
  CommitBlocks(3);
  std::atomic<bool> stop{false};
  std::vector<CommitRequest> more;
  for (int i = 0; i < 40; ++i) more.push_back(chain_.Advance());
  std::thread writer([&] {
    for (const CommitRequest& request : more) {
      if (stop) break;
      ASSERT_TRUE(store_->Commit(request).ok());
    }
  });
  std::vector<StoreCopyInfo> copies;
  for (int i = 0; i < 4; ++i) {
    copies.push_back(Must(store_->Backup(tmp_.path() / ("during-" + std::to_string(i)))));
  }
  stop = true;
  writer.join();
  for (size_t i = 0; i < copies.size(); ++i) {
    const StoreCopyInfo inspected =
        Must(LedgerStore::Inspect(tmp_.path() / ("during-" + std::to_string(i))), "inspect");
    EXPECT_EQ(inspected.content_hash, copies[i].content_hash) << "copy " << i;
    EXPECT_EQ(inspected.tip.height, copies[i].tip.height) << "copy " << i;
    // Its tip is a block the original committed, with that block's state root.
    EXPECT_EQ(copies[i].tip.block_hash, chain_.hash(copies[i].tip.height)) << "copy " << i;
    EXPECT_EQ(copies[i].tip.state_root, Must(store_->StateRootAt(copies[i].tip.height)));
  }
}

TEST_F(StoreTest, InspectSeesAChangedRecordAndRefusesWhatIsNoStore) {
  CommitBlocks(2);
  const std::filesystem::path copy_dir = tmp_.path() / "backup";
  const StoreCopyInfo made = Must(store_->Backup(copy_dir), "backup");
  {
    // One index record rewritten behind the store's back: it still opens, the hash differs.
    std::unique_ptr<LedgerStore> copy = Must(LedgerStore::Open(copy_dir), "open");
    copy.reset();
    leveldb::DB* raw = nullptr;
    leveldb::Options options;
    ASSERT_TRUE(leveldb::DB::Open(options, copy_dir.string(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator({}));
    it->Seek("X");  // the first contract index entry
    ASSERT_TRUE(it->Valid());
    ASSERT_TRUE(db->Put({}, it->key(), it->value().ToString() + "!").ok());
  }
  const StoreCopyInfo changed = Must(LedgerStore::Inspect(copy_dir), "inspect");
  EXPECT_NE(changed.content_hash, made.content_hash);
  EXPECT_EQ(changed.records, made.records);

  EXPECT_EQ(LedgerStore::Inspect(tmp_.path() / "nothing").status().code(), ErrorCode::kNotFound);
  std::filesystem::create_directories(tmp_.path() / "junk");
  std::ofstream(tmp_.path() / "junk" / "file") << "not a database";
  EXPECT_EQ(LedgerStore::Inspect(tmp_.path() / "junk").status().code(), ErrorCode::kCorruption);
  // The original is held by this process: Inspect cannot open it beside the store.
  EXPECT_FALSE(LedgerStore::Inspect(dir_).ok());
}

}  // namespace
}  // namespace city::ledger
