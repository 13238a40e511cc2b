// The intake's client backlog gate ([mempool] max_client_backlog) on a real LevelDB chain,
// pool and verifier: while the pool holds that many transactions that can run, clients are
// told `overloaded` (a retry), and gossip from other validators is still taken.
#include "tx_intake.h"

#include <gtest/gtest.h>

#include <future>

#include "city/contracts/ubi.h"
#include "node/test_chain.h"
#include "support/genesis_fixtures.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

using city::test::TestKey;

class TxIntakeTest : public ::testing::Test {
 protected:
  TxIntakeTest() {
    GenesisDoc doc = city::test::TestGenesisDoc(city::test::TestValidators(1));
    doc.balances = {{sender_.public_key(), 1'000}};
    chain_ = test::OpenTestChain(dir_.path() / "data", doc);
  }

  ledger::Transaction Transfer(uint64_t nonce) const {
    ledger::Transaction tx;
    tx.chain_id = std::string(city::test::kTestChain);
    tx.nonce = nonce;
    tx.expiry_height = 100;
    tx.contract = "ubi";
    tx.method = "transfer";
    tx.args = contracts::EncodeArgs(contracts::UbiTransferArgs{TestKey(20).public_key(), 1});
    tx.Sign(sender_);
    return tx;
  }

  std::vector<SubmitOutcome> Submit(TxIntake& intake, std::vector<ledger::Transaction> txs,
                                    bool from_client) {
    std::promise<std::vector<SubmitOutcome>> done;
    intake.Submit(
        std::move(txs), from_client, [&](std::vector<SubmitOutcome> out) { done.set_value(out); },
        from_client ? 7 : 0);
    return done.get_future().get();
  }

  const KeyPair sender_ = TestKey(30);
  city::test::TempDir dir_;
  std::unique_ptr<Chain> chain_;
  Mempool mempool_;
  TxVerifier verifier_{TxVerifierOptions{1, 8, 1024}};
};

TEST_F(TxIntakeTest, ClientsWaitWhileTheBacklogIsFullButGossipIsTaken) {
  TxIntake intake(*chain_, mempool_, verifier_, nullptr, nullptr, /*max_client_backlog=*/5);
  std::vector<ledger::Transaction> first;
  for (uint64_t nonce = 0; nonce < 6; ++nonce) first.push_back(Transfer(nonce));
  for (const SubmitOutcome& outcome : Submit(intake, first, true)) {
    EXPECT_TRUE(outcome.accepted) << outcome.message << " (the gate is checked per batch)";
  }
  ASSERT_EQ(mempool_.RunnableCount(100), 6u);

  const std::vector<SubmitOutcome> refused = Submit(intake, {Transfer(6)}, true);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_FALSE(refused[0].accepted);
  EXPECT_EQ(refused[0].reason, Admission::kOverloaded) << refused[0].message;
  EXPECT_TRUE(IsBackpressure(refused[0].reason)) << "a retry, answered 429 with a hint";
  EXPECT_FALSE(mempool_.Contains(Transfer(6).Id()));

  const std::vector<SubmitOutcome> gossiped = Submit(intake, {Transfer(6)}, false);
  EXPECT_TRUE(gossiped[0].accepted) << gossiped[0].message;
  EXPECT_TRUE(mempool_.Contains(Transfer(6).Id()));
}

TEST_F(TxIntakeTest, TransactionsThatCannotRunDoNotCountAndZeroMeansNoGate) {
  TxIntake gated(*chain_, mempool_, verifier_, nullptr, nullptr, 5);
  std::vector<ledger::Transaction> gapped;
  for (uint64_t nonce = 1; nonce <= 8; ++nonce) gapped.push_back(Transfer(nonce));
  for (const SubmitOutcome& outcome : Submit(gated, gapped, true)) {
    EXPECT_TRUE(outcome.accepted) << outcome.message;
  }
  ASSERT_EQ(mempool_.RunnableCount(100), 0u) << "all behind the missing nonce 0";
  EXPECT_TRUE(Submit(gated, {Transfer(0)}, true)[0].accepted)
      << "a pool of gapped transactions holds no work back";
  ASSERT_EQ(mempool_.RunnableCount(100), 9u);
  EXPECT_EQ(Submit(gated, {Transfer(9)}, true)[0].reason, Admission::kOverloaded);

  TxIntake ungated(*chain_, mempool_, verifier_, nullptr, nullptr, 0);
  EXPECT_TRUE(Submit(ungated, {Transfer(9)}, true)[0].accepted);
}

}  // namespace
}  // namespace city::node
