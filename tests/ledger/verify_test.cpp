// Verification of signed ledger objects: quorum certificates, timeouts, timeout
// certificates, blocks and the stateless transaction checks, including the classic forgeries.
#include <gtest/gtest.h>

#include "city/ledger/chain_rules.h"
#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

namespace city::ledger {
namespace {

using test::kTestChain;

class VerifyTest : public ::testing::Test {
 protected:
  std::vector<KeyPair> keys_ = test::TestValidators(4);
  CertContext context_ = test::TestContext(keys_);
};

TEST_F(VerifyTest, QuorumSizesFollowNMinusF) {
  EXPECT_EQ(test::SetOf(test::TestValidators(1)).quorum(), 1u);
  EXPECT_EQ(test::SetOf(test::TestValidators(4)).quorum(), 3u);
  EXPECT_EQ(test::SetOf(test::TestValidators(5)).quorum(), 4u);  // 2q - n > f needs 4
  EXPECT_EQ(test::SetOf(test::TestValidators(7)).quorum(), 5u);
  EXPECT_EQ(test::SetOf(test::TestValidators(7)).max_faulty(), 2u);
}

// Review finding: with no members the quorum was 0 and an unsigned QC verified.
TEST_F(VerifyTest, RegressionEmptyValidatorSetCertifiesNothing) {
  CertContext empty = context_;
  empty.validators = ValidatorSet();
  EXPECT_FALSE(test::SampleQc(keys_, 0).Verify(empty).ok());
  EXPECT_FALSE(test::SampleQc(keys_, 3).Verify(empty).ok());
  EXPECT_FALSE(QuorumCert::Genesis(test::TestGenesisHash()).Verify(empty).ok());
  TimeoutCert no_entries;
  no_entries.high_qc = QuorumCert::Genesis(test::TestGenesisHash());
  EXPECT_FALSE(no_entries.Verify(empty).ok());
  EXPECT_FALSE(no_entries.Verify(context_).ok());
}

// Review finding: certificates did not name the epoch they were checked against.
TEST_F(VerifyTest, RegressionCertificatesOfAnotherEpochAreRefused) {
  VoteData data = test::SampleVoteData();
  data.epoch = 1;  // same signers, but epoch 1
  EXPECT_FALSE(test::SampleQc(keys_, 3, data).Verify(context_).ok());
  CertContext epoch_one = context_;
  epoch_one.epoch = 1;
  EXPECT_TRUE(test::SampleQc(keys_, 3, data).Verify(epoch_one).ok());
  const std::vector<Timeout> timeouts = test::SampleTimeouts(keys_, 3);
  EXPECT_FALSE(timeouts[0].Verify(epoch_one).ok());
  EXPECT_FALSE(TimeoutCert::FromTimeouts(timeouts).Verify(epoch_one).ok());
}

// Epochs (docs/consensus.md): a removed validator's old certificates stay valid for their own
// epoch, with that epoch's set, and for no other, even where the sets overlap.
TEST_F(VerifyTest, AnEpochsCertificatesVerifyWithItsOwnSetOnly) {
  const Epoch zero = Epoch::Genesis(test::SetOf(keys_), test::TestGenesisHash());
  // Epoch 1: validator 4 removed, validators 5 and 6 added.
  auto keys_of = [](std::initializer_list<uint8_t> fills) {
    std::vector<KeyPair> keys;
    for (uint8_t fill : fills) keys.push_back(test::TestKey(fill));
    return keys;
  };
  const std::vector<KeyPair> next_keys = keys_of({1, 2, 3, 5, 6});
  BlockHeader last;
  last.height = 40;
  last.next_validators = test::SetOf(next_keys).members();
  const Epoch one = zero.Next(last, last.Hash());
  EXPECT_EQ(one.number, 1u);
  EXPECT_EQ(one.root_height, 40u);
  EXPECT_EQ(one.After(BlockHeader{}, Hash256{}).number, 1u) << "a block naming no set ends nothing";

  VoteData old_data = test::SampleVoteData();
  const QuorumCert removed_signs = test::SampleQc(keys_of({4, 1, 2}), 3, old_data);
  EXPECT_TRUE(removed_signs.Verify(zero.Context(std::string(kTestChain), nullptr)).ok());
  EXPECT_FALSE(removed_signs.Verify(one.Context(std::string(kTestChain), nullptr)).ok())
      << "epoch 0's certificate checked in epoch 1";
  VoteData replayed = old_data;
  replayed.epoch = 1;  // the removed validator signs for epoch 1: not a member any more
  const QuorumCert outsider = test::SampleQc(keys_of({4, 1, 2, 3}), 4, replayed);
  const Status status = outsider.Verify(one.Context(std::string(kTestChain), nullptr));
  EXPECT_EQ(status.code(), ErrorCode::kBadSignature);
  EXPECT_NE(status.message().find("not a validator of this epoch"), std::string::npos);

  // The round-0 certificate of epoch 1 is exactly its root's, and only epoch 1's.
  EXPECT_TRUE(one.RootCert().Verify(one.Context(std::string(kTestChain), nullptr)).ok());
  EXPECT_FALSE(zero.RootCert().Verify(one.Context(std::string(kTestChain), nullptr)).ok());
  EXPECT_FALSE(one.RootCert().Verify(zero.Context(std::string(kTestChain), nullptr)).ok());
  QuorumCert other_root = one.RootCert();
  other_root.data.height = 39;
  EXPECT_FALSE(other_root.Verify(one.Context(std::string(kTestChain), nullptr)).ok());
}

TEST_F(VerifyTest, ANextValidatorSetBelowFourOrWithRepeatsIsNoValidHeader) {
  const ValidatorSet set = test::SetOf(keys_);
  Block block;
  block.header.justify = test::SampleQc(keys_, 3, test::SampleVoteData(5));
  block.header.parent_hash = block.header.justify.data.block_hash;
  block.header.height = 6;
  block.header.round = 6;
  block.header.term = 1;
  block.header.proposer = LeaderOf(1, set);
  block.header.next_validators = set.members();
  EXPECT_FALSE(CheckHeaderRules(block.header, set).has_value());
  block.header.next_validators = test::SetOf(test::TestValidators(3)).members();
  std::optional<HeaderRuleBroken> broken = CheckHeaderRules(block.header, set);
  ASSERT_TRUE(broken.has_value());
  EXPECT_EQ(broken->rule, HeaderRule::kValidatorChange);
  EXPECT_NE(broken->reason.find("at least 4"), std::string::npos);
  block.header.next_validators = set.members();
  block.header.next_validators.push_back(set.members()[0]);
  broken = CheckHeaderRules(block.header, set);
  ASSERT_TRUE(broken.has_value());
  EXPECT_NE(broken->reason.find("listed twice"), std::string::npos);
  EXPECT_EQ(ValidatorChangeProblem(set.members()), std::nullopt);
  PublicKey not_a_point;
  not_a_point.bytes.fill(0xff);
  std::vector<PublicKey> bad = set.members();
  bad[2] = not_a_point;
  EXPECT_NE(ValidatorChangeProblem(bad), std::nullopt);
}

TEST_F(VerifyTest, QuorumCertWithQuorumVerifies) {
  EXPECT_TRUE(test::SampleQc(keys_, 3).Verify(context_).ok());
  EXPECT_TRUE(test::SampleQc(keys_, 4).Verify(context_).ok());
}

TEST_F(VerifyTest, QuorumCertBelowQuorumIsRefused) {
  const Status status = test::SampleQc(keys_, 2).Verify(context_);
  EXPECT_EQ(status.code(), ErrorCode::kBadSignature);
  EXPECT_NE(status.message().find("quorum is 3"), std::string::npos);
}

TEST_F(VerifyTest, QuorumCertWithDuplicateSignerIsRefused) {
  QuorumCert qc = test::SampleQc(keys_, 3);
  qc.signatures[2] = qc.signatures[1];  // two votes from one validator counted twice
  EXPECT_FALSE(qc.Verify(context_).ok());
}

TEST_F(VerifyTest, QuorumCertFromOutsiderIsRefused) {
  std::vector<KeyPair> with_outsider = test::TestValidators(2);
  with_outsider.push_back(test::TestKey(99));
  const Status status = test::SampleQc(with_outsider, 3).Verify(context_);
  EXPECT_EQ(status.code(), ErrorCode::kBadSignature);
  EXPECT_NE(status.message().find("not a validator"), std::string::npos);
}

TEST_F(VerifyTest, QuorumCertWithForgedSignatureIsRefused) {
  QuorumCert qc = test::SampleQc(keys_, 3);
  qc.signatures[1].signature = keys_[1].Sign(AsBytes("something else"));
  EXPECT_EQ(qc.Verify(context_).code(), ErrorCode::kBadSignature);
}

TEST_F(VerifyTest, QuorumCertForOtherDataOrChainIsRefused) {
  QuorumCert qc = test::SampleQc(keys_, 3);
  qc.data.round += 1;
  EXPECT_FALSE(qc.Verify(context_).ok());
  CertContext other_chain = context_;
  other_chain.chain_id = "city-other";
  EXPECT_FALSE(test::SampleQc(keys_, 3).Verify(other_chain).ok());
}

TEST_F(VerifyTest, OnlyTheExactGenesisCertNeedsNoSignatures) {
  EXPECT_TRUE(QuorumCert::Genesis(test::TestGenesisHash()).Verify(context_).ok());
  QuorumCert fake = QuorumCert::Genesis(TaggedHash("city.test.other", {}));
  EXPECT_FALSE(fake.Verify(context_).ok());
  QuorumCert unsigned_round_one = QuorumCert::Genesis(test::TestGenesisHash());
  unsigned_round_one.data.round = 1;
  EXPECT_FALSE(unsigned_round_one.Verify(context_).ok());
}

TEST_F(VerifyTest, TimeoutVerifiesAndRefusesMismatchedHighQc) {
  std::vector<Timeout> timeouts = test::SampleTimeouts(keys_, 3);
  EXPECT_TRUE(timeouts[0].Verify(context_).ok());
  Timeout lying = timeouts[0];
  lying.high_qc = timeouts[1].high_qc;  // claims one round, carries another
  ASSERT_NE(lying.high_qc.data.round, lying.data.high_qc_round);
  EXPECT_EQ(lying.Verify(context_).code(), ErrorCode::kInvalidArgument);
}

TEST_F(VerifyTest, TimeoutCertCarriesTheHighestQc) {
  const std::vector<Timeout> timeouts = test::SampleTimeouts(keys_, 3, 10);
  const TimeoutCert tc = TimeoutCert::FromTimeouts(timeouts);
  EXPECT_EQ(tc.high_qc.data.round, 9u);
  EXPECT_TRUE(tc.Verify(context_).ok()) << tc.Verify(context_).ToString();
}

TEST_F(VerifyTest, TimeoutCertLyingAboutItsHighestQcIsRefused) {
  const std::vector<Timeout> timeouts = test::SampleTimeouts(keys_, 3, 10);
  TimeoutCert tc = TimeoutCert::FromTimeouts(timeouts);
  tc.high_qc = test::SampleQc(keys_, 3, test::SampleVoteData(8));  // valid QC, but not the highest
  const Status status = tc.Verify(context_);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("reported round 9"), std::string::npos);
}

TEST_F(VerifyTest, TimeoutCertWithForgedEntryIsRefused) {
  TimeoutCert tc = TimeoutCert::FromTimeouts(test::SampleTimeouts(keys_, 3, 10));
  tc.entries[0].high_qc_round += 1;  // changes what that signer signed
  EXPECT_EQ(tc.Verify(context_).code(), ErrorCode::kBadSignature);
  TimeoutCert short_tc = TimeoutCert::FromTimeouts(test::SampleTimeouts(keys_, 2, 10));
  EXPECT_EQ(short_tc.Verify(context_).code(), ErrorCode::kBadSignature);
}

TEST_F(VerifyTest, SignedBlockPassesStructureCheck) {
  const Block block = test::SampleBlock(keys_, 5, true);
  EXPECT_TRUE(block.CheckStructure(kTestChain).ok());
  EXPECT_FALSE(block.CheckStructure("city-other").ok());
}

TEST_F(VerifyTest, ExecutionCostIsOneUnitPlusOnePerStartedKibOfArguments) {
  Transaction tx = test::SampleTransaction(keys_[0]);
  tx.args.clear();
  EXPECT_EQ(ExecutionCost(tx), 1u);
  tx.args = Bytes(1, 0);
  EXPECT_EQ(ExecutionCost(tx), 2u);
  tx.args = Bytes(1024, 0);
  EXPECT_EQ(ExecutionCost(tx), 2u);
  tx.args = Bytes(1025, 0);
  EXPECT_EQ(ExecutionCost(tx), 3u);
  tx.args = Bytes(kMaxArgsBytes, 0);
  EXPECT_EQ(ExecutionCost(tx), 61u);
}

// Within the count and byte limits a block can still ask too much execution of everyone:
// 197 calls with 60 KiB of arguments each cost 12,017 units.
TEST_F(VerifyTest, BlockAboveTheExecutionCostCapIsRefusedAndOneBelowPasses) {
  Block block = test::SampleBlock(keys_, 5, false);
  block.transactions.clear();
  for (uint64_t nonce = 1; nonce <= 197; ++nonce) {
    Transaction tx = test::SampleTransaction(keys_[nonce % keys_.size()], nonce);
    tx.args = Bytes(kMaxArgsBytes, 0x11);
    tx.Sign(keys_[nonce % keys_.size()]);
    block.transactions.push_back(std::move(tx));
  }
  block.Sign(keys_[2]);
  ASSERT_GT(ExecutionCost(block.transactions), kMaxBlockExecutionCost);
  const Status refused = block.CheckStructure(kTestChain);
  EXPECT_EQ(refused.code(), ErrorCode::kTooLarge);
  EXPECT_NE(refused.message().find("execution units"), std::string::npos) << refused.message();
  block.transactions.pop_back();
  block.Sign(keys_[2]);
  ASSERT_LE(ExecutionCost(block.transactions), kMaxBlockExecutionCost);
  EXPECT_TRUE(block.CheckStructure(kTestChain).ok());
}

// The expiry horizon is a chain rule (limits.h): a block at height h holds only transactions
// with h <= expiry_height <= h + kMaxExpiryHorizon, so the once-only rule needs the ids of
// the last kMaxExpiryHorizon heights alone, and a node started from a snapshot has them.
TEST_F(VerifyTest, BlockHoldingAnExpiredOrTooDistantTransactionIsRefused) {
  Block block = test::SampleBlock(keys_, 2, false);  // height 6
  auto with_expiry = [&](uint64_t expiry) {
    Transaction& tx = block.transactions[1];
    tx.expiry_height = expiry;
    tx.Sign(keys_[1]);
    block.Sign(keys_[2]);
    return block.CheckStructure(kTestChain);
  };
  EXPECT_TRUE(with_expiry(6).ok());
  EXPECT_TRUE(with_expiry(6 + kMaxExpiryHorizon).ok());
  const Status expired = with_expiry(5);
  EXPECT_EQ(expired.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(expired.message().find("past its expiry height 5"), std::string::npos);
  const Status distant = with_expiry(7 + kMaxExpiryHorizon);
  EXPECT_EQ(distant.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(distant.message().find("more than"), std::string::npos) << distant.message();
  EXPECT_FALSE(with_expiry(UINT64_MAX).ok());
}

TEST_F(VerifyTest, BlockWithSwappedTransactionsFailsTxRoot) {
  Block block = test::SampleBlock(keys_, 5, false);
  std::swap(block.transactions[0], block.transactions[1]);
  const Status status = block.CheckStructure(kTestChain);
  EXPECT_NE(status.message().find("tx_root"), std::string::npos);
}

// Found by the bit-flip property: tx_root once covered only transaction ids, so a relay
// could corrupt a transaction signature inside a block without changing the block's hash.
TEST_F(VerifyTest, RegressionBlockHashCoversTransactionSignatures) {
  Block block = test::SampleBlock(keys_, 2, false);
  block.transactions[1].signature.bytes[5] ^= 0x20;
  EXPECT_EQ(block.transactions[1].Id(), test::SampleBlock(keys_, 2, false).transactions[1].Id());
  EXPECT_NE(block.CheckStructure(kTestChain).message().find("tx_root"), std::string::npos);
}

TEST_F(VerifyTest, BlockResignedByAnotherKeyFailsProposerSignature) {
  Block block = test::SampleBlock(keys_, 1, false);
  block.signature = keys_[0].Sign(block.Hash().span());  // proposer is keys_[2]
  EXPECT_EQ(block.CheckStructure(kTestChain).code(), ErrorCode::kBadSignature);
}

TEST_F(VerifyTest, TransactionSignatureBindsEveryField) {
  const Transaction tx = test::SampleTransaction(keys_[0]);
  EXPECT_TRUE(tx.VerifySignature());
  for (auto mutate : std::vector<void (*)(Transaction&)>{
           [](Transaction& t) { t.nonce += 1; },
           [](Transaction& t) { t.expiry_height += 1; },
           [](Transaction& t) { t.chain_id = "city-other"; },
           [](Transaction& t) { t.method = "burn"; },
           [](Transaction& t) { t.args.push_back(0); },
           [](Transaction& t) { t.sender = test::TestKey(9).public_key(); },
       }) {
    Transaction changed = tx;
    mutate(changed);
    EXPECT_FALSE(changed.VerifySignature());
    EXPECT_NE(changed.Id(), tx.Id());
  }
}

TEST_F(VerifyTest, StatelessChecksNameTheProblem) {
  Transaction tx = test::SampleTransaction(keys_[0]);
  EXPECT_TRUE(tx.CheckStateless(kTestChain).ok());
  EXPECT_NE(tx.CheckStateless("city-main").message().find("chain"), std::string::npos);
  tx.method = "Transfer!";
  EXPECT_NE(tx.CheckStateless(kTestChain).message().find("method"), std::string::npos);
  tx.method = "transfer";
  tx.contract = "";
  EXPECT_NE(tx.CheckStateless(kTestChain).message().find("contract"), std::string::npos);
  EXPECT_TRUE(IsValidChainId("city-main.2"));
  EXPECT_FALSE(IsValidChainId("City Main"));
}

}  // namespace
}  // namespace city::ledger
