// The independent auditor against a real chain built in-process (audit_fixture.h): an honest
// chain passes, and each way of tampering with it is refused, naming the height and the fault.
#include "city/wallet/chain_audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "city/crypto/address.h"
#include "wallet/audit_fixture.h"

namespace city::wallet {
namespace {

using test::AuditChain;
using test::AuditChainOptions;
using test::BuildAuditChain;
using testing::HasSubstr;
using testing::StartsWith;

const AuditChain& Honest() {
  static const AuditChain chain = BuildAuditChain();
  return chain;
}

// The status is a refusal with `code` whose message starts with `start` and holds `part`.
testing::AssertionResult Refused(const Status& status, ErrorCode code, const std::string& start,
                                 const std::string& part = "") {
  if (status.ok()) return testing::AssertionFailure() << "accepted, expected: " << start;
  const std::string& message = status.message();
  if (status.code() != code || message.rfind(start, 0) != 0 ||
      message.find(part) == std::string::npos) {
    return testing::AssertionFailure() << "got " << status.ToString() << "\nexpected "
                                       << ErrorCodeName(code) << ": " << start << " ... " << part;
  }
  return testing::AssertionSuccess() << status.ToString();
}

// An auditor that has checked the honest chain's headers 0..to.
ChainAuditor AuditedThrough(uint64_t to, const AuditChain& chain = Honest()) {
  ChainAuditor auditor(chain.genesis);
  const Status status = test::AddHeaders(auditor, chain, 0, to);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return auditor;
}

CertifiedHeaderBytes WithHeader(const AuditChain& chain, uint64_t h,
                                const ledger::BlockHeader& header) {
  CertifiedHeaderBytes item = chain.Certified(h);
  item.header = ledger::Encode(header);
  return item;
}

CertifiedHeaderBytes WithCertificate(const AuditChain& chain, uint64_t h,
                                     const ledger::QuorumCert& cert) {
  CertifiedHeaderBytes item = chain.Certified(h);
  item.certificate = ledger::Encode(cert);
  return item;
}

// ---- an honest chain ----

TEST(ChainAuditHonest, PassesInFullCountingEachSignatureOnce) {
  const AuditChain& chain = Honest();
  ASSERT_EQ(chain.tip(), 10u);
  ChainAuditor auditor(chain.genesis);
  ASSERT_TRUE(test::AddHeaders(auditor, chain, 0, chain.tip()).ok());
  for (uint64_t h = 1; h <= chain.tip(); ++h) {
    const Status status = auditor.CheckBlock(h, chain.EncodedBlock(h));
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  const AuditStats& stats = auditor.stats();
  EXPECT_EQ(stats.headers, 11u);
  EXPECT_EQ(stats.blocks, 10u);
  // 3 per certificate (each justify repeats the previous certificate: verified once), 3 per
  // timeout certificate (its QC is one seen before), 1 per proposer, 1 per transaction.
  EXPECT_EQ(stats.signatures, 10u * 3 + 2 * 3 + 10 + 20);
  // Block 10 is in the round after block 9: 9 is committed. Block 10 itself is not proven.
  EXPECT_EQ(stats.proven_committed, 9u);
  ASSERT_NE(auditor.HeaderAt(10), nullptr);
  EXPECT_EQ(auditor.HeaderAt(10)->Hash(), chain.blocks[10].Hash());
  EXPECT_EQ(auditor.HeaderAt(11), nullptr);
}

TEST(ChainAuditHonest, TermChangesComeWithTimeoutCertificates) {
  ChainAuditor auditor = AuditedThrough(Honest().tip());
  for (uint64_t h : {4u, 7u}) {
    const ledger::BlockHeader* header = auditor.HeaderAt(h);
    ASSERT_NE(header, nullptr);
    ASSERT_TRUE(header->timeout_cert.has_value()) << h;
    EXPECT_EQ(header->term, header->round);
    EXPECT_EQ(header->timeout_cert->round + 1, header->round);
    EXPECT_EQ(header->proposer, test::ChainValidators()[header->term % 4].public_key());
  }
  EXPECT_EQ(auditor.HeaderAt(4)->term, 5u);
  EXPECT_EQ(auditor.HeaderAt(7)->term, 9u);
}

TEST(ChainAuditHonest, PassesFromAMiddleHeight) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor(chain.genesis);
  ASSERT_TRUE(test::AddHeaders(auditor, chain, 5, chain.tip()).ok());
  EXPECT_TRUE(auditor.CheckBlock(7, chain.EncodedBlock(7)).ok());
  EXPECT_EQ(auditor.HeaderAt(4), nullptr);
  EXPECT_EQ(auditor.stats().headers, 6u);
  // The justify of 5 (no certificate of 4 seen before), 6 certificates, one TC, one block.
  EXPECT_EQ(auditor.stats().signatures, 3u + 6 * 3 + 3 + 1 + 2);
}

TEST(ChainAuditHonest, KeepsOnlyTheLastHeadersYetChecksEveryLink) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor(chain.genesis, /*kept_headers=*/2);
  ASSERT_TRUE(test::AddHeaders(auditor, chain, 0, chain.tip()).ok());
  EXPECT_EQ(auditor.stats().headers, chain.tip() + 1);
  EXPECT_EQ(auditor.HeaderAt(chain.tip() - 2), nullptr);
  ASSERT_NE(auditor.HeaderAt(chain.tip()), nullptr);
  EXPECT_TRUE(auditor.CheckBlock(chain.tip(), chain.EncodedBlock(chain.tip())).ok());
  EXPECT_FALSE(auditor.CheckBlock(chain.tip() - 2, chain.EncodedBlock(chain.tip() - 2)).ok());
}

TEST(ChainAuditHonest, StartsRightAfterATermChange) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor(chain.genesis);
  EXPECT_TRUE(test::AddHeaders(auditor, chain, 4, 6).ok());
}

TEST(ChainAuditHonest, ARefusedHeaderIsNotRecorded) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(2);
  CertifiedHeaderBytes bad = chain.Certified(3);
  bad.certificate = chain.Certified(2).certificate;
  EXPECT_FALSE(auditor.AddHeader(bad).ok());
  EXPECT_EQ(auditor.HeaderAt(3), nullptr);
  EXPECT_TRUE(auditor.AddHeader(chain.Certified(3)).ok());
  EXPECT_EQ(auditor.stats().headers, 4u);
}

// ---- headers and certificates ----

TEST(ChainAuditHeader, AlteredTimestampNoLongerMatchesItsCertificate) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  ledger::BlockHeader header = chain.blocks[4].header;
  header.timestamp_ms += 1;
  EXPECT_TRUE(Refused(auditor.AddHeader(WithHeader(chain, 4, header)), ErrorCode::kUnauthenticated,
                      "height 4: the certificate is for block ",
                      "not for this header (hash " + header.Hash().ToHex().substr(0, 12)));
}

TEST(ChainAuditHeader, HeaderOfAForkBreaksTheParentLink) {
  const AuditChain& chain = Honest();
  const AuditChain fork = BuildAuditChain({.txs_per_block = 3});
  ChainAuditor auditor = AuditedThrough(3);
  // Valid in its own chain: certified, justified, proposed by the leader.
  EXPECT_TRUE(Refused(
      auditor.AddHeader(fork.Certified(4)), ErrorCode::kUnauthenticated,
      "height 4: parent_hash " + fork.blocks[3].Hash().ToHex().substr(0, 12),
      "is not the hash of block 3 (" + chain.blocks[3].Hash().ToHex().substr(0, 12) + "...)"));
}

TEST(ChainAuditHeader, FlippedCertificateSignatureNamesTheSigner) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(2);
  CertifiedHeaderBytes item = chain.Certified(3);
  item.certificate->back() ^= 0x01;  // the last byte of the last signature
  const PublicKey& signer = chain.certificates[3].signatures.back().signer;
  EXPECT_TRUE(Refused(
      auditor.AddHeader(item), ErrorCode::kBadSignature,
      "height 3: the certificate's signature by " + EncodeAddress(signer) + " does not verify"));
}

TEST(ChainAuditHeader, CertificateMissingASignatureIsBelowQuorum) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(4);
  ledger::QuorumCert cert = chain.certificates[5];
  cert.signatures.pop_back();
  EXPECT_TRUE(Refused(auditor.AddHeader(WithCertificate(chain, 5, cert)), ErrorCode::kBadSignature,
                      "height 5: the certificate does not verify", "2 signers, a quorum is 3"));
}

TEST(ChainAuditHeader, CertificateSignedByANonValidatorNamesIt) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(4);
  const ledger::QuorumCert& honest = chain.certificates[5];
  // Two validators and an outsider: three signatures, each valid, but not a quorum of members.
  const KeyPair* v0 = &test::ChainValidators()[0];
  const KeyPair* v1 = &test::ChainValidators()[1];
  const ledger::QuorumCert cert = test::AuditVotes({v0, v1, &test::AuditOutsider()}, honest.data);
  EXPECT_TRUE(Refused(
      auditor.AddHeader(WithCertificate(chain, 5, cert)), ErrorCode::kBadSignature,
      "height 5: the certificate is signed by " + EncodeAddress(test::AuditOutsider().public_key()),
      "not a validator of the genesis"));
}

TEST(ChainAuditHeader, CertificateForAnotherBlockIsRefused) {
  const AuditChain& chain = Honest();
  const AuditChain fork = BuildAuditChain({.txs_per_block = 1});
  ChainAuditor auditor = AuditedThrough(5);
  // Valid signatures of the same validators, same height and round, another block.
  EXPECT_TRUE(Refused(
      auditor.AddHeader(WithCertificate(chain, 6, fork.certificates[6])),
      ErrorCode::kUnauthenticated,
      "height 6: the certificate is for block " + fork.blocks[6].Hash().ToHex().substr(0, 12),
      "not for this header (hash " + chain.blocks[6].Hash().ToHex().substr(0, 12)));
}

TEST(ChainAuditHeader, GenesisOfAnotherFileIsRefused) {
  const AuditChain& chain = Honest();
  const AuditChain other = BuildAuditChain({.blocks = 0, .genesis_balance = 2'000});
  ChainAuditor auditor(other.genesis);
  EXPECT_TRUE(Refused(
      auditor.AddHeader(chain.Certified(0)), ErrorCode::kUnauthenticated,
      "height 0: the genesis header (hash " + chain.genesis.block_hash.ToHex().substr(0, 12),
      "is not the one built from the genesis file (" +
          other.genesis.block_hash.ToHex().substr(0, 12) +
          "...); differing: parent_hash (the hash of the genesis file)"));
  CertifiedHeaderBytes with_cert = other.Certified(0);
  with_cert.certificate = chain.Certified(1).certificate;
  EXPECT_TRUE(Refused(auditor.AddHeader(with_cert), ErrorCode::kMalformed,
                      "height 0: the genesis block has no certificate"));
}

TEST(ChainAuditHeader, SkippedHeightIsRefused) {
  ChainAuditor auditor = AuditedThrough(3);
  EXPECT_TRUE(Refused(auditor.AddHeader(Honest().Certified(5)), ErrorCode::kInvalidArgument,
                      "height 5: expected height 4, the next after 3"));
  EXPECT_TRUE(Refused(auditor.AddHeader(Honest().Certified(3)), ErrorCode::kInvalidArgument,
                      "height 3: expected height 4"));
}

TEST(ChainAuditHeader, HeightOtherThanTheBytesSayIsRefused) {
  ChainAuditor auditor = AuditedThrough(3);
  CertifiedHeaderBytes item = Honest().Certified(5);
  item.height = 4;
  EXPECT_TRUE(Refused(auditor.AddHeader(item), ErrorCode::kInvalidArgument,
                      "height 4: the header says height 5"));
}

TEST(ChainAuditHeader, WrongProposerIsRefusedThoughCertified) {
  const AuditChain chain = BuildAuditChain({.proposer = {{5, 2}}});
  ChainAuditor auditor = AuditedThrough(4, chain);
  // Block 5 is in term 5: its leader is validator 1.
  EXPECT_TRUE(Refused(auditor.AddHeader(chain.Certified(5)), ErrorCode::kInvalidArgument,
                      "height 5: proposer " +
                          EncodeAddress(test::ChainValidators()[2].public_key()) +
                          " is not the leader of term 5 (" +
                          EncodeAddress(test::ChainValidators()[1].public_key()) + ")"));
}

TEST(ChainAuditHeader, TrailingByteIsRefused) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(1);
  CertifiedHeaderBytes item = chain.Certified(2);
  item.header.push_back(0);
  EXPECT_TRUE(Refused(auditor.AddHeader(item), ErrorCode::kMalformed,
                      "height 2: the header does not decode"));
  item = chain.Certified(2);
  item.certificate->push_back(0);
  EXPECT_TRUE(Refused(auditor.AddHeader(item), ErrorCode::kMalformed,
                      "height 2: the certificate does not decode"));
}

TEST(ChainAuditHeader, MissingCertificateIsRefused) {
  ChainAuditor auditor = AuditedThrough(1);
  CertifiedHeaderBytes item = Honest().Certified(2);
  item.certificate.reset();
  EXPECT_TRUE(Refused(auditor.AddHeader(item), ErrorCode::kMalformed,
                      "height 2: no certificate came with the header"));
}

// A chain whose header at `height` is edited before it is signed and certified (so valid
// signatures vouch for it): what the auditor says of it after the headers before it.
Status AuditEdited(uint64_t height, const std::function<void(ledger::BlockHeader&)>& edit) {
  const AuditChain chain = BuildAuditChain({.edit = [&](ledger::Block& block) {
    if (block.header.height == height) edit(block.header);
  }});
  ChainAuditor auditor = AuditedThrough(height - 1, chain);
  return auditor.AddHeader(chain.Certified(height));
}

TEST(ChainAuditHeader, OtherEpochIsRefusedRatherThanTrusted) {
  EXPECT_TRUE(Refused(AuditEdited(3, [](ledger::BlockHeader& h) { h.epoch = 1; }),
                      ErrorCode::kInvalidArgument,
                      "height 3: the header is of epoch 1, expected epoch 0"));
}

// ---- epochs: the auditor follows each validator set from the headers alone ----

const AuditChain& Reconfigured() {
  // Epoch 0 ends at height 5 (validator 0 removed, EpochJoiner() added); a term change in each.
  static const AuditChain chain =
      BuildAuditChain({.blocks = 10, .term_changes = {3, 8}, .epoch_end = 5});
  return chain;
}

TEST(ChainAuditEpochs, FollowsAValidatorSetChangeFromTheGenesisFileAlone) {
  const AuditChain& chain = Reconfigured();
  ASSERT_EQ(chain.blocks[6].header.epoch, 1u);
  ChainAuditor auditor(chain.genesis);
  const Status status = test::AddHeaders(auditor, chain, 0, chain.tip());
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(auditor.stats().proven_committed, 8u);
}

TEST(ChainAuditEpochs, TheNextEpochSignedWithARemovedValidatorIsRefused) {
  const AuditChain& chain = Reconfigured();
  ChainAuditor auditor = AuditedThrough(6, chain);
  const KeyPair* removed = &test::ChainValidators()[0];
  const KeyPair* stays = &test::ChainValidators()[1];
  const KeyPair* also = &test::ChainValidators()[2];
  const ledger::QuorumCert cert =
      test::AuditVotes({removed, stays, also}, chain.certificates[7].data);
  EXPECT_TRUE(
      Refused(auditor.AddHeader(WithCertificate(chain, 7, cert)), ErrorCode::kBadSignature,
              "height 7: the certificate is signed by " + EncodeAddress(removed->public_key()),
              "not a validator of epoch 1"));
}

TEST(ChainAuditEpochs, TheOldSetsCertificateForAnEpochOneHeaderIsRefused) {
  const AuditChain& chain = Reconfigured();
  ChainAuditor auditor = AuditedThrough(6, chain);
  ledger::VoteData old_epoch = chain.certificates[7].data;
  old_epoch.epoch = 0;
  const KeyPair* v1 = &test::ChainValidators()[1];
  const KeyPair* v2 = &test::ChainValidators()[2];
  const KeyPair* v3 = &test::ChainValidators()[3];
  EXPECT_FALSE(
      auditor.AddHeader(WithCertificate(chain, 7, test::AuditVotes({v1, v2, v3}, old_epoch))).ok());
}

TEST(ChainAuditEpochs, TheFirstBlockOfAnEpochMustStartFromItsRoot) {
  const AuditChain forged = BuildAuditChain({.blocks = 8,
                                             .term_changes = {},
                                             .edit =
                                                 [](ledger::Block& block) {
                                                   // Epoch 1's first block claims a certificate of
                                                   // epoch 0's last block instead.
                                                   if (block.header.height == 6)
                                                     block.header.justify.data.round = 4;
                                                 },
                                             .epoch_end = 5});
  ChainAuditor auditor = AuditedThrough(5, forged);
  EXPECT_FALSE(auditor.AddHeader(forged.Certified(6)).ok());
}

TEST(ChainAuditEpochs, AnAuditStartingPastAChangeSaysWhereToStart) {
  const AuditChain& chain = Reconfigured();
  ChainAuditor auditor(chain.genesis);
  EXPECT_TRUE(Refused(auditor.AddHeader(chain.Certified(7)), ErrorCode::kInvalidArgument,
                      "height 7: the header is of epoch 1, expected epoch 0",
                      "must start at height 0"));
}

TEST(ChainAuditHeader, OtherChainIsRefused) {
  EXPECT_TRUE(Refused(AuditEdited(2, [](ledger::BlockHeader& h) { h.chain_id = "city-other"; }),
                      ErrorCode::kInvalidArgument,
                      "height 2: chain_id 'city-other' is not the genesis chain 'city-test'"));
}

TEST(ChainAuditHeader, TimestampNotAfterTheParentsIsRefusedThoughCertified) {
  EXPECT_TRUE(Refused(AuditEdited(6, [](ledger::BlockHeader& h) { h.timestamp_ms -= 1000; }),
                      ErrorCode::kInvalidArgument,
                      "height 6: timestamp_ms 1700000005000 is not after the parent's "
                      "1700000005000"));
}

TEST(ChainAuditHeader, ExecHeightThatFallsIsRefusedThoughCertified) {
  EXPECT_TRUE(Refused(AuditEdited(6, [](ledger::BlockHeader& h) { h.exec_height = 1; }),
                      ErrorCode::kInvalidArgument,
                      "height 6: exec_height 1 is below the parent's 3"));
  EXPECT_TRUE(Refused(AuditEdited(1, [](ledger::BlockHeader& h) { h.exec_height = 1; }),
                      ErrorCode::kInvalidArgument,
                      "height 1: exec_height 1 is not below the block's own height"));
}

TEST(ChainAuditHeader, RoundSkippedWithoutATimeoutCertificateIsRefused) {
  EXPECT_TRUE(Refused(AuditEdited(2, [](ledger::BlockHeader& h) { h.round += 1; }),
                      ErrorCode::kInvalidArgument,
                      "height 2: without a timeout certificate, round 3 term 0 must follow its "
                      "justify (epoch 0, term 0, round 1, height 1)"));
}

TEST(ChainAuditHeader, TermChangeWithoutATimeoutCertificateIsRefused) {
  EXPECT_TRUE(Refused(AuditEdited(4, [](ledger::BlockHeader& h) { h.timeout_cert.reset(); }),
                      ErrorCode::kInvalidArgument,
                      "height 4: without a timeout certificate, round 5 term 5"));
}

TEST(ChainAuditHeader, JustifyBelowTheTimeoutCertificatesQcIsRefused) {
  // Round 4 certified a block at height 3 that lost (a fork), and the TC of round 4 reports
  // that QC: block 4 must extend it (or a later one), not block 3 of round 3.
  const std::vector<KeyPair>& validators = test::ChainValidators();
  const ledger::VoteData lost{0, 0, 4, 3, TaggedHash("city.test.lost", {})};
  const ledger::QuorumCert lost_qc =
      test::AuditVotes({&validators[0], &validators[1], &validators[2]}, lost);
  std::vector<ledger::Timeout> timeouts;
  for (size_t i = 0; i < 3; ++i) {
    timeouts.push_back(
        ledger::Timeout::Create({0, 4, 4}, lost_qc, test::kTestChain, validators[i]));
  }
  const ledger::TimeoutCert tc = ledger::TimeoutCert::FromTimeouts(timeouts);
  EXPECT_TRUE(Refused(AuditEdited(4, [&](ledger::BlockHeader& h) { h.timeout_cert = tc; }),
                      ErrorCode::kInvalidArgument,
                      "height 4: the justify (round 3) is below the highest QC of its timeout "
                      "certificate (round 4)"));
}

TEST(ChainAuditHeader, ForgedTimeoutCertificateSignatureIsRefused) {
  const PublicKey& signer = Honest().blocks[7].header.timeout_cert->entries[0].signer;
  EXPECT_TRUE(Refused(
      AuditEdited(
          7, [](ledger::BlockHeader& h) { h.timeout_cert->entries[0].signature.bytes[5] ^= 1; }),
      ErrorCode::kBadSignature,
      "height 7: the timeout certificate's signature by " + EncodeAddress(signer) +
          " does not verify"));
}

// ---- block bodies ----

TEST(ChainAuditBlock, TransactionSignatureAlteredInTransitBreaksTheTxRoot) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  ledger::Block block = chain.blocks[3];
  block.transactions[1].signature.bytes[0] ^= 1;
  EXPECT_TRUE(Refused(auditor.CheckBlock(3, ledger::Encode(block)), ErrorCode::kUnauthenticated,
                      "height 3: tx_root " + block.header.tx_root.ToHex().substr(0, 12),
                      "does not match the block's 2 transactions"));
}

TEST(ChainAuditBlock, CertifiedTransactionWithABadSignatureIsNamed) {
  const AuditChain chain = BuildAuditChain({.edit = [](ledger::Block& block) {
    if (block.header.height == 3) block.transactions[1].signature.bytes[0] ^= 1;
  }});
  ChainAuditor auditor = AuditedThrough(chain.tip(), chain);  // the headers are fine
  const ledger::Transaction& tx = chain.blocks[3].transactions[1];
  EXPECT_TRUE(Refused(auditor.CheckBlock(3, chain.EncodedBlock(3)), ErrorCode::kBadSignature,
                      "height 3: transaction 1 (id " + tx.Id().ToHex().substr(0, 12),
                      "its signature by " + EncodeAddress(tx.sender) + " does not verify"));
}

// The signatures of a block are verified all at once, on every core; the failure named is
// still the first in the block's order, a bad signature or a broken rule.
TEST(ChainAuditBlock, TheFirstFailureInTheBlocksOrderIsNamed) {
  auto named = [](size_t bad_signature, size_t repeated) {
    const AuditChain chain =
        BuildAuditChain({.blocks = 4, .txs_per_block = 60, .edit = [=](ledger::Block& block) {
                           if (block.header.height != 3) return;
                           block.transactions[bad_signature].signature.bytes[0] ^= 1;
                           block.transactions[repeated] = block.transactions[repeated - 1];
                         }});
    ChainAuditor auditor = AuditedThrough(chain.tip(), chain);
    return auditor.CheckBlock(3, chain.EncodedBlock(3));
  };
  const Status signature_first = named(37, 50);
  EXPECT_EQ(signature_first.code(), ErrorCode::kBadSignature) << signature_first.ToString();
  EXPECT_NE(signature_first.message().find("transaction 37 "), std::string::npos)
      << signature_first.message();
  const Status repeat_first = named(55, 20);
  EXPECT_EQ(repeat_first.code(), ErrorCode::kInvalidArgument) << repeat_first.ToString();
  EXPECT_NE(repeat_first.message().find("transaction 20 "), std::string::npos)
      << repeat_first.message();
  EXPECT_NE(repeat_first.message().find("appears twice"), std::string::npos);
}

TEST(ChainAuditBlock, AddedTransactionBreaksTheTxRoot) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  ledger::Block block = chain.blocks[3];
  block.transactions.push_back(test::AuditTransaction(3, 9));
  EXPECT_TRUE(Refused(auditor.CheckBlock(3, ledger::Encode(block)), ErrorCode::kUnauthenticated,
                      "height 3: tx_root", "does not match the block's 3 transactions"));
}

TEST(ChainAuditBlock, AlteredProposerSignatureIsRefused) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  ledger::Block block = chain.blocks[3];
  block.signature.bytes[10] ^= 1;
  EXPECT_TRUE(Refused(auditor.CheckBlock(3, ledger::Encode(block)), ErrorCode::kBadSignature,
                      "height 3: the proposer's signature (" +
                          EncodeAddress(block.header.proposer) + ") does not verify"));
}

TEST(ChainAuditBlock, BlockOfAnotherHeightIsNotTheCertifiedOne) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  EXPECT_TRUE(
      Refused(auditor.CheckBlock(3, chain.EncodedBlock(2)), ErrorCode::kUnauthenticated,
              "height 3: the block's header (hash " + chain.blocks[2].Hash().ToHex().substr(0, 12),
              "is not the certified header"));
}

// verify-chain prepares a page's blocks on another thread before their headers are checked:
// a prepared block is held to the certified header of its own height, once that is checked.
TEST(ChainAuditBlock, ABlockPreparedAheadIsCheckedAgainstItsHeaderOnceThatIsChecked) {
  const AuditChain& chain = Honest();
  std::vector<PreparedBlock> prepared;
  for (uint64_t h = 1; h <= chain.tip(); ++h) {
    Result<PreparedBlock> block = PrepareBlock(h, chain.EncodedBlock(h));
    ASSERT_TRUE(block.ok()) << block.status().ToString();
    EXPECT_EQ(block->hash(), chain.blocks[h].Hash());
    ASSERT_EQ(block->tx_ids().size(), chain.blocks[h].transactions.size());
    prepared.push_back(std::move(*block));
  }
  ChainAuditor auditor = AuditedThrough(4);
  EXPECT_TRUE(Refused(auditor.CheckBlock(prepared[4]), ErrorCode::kInvalidArgument,
                      "height 5: no certified header was checked at this height"));
  for (uint64_t h = 1; h <= 4; ++h) {
    EXPECT_TRUE(auditor.CheckBlock(prepared[h - 1]).ok()) << h;
  }
  // Another height's body, prepared as if it were block 3's, is not block 3.
  Result<PreparedBlock> swapped = PrepareBlock(3, chain.EncodedBlock(2));
  ASSERT_TRUE(swapped.ok());
  EXPECT_TRUE(Refused(auditor.CheckBlock(*swapped), ErrorCode::kUnauthenticated,
                      "height 3: the block's header (hash"));
  EXPECT_TRUE(Refused(PrepareBlock(2, Bytes{1, 2, 3}).status(), ErrorCode::kMalformed,
                      "height 2: the block does not decode"));
  EXPECT_EQ(auditor.stats().blocks, 4u);
}

TEST(ChainAuditBlock, NeedsItsHeaderCheckedFirst) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  EXPECT_TRUE(Refused(auditor.CheckBlock(4, chain.EncodedBlock(4)), ErrorCode::kInvalidArgument,
                      "height 4: no certified header was checked at this height"));
  Bytes trailing = chain.EncodedBlock(2);
  trailing.push_back(7);
  EXPECT_TRUE(Refused(auditor.CheckBlock(2, trailing), ErrorCode::kMalformed,
                      "height 2: the block does not decode"));
  EXPECT_EQ(auditor.stats().blocks, 0u);
}

// ---- state proofs ----

TEST(ChainAuditState, ProofsOfPresenceAndAbsencePass) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(chain.tip());
  for (uint64_t h : {1u, 6u, 10u}) {
    for (const auto& [key, value] : chain.StateAt(h)) {
      const Status status =
          auditor.CheckState(h, AsBytes(key), AsBytes(value), chain.Prove(h, key));
      EXPECT_TRUE(status.ok()) << h << ": " << status.ToString();
    }
    const Status status =
        auditor.CheckState(h, AsBytes("block/999"), std::nullopt, chain.Prove(h, "block/999"));
    EXPECT_TRUE(status.ok()) << h << ": " << status.ToString();
  }
}

TEST(ChainAuditState, ForgedValueIsRefused) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(chain.tip());
  const std::string key = "block/3";
  ASSERT_TRUE(chain.StateAt(8).contains(key));
  EXPECT_TRUE(Refused(
      auditor.CheckState(8, AsBytes(key), AsBytes("99 transactions"), chain.Prove(8, key)),
      ErrorCode::kUnauthenticated, "height 8: the state proof for key " + ToHex(AsBytes(key)),
      "does not hold under state_root " + chain.blocks[8].header.state_root.ToHex().substr(0, 12) +
          "... (exec_height 6)"));
  // Absent is a lie too, and a proof of another height's state does not fit this one.
  EXPECT_FALSE(auditor.CheckState(8, AsBytes(key), std::nullopt, chain.Prove(8, key)).ok());
  const std::string& newer = chain.StateAt(9).at("block/7");
  EXPECT_FALSE(
      auditor.CheckState(8, AsBytes("block/7"), AsBytes(newer), chain.Prove(9, "block/7")).ok());
}

TEST(ChainAuditState, NeedsItsHeaderCheckedFirst) {
  const AuditChain& chain = Honest();
  ChainAuditor auditor = AuditedThrough(3);
  const std::string& value = chain.StateAt(5).at("block/1");
  EXPECT_TRUE(Refused(
      auditor.CheckState(5, AsBytes("block/1"), AsBytes(value), chain.Prove(5, "block/1")),
      ErrorCode::kInvalidArgument, "height 5: no certified header was checked at this height"));
}

}  // namespace
}  // namespace city::wallet
