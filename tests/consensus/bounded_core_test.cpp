// The core under a faulty leader, a flood and a lost safety state: one proposal kept per
// (round, proposer), nothing stored before its content is checked, blocks that can no
// longer matter dropped, no recursion whatever the load, and a validator that lost its
// safety state signing nothing until its peers have shown their rounds.
#include <gtest/gtest.h>

#include "harness.h"

namespace city::consensus::test {
namespace {

std::string Why(const Actions& actions) {
  return std::string(VerdictName(actions.verdict)) + ": " + actions.reason;
}

// ---- no recursion ----

// A lone validator certifies each of its proposals at once. With a host that never asks it
// to wait, the old core proposed again from inside its own QC, recursing until the stack
// overflowed (a client crashed `cityd dev` this way). Each input now makes at most one
// proposal and asks to be woken at once for the next.
TEST(LoneValidator, EndlessLoadRunsOneRoundPerInputWithAFlatStack) {
  const std::vector<KeyPair> keys = city::test::TestValidators(1);
  Config config;
  config.chain_id = std::string(city::test::kTestChain);
  config.validators = city::test::SetOf(keys);
  config.genesis_hash = city::test::TestGenesisHash();
  FakeHost host;
  host.payload_size = 1;
  CountingVerifier verifier;
  SafetyState fresh;
  fresh.high_qc = QuorumCert::Genesis(config.genesis_hash);
  Core core(config, keys[0], host, verifier, fresh,
            CommittedTip{city::test::TestGenesisHash(), 0, 0});

  TimeMs now = 0;
  Actions actions = core.Start(now);
  ASSERT_EQ(ProposalsSent(actions).size(), 1u);
  size_t commits = actions.commits.size();
  for (int step = 0; step < 5000; ++step) {
    ASSERT_TRUE(actions.timer.has_value());
    ASSERT_LE(*actions.timer, now) << "the next proposal must be due at once";
    ++now;
    actions = core.OnTick(now);
    ASSERT_LE(ProposalsSent(actions).size(), 1u);
    commits += actions.commits.size();
  }
  // Round r's proposal certifies round r - 1, which commits round r - 2.
  EXPECT_GE(commits, 4990u);
  EXPECT_EQ(core.committed().height, commits);
  EXPECT_LE(core.held_blocks(), 3u);
}

// ---- the block tree stays bounded ----

TEST_F(CoreTest, FloodOfDistinctProposalsInOneRoundKeepsOnlyTheFirst) {
  config_.max_pending_blocks = 16;  // the flood below is far larger
  auto node = StartedNode(1);
  const Block first = Propose(1, GenesisQc(), std::nullopt, 10);
  ASSERT_EQ(VotesSent(DeliverBlock(*node, 5, first)).size(), 1u);
  size_t evidence = 0;
  for (uint64_t k = 0; k < 1000; ++k) {
    const Block junk = Propose(1, GenesisQc(), std::nullopt, 11 + k);
    const Actions actions = DeliverBlock(*node, 6, junk);
    ASSERT_EQ(actions.verdict, Verdict::kUnsafe) << Why(actions);
    EXPECT_TRUE(VotesSent(actions).empty());
    evidence += actions.evidence.size();
    ASSERT_EQ(node->core->FindBlock(junk.Hash()), nullptr);
  }
  EXPECT_EQ(evidence, 1u);  // reported once, not once per copy
  EXPECT_EQ(node->host.stored_blocks.size(), 1u);
  EXPECT_EQ(node->host.content_checked.size(), 1u);  // the junk cost no payload checks
  EXPECT_EQ(node->core->held_blocks(), 1u);

  // The honest next round goes through as if nothing happened.
  const Block second = Propose(2, QcFor(first));
  const Actions next = DeliverBlock(*node, 7, second);
  EXPECT_EQ(next.verdict, Verdict::kAccepted) << Why(next);
  EXPECT_EQ(VotesSent(next).size(), 1u);
}

TEST_F(CoreTest, ProposalWhoseContentFailsIsNeitherStoredNorVoted) {
  auto node = StartedNode(1);
  node->host.content_status = Status(ErrorCode::kBadSignature, "transaction 0 has a bad signature");
  const Block block = Propose(1, GenesisQc());
  const Actions actions = DeliverBlock(*node, 5, block);
  EXPECT_EQ(actions.verdict, Verdict::kBadPayload);
  EXPECT_TRUE(VotesSent(actions).empty());
  EXPECT_TRUE(node->host.stored_blocks.empty());
  EXPECT_EQ(node->core->FindBlock(block.Hash()), nullptr);
  EXPECT_TRUE(node->host.checked.empty());  // the stateful check never ran
}

TEST_F(CoreTest, UncertifiedBlockOfAPastRoundThatWasNotVotedForIsDropped) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  ASSERT_EQ(TimeoutsSent(node->core->OnTick(*start.timer)).size(), 1u);  // gave up on round 1
  const Block late = Propose(1, GenesisQc());
  const Actions stored = DeliverBlock(*node, *start.timer + 1, late);
  EXPECT_TRUE(VotesSent(stored).empty());
  ASSERT_NE(node->core->FindBlock(late.Hash()), nullptr);  // still its round: kept

  for (size_t sender : {0u, 2u}) {
    Deliver(*node, *start.timer + 2, sender, TimeoutFrom(sender, 1, GenesisQc()));
  }
  ASSERT_EQ(node->core->round(), 2u);  // TC(1), whose highest QC is the genesis
  EXPECT_EQ(node->core->FindBlock(late.Hash()), nullptr);
  ASSERT_EQ(node->host.forgotten.size(), 1u);
  EXPECT_EQ(node->host.forgotten[0], late.Hash());
}

TEST_F(CoreTest, VotedBlockOfAPastRoundIsKeptForWhoeverLearnsItsQcLater) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  const Block b1 = Propose(1, GenesisQc());
  ASSERT_EQ(VotesSent(DeliverBlock(*node, 5, b1)).size(), 1u);
  for (size_t sender : {0u, 2u, 3u}) {
    Deliver(*node, 6, sender, TimeoutFrom(sender, 1, GenesisQc()));
  }
  ASSERT_EQ(node->core->round(), 2u);
  EXPECT_NE(node->core->FindBlock(b1.Hash()), nullptr);
  EXPECT_TRUE(node->host.forgotten.empty());
}

TEST_F(CoreTest, RestartDropsStoredFloodsAndBlocksOffTheCommittedChain) {
  std::vector<Block> stored;
  for (uint64_t k = 0; k < 50; ++k) stored.push_back(Propose(1, GenesisQc(), std::nullopt, 10 + k));
  // A block whose parent is nowhere: it cannot extend the committed tip.
  const Block b1 = Propose(1, GenesisQc(), std::nullopt, 500);
  Block orphan = Propose(2, QcFor(b1));
  stored.push_back(orphan);
  SafetyState state = FreshSafety();
  state.round = 2;
  state.last_voted_round = 1;
  auto node = MakeNode(1, state, stored);
  EXPECT_EQ(node->core->held_blocks(), 0u);
  EXPECT_EQ(node->host.forgotten.size(), stored.size());

  // A lone stored block of its round may be the one this validator voted for: kept.
  auto kept = MakeNode(1, state, {b1});
  EXPECT_NE(kept->core->FindBlock(b1.Hash()), nullptr);
}

// ---- safety state ----

TEST_F(CoreTest, LeaderPersistsItsProposalRoundBeforeTheProposalLeaves) {
  auto node = MakeNode(0);
  node->host.fail_persist = true;
  const Actions refused = node->core->Start(0);
  EXPECT_TRUE(ProposalsSent(refused).empty());

  auto leader = MakeNode(0);
  const Actions start = leader->core->Start(0);
  ASSERT_EQ(ProposalsSent(start).size(), 1u);
  ASSERT_FALSE(leader->host.persisted.empty());
  EXPECT_EQ(leader->host.persisted.front().last_proposed_round, 1u);
  EXPECT_EQ(leader->host.persisted.front().last_voted_round, 0u);  // the vote came after

  // Crashed between its proposal and its vote: it must not sign another block for round 1.
  auto restarted = MakeNode(0, leader->host.persisted.front());
  EXPECT_TRUE(ProposalsSent(restarted->core->Start(100)).empty());
}

TEST_F(CoreTest, SafetyStateWrittenBeforeLastProposedRoundDecodesAsHavingProposed) {
  SafetyState state = FreshSafety();
  state.round = 7;
  state.term = 3;
  state.last_voted_round = 6;
  Bytes bytes = ledger::Encode(state);
  ASSERT_GE(bytes.size(), 8u);
  bytes.erase(bytes.end() - 8, bytes.end());  // the older format ended before last_proposed_round
  const Result<SafetyState> old = ledger::Decode<SafetyState>(bytes);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->last_proposed_round, 7u);
  EXPECT_EQ(old->last_voted_round, 6u);
}

// ---- recovering a lost safety state ----

TEST(RecoveryReports, AreEnoughToIncludeAnHonestSignerOfEveryCertificate) {
  auto needed = [](size_t n) {
    return RecoveryReportsNeeded(city::test::SetOf(city::test::TestValidators(n)));
  };
  EXPECT_EQ(needed(1), 0u);  // nobody can vouch for a lone validator
  EXPECT_EQ(needed(2), 1u);
  EXPECT_EQ(needed(4), 3u);
  EXPECT_EQ(needed(7), 5u);
  EXPECT_EQ(needed(10), 7u);
}

class RecoveryTest : public CoreTest {
 protected:
  RecoveryTest() { config_.recover_safety = true; }
};

TEST_F(RecoveryTest, SignsNothingUntilEnoughPeersShowTheirRoundsThenAbstainsPastThem) {
  auto node = MakeNode(1);
  const Actions start = node->core->Start(0);
  ASSERT_EQ(Sent<CertsRequest>(start).size(), 1u);
  EXPECT_TRUE(node->core->recovering());

  const Block b1 = Propose(1, GenesisQc());
  EXPECT_TRUE(VotesSent(DeliverBlock(*node, 5, b1)).empty());
  EXPECT_TRUE(TimeoutsSent(node->core->OnTick(10 * kBase)).empty());
  EXPECT_TRUE(node->host.persisted.empty());

  // v0 and v2 are in round 2 (they hold QC(b1)); v3 is still in round 1.
  Deliver(*node, 10 * kBase + 1, 0, SyncCerts{QcFor(b1), std::nullopt});
  Deliver(*node, 10 * kBase + 2, 2, SyncCerts{QcFor(b1), std::nullopt});
  EXPECT_TRUE(node->core->recovering());  // two of the three reports it needs
  Deliver(*node, 10 * kBase + 3, 3, SyncCerts{GenesisQc(), std::nullopt});
  EXPECT_FALSE(node->core->recovering());
  EXPECT_EQ(node->core->safety().last_voted_round, 3u);  // highest round 2, plus one
  ASSERT_FALSE(node->host.persisted.empty());
  EXPECT_EQ(node->host.persisted.back().last_voted_round, 3u);

  const Block b2 = Propose(2, QcFor(b1));
  const Block b3 = Propose(3, QcFor(b2));
  EXPECT_TRUE(VotesSent(DeliverBlock(*node, 10 * kBase + 4, b2)).empty());
  EXPECT_TRUE(VotesSent(DeliverBlock(*node, 10 * kBase + 5, b3)).empty());
  const Block b4 = Propose(4, QcFor(b3));
  EXPECT_EQ(VotesSent(DeliverBlock(*node, 10 * kBase + 6, b4)).size(), 1u);
}

TEST_F(RecoveryTest, ForgedOrRepeatedReportsDoNotCount) {
  auto node = MakeNode(1);
  node->core->Start(0);
  const Block b1 = Propose(1, GenesisQc());
  QuorumCert forged = QcFor(b1);
  forged.data.round = 40;  // claims a far round its signatures do not cover
  const Actions refused = Deliver(*node, 1, 0, SyncCerts{forged, std::nullopt});
  EXPECT_EQ(refused.verdict, Verdict::kBadSignature) << Why(refused);
  for (int again = 0; again < 3; ++again) {
    Deliver(*node, 2, 2, SyncCerts{QcFor(b1), std::nullopt});  // one peer, many times
  }
  Deliver(*node, 3, 3, SyncCerts{std::nullopt, std::nullopt});  // proves no round
  EXPECT_TRUE(node->core->recovering());
  Deliver(*node, 4, 0, SyncCerts{GenesisQc(), std::nullopt});
  Deliver(*node, 5, 3, SyncCerts{GenesisQc(), std::nullopt});
  EXPECT_FALSE(node->core->recovering());
  EXPECT_EQ(node->core->safety().last_voted_round, 3u);
}

TEST_F(RecoveryTest, AsksAgainUntilAnsweredAndPeersAnswerTheRequest) {
  auto node = MakeNode(1);
  node->core->Start(0);
  const Actions again = node->core->OnTick(config_.fetch_retry_ms);
  EXPECT_EQ(Sent<CertsRequest>(again).size(), 1u);

  config_.recover_safety = false;
  auto peer = StartedNode(2);
  const Actions answer = Deliver(*peer, 5, 1, CertsRequest{});
  const auto replies = Sent<SyncCerts>(answer);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].first, 1u);
  ASSERT_TRUE(replies[0].second.high_qc.has_value());
  // Rate-limited per peer: asking in a loop gets nothing more for a while.
  EXPECT_TRUE(Sent<SyncCerts>(Deliver(*peer, 6, 1, CertsRequest{})).empty());
}

// ---- timeouts ----

TEST_F(CoreTest, BackoffComesDownOneStepPerCommitNotAllAtOnce) {
  auto node = StartedNode(1);
  TimeMs now = 5;
  for (uint64_t round : {1u, 2u}) {
    for (size_t sender : {0u, 2u, 3u}) {
      Deliver(*node, now, sender, TimeoutFrom(sender, round, GenesisQc()));
    }
  }
  ASSERT_EQ(node->core->round(), 3u);
  ASSERT_EQ(node->core->timeout_ms(), 4 * kBase);  // two failed rounds
  const TimeoutCert tc2 = TcOf(2, {{0, GenesisQc()}, {2, GenesisQc()}, {3, GenesisQc()}});
  const Block b3 = Propose(3, GenesisQc(), tc2);
  const Block b4 = Propose(4, QcFor(b3));
  const Block b5 = Propose(5, QcFor(b4));
  Actions committed;
  for (const Block& block : {b3, b4, b5}) Append(committed, DeliverBlock(*node, ++now, block));
  ASSERT_EQ(committed.commits.size(), 1u) << "b3 commits once b4 is certified in round 4";
  EXPECT_EQ(node->core->timeout_ms(), 2 * kBase);
}

}  // namespace
}  // namespace city::consensus::test
