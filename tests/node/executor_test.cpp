// The block executor against a real LevelDB chain: blocks committed by consensus are executed
// in height order off the caller's thread; until each is in the store, its header and
// transactions are found in the queue (so a proposal's parent or a repeated transaction is
// never missed); a block that cannot commit stops it for good, and the error is reported.
#include "executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "node/test_chain.h"
#include "support/genesis_fixtures.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

using city::test::TestKey;

bool LocalWait(const std::function<bool()>& condition) {
  for (int i = 0; i < 1000 && !condition(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest()
      : chain_(test::OpenTestChain(dir_.path() / "data", city::test::TestGenesisDoc(keys_))) {}

  // An empty block on `parent` (a header hash) at `height`, and a certificate for it.
  std::pair<ledger::Block, ledger::QuorumCert> BlockOn(const Hash256& parent, uint64_t height,
                                                       size_t txs = 0) const {
    ledger::Block block;
    block.header.chain_id = std::string(city::test::kTestChain);
    block.header.height = height;
    block.header.round = height;
    block.header.parent_hash = parent;
    block.header.timestamp_ms = 1'700'000'000'000 + height;
    for (size_t i = 0; i < txs; ++i) {
      block.transactions.push_back(city::test::SampleTransaction(TestKey(50), height * 10 + i));
    }
    block.Sign(keys_[0]);
    const ledger::VoteData data{0, 0, height, height, block.Hash()};
    std::vector<ledger::Vote> votes;
    for (size_t i = 0; i < 3; ++i) {
      votes.push_back(ledger::Vote::Create(data, city::test::kTestChain, keys_[i]));
    }
    return {block, ledger::QuorumCert::FromVotes(data, votes)};
  }

  const std::vector<KeyPair> keys_ = city::test::TestValidators(4);
  city::test::TempDir dir_;
  std::unique_ptr<Chain> chain_;
};

TEST_F(ExecutorTest, ExecutesInOrderAndShowsQueuedBlocksUntilTheyAreStored) {
  std::atomic<uint64_t> last{0};
  std::atomic<bool> out_of_order{false};
  std::mutex gate;
  gate.lock();  // holds the executor in its first callback, so later blocks stay queued
  BlockExecutor executor(*chain_, 16, [&](Result<CommittedBlockInfo> done) {
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    if (done->block.header.height != last + 1) out_of_order = true;
    last = done->block.header.height;
    if (last == 1) std::lock_guard wait(gate);
  });
  Hash256 parent = chain_->tip().block_hash;
  std::vector<ledger::Block> blocks;
  for (uint64_t h = 1; h <= 5; ++h) {
    auto [block, cert] = BlockOn(parent, h, 2);
    executor.Submit(block, cert);
    parent = block.Hash();
    blocks.push_back(block);
  }
  EXPECT_EQ(executor.SubmittedHeight(), 5u);
  ASSERT_TRUE(LocalWait([&] { return last == 1; }));
  // Block 1 is stored; 2..5 are not, yet they are found.
  EXPECT_EQ(chain_->tip().height, 1u);
  EXPECT_FALSE(executor.FindHeader(blocks[0].Hash()).has_value());
  ASSERT_TRUE(executor.FindHeader(blocks[3].Hash()).has_value());
  EXPECT_EQ(executor.FindHeader(blocks[3].Hash())->height, 4u);
  QueuedTransactions queued;
  executor.AddQueued(queued);
  EXPECT_TRUE(queued.ids.contains(blocks[2].transactions[0].Id()));
  EXPECT_FALSE(queued.ids.contains(blocks[0].transactions[0].Id()));
  EXPECT_EQ(queued.per_sender[TestKey(50).public_key()], 8u);  // blocks 2..5, two each
  EXPECT_FALSE(executor.WaitExecuted(3, std::chrono::milliseconds(20)));

  gate.unlock();
  EXPECT_TRUE(executor.WaitExecuted(5, std::chrono::seconds(10)));
  executor.WaitIdle();
  EXPECT_EQ(chain_->tip().height, 5u);
  EXPECT_EQ(executor.Backlog(), 0u);
  EXPECT_FALSE(out_of_order);
}

// A reader inside Consistent() sees each block in the queue or in the store, never in both
// and never in neither: no block moves to the store while it reads. (Counted twice, a
// proposal once skipped a nonce under load and stranded every later transaction of that
// sender.)
TEST_F(ExecutorTest, NoBlockMovesToTheStoreWhileAReaderIsInsideConsistent) {
  std::mutex gate;
  gate.lock();  // holds the executor after block 1, so that 2..5 wait in the queue
  BlockExecutor executor(*chain_, 16, [&](Result<CommittedBlockInfo> done) {
    if (done.ok() && done->block.header.height == 1) std::lock_guard wait(gate);
  });
  Hash256 parent = chain_->tip().block_hash;
  for (uint64_t h = 1; h <= 5; ++h) {
    auto [block, cert] = BlockOn(parent, h, 1);
    executor.Submit(block, cert);
    parent = block.Hash();
  }
  ASSERT_TRUE(LocalWait([&] { return chain_->tip().height == 1; }));
  std::atomic<bool> reading{false};
  std::atomic<bool> release{false};
  size_t queued_seen = 0;
  uint64_t stored_seen = 0;
  std::thread reader([&] {
    executor.Consistent([&] {
      reading = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      QueuedTransactions queued;
      executor.AddQueued(queued);  // the queue's readers work inside the view
      queued_seen = queued.ids.size();
      stored_seen = chain_->tip().height;
      return 0;
    });
  });
  ASSERT_TRUE(LocalWait([&] { return reading.load(); }));
  gate.unlock();  // the executor goes on: it may execute block 2, not commit it
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(chain_->tip().height, 1u) << "a block reached the store inside Consistent()";
  release = true;
  reader.join();
  EXPECT_EQ(stored_seen, 1u);
  EXPECT_EQ(queued_seen, 4u);  // blocks 2..5, each seen once: in the queue, not the store
  EXPECT_TRUE(executor.WaitExecuted(5, std::chrono::seconds(10)));
}

TEST_F(ExecutorTest, ABlockThatCannotCommitStopsItAndIsReported) {
  std::atomic<int> failures{0};
  std::atomic<int> successes{0};
  BlockExecutor executor(
      *chain_, 4, [&](Result<CommittedBlockInfo> done) { (done.ok() ? successes : failures)++; });
  auto [stray, stray_cert] = BlockOn(TaggedHash("city.test.nowhere", {}), 1);
  executor.Submit(stray, stray_cert);  // does not extend the tip: the store refuses it
  executor.WaitIdle();
  auto [good, good_cert] = BlockOn(chain_->tip().block_hash, 1);
  executor.Submit(good, good_cert);  // ignored: nothing runs after a failure
  executor.WaitIdle();
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(successes, 0);
  EXPECT_EQ(chain_->tip().height, 0u);
  EXPECT_FALSE(executor.WaitExecuted(1, std::chrono::milliseconds(10)));
}

TEST_F(ExecutorTest, StoppingExecutesWhatIsQueuedFirst) {
  Hash256 parent = chain_->tip().block_hash;
  {
    BlockExecutor executor(*chain_, 64, [](Result<CommittedBlockInfo>) {});
    for (uint64_t h = 1; h <= 20; ++h) {
      auto [block, cert] = BlockOn(parent, h);
      executor.Submit(block, cert);
      parent = block.Hash();
    }
  }
  EXPECT_EQ(chain_->tip().height, 20u);  // nothing consensus committed is lost at a stop
}

}  // namespace
}  // namespace city::node
