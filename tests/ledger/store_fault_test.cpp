// Fail-stop: once a write to disk fails, the store refuses every later write, even when the
// disk recovers; reopening resumes from what is durable.
#include <gtest/gtest.h>

#include "city/ledger/store.h"
#include "ledger/fault_env.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::Must;

class StoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.env = fault_.env();
    store_ = Must(LedgerStore::Create(dir_, test::ChainGenesis(), options_));
    for (int i = 0; i < 3; ++i) (void)Must(store_->Commit(chain_.Advance()));
  }

  void ExpectEveryWriteRefused(const CommitRequest& next) {
    const Result<CommitInfo> again = store_->Commit(next);
    EXPECT_FALSE(again.ok()) << "a commit after a failed write was accepted";
    EXPECT_FALSE(store_->PutPendingBlock(next.block).ok())
        << "a pending block after a failed write was accepted";
    EXPECT_EQ(store_->tip().height, 3u);
  }

  // After a reopen: the tip is the last good block or (when only the sync failed) the
  // block whose commit failed, whole; and the chain continues from there.
  void ReopenAndContinue(const CommitRequest& failed, bool may_have_landed) {
    store_.reset();
    store_ = Must(LedgerStore::Open(dir_, options_), "reopen");
    const StoreTip tip = store_->tip();
    if (may_have_landed) {
      ASSERT_TRUE(tip.height == 3 || tip.height == 4) << tip.height;
    } else {
      ASSERT_EQ(tip.height, 3u);
    }
    test::ChainReplay replay;
    replay.AdvanceTo(tip.height);
    EXPECT_EQ(tip.block_hash, replay.hash(tip.height));
    EXPECT_EQ(tip.state_root, test::ExpectedRoot(replay.state()));
    if (tip.height == 4) {
      EXPECT_EQ(Must(store_->GetBlock(4)), failed.block);
    }
    for (int i = 0; i < 3; ++i) {
      const CommitRequest request = replay.Advance();
      const CommitInfo info = Must(store_->Commit(request), "commit after reopen");
      EXPECT_EQ(info.state_root, test::ExpectedRoot(replay.state()));
    }
  }

  test::FaultEnv fault_;  // outlives the store
  test::TempDir tmp_;
  std::filesystem::path dir_ = tmp_.path() / "store";
  StoreOptions options_;
  test::ChainReplay chain_;
  std::unique_ptr<LedgerStore> store_;
};

TEST_F(StoreFaultTest, FailedAppendStopsEveryLaterWrite) {
  const CommitRequest next = test::ChainCommit(4, chain_.hash(3));
  fault_.FailWrites(true);
  const Result<CommitInfo> failed = store_->Commit(next);
  EXPECT_FALSE(failed.ok());
  EXPECT_GT(fault_.injected_failures(), 0);
  EXPECT_EQ(store_->tip().height, 3u);
  // The disk works again (LevelDB itself would accept this write): the store must not.
  fault_.FailWrites(false);
  ExpectEveryWriteRefused(next);
  ReopenAndContinue(next, /*may_have_landed=*/false);
}

TEST_F(StoreFaultTest, FailedSyncStopsEveryLaterWrite) {
  const CommitRequest next = test::ChainCommit(4, chain_.hash(3));
  fault_.FailSyncs(true);
  const Result<CommitInfo> failed = store_->Commit(next);
  EXPECT_FALSE(failed.ok());
  EXPECT_GT(fault_.injected_failures(), 0);
  fault_.FailSyncs(false);
  ExpectEveryWriteRefused(next);
  ReopenAndContinue(next, /*may_have_landed=*/true);
}

TEST_F(StoreFaultTest, FailedPendingBlockWriteStopsCommits) {
  const CommitRequest next = test::ChainCommit(4, chain_.hash(3));
  fault_.FailWrites(true);
  EXPECT_FALSE(store_->PutPendingBlock(next.block).ok());
  fault_.FailWrites(false);
  ExpectEveryWriteRefused(next);
  ReopenAndContinue(next, /*may_have_landed=*/false);
}

TEST_F(StoreFaultTest, OpenThatCannotWriteFailsCleanly) {
  store_.reset();
  fault_.FailWrites(true);
  const auto failed = LedgerStore::Open(dir_, options_);
  EXPECT_FALSE(failed.ok());
  fault_.FailWrites(false);
  ReopenAndContinue(test::ChainCommit(4, chain_.hash(3)), /*may_have_landed=*/false);
}

TEST(StoreFaultCreate, CreateThatCannotWriteFailsCleanly) {
  test::FaultEnv fault;
  test::TempDir tmp;
  StoreOptions options;
  options.env = fault.env();
  fault.FailWrites(true);
  const auto failed = LedgerStore::Create(tmp.path() / "store", test::ChainGenesis(), options);
  EXPECT_FALSE(failed.ok());
  // Whatever a failed Create left behind is never taken for a store.
  fault.FailWrites(false);
  const auto opened = LedgerStore::Open(tmp.path() / "store", options);
  EXPECT_FALSE(opened.ok());
}

}  // namespace
}  // namespace city::ledger
