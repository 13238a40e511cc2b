// The consensus rules of docs/consensus.md, one at a time, against a real Core fed hand-built
// message sequences: voting, certificates, the two-chain commit, timeouts and term changes,
// the classic attacks on each, and restarts. n = 4, so f = 1 and q = 3; leader(t) = v[t % 4].
#include <gtest/gtest.h>

#include "harness.h"

namespace city::consensus::test {
namespace {

std::string Why(const Actions& actions) {
  return std::string(VerdictName(actions.verdict)) + ": " + actions.reason;
}

// The common outcome of an attack: refused for the given reason, and nothing signed.
void ExpectRefusedWithoutVote(const Actions& actions, Verdict verdict) {
  EXPECT_EQ(actions.verdict, verdict) << Why(actions);
  EXPECT_TRUE(VotesSent(actions).empty());
}

// ---- Voting ----

TEST_F(CoreTest, FollowerStartArmsTheBaseTimeoutAndOnlyAsksWhereThePeersAre) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  ASSERT_EQ(start.messages.size(), 1u);
  ASSERT_EQ(Sent<CertsRequest>(start).size(), 1u);
  EXPECT_EQ(start.messages[0].to, Outgoing::kBroadcast);
  ASSERT_TRUE(start.timer.has_value());
  EXPECT_EQ(*start.timer, kBase);  // k = 0 failed rounds: base * 2^0
  EXPECT_EQ(node->core->round(), 1u);
  EXPECT_EQ(node->core->term(), 0u);
  EXPECT_EQ(node->core->LeaderOf(0), 0u);
  EXPECT_EQ(node->core->LeaderOf(5), 1u);
}

TEST_F(CoreTest, LeaderProposesRoundOneOnStartAndVotesForItsOwnBlock) {
  auto node = MakeNode(0);
  node->host.payload_size = 3;
  const Actions start = Loop(*node, 0, node->core->Start(0));
  const auto proposals = ProposalsSent(start);
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].first, Outgoing::kBroadcast);
  const Block& block = proposals[0].second;
  EXPECT_EQ(block.header.chain_id, kTestChain);
  EXPECT_EQ(block.header.epoch, 0u);
  EXPECT_EQ(block.header.height, 1u);
  EXPECT_EQ(block.header.term, 0u);
  EXPECT_EQ(block.header.round, 1u);
  EXPECT_EQ(block.header.parent_hash, city::test::TestGenesisHash());
  EXPECT_TRUE(block.header.justify == GenesisQc());
  EXPECT_FALSE(block.header.timeout_cert.has_value());
  EXPECT_EQ(block.header.proposer, keys_[0].public_key());
  EXPECT_TRUE(block.CheckStructure(kTestChain).ok());
  EXPECT_EQ(block.transactions.size(), 3u);
  ASSERT_FALSE(node->host.payload_requests.empty());
  EXPECT_EQ(node->host.payload_requests[0], config_.max_block_transactions);
  // "It then handles its own proposal like anyone else's (and votes for it)."
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
  ASSERT_FALSE(node->host.persisted.empty());
  EXPECT_EQ(node->host.persisted.back().last_voted_round, 1u);
  EXPECT_NE(node->core->FindBlock(block.Hash()), nullptr);
}

TEST_F(CoreTest, FollowerVotesForTheLeadersProposalAfterPersisting) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const Actions actions = DeliverBlock(*node, 5, b1);
  EXPECT_EQ(actions.verdict, Verdict::kAccepted) << Why(actions);
  const auto votes = VotesSent(actions);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].first, 0u);  // leader(term 0)
  EXPECT_EQ(votes[0].second.data, DataOf(b1));
  EXPECT_EQ(votes[0].second.voter, keys_[1].public_key());
  EXPECT_TRUE(votes[0].second.VerifySignature(kTestChain));
  // The state that guards the vote was durable by the time the vote was released.
  ASSERT_FALSE(node->host.persisted.empty());
  EXPECT_EQ(node->host.persisted.back().last_voted_round, 1u);
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
  ASSERT_EQ(node->host.checked.size(), 1u);
  EXPECT_EQ(node->host.checked[0], b1.Hash());
}

TEST_F(CoreTest, SecondProposalOfTheRoundGetsNoVoteAndBecomesEvidence) {
  auto node = StartedNode(1);
  const Block first = Propose(1, GenesisQc(), std::nullopt, 10);
  const Block second = Propose(1, GenesisQc(), std::nullopt, 11);
  ASSERT_NE(first.Hash(), second.Hash());
  ASSERT_EQ(VotesSent(DeliverBlock(*node, 5, first)).size(), 1u);
  const Actions actions = DeliverBlock(*node, 6, second);
  EXPECT_TRUE(VotesSent(actions).empty());
  ASSERT_EQ(actions.evidence.size(), 1u);
  const Evidence& evidence = actions.evidence[0];
  EXPECT_EQ(evidence.kind, Evidence::Kind::kDoubleProposal);
  EXPECT_EQ(evidence.offender, keys_[0].public_key());
  EXPECT_TRUE(evidence.first == Message(Proposal{first}));
  EXPECT_TRUE(evidence.second == Message(Proposal{second}));
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
}

TEST_F(CoreTest, ProposalFromSomeoneNotLeadingTheTermIsWrongLeader) {
  auto node = StartedNode(2);
  const Block block = MakeBlock(1, 0, GenesisQc(), std::nullopt, /*signer=*/1);
  const Actions actions = Deliver(*node, 5, 1, Proposal{block});
  ExpectRefusedWithoutVote(actions, Verdict::kWrongLeader);
  EXPECT_EQ(node->core->safety().last_voted_round, 0u);
}

TEST_F(CoreTest, NoVoteLeavesWhenPersistingFails) {
  auto node = StartedNode(1);
  node->host.fail_persist = true;
  const Actions actions = DeliverBlock(*node, 5, Propose(1, GenesisQc()));
  EXPECT_GE(node->host.persist_attempts, 1u);
  EXPECT_TRUE(VotesSent(actions).empty());
}

// Host::PersistBlock: a block is stored before the vote on it leaves, or a QC could outlive
// every copy of the block it certifies.
TEST_F(CoreTest, VotedBlockIsStoredBeforeTheVoteAndNoVoteIfStoringFails) {
  const Block b1 = Propose(1, GenesisQc());
  auto node = StartedNode(1);
  ASSERT_EQ(VotesSent(DeliverBlock(*node, 5, b1)).size(), 1u);
  ASSERT_EQ(node->host.stored_blocks.size(), 1u);
  EXPECT_TRUE(node->host.stored_blocks[0] == b1);

  auto failing = StartedNode(2);
  failing->host.fail_persist_block = true;
  EXPECT_TRUE(VotesSent(DeliverBlock(*failing, 5, b1)).empty());
  EXPECT_EQ(failing->core->safety().last_voted_round, 0u);
}

TEST_F(CoreTest, ProposalWhosePayloadTheHostRefusesGetsNoVote) {
  auto node = StartedNode(1);
  node->host.payload_status = Status(ErrorCode::kInvalidArgument, "bad state root");
  const Actions actions = DeliverBlock(*node, 5, Propose(1, GenesisQc()));
  ExpectRefusedWithoutVote(actions, Verdict::kBadPayload);
  EXPECT_EQ(node->core->safety().last_voted_round, 0u);
}

TEST_F(CoreTest, QcInAProposalAdvancesTheRoundBeforeTheVote) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const Block b2 = Propose(2, QcFor(b1));
  DeliverBlock(*node, 5, b1);
  const Actions actions = DeliverBlock(*node, 6, b2);
  EXPECT_EQ(actions.verdict, Verdict::kAccepted) << Why(actions);
  EXPECT_EQ(node->core->round(), 2u);
  EXPECT_EQ(node->core->term(), 0u);  // via QC: the certified block's term
  EXPECT_TRUE(node->core->safety().high_qc == QcFor(b1));
  const auto votes = VotesSent(actions);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].first, 0u);
  EXPECT_EQ(votes[0].second.data, DataOf(b2));
  EXPECT_EQ(node->core->safety().last_voted_round, 2u);
}

// ---- Quorum certificates ----

class LeaderTest : public CoreTest {
 protected:
  void SetUp() override {
    Actions start;
    leader_ = StartedNode(0, 0, &start);
    const auto proposals = ProposalsSent(start);
    ASSERT_EQ(proposals.size(), 1u);
    b1_ = proposals[0].second;
  }

  std::unique_ptr<Node> leader_;
  Block b1_;
};

TEST_F(LeaderTest, QuorumOfVotesFormsAQcAndTheLeaderProposesTheNextRound) {
  const Actions one = Deliver(*leader_, 5, 1, VoteFor(b1_, 1));
  EXPECT_EQ(one.verdict, Verdict::kAccepted) << Why(one);
  EXPECT_EQ(leader_->core->round(), 1u);  // its own vote + 1 = 2 < q
  EXPECT_TRUE(ProposalsSent(one).empty());

  const Actions two = Deliver(*leader_, 6, 2, VoteFor(b1_, 2));
  EXPECT_EQ(two.verdict, Verdict::kAccepted) << Why(two);
  EXPECT_EQ(leader_->core->round(), 2u);
  EXPECT_EQ(leader_->core->term(), 0u);
  EXPECT_EQ(leader_->core->safety().high_qc.data, DataOf(b1_));
  const auto proposals = ProposalsSent(two);
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].first, Outgoing::kBroadcast);
  const Block& b2 = proposals[0].second;
  EXPECT_EQ(b2.header.round, 2u);
  EXPECT_EQ(b2.header.term, 0u);  // a healthy leader keeps its term
  EXPECT_EQ(b2.header.height, 2u);
  EXPECT_EQ(b2.header.parent_hash, b1_.Hash());
  EXPECT_EQ(b2.header.justify.data, DataOf(b1_));
  EXPECT_GE(b2.header.justify.signatures.size(), 3u);
  EXPECT_TRUE(b2.header.justify.Verify(Context()).ok())
      << b2.header.justify.Verify(Context()).ToString();
  EXPECT_FALSE(b2.header.timeout_cert.has_value());
  EXPECT_TRUE(b2.CheckStructure(kTestChain).ok());
  EXPECT_EQ(leader_->core->safety().last_voted_round, 2u);
}

TEST_F(LeaderTest, VoteFromANonValidatorIsRefused) {
  const Vote outsider = Vote::Create(DataOf(b1_), kTestChain, city::test::TestKey(99));
  const Actions actions = Deliver(*leader_, 5, 3, outsider);
  EXPECT_EQ(actions.verdict, Verdict::kNotValidator) << Why(actions);
  // Nor does it count: one more real vote is not a quorum.
  Deliver(*leader_, 6, 1, VoteFor(b1_, 1));
  EXPECT_EQ(leader_->core->round(), 1u);
}

TEST_F(LeaderTest, VoteWithAForgedSignatureIsRefused) {
  Vote forged = VoteFor(b1_, 1);
  forged.signature = keys_[1].Sign(AsBytes("something else"));
  const Actions actions = Deliver(*leader_, 5, 1, forged);
  EXPECT_EQ(actions.verdict, Verdict::kBadSignature) << Why(actions);
  Deliver(*leader_, 6, 2, VoteFor(b1_, 2));
  EXPECT_EQ(leader_->core->round(), 1u);
}

TEST_F(LeaderTest, RepeatedVotesAreCountedOnce) {
  const Vote vote = VoteFor(b1_, 1);
  EXPECT_EQ(Deliver(*leader_, 5, 1, vote).verdict, Verdict::kAccepted);
  for (int i = 0; i < 3; ++i) {
    const Actions again = Deliver(*leader_, 6, 1, vote);
    EXPECT_EQ(again.verdict, Verdict::kDuplicate) << Why(again);
    EXPECT_TRUE(ProposalsSent(again).empty());
  }
  ASSERT_EQ(leader_->core->round(), 1u) << "two distinct votes formed a QC";
  // A third distinct voter does complete it.
  Deliver(*leader_, 7, 2, VoteFor(b1_, 2));
  EXPECT_EQ(leader_->core->round(), 2u);
}

TEST_F(LeaderTest, TwoDifferentVotesByOneValidatorInOneRoundAreEvidence) {
  const Block other = MakeBlock(1, 0, GenesisQc(), std::nullopt, 0, /*timestamp=*/999);
  const Vote first = VoteFor(b1_, 1);
  const Vote second = VoteFor(other, 1);
  Deliver(*leader_, 5, 1, first);
  const Actions actions = Deliver(*leader_, 6, 1, second);
  ASSERT_EQ(actions.evidence.size(), 1u);
  const Evidence& evidence = actions.evidence[0];
  EXPECT_EQ(evidence.kind, Evidence::Kind::kDoubleVote);
  EXPECT_EQ(evidence.offender, keys_[1].public_key());
  EXPECT_TRUE(evidence.first == Message(first));
  EXPECT_TRUE(evidence.second == Message(second));
}

// Votes are kept for rounds [round, round + 64] only: a peer cannot make the leader hold
// votes for arbitrarily many future rounds.
TEST_F(LeaderTest, VotesBeyondTheFutureWindowAreRefused) {
  VoteData far = DataOf(b1_);
  far.round = 1 + 64;
  const Actions edge = Deliver(*leader_, 5, 1, Vote::Create(far, kTestChain, keys_[1]));
  EXPECT_EQ(edge.verdict, Verdict::kAccepted) << Why(edge);
  far.round = 1 + 65;
  const Actions beyond = Deliver(*leader_, 5, 1, Vote::Create(far, kTestChain, keys_[1]));
  EXPECT_EQ(beyond.verdict, Verdict::kOverloaded) << Why(beyond);
}

// ---- The two-chain commit rule ----

TEST_F(CoreTest, TwoChainOfConsecutiveRoundsCommitsTheGrandparentExactlyOnce) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const QuorumCert qc1 = QcFor(b1);
  const Block b2 = Propose(2, qc1);
  const QuorumCert qc2 = QcFor(b2);
  const Block b3 = Propose(3, qc2);
  const QuorumCert qc3 = QcFor(b3);
  const Block b4 = Propose(4, qc3);

  EXPECT_TRUE(DeliverBlock(*node, 5, b1).commits.empty());
  EXPECT_TRUE(DeliverBlock(*node, 6, b2).commits.empty());  // genesis is already committed

  const Actions third = DeliverBlock(*node, 7, b3);
  EXPECT_EQ(VotesSent(third).size(), 1u);
  ASSERT_EQ(third.commits.size(), 1u);
  EXPECT_TRUE(third.commits[0].block == b1);
  EXPECT_TRUE(third.commits[0].certified_by == qc1);
  EXPECT_EQ(node->core->committed().hash, b1.Hash());
  EXPECT_EQ(node->core->committed().height, 1u);
  EXPECT_EQ(node->core->committed().round, 1u);

  const Actions fourth = DeliverBlock(*node, 8, b4);
  ASSERT_EQ(fourth.commits.size(), 1u);
  EXPECT_TRUE(fourth.commits[0].block == b2);
  EXPECT_TRUE(fourth.commits[0].certified_by == qc2);

  // Seeing the same certificates again commits nothing twice.
  EXPECT_TRUE(DeliverBlock(*node, 9, b3).commits.empty());
  EXPECT_TRUE(DeliverBlock(*node, 9, b4).commits.empty());
  EXPECT_EQ(node->core->committed().height, 2u);
}

TEST_F(CoreTest, RoundGapThroughATimeoutDelaysTheCommitThenCommitsInHeightOrder) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const QuorumCert qc1 = QcFor(b1);
  const TimeoutCert tc2 = TcOf(2, {{0, qc1}, {2, qc1}, {3, qc1}});
  const Block b2 = Propose(3, qc1, tc2);  // round 3, term 3, leader v3
  ASSERT_EQ(b2.header.term, 3u);
  const QuorumCert qc2 = QcFor(b2);
  const Block b3 = Propose(4, qc2);
  const QuorumCert qc3 = QcFor(b3);
  const Block b4 = Propose(5, qc3);

  DeliverBlock(*node, 5, b1);
  const Actions second = DeliverBlock(*node, 6, b2);
  EXPECT_EQ(second.verdict, Verdict::kAccepted) << Why(second);
  EXPECT_EQ(node->core->round(), 3u);
  EXPECT_EQ(node->core->term(), 3u);
  const auto votes = VotesSent(second);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].first, 3u);  // to leader(B.term)

  // QC(b2) certifies round 3 on top of round 1: not consecutive, so b1 waits.
  const Actions third = DeliverBlock(*node, 7, b3);
  EXPECT_TRUE(third.commits.empty());
  EXPECT_EQ(node->core->committed().height, 0u);

  // QC(b3) certifies round 4 on round 3: b2 commits, and b1 with it, lowest height first.
  const Actions fourth = DeliverBlock(*node, 8, b4);
  ASSERT_EQ(fourth.commits.size(), 2u);
  EXPECT_TRUE(fourth.commits[0].block == b1);
  EXPECT_TRUE(fourth.commits[0].certified_by == qc1);
  EXPECT_TRUE(fourth.commits[1].block == b2);
  EXPECT_TRUE(fourth.commits[1].certified_by == qc2);
  EXPECT_EQ(node->core->committed().hash, b2.Hash());
  EXPECT_EQ(node->core->committed().height, 2u);
}

TEST_F(CoreTest, CommitWaitsForAMissingAncestorAndSkipsNoHeight) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const Block b2 = Propose(2, QcFor(b1));
  const Block b3 = Propose(3, QcFor(b2));
  // b1 never arrived: QC(b2) certifies a two-chain whose head this validator lacks.
  EXPECT_TRUE(DeliverBlock(*node, 5, b2).commits.empty());
  EXPECT_TRUE(DeliverBlock(*node, 6, b3).commits.empty());
  EXPECT_EQ(node->core->committed().height, 0u);

  const Actions fetched = Deliver(*node, 7, 0, BlockResponse{b1});
  ASSERT_EQ(fetched.commits.size(), 1u);
  EXPECT_TRUE(fetched.commits[0].block == b1);
  EXPECT_TRUE(fetched.commits[0].certified_by == QcFor(b1));
  EXPECT_EQ(node->core->committed().height, 1u);
  // The parked blocks were released too: the current round's one gets the vote.
  const auto votes = VotesSent(fetched);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].second.data, DataOf(b3));
}

// ---- Timeouts ----

TEST_F(CoreTest, TimeoutFiresOnlyAtTheDeadlineAndIsPersistedFirst) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  ASSERT_TRUE(start.timer.has_value());
  const TimeMs deadline = *start.timer;
  const size_t attempts = node->host.persist_attempts;

  const Actions early = node->core->OnTick(deadline - 1);
  EXPECT_TRUE(early.messages.empty());
  EXPECT_EQ(node->host.persist_attempts, attempts);
  EXPECT_EQ(node->core->safety().last_voted_round, 0u);

  const Actions fired = node->core->OnTick(deadline);
  ASSERT_FALSE(node->host.persisted.empty());
  EXPECT_EQ(node->host.persisted.back().last_voted_round, 1u);
  EXPECT_EQ(node->host.persisted.back().round, 1u);
  const auto timeouts = TimeoutsSent(fired);
  ASSERT_EQ(timeouts.size(), 1u);
  EXPECT_EQ(timeouts[0].first, Outgoing::kBroadcast);
  const Timeout& timeout = timeouts[0].second;
  EXPECT_EQ(timeout.data, (ledger::TimeoutData{0, 1, 0}));
  EXPECT_TRUE(timeout.high_qc == GenesisQc());
  EXPECT_EQ(timeout.sender, keys_[1].public_key());
  EXPECT_TRUE(timeout.Verify(Context()).ok()) << timeout.Verify(Context()).ToString();
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
}

TEST_F(CoreTest, NoVoteInARoundAfterTimingOutOfIt) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  node->core->OnTick(*start.timer);
  const Actions actions = DeliverBlock(*node, *start.timer + 1, Propose(1, GenesisQc()));
  EXPECT_TRUE(VotesSent(actions).empty());
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
}

TEST_F(CoreTest, NoTimeoutLeavesWhenPersistingFails) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  node->host.fail_persist = true;
  const Actions fired = node->core->OnTick(*start.timer);
  EXPECT_GE(node->host.persist_attempts, 1u);
  EXPECT_TRUE(TimeoutsSent(fired).empty());
}

TEST_F(CoreTest, TimeoutIsRebroadcastWhileStuckInTheRound) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  const Actions first = node->core->OnTick(*start.timer);
  ASSERT_EQ(TimeoutsSent(first).size(), 1u);
  ASSERT_TRUE(first.timer.has_value());
  EXPECT_GT(*first.timer, *start.timer);
  const Actions again = node->core->OnTick(*first.timer);
  const auto timeouts = TimeoutsSent(again);
  ASSERT_EQ(timeouts.size(), 1u);
  EXPECT_TRUE(timeouts[0].second == TimeoutsSent(first)[0].second);
}

TEST_F(CoreTest, TimeoutIntervalDoublesAfterAFailedRound) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  const TimeMs first_interval = *start.timer;  // started at 0
  ASSERT_EQ(TimeoutsSent(node->core->OnTick(*start.timer)).size(), 1u);
  const TimeMs now = *start.timer + 5;
  Actions entered = Deliver(*node, now, 0, TimeoutFrom(0, 1, GenesisQc()));
  Append(entered, Deliver(*node, now, 2, TimeoutFrom(2, 1, GenesisQc())));
  ASSERT_EQ(node->core->round(), 2u);  // TC(1) from v0, v1 (itself), v2
  ASSERT_TRUE(entered.timer.has_value());
  EXPECT_GT(*entered.timer - now, first_interval);
  EXPECT_EQ(*entered.timer - now, 2 * kBase);  // k = 1 failed round since the last commit
}

// k counts rounds that failed, not this validator's own timer expiries: a round that ended in
// a TC failed for everyone, including a validator that saw the TC before its timer fired.
TEST_F(CoreTest, TimeoutIntervalDoublesAfterARoundEndedByATcBeforeTheLocalTimer) {
  Actions start;
  auto node = StartedNode(1, 0, &start);
  ASSERT_EQ(*start.timer, kBase);
  const TimeMs now = 5;  // well before this validator's own deadline
  Actions entered;
  for (size_t sender : {0u, 2u, 3u}) {
    Append(entered, Deliver(*node, now, sender, TimeoutFrom(sender, 1, GenesisQc())));
  }
  ASSERT_EQ(node->core->round(), 2u);
  ASSERT_TRUE(entered.timer.has_value());
  EXPECT_EQ(*entered.timer - now, 2 * kBase);  // round 1 failed: k = 1
}

TEST_F(CoreTest, FPlusOneTimeoutsMakeAValidatorTimeOutEarly) {
  auto node = StartedNode(1);
  const Actions one = Deliver(*node, 5, 0, TimeoutFrom(0, 1, GenesisQc()));
  EXPECT_EQ(one.verdict, Verdict::kAccepted) << Why(one);
  EXPECT_TRUE(TimeoutsSent(one).empty());  // f timeouts may all be faulty
  const Actions two = Deliver(*node, 6, 2, TimeoutFrom(2, 1, GenesisQc()));
  const auto timeouts = TimeoutsSent(two);
  ASSERT_EQ(timeouts.size(), 1u);
  EXPECT_EQ(timeouts[0].second.data.round, 1u);
  EXPECT_EQ(timeouts[0].second.sender, keys_[1].public_key());
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
}

// ---- A validator that starts late (an epoch's start, after sync, a restart) ----

// Whatever the others said before it listened is lost; they answer its CertsRequest with it.
TEST_F(CoreTest, LateStarterJoinsARoundTheOthersGaveUpAsSoonAsTheyAnswer) {
  auto v0 = StartedNode(0);
  auto v2 = StartedNode(2);
  // v3 is down: the quorum of three needs v1. Round 1 times out on v0 and v2.
  ASSERT_EQ(TimeoutsSent(v0->core->OnTick(kBase)).size(), 1u);
  ASSERT_EQ(TimeoutsSent(v2->core->OnTick(kBase)).size(), 1u);

  const TimeMs late = kBase + 100;
  Actions start;
  auto v1 = StartedNode(1, late, &start);
  ASSERT_EQ(Sent<CertsRequest>(start).size(), 1u);
  Actions joined;
  for (Node* peer : {v0.get(), v2.get()}) {
    const Actions answer = Deliver(*peer, late + 1, 1, CertsRequest{});
    ASSERT_EQ(TimeoutsSent(answer).size(), 1u);  // its round-1 timeout
    for (const Outgoing& message : answer.messages) {
      ASSERT_EQ(message.to, 1u);
      Append(joined, Deliver(*v1, late + 2, peer->index, message.message));
    }
  }
  // Two timeouts (f + 1) make v1 give the round up too, long before its own timer; with its
  // own they are a TC, which it hands to the others.
  EXPECT_EQ(v1->core->round(), 2u);
  ASSERT_EQ(TimeoutsSent(joined).size(), 1u);
  EXPECT_EQ(TimeoutsSent(joined)[0].second.data.round, 1u);
  const auto handed = Sent<SyncCerts>(joined);
  ASSERT_EQ(handed.size(), 1u);
  EXPECT_TRUE(handed[0].second.last_tc.has_value());
}

TEST_F(CoreTest, LateStarterGetsTheLeadersProposalOfTheRoundAndVotes) {
  auto v0 = StartedNode(0);
  auto v1 = StartedNode(1, 50);
  const Actions answer = Deliver(*v0, 51, 1, CertsRequest{});
  const auto proposals = ProposalsSent(answer);
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].first, 1u);
  const Block b1 = proposals[0].second;
  EXPECT_EQ(b1.header.round, 1u);
  const auto votes = VotesSent(DeliverBlock(*v1, 52, b1));
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].first, 0u);
  // A peer asking again and again gets nothing more for a while (it cannot make us flood).
  EXPECT_TRUE(Deliver(*v0, 53, 1, CertsRequest{}).messages.empty());
  // Once the round has moved on, the old proposal is not repeated.
  Deliver(*v0, 54, 1, votes[0].second);
  Deliver(*v0, 54, 2, VoteFor(b1, 2));  // with v0's own: QC(b1)
  ASSERT_EQ(v0->core->round(), 2u);
  const auto later = ProposalsSent(Deliver(*v0, 54 + config_.fetch_retry_ms, 1, CertsRequest{}));
  ASSERT_EQ(later.size(), 1u);  // v0 leads round 2 too, and proposed in it
  EXPECT_EQ(later[0].second.header.round, 2u);
}

// ---- Timeout certificates and the term ----

TEST_F(CoreTest, QuorumOfTimeoutsMovesToTheNextRoundAndTermEqualToIt) {
  auto node = StartedNode(1);
  for (size_t sender : {0u, 2u, 3u}) {
    const Actions actions = Deliver(*node, 5, sender, TimeoutFrom(sender, 1, GenesisQc()));
    EXPECT_NE(actions.verdict, Verdict::kBadSignature) << Why(actions);
  }
  EXPECT_EQ(node->core->round(), 2u);
  EXPECT_EQ(node->core->term(), 2u);  // via TC(r - 1): term = r
  EXPECT_EQ(node->core->LeaderOf(node->core->term()), 2u);
}

TEST_F(CoreTest, NewLeaderAfterATimeoutProposesWithTheTcOnTheHighestQc) {
  auto node = StartedNode(3);
  const Block b1 = Propose(1, GenesisQc());
  const QuorumCert qc1 = QcFor(b1);
  DeliverBlock(*node, 5, b1);
  // Round 2 failed; two of the timeouts report QC(b1), one only genesis.
  Actions all;
  Append(all, Deliver(*node, 10, 0, TimeoutFrom(0, 2, qc1)));
  Append(all, Deliver(*node, 10, 1, TimeoutFrom(1, 2, GenesisQc())));
  Append(all, Deliver(*node, 10, 2, TimeoutFrom(2, 2, qc1)));
  EXPECT_EQ(node->core->round(), 3u);
  EXPECT_EQ(node->core->term(), 3u);
  const auto proposals = ProposalsSent(all);
  ASSERT_EQ(proposals.size(), 1u);
  const Block& block = proposals[0].second;
  EXPECT_EQ(block.header.round, 3u);
  EXPECT_EQ(block.header.term, 3u);
  EXPECT_EQ(block.header.height, 2u);
  EXPECT_EQ(block.header.parent_hash, b1.Hash());
  EXPECT_TRUE(block.header.justify == qc1);
  ASSERT_TRUE(block.header.timeout_cert.has_value());
  EXPECT_EQ(block.header.timeout_cert->round, 2u);
  EXPECT_EQ(block.header.timeout_cert->high_qc.data.round, 1u);
  EXPECT_TRUE(block.header.timeout_cert->Verify(Context()).ok());
  EXPECT_EQ(block.header.proposer, keys_[3].public_key());
  EXPECT_TRUE(block.CheckStructure(kTestChain).ok());
  EXPECT_EQ(node->core->safety().last_voted_round, 3u);
}

TEST_F(CoreTest, TimeoutCarryingAForgedQcIsRefused) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  QuorumCert forged = QcFor(b1);
  forged.signatures[1].signature = keys_[1].Sign(AsBytes("something else"));
  const Actions actions = Deliver(*node, 5, 0, TimeoutFrom(0, 2, forged));
  EXPECT_TRUE(IsFault(actions.verdict)) << Why(actions);
  EXPECT_EQ(node->core->round(), 1u);
  EXPECT_EQ(node->core->safety().high_qc.data.round, 0u);
}

TEST_F(CoreTest, TimeoutFromANonValidatorIsRefused) {
  auto node = StartedNode(1);
  const Timeout outsider =
      Timeout::Create({0, 1, 0}, GenesisQc(), kTestChain, city::test::TestKey(99));
  const Actions actions = Deliver(*node, 5, 0, outsider);
  EXPECT_EQ(actions.verdict, Verdict::kNotValidator) << Why(actions);
}

TEST_F(CoreTest, FormingATcBroadcastsItForValidatorsThatMissedTimeouts) {
  auto node = StartedNode(1);
  Actions all;
  for (size_t sender : {0u, 2u, 3u}) {
    Append(all, Deliver(*node, 5, sender, TimeoutFrom(sender, 1, GenesisQc())));
  }
  ASSERT_EQ(node->core->round(), 2u);
  // The TC forms on the second timeout (with this validator's own, amplified one); the third
  // then comes from a validator that is behind and gets its own reply, so count broadcasts.
  std::vector<SyncCerts> broadcast;
  std::vector<SyncCerts> to_v3;
  for (const auto& [to, sync] : Sent<SyncCerts>(all)) {
    if (to == Outgoing::kBroadcast) broadcast.push_back(sync);
    if (to == 3) to_v3.push_back(sync);
  }
  // messages.h: SyncCerts also answer "a timeout for a round the sender is already past".
  ASSERT_EQ(to_v3.size(), 1u);
  ASSERT_TRUE(to_v3[0].last_tc.has_value());
  EXPECT_EQ(to_v3[0].last_tc->round, 1u);
  ASSERT_EQ(broadcast.size(), 1u);
  ASSERT_TRUE(broadcast[0].last_tc.has_value());
  EXPECT_EQ(broadcast[0].last_tc->round, 1u);
  EXPECT_TRUE(broadcast[0].last_tc->Verify(Context()).ok());
}

// Found by a 60,000-schedule run: a validator that entered round 2 through a TC, timed out
// there and restarted could no longer prove its round (the TC lived only in memory), so
// validators that had missed the TC stayed in round 1 for good.
TEST_F(CoreTest, RegressionARestartedValidatorStillHandsOutTheTcThatMovedIt) {
  auto node = StartedNode(1);
  for (size_t sender : {0u, 2u}) Deliver(*node, 5, sender, TimeoutFrom(sender, 1, GenesisQc()));
  ASSERT_EQ(node->core->round(), 2u);
  node->core->OnTick(5 + 100 * kBase);  // times out round 2: persists its state
  ASSERT_FALSE(node->host.persisted.empty());
  const SafetyState stored = node->host.persisted.back();
  ASSERT_TRUE(stored.last_tc.has_value());

  auto restarted = MakeNode(1, stored);
  restarted->core->Start(200 * kBase);
  const Actions actions = Deliver(*restarted, 200 * kBase + 1, 3, TimeoutFrom(3, 1, GenesisQc()));
  const auto replies = Sent<SyncCerts>(actions);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].first, 3u);
  ASSERT_TRUE(replies[0].second.last_tc.has_value());
  EXPECT_EQ(replies[0].second.last_tc->round, 1u);
}

// Found in review: every timeout re-verified the q signatures of the QC it carries, though
// a round's timeouts mostly carry the same QC. Only the sender's signature is new work.
TEST_F(CoreTest, RegressionATimeoutCarryingAKnownQcCostsOneVerify) {
  auto node = StartedNode(2);
  const Block b1 = Propose(1, GenesisQc());
  DeliverBlock(*node, 5, b1);
  const QuorumCert qc1 = QcFor(b1);
  Deliver(*node, 6, 0, TimeoutFrom(0, 2, qc1));  // first sight of qc1: its signatures count
  const size_t before = verifier_.calls;
  const Actions actions = Deliver(*node, 7, 1, TimeoutFrom(1, 2, qc1));
  EXPECT_EQ(actions.verdict, Verdict::kAccepted) << Why(actions);
  EXPECT_EQ(verifier_.calls - before, 1u);
}

TEST_F(CoreTest, SafetyStateRoundTripsWithItsTc) {
  SafetyState state = FreshSafety();
  state.round = 2;
  state.term = 2;
  state.last_voted_round = 2;
  state.last_tc = TcOf(1, {{0, GenesisQc()}, {1, GenesisQc()}, {3, GenesisQc()}});
  Result<SafetyState> decoded = ledger::Decode<SafetyState>(ledger::Encode(state));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, state);
}

TEST_F(CoreTest, SyncCertsWithATcMoveALaggingValidatorAndItsLeaderProposes) {
  auto node = StartedNode(2);  // leader(2)
  const TimeoutCert tc1 = TcOf(1, {{0, GenesisQc()}, {1, GenesisQc()}, {3, GenesisQc()}});
  const Actions actions = Deliver(*node, 5, 0, SyncCerts{std::nullopt, tc1});
  EXPECT_EQ(actions.verdict, Verdict::kAccepted) << Why(actions);
  EXPECT_EQ(node->core->round(), 2u);
  EXPECT_EQ(node->core->term(), 2u);
  const auto proposals = ProposalsSent(actions);
  ASSERT_EQ(proposals.size(), 1u);
  ASSERT_TRUE(proposals[0].second.header.timeout_cert.has_value());
  EXPECT_TRUE(*proposals[0].second.header.timeout_cert == tc1);
}

TEST_F(CoreTest, SyncCertsWithForgedCertificatesAreRefused) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  QuorumCert forged = QcFor(b1);
  forged.signatures[0].signature = keys_[0].Sign(AsBytes("something else"));
  const Actions bad_qc = Deliver(*node, 5, 0, SyncCerts{forged, std::nullopt});
  EXPECT_EQ(bad_qc.verdict, Verdict::kBadSignature) << Why(bad_qc);
  TimeoutCert short_tc = TcOf(1, {{0, GenesisQc()}, {3, GenesisQc()}});  // 2 < q
  const Actions bad_tc = Deliver(*node, 5, 0, SyncCerts{std::nullopt, short_tc});
  EXPECT_TRUE(IsFault(bad_tc.verdict)) << Why(bad_tc);
  EXPECT_EQ(node->core->round(), 1u);
  EXPECT_EQ(node->core->safety().high_qc.data.round, 0u);
}

// ---- Classic attacks ----

TEST_F(CoreTest, TcLyingAboutItsHighestQcIsRefused) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const QuorumCert qc1 = QcFor(b1);
  DeliverBlock(*node, 5, b1);
  TimeoutCert lying = TcOf(2, {{0, qc1}, {2, GenesisQc()}, {3, GenesisQc()}});
  ASSERT_EQ(lying.high_qc.data.round, 1u);
  lying.high_qc = GenesisQc();  // hides that v0 reported QC(b1)
  // With the lie, extending genesis would look like extending the highest QC.
  const Block block = Propose(3, GenesisQc(), lying);
  const Actions actions = DeliverBlock(*node, 6, block);
  EXPECT_NE(actions.verdict, Verdict::kAccepted) << Why(actions);
  EXPECT_TRUE(IsFault(actions.verdict)) << Why(actions);
  EXPECT_TRUE(VotesSent(actions).empty());
  EXPECT_EQ(node->core->round(), 1u);  // a refused TC moves nobody
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
}

TEST_F(CoreTest, ProposalBelowTheHighQcOfItsTcIsUnsafe) {
  const Block b1 = Propose(1, GenesisQc());
  const QuorumCert qc1 = QcFor(b1);
  const TimeoutCert tc2 = TcOf(2, {{0, qc1}, {2, GenesisQc()}, {3, GenesisQc()}});

  auto node = StartedNode(1);
  DeliverBlock(*node, 5, b1);
  const Block below = Propose(3, GenesisQc(), tc2);  // forks off b1, which may be committed
  const Actions actions = DeliverBlock(*node, 6, below);
  ExpectRefusedWithoutVote(actions, Verdict::kUnsafe);

  // The same round extending the TC's high QC is fine (on another validator).
  auto control = StartedNode(2);
  DeliverBlock(*control, 5, b1);
  const Actions ok = DeliverBlock(*control, 6, Propose(3, qc1, tc2));
  EXPECT_EQ(ok.verdict, Verdict::kAccepted) << Why(ok);
  EXPECT_EQ(VotesSent(ok).size(), 1u);
}

TEST_F(CoreTest, ProposalJustifiedByAQcWithAForgedSignatureIsRefused) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  DeliverBlock(*node, 5, b1);
  QuorumCert forged = QcFor(b1);
  forged.signatures[2].signature = keys_[3].Sign(DataOf(b1).Digest(kTestChain).span());
  const Actions actions = DeliverBlock(*node, 6, Propose(2, forged));
  ExpectRefusedWithoutVote(actions, Verdict::kBadSignature);
  EXPECT_EQ(node->core->round(), 1u);
  EXPECT_EQ(node->core->safety().high_qc.data.round, 0u);
}

TEST_F(CoreTest, ProposalJustifiedByAQcWithADuplicateSignerIsRefused) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  DeliverBlock(*node, 5, b1);
  const QuorumCert doubled = QcFor(b1, {0, 1, 1});  // one validator counted twice
  ASSERT_EQ(doubled.signatures.size(), 3u);
  const Actions actions = DeliverBlock(*node, 6, Propose(2, doubled));
  EXPECT_TRUE(IsFault(actions.verdict)) << Why(actions);
  EXPECT_TRUE(VotesSent(actions).empty());
  EXPECT_EQ(node->core->round(), 1u);
  // And a QC of only two signers is no QC.
  const Actions short_qc = DeliverBlock(*node, 7, Propose(2, QcFor(b1, {0, 1})));
  EXPECT_TRUE(IsFault(short_qc.verdict)) << Why(short_qc);
  EXPECT_EQ(node->core->round(), 1u);
}

TEST_F(CoreTest, ReplayedOldRoundProposalAfterMovingOnChangesNothing) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const Block b2 = Propose(2, QcFor(b1));
  DeliverBlock(*node, 5, b1);
  DeliverBlock(*node, 6, b2);
  ASSERT_EQ(node->core->round(), 2u);
  const SafetyState before = node->core->safety();

  const Actions replay = DeliverBlock(*node, 7, b1);
  EXPECT_TRUE(replay.verdict == Verdict::kStale || replay.verdict == Verdict::kDuplicate)
      << Why(replay);
  EXPECT_TRUE(VotesSent(replay).empty());
  // A never-seen proposal for the old round is no better.
  const Actions old_round = DeliverBlock(*node, 8, Propose(1, GenesisQc(), std::nullopt, 77));
  EXPECT_TRUE(VotesSent(old_round).empty());
  EXPECT_TRUE(node->core->safety() == before);
  EXPECT_EQ(node->core->round(), 2u);
  EXPECT_EQ(node->core->term(), 0u);
}

TEST_F(CoreTest, ProposalAfterATcWhoseTermIsNotItsRoundIsUnsafe) {
  auto node = StartedNode(1);
  const TimeoutCert tc1 = TcOf(1, {{0, GenesisQc()}, {2, GenesisQc()}, {3, GenesisQc()}});
  // "Term + 1" as DESIGN.md once said; the rule is term = round = 2.
  const Block block = MakeBlock(2, 1, GenesisQc(), tc1, /*signer=*/1);
  const Actions actions = Deliver(*node, 5, 1, Proposal{block});
  ExpectRefusedWithoutVote(actions, Verdict::kUnsafe);
}

TEST_F(CoreTest, ProposalWhoseTermIsNotItsQcsTermIsUnsafe) {
  auto node = StartedNode(2);
  const Block b1 = Propose(1, GenesisQc());
  DeliverBlock(*node, 5, b1);
  // Round 2 by QC(b1) keeps term 0 (leader v0); v1 claims a term 1 of its own.
  const Block block = MakeBlock(2, 1, QcFor(b1), std::nullopt, /*signer=*/1);
  const Actions actions = Deliver(*node, 6, 1, Proposal{block});
  ExpectRefusedWithoutVote(actions, Verdict::kUnsafe);
  EXPECT_EQ(node->core->safety().last_voted_round, 1u);
}

TEST_F(CoreTest, ProposalSkippingARoundWithoutATcIsUnsafe) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  DeliverBlock(*node, 5, b1);
  const Block skip = Propose(3, QcFor(b1));  // justify round 1, round 3, no TC of round 2
  const Actions actions = DeliverBlock(*node, 6, skip);
  ExpectRefusedWithoutVote(actions, Verdict::kUnsafe);
}

TEST_F(CoreTest, ProposalWithWrongHeightOrParentIsRefused) {
  const Block b1 = Propose(1, GenesisQc());
  Block wrong_height = b1;
  wrong_height.header.height = 2;
  wrong_height.Sign(keys_[0]);
  Block wrong_parent = b1;
  wrong_parent.header.parent_hash = TaggedHash("city.test.other", {});
  wrong_parent.Sign(keys_[0]);
  for (const Block* block : {&wrong_height, &wrong_parent}) {
    auto node = StartedNode(1);
    const Actions actions = DeliverBlock(*node, 5, *block);
    EXPECT_TRUE(IsFault(actions.verdict)) << Why(actions);
    EXPECT_TRUE(VotesSent(actions).empty());
    EXPECT_EQ(node->core->safety().last_voted_round, 0u);
  }
}

// ---- Restarts ----

TEST_F(CoreTest, RestartedCoreNeverVotesTwiceInARound) {
  const Block b1 = Propose(1, GenesisQc(), std::nullopt, 10);
  const Block conflicting = Propose(1, GenesisQc(), std::nullopt, 11);
  SafetyState saved;
  std::vector<Block> stored;
  {
    auto before = StartedNode(1);
    ASSERT_EQ(VotesSent(DeliverBlock(*before, 5, b1)).size(), 1u);
    ASSERT_FALSE(before->host.persisted.empty());
    saved = before->host.persisted.back();
    stored = before->host.stored_blocks;
  }
  ASSERT_EQ(saved.last_voted_round, 1u);

  auto after = MakeNode(1, saved, stored);
  Loop(*after, 100, after->core->Start(100));
  EXPECT_TRUE(after->core->safety() == saved);
  EXPECT_EQ(after->core->round(), 1u);
  EXPECT_TRUE(VotesSent(DeliverBlock(*after, 101, b1)).empty());
  EXPECT_TRUE(VotesSent(DeliverBlock(*after, 102, conflicting)).empty());
}

// A leader proposes once per round (docs/consensus.md, "Proposing"). Restarted in a round it
// already proposed and voted in, a second, different block would be a double proposal: the
// Evidence an honest validator never produces.
TEST_F(CoreTest, RestartedLeaderDoesNotProposeADifferentBlockInTheSameRound) {
  SafetyState saved;
  std::vector<Block> stored;
  Block b1;
  {
    Actions start;
    auto before = StartedNode(0, 0, &start);
    const auto proposals = ProposalsSent(start);
    ASSERT_EQ(proposals.size(), 1u);
    b1 = proposals[0].second;
    ASSERT_FALSE(before->host.persisted.empty());
    saved = before->host.persisted.back();
    stored = before->host.stored_blocks;
  }
  ASSERT_EQ(saved.round, 1u);
  ASSERT_EQ(saved.last_voted_round, 1u);

  auto after = MakeNode(0, saved, stored);
  const Actions start = Loop(*after, 100, after->core->Start(100));
  for (const auto& [to, block] : ProposalsSent(start)) {
    EXPECT_EQ(block.Hash(), b1.Hash())
        << "restarted leader proposed another block for round " << block.header.round;
  }
}

TEST_F(CoreTest, RestartedCoreKeepsItsStoredBlocks) {
  const Block b1 = Propose(1, GenesisQc());
  std::vector<Block> stored;
  SafetyState saved;
  {
    auto before = StartedNode(1);
    DeliverBlock(*before, 5, b1);
    stored = before->host.stored_blocks;
    saved = before->host.persisted.back();
  }
  auto after = MakeNode(1, saved, stored);
  Loop(*after, 100, after->core->Start(100));
  EXPECT_NE(after->core->FindBlock(b1.Hash()), nullptr);
  // Its child needs no fetch: the restarted validator votes for it at once.
  const Actions actions = DeliverBlock(*after, 101, Propose(2, QcFor(b1)));
  EXPECT_TRUE(Sent<BlockRequest>(actions).empty());
  EXPECT_EQ(VotesSent(actions).size(), 1u);
}

TEST_F(CoreTest, SafetyStateRoundTripsThroughItsEncoding) {
  SafetyState state;
  state.term = 3;
  state.round = 5;
  state.last_voted_round = 4;
  state.high_qc = QcFor(Propose(1, GenesisQc()), {0, 1, 2, 3});
  const Bytes bytes = ledger::Encode(state);
  const Result<SafetyState> decoded = ledger::Decode<SafetyState>(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == state);
  Bytes truncated = bytes;
  truncated.pop_back();
  EXPECT_FALSE(ledger::Decode<SafetyState>(truncated).ok());
}

// ---- Catch-up ----

TEST_F(CoreTest, ProposalWithUnknownParentIsParkedAndTheParentFetched) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const Block b2 = Propose(2, QcFor(b1));
  const Actions parked = Deliver(*node, 5, 0, Proposal{b2});
  EXPECT_TRUE(VotesSent(parked).empty());
  const auto requests = Sent<BlockRequest>(parked);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].first, 0u);  // asked of the sender
  EXPECT_EQ(requests[0].second.hash, b1.Hash());

  const Actions fetched = Deliver(*node, 6, 0, BlockResponse{b1});
  EXPECT_EQ(fetched.verdict, Verdict::kAccepted) << Why(fetched);
  const auto votes = VotesSent(fetched);
  ASSERT_EQ(votes.size(), 1u);  // for b2 only: round 1 is over
  EXPECT_EQ(votes[0].second.data, DataOf(b2));
  EXPECT_EQ(node->core->safety().last_voted_round, 2u);
}

TEST_F(CoreTest, UnansweredFetchIsRetriedAgainstTheNextValidator) {
  auto node = StartedNode(1);
  const Block b1 = Propose(1, GenesisQc());
  const Actions parked = Deliver(*node, 5, 0, Proposal{Propose(2, QcFor(b1))});
  ASSERT_EQ(Sent<BlockRequest>(parked).size(), 1u);
  ASSERT_TRUE(parked.timer.has_value());
  EXPECT_LE(*parked.timer, 5 + config_.fetch_retry_ms);  // wake up for the retry

  EXPECT_TRUE(Sent<BlockRequest>(node->core->OnTick(5 + config_.fetch_retry_ms - 1)).empty());
  const auto retry = Sent<BlockRequest>(node->core->OnTick(5 + config_.fetch_retry_ms));
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].second.hash, b1.Hash());
  EXPECT_EQ(retry[0].first, 2u);  // after v0 comes v1, which is this validator itself
}

TEST_F(CoreTest, UnrequestedBlockResponseIsNotAccepted) {
  auto node = StartedNode(1);
  const Actions actions = Deliver(*node, 5, 0, BlockResponse{Propose(1, GenesisQc())});
  EXPECT_NE(actions.verdict, Verdict::kAccepted) << Why(actions);
  EXPECT_TRUE(VotesSent(actions).empty());
}

// ---- epochs (docs/consensus.md): an epoch ends at the block naming the next set ----

class EpochEndTest : public CoreTest {
 protected:
  Block Next(uint64_t round, const QuorumCert& justify, bool names_set = false,
             size_t tx_count = 0) const {
    Block block = MakeBlock(round, 0, justify, std::nullopt, Leader(0), 0, tx_count);
    if (names_set) block.header.next_validators = config_.validators.members();
    block.Sign(keys_[Leader(0)]);
    return block;
  }
};

TEST_F(EpochEndTest, NothingAboveTheLastBlockIsCommittedAndItsProofIsKept) {
  std::unique_ptr<Node> node = StartedNode(1);
  const Block b1 = Next(1, GenesisQc());
  const Block b2 = Next(2, QcFor(b1));
  const Block last = Next(3, QcFor(b2), /*names_set=*/true);
  const Block b4 = Next(4, QcFor(last));
  const Block b5 = Next(5, QcFor(b4));
  const Block b6 = Next(6, QcFor(b5));
  std::vector<CommittedBlock> commits;
  std::vector<SyncCerts> announced;
  for (const Block& block : {b1, b2, last, b4, b5, b6}) {
    Actions actions = DeliverBlock(*node, 10, block);
    for (CommittedBlock& commit : actions.commits) commits.push_back(std::move(commit));
    for (auto& [to, sync] : Sent<SyncCerts>(actions)) {
      EXPECT_EQ(to, Outgoing::kBroadcast);
      announced.push_back(sync);
    }
  }
  // No proposal of this epoch will carry the certificate that ended it: it goes to everyone.
  ASSERT_EQ(announced.size(), 1u);
  EXPECT_EQ(announced[0].high_qc, QcFor(b4));
  ASSERT_EQ(commits.size(), 3u);
  EXPECT_EQ(commits.back().block, last);
  EXPECT_TRUE(node->core->epoch_ended());
  EXPECT_EQ(node->core->committed().height, 3u);
  ASSERT_TRUE(commits.back().epoch_end.has_value());
  ASSERT_EQ(commits.back().epoch_end->suffix.size(), 1u);
  EXPECT_EQ(commits.back().epoch_end->suffix[0], b4);
  EXPECT_EQ(commits.back().epoch_end->certified_by, QcFor(b4));
  EXPECT_FALSE(commits[0].epoch_end.has_value());
  // Done: the next epoch's core takes over; this one answers nothing more.
  EXPECT_TRUE(node->core->OnTick(1'000'000).messages.empty());
  EXPECT_TRUE(DeliverBlock(*node, 20, Next(7, QcFor(b6))).messages.empty());
}

TEST_F(EpochEndTest, ABlockAfterTheLastOneCarryingTransactionsGetsNoVote) {
  std::unique_ptr<Node> node = StartedNode(1);
  const Block b1 = Next(1, GenesisQc());
  const Block last = Next(2, QcFor(b1), /*names_set=*/true);
  DeliverBlock(*node, 10, b1);
  EXPECT_EQ(VotesSent(DeliverBlock(*node, 10, last)).size(), 1u);
  const Actions loaded = DeliverBlock(*node, 10, Next(3, QcFor(last), false, 2));
  EXPECT_TRUE(VotesSent(loaded).empty());
  EXPECT_EQ(loaded.verdict, Verdict::kUnsafe);
  EXPECT_NE(loaded.reason.find("after the epoch's last one"), std::string::npos);
}

TEST_F(EpochEndTest, ALeaderAfterTheLastBlockProposesNoTransactions) {
  // Validator 0 leads term 0: after the last block it still proposes (that commits it), empty.
  std::unique_ptr<Node> node = MakeNode(0);
  node->host.payload_size = 5;
  const Block b1 = Next(1, GenesisQc());
  const Block last = Next(2, QcFor(b1), /*names_set=*/true);
  DeliverBlock(*node, 10, b1);
  DeliverBlock(*node, 10, last);
  const Actions actions = Deliver(*node, 10, 1, SyncCerts{QcFor(last), std::nullopt});
  const auto proposals = ProposalsSent(actions);
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].second.header.round, 3u);
  EXPECT_TRUE(proposals[0].second.transactions.empty());
  EXPECT_TRUE(proposals[0].second.header.next_validators.empty());
}

// "A change while a term change is in progress": the last block comes after a timeout
// certificate, and so does its first child. The epoch ends only by a two-chain over the last
// block (here over its child and grandchild), and the proof is that two-chain.
TEST_F(EpochEndTest, AnEpochEndsThroughTermChangesOnlyByATwoChain) {
  std::unique_ptr<Node> node = MakeNode(2);
  const Block b1 = Next(1, GenesisQc());
  const TimeoutCert tc2 = TcOf(2, {{0, QcFor(b1)}, {1, QcFor(b1)}, {3, QcFor(b1)}});
  Block last = MakeBlock(3, 3, QcFor(b1), tc2, Leader(3));
  last.header.next_validators = config_.validators.members();
  last.Sign(keys_[Leader(3)]);
  const TimeoutCert tc4 = TcOf(4, {{0, QcFor(last)}, {1, QcFor(last)}, {3, QcFor(last)}});
  const Block s1 = MakeBlock(5, 5, QcFor(last), tc4, Leader(5));
  const Block s2 = MakeBlock(6, 5, QcFor(s1), std::nullopt, Leader(5));
  const Block s3 = MakeBlock(7, 5, QcFor(s2), std::nullopt, Leader(5));
  std::vector<CommittedBlock> commits;
  for (const Block& block : {b1, last, s1, s2}) {
    for (CommittedBlock& c : DeliverBlock(*node, 10, block).commits) commits.push_back(c);
  }
  EXPECT_TRUE(commits.empty()) << "no two-chain yet: rounds 1, 3, 5, 6";
  EXPECT_FALSE(node->core->epoch_ended());
  for (CommittedBlock& c : DeliverBlock(*node, 10, s3).commits) commits.push_back(c);
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[1].block, last);
  EXPECT_EQ(commits[1].certified_by, QcFor(last));
  ASSERT_TRUE(commits[1].epoch_end.has_value());
  ASSERT_EQ(commits[1].epoch_end->suffix.size(), 2u);
  EXPECT_EQ(commits[1].epoch_end->suffix[0], s1);
  EXPECT_EQ(commits[1].epoch_end->suffix[1], s2);
  EXPECT_EQ(commits[1].epoch_end->certified_by, QcFor(s2));
  EXPECT_TRUE(node->core->epoch_ended());
  EXPECT_EQ(node->core->committed().height, last.header.height);
}

}  // namespace
}  // namespace city::consensus::test
