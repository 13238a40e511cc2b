// Block pruning (StoreOptions::retain_blocks): a pruned store and an archive store are fed the
// same chain, and every read the pruned one still answers must equal the archive's; what it
// dropped answers kPruned, never a wrong or partial value.
#include <gtest/gtest.h>

#include "city/ledger/store.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::ChainKey;
using test::Must;

constexpr uint64_t kRetain = 5;

class StorePruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = Must(LedgerStore::Create(tmp_.path() / "archive", test::ChainGenesis()), "archive");
    OpenPruned(kRetain, /*create=*/true);
    hashes_.push_back(test::ChainGenesis().block_hash);
  }

  void OpenPruned(uint64_t retain, bool create = false) {
    pruned_.reset();
    const StoreOptions options{.retain_blocks = retain};
    pruned_ = create ? Must(LedgerStore::Create(dir_, test::ChainGenesis(), options), "create")
                     : Must(LedgerStore::Open(dir_, options), "open");
  }

  // The next block of the test chain, committed to both stores. `epoch_end` makes it name a
  // next validator set, as an epoch's last block does.
  void CommitNext(bool epoch_end = false) {
    const uint64_t height = hashes_.size();
    CommitRequest request = test::ChainCommit(height, hashes_.back());
    if (epoch_end) {
      request.block.header.next_validators = {test::ChainValidators()[0].public_key()};
      request.block.Sign(test::ChainValidators()[height % test::ChainValidators().size()]);
      request.certificate = test::Certify(request.block);
    }
    Must(archive_->Commit(request), "archive commit");
    Must(pruned_->Commit(request), "pruned commit");
    hashes_.push_back(request.block.Hash());
    requests_.push_back(std::move(request));
  }
  void CommitBlocks(size_t n) {
    for (size_t i = 0; i < n; ++i) CommitNext();
  }

  const CommitRequest& RequestAt(uint64_t height) const { return requests_.at(height - 1); }

  // Every read at or above the lowest height equals the archive's; below it, kPruned.
  void ExpectPrunedView(const std::string& when) {
    SCOPED_TRACE(when);
    const uint64_t tip = pruned_->tip().height;
    const uint64_t lowest = pruned_->lowest_height();
    const uint64_t oldest = pruned_->oldest_retained_version();  // trees: proofs and roots
    ASSERT_EQ(pruned_->tip(), archive_->tip());
    for (uint64_t h = 1; h <= tip; ++h) {
      const std::string at = "height " + std::to_string(h);
      if (h >= lowest) {
        EXPECT_EQ(Must(pruned_->GetBlock(h)), Must(archive_->GetBlock(h))) << at;
        EXPECT_EQ(Must(pruned_->GetResults(h)), Must(archive_->GetResults(h))) << at;
        EXPECT_EQ(Must(pruned_->GetCertificate(h)), Must(archive_->GetCertificate(h))) << at;
        if (h >= oldest) {
          EXPECT_EQ(Must(pruned_->StateRootAt(h)), Must(archive_->StateRootAt(h))) << at;
        }
        for (const Transaction& tx : RequestAt(h).block.transactions) {
          EXPECT_EQ(Must(pruned_->GetTransaction(tx.Id())).location.height, h) << at;
        }
      } else {
        EXPECT_EQ(pruned_->GetBlock(h).status().code(), ErrorCode::kPruned) << at;
        EXPECT_EQ(pruned_->GetResults(h).status().code(), ErrorCode::kPruned) << at;
        EXPECT_EQ(pruned_->StateRootAt(h).status().code(), ErrorCode::kPruned) << at;
        EXPECT_EQ(pruned_->GetStateAt(ChainKey(1), h).status().code(), ErrorCode::kPruned) << at;
        EXPECT_EQ(pruned_->ProveState(ChainKey(1), h).status().code(), ErrorCode::kPruned) << at;
        const bool epoch_end = !RequestAt(h).block.header.next_validators.empty();
        if (epoch_end) {
          EXPECT_EQ(Must(pruned_->GetHeader(h)), RequestAt(h).block.header) << at;
          EXPECT_EQ(Must(pruned_->GetCertificate(h)), RequestAt(h).certificate) << at;
        } else {
          EXPECT_EQ(pruned_->GetHeader(h).status().code(), ErrorCode::kPruned) << at;
          EXPECT_EQ(pruned_->GetCertificate(h).status().code(), ErrorCode::kPruned) << at;
        }
        // The id stays: a pruned transaction can never be committed again (a Byzantine
        // leader's replay would be certified by pruned validators and halt archive ones).
        const Hash256 id = RequestAt(h).block.transactions.front().Id();
        EXPECT_TRUE(Must(pruned_->HasTransaction(id))) << at;
        const Status gone = pruned_->GetTransaction(id).status();
        EXPECT_EQ(gone.code(), ErrorCode::kPruned) << at;
        CommitRequest replay = test::ChainCommit(hashes_.size(), hashes_.back());
        replay.block.transactions.front() = RequestAt(h).block.transactions.front();
        replay.block.Sign(test::ChainValidators()[hashes_.size() % test::ChainValidators().size()]);
        replay.certificate = test::Certify(replay.block);
        EXPECT_EQ(pruned_->Commit(replay).status().code(), ErrorCode::kAlreadyExists) << at;
      }
    }
    // State: every key at every held version, with proofs, as the archive has it.
    for (uint64_t v = std::max<uint64_t>(lowest, 1); v <= tip; ++v) {
      for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
        const Bytes key = ChainKey(k);
        EXPECT_EQ(Must(pruned_->GetStateAt(key, v)), Must(archive_->GetStateAt(key, v)))
            << "key " << k << " at " << v;
      }
      if (v < oldest) continue;
      const StateAt proven = Must(pruned_->ProveState(ChainKey(v), v));
      EXPECT_TRUE(test::VerifyStateAt(Must(archive_->StateRootAt(v)), ChainKey(v), proven).ok());
    }
    for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
      EXPECT_EQ(Must(pruned_->GetState(ChainKey(k))), Must(archive_->GetState(ChainKey(k))));
    }
    ExpectHistoryFrom(lowest);
  }

  // Histories hold exactly the archive's entries at or above `lowest`; a key's history may
  // also keep the one older write that is its value at `lowest`.
  void ExpectHistoryFrom(uint64_t lowest) {
    const PageRequest all{.cursor = {}, .limit = kMaxPageSize};
    for (const CommitRequest& request : requests_) {
      const PublicKey& sender = request.block.transactions.front().sender;
      std::vector<AccountTx> expected;
      for (const AccountTx& tx : Must(archive_->AccountHistory(sender, all)).items) {
        if (tx.location.height >= lowest) expected.push_back(tx);
      }
      const std::vector<AccountTx> held = Must(pruned_->AccountHistory(sender, all)).items;
      ASSERT_EQ(held.size(), expected.size());
      for (size_t i = 0; i < held.size(); ++i) {
        EXPECT_EQ(held[i].location.height, expected[i].location.height);
        EXPECT_EQ(held[i].tx_id, expected[i].tx_id);
      }
      for (const IndexEntry& entry : request.index_entries) {
        std::vector<uint64_t> want;
        for (const IndexItem& item :
             Must(archive_->IndexScan(entry.contract, entry.index, entry.key, all)).items) {
          if (item.location.height >= lowest) want.push_back(item.location.height);
        }
        std::vector<uint64_t> got;
        for (const IndexItem& item :
             Must(pruned_->IndexScan(entry.contract, entry.index, entry.key, all)).items) {
          got.push_back(item.location.height);
        }
        EXPECT_EQ(got, want);
      }
    }
    for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
      const PageRequest newest_first{.cursor = {}, .limit = kMaxPageSize, .newest_first = true};
      const std::vector<KeyWrite> archived =
          Must(archive_->KeyHistory(ChainKey(k), newest_first)).items;
      const std::vector<KeyWrite> held = Must(pruned_->KeyHistory(ChainKey(k), newest_first)).items;
      size_t recent = 0;
      while (recent < archived.size() && archived[recent].location.height >= lowest) ++recent;
      ASSERT_GE(held.size(), recent) << "key " << k;
      ASSERT_LE(held.size(), recent + 1) << "key " << k;
      for (size_t i = 0; i < recent; ++i) {
        EXPECT_EQ(held[i].location.height, archived[i].location.height) << "key " << k;
        EXPECT_EQ(held[i].value, archived[i].value) << "key " << k;
      }
      if (held.size() == recent + 1) {  // the value the key had before `lowest`: never a deletion
        ASSERT_LT(recent, archived.size());
        EXPECT_EQ(held[recent].location.height, archived[recent].location.height) << "key " << k;
        EXPECT_TRUE(held[recent].value.has_value()) << "key " << k;
      } else if (recent < archived.size() && lowest > 0) {
        // Dropped with everything older: only a deletion below `lowest` is.
        EXPECT_FALSE(archived[recent].value.has_value()) << "key " << k;
      }
    }
  }

  test::TempDir tmp_;
  std::filesystem::path dir_ = tmp_.path() / "pruned";
  std::unique_ptr<LedgerStore> archive_;
  std::unique_ptr<LedgerStore> pruned_;
  std::vector<Hash256> hashes_;
  std::vector<CommitRequest> requests_;  // requests_[h - 1] is block h
};

TEST_F(StorePruneTest, KeepsTheNewestBlocksAndAnswersPrunedBelowThem) {
  EXPECT_EQ(pruned_->lowest_height(), 0u);
  for (uint64_t h = 1; h <= 24; ++h) {
    CommitNext(/*epoch_end=*/h == 3 || h == 11);
    const uint64_t expected_lowest = h + 1 > kRetain ? h + 1 - kRetain : 0;
    ASSERT_EQ(pruned_->lowest_height(), expected_lowest) << "at height " << h;
    // Trees of versions below the lowest height serve nothing: they go too.
    ASSERT_EQ(pruned_->oldest_retained_version(), expected_lowest) << "at height " << h;
    if (h % 6 == 0) ExpectPrunedView("at height " + std::to_string(h));
  }
  EXPECT_EQ(archive_->lowest_height(), 0u);
  // The bounds and what they say survive a restart, and pruning goes on from there.
  OpenPruned(kRetain);
  EXPECT_EQ(pruned_->lowest_height(), 24 + 1 - kRetain);
  ExpectPrunedView("after reopening");
  CommitBlocks(3);
  EXPECT_EQ(pruned_->lowest_height(), 27 + 1 - kRetain);
  ExpectPrunedView("after reopening and three more blocks");
}

// An archive turned into a pruned node: the backlog goes a bounded slice per commit, and a
// wider retention later never claims back what is gone.
// A snapshot reads a height's block, results and state while commits go on: a hold keeps
// them (and every later height) from pruning until it is released; pruning then catches up.
TEST_F(StorePruneTest, AHoldKeepsItsHeightsUntilReleased) {
  CommitBlocks(10);
  ASSERT_EQ(pruned_->lowest_height(), 10 + 1 - kRetain);
  const uint64_t held = pruned_->lowest_height() + 1;
  {
    const std::shared_ptr<void> hold = pruned_->HoldPruningFrom(held);
    CommitBlocks(8);
    EXPECT_LE(pruned_->lowest_height(), held);
    EXPECT_LE(pruned_->oldest_retained_version(), held);
    EXPECT_TRUE(pruned_->GetBlock(held).ok());
    EXPECT_TRUE(pruned_->StateRootAt(held).ok());
    EXPECT_TRUE(pruned_->StateChunk(held, 2, 0, 4).ok());
  }
  CommitNext();
  EXPECT_EQ(pruned_->lowest_height(), 19 + 1 - kRetain) << "caught up once released";
  ExpectPrunedView("after the hold");
}

TEST_F(StorePruneTest, ABacklogIsPrunedInSlicesAndWideningDoesNotClaimItBack) {
  OpenPruned(0);
  CommitBlocks(100);
  EXPECT_EQ(pruned_->lowest_height(), 0u);
  OpenPruned(kRetain);
  CommitNext();
  EXPECT_EQ(pruned_->lowest_height(), 1u + 64u);  // one slice of at most 64 heights
  CommitNext();
  EXPECT_EQ(pruned_->lowest_height(), 102 + 1 - kRetain);
  // Blocks committed in archive mode lose their blocks and accounts' history; their index
  // entries and older writes stay (they had no prune list). Reads stay right either way.
  EXPECT_EQ(pruned_->GetBlock(50).status().code(), ErrorCode::kPruned);
  for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
    EXPECT_EQ(Must(pruned_->GetState(ChainKey(k))), Must(archive_->GetState(ChainKey(k))));
  }
  OpenPruned(50);
  CommitNext();
  EXPECT_EQ(pruned_->lowest_height(), 102 + 1 - kRetain);
  EXPECT_EQ(pruned_->GetBlock(90).status().code(), ErrorCode::kPruned);
  OpenPruned(0);  // archive from here on: nothing more is pruned, and nothing comes back
  CommitBlocks(10);
  EXPECT_EQ(pruned_->lowest_height(), 102 + 1 - kRetain);
  EXPECT_EQ(Must(pruned_->GetBlock(100)), Must(archive_->GetBlock(100)));
}

// A narrower retention prunes several listed blocks in one batch, each against the snapshot
// taken before it: a key written in two of them keeps only the newer write.
TEST_F(StorePruneTest, SeveralListedBlocksPrunedInOneBatchLeaveEveryReadRight) {
  OpenPruned(20);
  CommitBlocks(30);
  ASSERT_EQ(pruned_->lowest_height(), 11u);
  ExpectPrunedView("retaining 20");
  OpenPruned(kRetain);
  CommitNext();
  EXPECT_EQ(pruned_->lowest_height(), 31 + 1 - kRetain);  // 16 heights in one batch
  ExpectPrunedView("after one batch pruned 16 listed blocks");
}

// Keeping the tip's tree only, the nodes each commit replaces go in the same batch: the number
// of records stays flat as the chain grows (they used to pile up, listed but never read back).
TEST_F(StorePruneTest, KeepingOnlyTheTipsTreeHoldsTheRecordCountFlat) {
  pruned_.reset();
  std::filesystem::remove_all(dir_);
  pruned_ = Must(LedgerStore::Create(dir_, test::ChainGenesis(),
                                     StoreOptions{.retain_versions = 1, .retain_blocks = kRetain}),
                 "create");
  // Once most of the test chain's keys hold values, only the transaction ids grow (kept for
  // good: the once-only rule); a leak of replaced tree nodes adds tens of records a block.
  CommitBlocks(100);
  const uint64_t at_100 = Must(pruned_->Backup(tmp_.path() / "at-100")).records;
  CommitBlocks(60);
  const uint64_t at_160 = Must(pruned_->Backup(tmp_.path() / "at-160")).records;
  EXPECT_LT(at_160, at_100 + 60 * test::kChainTxsPerBlock + at_100 / 20)
      << "records at height 100: " << at_100 << ", at 160: " << at_160;
  ExpectPrunedView("keeping the tip's tree only");
}

// A backup of a pruned store is a pruned store: its bounds travel with it.
TEST_F(StorePruneTest, ABackupKeepsTheLowestHeight) {
  CommitBlocks(12);
  const std::filesystem::path copy = tmp_.path() / "copy";
  const StoreCopyInfo info = Must(pruned_->Backup(copy));
  EXPECT_EQ(info.tip, pruned_->tip());
  const std::unique_ptr<LedgerStore> restored = Must(LedgerStore::Open(copy), "open the copy");
  EXPECT_EQ(restored->lowest_height(), pruned_->lowest_height());
  EXPECT_EQ(restored->GetBlock(2).status().code(), ErrorCode::kPruned);
  EXPECT_EQ(Must(restored->GetBlock(12)), Must(archive_->GetBlock(12)));
}

}  // namespace
}  // namespace city::ledger
