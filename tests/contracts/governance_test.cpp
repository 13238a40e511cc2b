// The engine's transaction rules (nonce, expiry, unknown names, dropped writes) and the
// governance contract, on a real store.
#include <gtest/gtest.h>

#include "city/ledger/chain_rules.h"
#include "support/contract_harness.h"

namespace city::contracts {
namespace {

using test::CodeOf;
using test::TestKey;

class GovernanceTest : public ::testing::Test {
 protected:
  GovernanceTest()
      : council_(test::TestValidators(3)), outsider_(TestKey(9)), citizen_(TestKey(20)) {
    GovernanceGenesis genesis;
    for (const KeyPair& key : council_) genesis.council.push_back(key.public_key());
    genesis.threshold = 2;
    genesis.roles.push_back({std::string(kRegistrarRole), TestKey(10).public_key()});
    genesis.params.push_back({"ubi_amount", 100});
    auto registry = std::make_unique<Registry>();
    EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
    Result<std::vector<ledger::StateWrite>> writes = GovernanceGenesisWrites(genesis);
    EXPECT_TRUE(writes.ok()) << writes.status().ToString();
    chain_ = std::make_unique<test::ContractHarness>(std::move(registry), *writes);
  }

  ProposeArgs Grant(std::string role, const PublicKey& account) {
    return {{uint8_t(ActionKind::kGrantRole), std::move(role), account, 0, {}},
            chain_->height() + 50};
  }
  bool HasRole(const PublicKey& account, const std::string& role) {
    Result<Json> answer = chain_->Query("governance", "has_role",
                                        {{"account", EncodeAddress(account)}, {"role", role}});
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() && answer->at("granted").get<bool>();
  }

  std::vector<KeyPair> council_;
  KeyPair outsider_;
  KeyPair citizen_;
  std::unique_ptr<test::ContractHarness> chain_;
};

TEST_F(GovernanceTest, GrantPassesOnlyAtTheThreshold) {
  const ProposeArgs grant = Grant("clinician", citizen_.public_key());
  const ledger::TxResult proposed = chain_->Call(council_[0], "governance", "propose", grant);
  ASSERT_TRUE(proposed.ok()) << proposed.detail;
  EXPECT_FALSE(HasRole(citizen_.public_key(), "clinician"));  // 1 of 2
  const ledger::TxResult approved =
      chain_->Call(council_[1], "governance", "approve", ApproveArgs{0});
  ASSERT_TRUE(approved.ok()) << approved.detail;
  EXPECT_TRUE(HasRole(citizen_.public_key(), "clinician"));
  Result<Json> proposal = chain_->Query("governance", "proposal", {{"id", 0}});
  ASSERT_TRUE(proposal.ok());
  EXPECT_TRUE(proposal->at("passed").get<bool>());
  EXPECT_EQ(proposal->at("approvals").size(), 2u);
  // The grantee's history shows the transaction that gave the role.
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(citizen_.public_key(), {});
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->items.size(), 1u);
}

TEST_F(GovernanceTest, OnlyTheCouncilProposesAndApproves) {
  EXPECT_EQ(
      chain_->Call(outsider_, "governance", "propose", Grant("admin", outsider_.public_key())).code,
      CodeOf(Code::kPermissionDenied));
  ASSERT_TRUE(
      chain_->Call(council_[0], "governance", "propose", Grant("admin", citizen_.public_key()))
          .ok());
  EXPECT_EQ(chain_->Call(outsider_, "governance", "approve", ApproveArgs{0}).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_FALSE(HasRole(citizen_.public_key(), "admin"));
}

TEST_F(GovernanceTest, ApprovalRulesAreEnforced) {
  ASSERT_TRUE(
      chain_->Call(council_[0], "governance", "propose", Grant("auditor", citizen_.public_key()))
          .ok());
  EXPECT_EQ(chain_->Call(council_[0], "governance", "approve", ApproveArgs{0}).code,
            uint32_t(GovernanceCode::kAlreadyApproved));
  EXPECT_EQ(chain_->Call(council_[1], "governance", "approve", ApproveArgs{7}).code,
            CodeOf(Code::kNotFound));
  ASSERT_TRUE(chain_->Call(council_[1], "governance", "approve", ApproveArgs{0}).ok());
  EXPECT_EQ(chain_->Call(council_[2], "governance", "approve", ApproveArgs{0}).code,
            uint32_t(GovernanceCode::kAlreadyDecided));
}

TEST_F(GovernanceTest, ExpiredProposalsCannotPass) {
  ProposeArgs grant = Grant("custodian", citizen_.public_key());
  grant.expiry_height = chain_->height() + 2;
  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", grant).ok());
  chain_->Block({});
  chain_->Block({});
  EXPECT_EQ(chain_->Call(council_[1], "governance", "approve", ApproveArgs{0}).code,
            uint32_t(GovernanceCode::kExpiredProposal));
  EXPECT_FALSE(HasRole(citizen_.public_key(), "custodian"));
  grant.expiry_height = chain_->height();  // the next block is already past it
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", grant).code,
            CodeOf(Code::kBadArguments));
}

TEST_F(GovernanceTest, InvalidActionsAreRefusedAndChangeNothing) {
  ProposeArgs bad = Grant("not a role!", citizen_.public_key());
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", bad).code,
            CodeOf(Code::kBadArguments));
  bad = Grant("clinician", PublicKey{});  // not a curve point
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", bad).code,
            CodeOf(Code::kBadArguments));
  bad.action = {99, "x", citizen_.public_key(), 0, {}};
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", bad).code,
            CodeOf(Code::kBadArguments));
  bad.action = {uint8_t(ActionKind::kSetValidators),
                "",
                {},
                3,
                {council_[0].public_key(), council_[0].public_key()}};
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", bad).code,
            CodeOf(Code::kBadArguments));
  // None of the failures took a proposal id.
  EXPECT_FALSE(chain_->Query("governance", "proposal", {{"id", 0}}).ok());
}

// A role's sealing key is set only by a passed proposal, must be a key, and is replaced by the
// next one (the old one is no longer accepted by the contracts that seal to it).
TEST_F(GovernanceTest, ASealingKeyIsPublishedByAPassedProposal) {
  auto sealing_key = [&] {
    return chain_->Query("governance", "sealing_key", {{"role", "auditor"}}).value().at("key");
  };
  auto publish = [&](const PublicKey& key) {
    return ProposeArgs{{uint8_t(ActionKind::kSetSealingKey), "auditor", key, 0, {}},
                       chain_->height() + 50};
  };
  EXPECT_TRUE(sealing_key().is_null());
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", publish(PublicKey{})).code,
            CodeOf(Code::kBadArguments));
  ProposeArgs bad_role = publish(TestKey(30).public_key());
  bad_role.action.name = "Not A Role";
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", bad_role).code,
            CodeOf(Code::kBadArguments));
  ASSERT_TRUE(
      chain_->Call(council_[0], "governance", "propose", publish(TestKey(30).public_key())).ok());
  EXPECT_TRUE(sealing_key().is_null()) << "one approval of the two needed";
  ASSERT_TRUE(chain_->Call(council_[1], "governance", "approve", ApproveArgs{0}).ok());
  EXPECT_EQ(sealing_key(), EncodeAddress(TestKey(30).public_key()));
  ASSERT_TRUE(
      chain_->Call(council_[0], "governance", "propose", publish(TestKey(31).public_key())).ok());
  ASSERT_TRUE(chain_->Call(council_[1], "governance", "approve", ApproveArgs{1}).ok());
  EXPECT_EQ(sealing_key(), EncodeAddress(TestKey(31).public_key()));
  EXPECT_EQ(
      chain_->Call(outsider_, "governance", "propose", publish(TestKey(32).public_key())).code,
      CodeOf(Code::kPermissionDenied));
}

TEST_F(GovernanceTest, RevokeParametersAndValidators) {
  const PublicKey registrar = TestKey(10).public_key();
  ProposeArgs revoke{{uint8_t(ActionKind::kRevokeRole), "registrar", registrar, 0, {}},
                     chain_->height() + 50};
  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", revoke).ok());
  ASSERT_TRUE(chain_->Call(council_[2], "governance", "approve", ApproveArgs{0}).ok());
  EXPECT_FALSE(HasRole(registrar, "registrar"));

  ProposeArgs param{{uint8_t(ActionKind::kSetParameter), "ubi_amount", {}, 250, {}},
                    chain_->height() + 50};
  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", param).ok());
  ASSERT_TRUE(chain_->Call(council_[1], "governance", "approve", ApproveArgs{1}).ok());
  Result<Json> value = chain_->Query("governance", "parameter", {{"name", "ubi_amount"}});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->at("value").get<uint64_t>(), 250u);
}

TEST_F(GovernanceTest, AValidatorChangeIsScheduledOneAtATimeAfterAFixedMargin) {
  std::vector<PublicKey> four;
  for (int i = 0; i < 4; ++i) four.push_back(TestKey(40 + i).public_key());
  auto change = [&](std::vector<PublicKey> set, uint64_t epoch) {
    return ProposeArgs{{uint8_t(ActionKind::kSetValidators), "", {}, epoch, std::move(set)},
                       chain_->height() + 500};
  };
  // The rule every header reader applies: fewer than 4, or a key twice, never passes.
  const std::vector<PublicKey> three(four.begin(), four.begin() + 3);
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", change(three, 0)).code,
            CodeOf(Code::kBadArguments));
  std::vector<PublicKey> twice = four;
  twice[3] = twice[0];
  EXPECT_EQ(chain_->Call(council_[0], "governance", "propose", change(twice, 0)).code,
            CodeOf(Code::kBadArguments));

  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", change(four, 0)).ok());
  const ledger::TxResult passed =
      chain_->Call(council_[1], "governance", "approve", ApproveArgs{0});
  ASSERT_TRUE(passed.ok()) << passed.detail;
  const uint64_t passed_at = chain_->height();
  Result<Json> scheduled = chain_->Query("governance", "validators", {{"epoch", 1}});
  ASSERT_TRUE(scheduled.ok()) << scheduled.status().ToString();
  EXPECT_EQ(scheduled->at("validators").size(), 4u);
  EXPECT_EQ(scheduled->at("last_height_before").get<uint64_t>(),
            passed_at + ledger::kEpochChangeMargin);

  // Two changes in flight: the second waits until the first has started.
  std::vector<PublicKey> rotated = four;
  rotated[3] = TestKey(44).public_key();
  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", change(rotated, 0)).ok());
  EXPECT_EQ(chain_->Call(council_[1], "governance", "approve", ApproveArgs{1}).code,
            CodeOf(Code::kInvalidState));
  while (chain_->height() < passed_at + ledger::kEpochChangeMargin) chain_->Block({});
  // A proposal that names its epoch passes only as that epoch.
  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", change(rotated, 5)).ok());
  EXPECT_EQ(chain_->Call(council_[1], "governance", "approve", ApproveArgs{2}).code,
            CodeOf(Code::kInvalidState));
  const ledger::TxResult second =
      chain_->Call(council_[1], "governance", "approve", ApproveArgs{1});
  ASSERT_TRUE(second.ok()) << second.detail;
  Result<Json> next = chain_->Query("governance", "validators", {{"epoch", 2}});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->at("validators").at(3).get<std::string>(), EncodeAddress(rotated[3]));
}

TEST_F(GovernanceTest, TheCouncilCannotShrinkBelowItsThreshold) {
  // 3 members, threshold 2: one revocation passes, the second would leave 1 < 2.
  for (uint64_t id = 0; id < 2; ++id) {
    ProposeArgs revoke{
        {uint8_t(ActionKind::kRevokeRole), "council", council_[2 - id].public_key(), 0, {}},
        chain_->height() + 50};
    ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", revoke).ok());
    const ledger::TxResult approved =
        chain_->Call(council_[1], "governance", "approve", ApproveArgs{id});
    if (id == 0) {
      EXPECT_TRUE(approved.ok()) << approved.detail;
    } else {
      EXPECT_EQ(approved.code, CodeOf(Code::kInvalidState));
    }
  }
  EXPECT_TRUE(HasRole(council_[1].public_key(), "council"));
  ProposeArgs threshold{{uint8_t(ActionKind::kSetParameter), "council_threshold", {}, 3, {}},
                        chain_->height() + 50};
  ASSERT_TRUE(chain_->Call(council_[0], "governance", "propose", threshold).ok());
  EXPECT_EQ(chain_->Call(council_[1], "governance", "approve", ApproveArgs{2}).code,
            CodeOf(Code::kInvalidState));
}

TEST_F(GovernanceTest, AnApprovalFromAMemberRevokedSinceNoLongerCounts) {
  // Proposal 0, approved by council_[0] as it proposes.
  ASSERT_TRUE(
      chain_->Call(council_[0], "governance", "propose", Grant("auditor", citizen_.public_key()))
          .ok());
  // Proposal 1 takes council_[0] off the council.
  ProposeArgs revoke{{uint8_t(ActionKind::kRevokeRole), "council", council_[0].public_key(), 0, {}},
                     chain_->height() + 50};
  ASSERT_TRUE(chain_->Call(council_[1], "governance", "propose", revoke).ok());
  ASSERT_TRUE(chain_->Call(council_[2], "governance", "approve", ApproveArgs{1}).ok());
  ASSERT_FALSE(HasRole(council_[0].public_key(), "council"));
  // Two approvals on record, but only one from a current member: not passed.
  ASSERT_TRUE(chain_->Call(council_[1], "governance", "approve", ApproveArgs{0}).ok());
  EXPECT_FALSE(HasRole(citizen_.public_key(), "auditor"));
  Result<Json> pending = chain_->Query("governance", "proposal", {{"id", 0}});
  ASSERT_TRUE(pending.ok());
  EXPECT_FALSE(pending->at("passed").get<bool>());
  EXPECT_EQ(pending->at("approvals").size(), 1u) << pending->dump();
  // A second current member passes it.
  ASSERT_TRUE(chain_->Call(council_[2], "governance", "approve", ApproveArgs{0}).ok());
  EXPECT_TRUE(HasRole(citizen_.public_key(), "auditor"));
}

// The proposal record holds at most kMaxProposalApprovals approvals: a threshold above it
// would store proposals that cannot be decoded, so it is refused where it is set.
TEST_F(GovernanceTest, AThresholdAboveWhatAProposalCanHoldIsRefused) {
  ProposeArgs threshold{
      {uint8_t(ActionKind::kSetParameter), "council_threshold", {}, kMaxProposalApprovals + 1, {}},
      chain_->height() + 50};
  const ledger::TxResult refused = chain_->Call(council_[0], "governance", "propose", threshold);
  EXPECT_EQ(refused.code, CodeOf(Code::kBadArguments)) << refused.detail;
  Result<Json> none = chain_->Query("governance", "proposal", {{"id", 0}});
  EXPECT_FALSE(none.ok());

  GovernanceGenesis genesis;
  for (uint8_t k = 0; k <= kMaxProposalApprovals; ++k) {
    genesis.council.push_back(TestKey(static_cast<uint8_t>(100 + k)).public_key());
  }
  genesis.threshold = kMaxProposalApprovals + 1;
  EXPECT_FALSE(GovernanceGenesisWrites(genesis).ok());
  genesis.threshold = kMaxProposalApprovals;
  EXPECT_TRUE(GovernanceGenesisWrites(genesis).ok());
}

TEST_F(GovernanceTest, GenesisIsValidated) {
  GovernanceGenesis genesis;
  EXPECT_FALSE(GovernanceGenesisWrites(genesis).ok());  // no council
  genesis.council = {council_[0].public_key(), council_[0].public_key()};
  EXPECT_FALSE(GovernanceGenesisWrites(genesis).ok());  // repeated member
  genesis.council = {council_[0].public_key()};
  genesis.threshold = 2;
  EXPECT_FALSE(GovernanceGenesisWrites(genesis).ok());  // threshold above the council
  genesis.threshold = 1;
  genesis.roles.push_back({"bad role", citizen_.public_key()});
  EXPECT_FALSE(GovernanceGenesisWrites(genesis).ok());
}

// ---- engine rules, through governance ----

TEST_F(GovernanceTest, WrongNonceAndExpiryAreRefusedWithoutConsumingTheNonce) {
  ledger::Transaction stale =
      chain_->Tx(council_[0], "governance", "propose", Grant("x", citizen_.public_key()));
  chain_->SetNonce(council_[0].public_key(), 0);
  ledger::Transaction skipped = stale;
  skipped.nonce = 5;
  skipped.Sign(council_[0]);
  EXPECT_EQ(chain_->Run(skipped).code, CodeOf(Code::kBadNonce));
  ledger::Transaction expired =
      chain_->Tx(council_[0], "governance", "propose", Grant("x", citizen_.public_key()));
  expired.expiry_height = chain_->height();  // included at height + 1
  expired.Sign(council_[0]);
  EXPECT_EQ(chain_->Run(expired).code, CodeOf(Code::kExpired));
  // Nonce 0 is still the next one.
  EXPECT_EQ(NextNonce(StoreStateReader(chain_->store()), council_[0].public_key()), 0u);
  chain_->SetNonce(council_[0].public_key(), 0);
  EXPECT_TRUE(
      chain_->Call(council_[0], "governance", "propose", Grant("x", citizen_.public_key())).ok());
  EXPECT_EQ(NextNonce(StoreStateReader(chain_->store()), council_[0].public_key()), 1u);
}

TEST_F(GovernanceTest, FailedCallsConsumeTheNonceAndKeepNoWrites) {
  EXPECT_EQ(chain_->Call(outsider_, "nope", "x", ApproveArgs{0}).code,
            CodeOf(Code::kUnknownContract));
  EXPECT_EQ(chain_->Call(outsider_, "governance", "x", ApproveArgs{0}).code,
            CodeOf(Code::kUnknownMethod));
  EXPECT_EQ(chain_->Run(chain_->RawTx(outsider_, "governance", "approve", Bytes{1, 2})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(NextNonce(StoreStateReader(chain_->store()), outsider_.public_key()), 3u);
  // The only state the outsider's three calls changed is its nonce.
  Result<ledger::Page<ledger::KeyWrite>> writes =
      chain_->store().KeyHistory(NonceKey(outsider_.public_key()), {});
  ASSERT_TRUE(writes.ok());
  EXPECT_EQ(writes->items.size(), 3u);
  // Failed results are recorded with their code and carry no events.
  Result<std::vector<ledger::TxResult>> results = chain_->store().GetResults(chain_->height());
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(results->front().code, CodeOf(Code::kBadArguments));
  EXPECT_TRUE(results->front().events.empty());
}

TEST_F(GovernanceTest, LaterTransactionsInABlockSeeEarlierWrites) {
  // Propose and approve in one block: the approval sees the proposal.
  const ledger::Transaction propose =
      chain_->Tx(council_[0], "governance", "propose", Grant("admin", citizen_.public_key()));
  const ledger::Transaction approve =
      chain_->Tx(council_[1], "governance", "approve", ApproveArgs{0});
  const std::vector<ledger::TxResult> results = chain_->Block({propose, approve});
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[1].ok()) << results[1].detail;
  EXPECT_TRUE(HasRole(citizen_.public_key(), "admin"));
}

}  // namespace
}  // namespace city::contracts

namespace city::contracts {
namespace {

// The same proposals and approvals, in the same blocks, on two independent stores: equal
// state roots at every height.
TEST(GovernanceDeterminism, TwoStoresAgreeAtEveryHeight) {
  const std::vector<KeyPair> council = test::TestValidators(4);
  GovernanceGenesis genesis;
  for (const KeyPair& key : council) genesis.council.push_back(key.public_key());
  genesis.threshold = 3;
  const auto make_chain = [&] {
    auto registry = std::make_unique<Registry>();
    EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
    return std::make_unique<test::ContractHarness>(std::move(registry),
                                                   *GovernanceGenesisWrites(genesis));
  };
  auto first = make_chain();
  auto second = make_chain();
  uint64_t seed = 12345;
  int passed = 0;
  uint64_t proposals = 0;  // ids handed out so far
  const auto next = [&seed] {
    return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  };
  for (int block = 0; block < 25; ++block) {
    std::vector<ledger::Transaction> a, b;
    for (int i = 0; i < 4; ++i) {
      const KeyPair& sender = council[(next() >> 33) % council.size()];
      const uint64_t pick = next() >> 16;  // an LCG's low bits are not random
      if (pick % 2 == 0) {
        const ProposeArgs args{{uint8_t(ActionKind::kGrantRole),
                                "role" + std::to_string(pick % 5),
                                test::TestKey(static_cast<uint8_t>(40 + pick % 7)).public_key(),
                                0,
                                {}},
                               first->height() + 3 + pick % 6};
        a.push_back(first->Tx(sender, "governance", "propose", args));
        b.push_back(second->Tx(sender, "governance", "propose", args));
      } else {
        // Mostly the latest proposals, so some gather enough approvals to pass.
        const uint64_t back = proposals == 0 ? 0 : (pick >> 8) % std::min<uint64_t>(proposals, 3);
        const ApproveArgs args{proposals == 0 ? 0 : proposals - 1 - back};
        a.push_back(first->Tx(sender, "governance", "approve", args));
        b.push_back(second->Tx(sender, "governance", "approve", args));
      }
    }
    const std::vector<ledger::TxResult> ra = first->Block(a);
    const std::vector<ledger::TxResult> rb = second->Block(b);
    ASSERT_EQ(ra, rb) << "block " << block;
    ASSERT_EQ(first->last_root(), second->last_root()) << "block " << block;
    for (const ledger::TxResult& result : ra) {
      for (const ledger::Event& event : result.events) {
        passed += event.name == "proposal_passed";
        proposals += event.name == "proposed";
      }
    }
  }
  // Proposals passed, so the comparison covered executed actions, not only refusals.
  EXPECT_GT(passed, 0);
}

}  // namespace
}  // namespace city::contracts
