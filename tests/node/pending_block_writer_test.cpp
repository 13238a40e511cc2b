// Pending blocks stored off the consensus thread, against a real LevelDB chain: in the order
// asked, all of them durable once WaitAll returns, and a failed write reported there from
// then on (to every step that could send a vote on the block).
#include "pending_block_writer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "ledger/fault_env.h"
#include "node/test_chain.h"
#include "support/genesis_fixtures.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

using city::test::TestKey;

class PendingBlockWriterTest : public ::testing::Test {
 protected:
  PendingBlockWriterTest()
      : chain_(test::OpenTestChain(dir_.path() / "data", city::test::TestGenesisDoc(keys_),
                                   {.env = faults_.env()})) {}

  ledger::Block BlockAt(uint64_t height, size_t txs) const {
    ledger::Block block;
    block.header.chain_id = std::string(city::test::kTestChain);
    block.header.height = height;
    block.header.round = height;
    for (size_t i = 0; i < txs; ++i) {
      block.transactions.push_back(city::test::SampleTransaction(TestKey(50), height * 10 + i));
    }
    block.Sign(keys_[0]);
    return block;
  }

  std::vector<Hash256> StoredHashes() const {
    Result<std::vector<ledger::Block>> pending = chain_->store().PendingBlocks();
    EXPECT_TRUE(pending.ok()) << pending.status().ToString();
    std::vector<Hash256> hashes;
    for (const ledger::Block& block : *pending) hashes.push_back(block.Hash());
    std::sort(hashes.begin(), hashes.end());
    return hashes;
  }

  const std::vector<KeyPair> keys_ = city::test::TestValidators(4);
  city::test::TempDir dir_;
  city::test::FaultEnv faults_;
  std::unique_ptr<Chain> chain_;
};

TEST_F(PendingBlockWriterTest, EveryBlockAskedIsStoredOnceWaitAllReturnsAndDeletesKeepTheOrder) {
  PendingBlockWriter writer(*chain_);
  std::vector<Hash256> kept;
  for (uint64_t h = 1; h <= 20; ++h) {
    const ledger::Block block = BlockAt(h, 3);
    writer.Put(block);
    // Every third block is dropped right after it was asked for: the deletion must come
    // after the write, or the block would stay pending for ever.
    if (h % 3 == 0) {
      writer.Delete(block);
    } else {
      kept.push_back(block.Hash());
    }
  }
  ASSERT_TRUE(writer.WaitAll().ok());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(StoredHashes(), kept);
}

// A block stored in one step may be voted on in a later one: a failure must reach every
// later WaitAll, not only the next, or a vote for a block never stored could leave.
TEST_F(PendingBlockWriterTest, AFailedWriteIsReportedToEveryLaterWaitAll) {
  PendingBlockWriter writer(*chain_);
  writer.Put(BlockAt(1, 1));
  ASSERT_TRUE(writer.WaitAll().ok());
  faults_.FailSyncs(true);
  writer.Put(BlockAt(2, 1));
  writer.Put(BlockAt(3, 1));
  const Status failed = writer.WaitAll();
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("cannot store block 2"), std::string::npos) << failed.ToString();
  EXPECT_GT(faults_.injected_failures(), 0);
  faults_.FailSyncs(false);
  EXPECT_EQ(writer.WaitAll().message(), failed.message()) << "a step with nothing to write";
  writer.Put(BlockAt(4, 1));
  EXPECT_EQ(writer.WaitAll().message(), failed.message()) << "the first failure, for good";
}

TEST_F(PendingBlockWriterTest, DestroyingTheWriterFinishesWhatWasAsked) {
  std::vector<Hash256> asked;
  {
    PendingBlockWriter writer(*chain_);
    for (uint64_t h = 1; h <= 10; ++h) {
      const ledger::Block block = BlockAt(h, 20);
      writer.Put(block);
      asked.push_back(block.Hash());
    }
  }
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(StoredHashes(), asked);
}

}  // namespace
}  // namespace city::node
