// Enrolment: the engine refuses a sender nobody enrolled (without consuming its nonce), a
// registrar enrols and revokes, and roles and citizenship enrol on their own.
#include "city/contracts/accounts.h"

#include <gtest/gtest.h>

#include "city/contracts/ubi.h"
#include "support/contract_harness.h"

namespace city::contracts {
namespace {

using test::CodeOf;
using test::TestKey;

class AccountsTest : public ::testing::Test {
 protected:
  AccountsTest() : council_(test::TestValidators(1)), registrar_(TestKey(10)) {
    GovernanceGenesis genesis;
    genesis.council.push_back(council_[0].public_key());
    genesis.threshold = 1;
    genesis.roles.push_back({std::string(kRegistrarRole), registrar_.public_key()});
    auto registry = std::make_unique<Registry>();
    EXPECT_TRUE(registry->Add(MakeAccounts()).ok());
    EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
    EXPECT_TRUE(registry->Add(MakeUbi()).ok());
    chain_ = std::make_unique<test::ContractHarness>(std::move(registry),
                                                     *GovernanceGenesisWrites(genesis));
  }

  EnrolledVia Via(const PublicKey& account) {
    return EnrolmentOf(StoreStateReader(chain_->store()), account);
  }
  uint64_t Nonce(const PublicKey& account) {
    return NextNonce(StoreStateReader(chain_->store()), account);
  }
  ledger::TxResult Grant(const std::string& role, const PublicKey& account, bool grant = true) {
    ProposeArgs args{
        {uint8_t(grant ? ActionKind::kGrantRole : ActionKind::kRevokeRole), role, account, 0, {}},
        chain_->height() + 50};
    return chain_->Call(council_[0], "governance", "propose", args);
  }

  std::vector<KeyPair> council_;
  KeyPair registrar_;
  std::unique_ptr<test::ContractHarness> chain_;
};

TEST_F(AccountsTest, AnUnenrolledSenderIsRefusedWithoutUsingItsNonce) {
  const KeyPair stranger = KeyPair::Generate();
  EXPECT_EQ(Via(stranger.public_key()), EnrolledVia::kNone);
  const ledger::TxResult refused =
      chain_->Call(stranger, "ubi", "transfer", UbiTransferArgs{registrar_.public_key(), 1});
  EXPECT_EQ(refused.code, CodeOf(Code::kUnknownSender));
  EXPECT_EQ(CodeName(refused.code), "unknown_sender");
  EXPECT_EQ(Nonce(stranger.public_key()), 0u);
  // Even for an unknown contract: the sender is checked first.
  chain_->SetNonce(stranger.public_key(), 0);
  EXPECT_EQ(chain_->Call(stranger, "nothing", "here", UbiClaimArgs{}).code,
            CodeOf(Code::kUnknownSender));
}

TEST_F(AccountsTest, ARegistrarEnrolsAndRevokes) {
  const KeyPair patient = KeyPair::Generate();
  ASSERT_TRUE(chain_->Call(registrar_, "accounts", "enrol", EnrolArgs{patient.public_key()}).ok());
  EXPECT_EQ(Via(patient.public_key()), EnrolledVia::kRegistry);
  Result<Json> record =
      chain_->Query("accounts", "enrolment", {{"account", EncodeAddress(patient.public_key())}});
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_TRUE(record->at("enrolled_here").get<bool>());
  EXPECT_EQ(record->at("by"), EncodeAddress(registrar_.public_key()));
  // Enrolled, it sends (the call itself fails for lack of tokens, but runs and uses a nonce).
  EXPECT_EQ(
      chain_->Call(patient, "ubi", "transfer", UbiTransferArgs{registrar_.public_key(), 1}).code,
      CodeOf(Code::kInsufficientFunds));
  EXPECT_EQ(Nonce(patient.public_key()), 1u);
  EXPECT_EQ(chain_->Call(registrar_, "accounts", "enrol", EnrolArgs{patient.public_key()}).code,
            CodeOf(Code::kAlreadyExists));

  ASSERT_TRUE(chain_->Call(registrar_, "accounts", "revoke", EnrolArgs{patient.public_key()}).ok());
  EXPECT_EQ(Via(patient.public_key()), EnrolledVia::kNone);
  EXPECT_EQ(
      chain_->Call(patient, "ubi", "transfer", UbiTransferArgs{registrar_.public_key(), 1}).code,
      CodeOf(Code::kUnknownSender));
  EXPECT_EQ(chain_->Call(registrar_, "accounts", "revoke", EnrolArgs{patient.public_key()}).code,
            CodeOf(Code::kNotFound));
}

TEST_F(AccountsTest, OnlyRegistrarsAndAdminsEnrol) {
  // TestKey(30) is enrolled (the harness) but holds no role.
  EXPECT_EQ(
      chain_->Call(TestKey(30), "accounts", "enrol", EnrolArgs{TestKey(31).public_key()}).code,
      CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(chain_->Call(registrar_, "accounts", "enrol", EnrolArgs{PublicKey{}}).code,
            CodeOf(Code::kBadArguments));
}

TEST_F(AccountsTest, ARoleEnrolsItsHolderUntilTheLastRoleIsRevoked) {
  const KeyPair nurse = KeyPair::Generate();
  ASSERT_TRUE(Grant("clinician", nurse.public_key()).ok());
  ASSERT_TRUE(Grant("emergency", nurse.public_key()).ok());
  EXPECT_EQ(Via(nurse.public_key()), EnrolledVia::kRole);
  ASSERT_TRUE(Grant("clinician", nurse.public_key(), /*grant=*/false).ok());
  EXPECT_EQ(Via(nurse.public_key()), EnrolledVia::kRole);  // still an emergency responder
  ASSERT_TRUE(Grant("emergency", nurse.public_key(), /*grant=*/false).ok());
  EXPECT_EQ(Via(nurse.public_key()), EnrolledVia::kNone);
}

TEST_F(AccountsTest, ARegisteredCitizenIsEnrolled) {
  const KeyPair citizen = KeyPair::Generate();
  ASSERT_TRUE(chain_
                  ->Call(registrar_, "ubi", "register",
                         UbiRegisterArgs{citizen.public_key(), TaggedHash("city.test.id", {})})
                  .ok());
  EXPECT_EQ(Via(citizen.public_key()), EnrolledVia::kCitizen);
}

TEST(AccountsGenesis, EnrolsEachNamedAccountOnce) {
  const PublicKey a = TestKey(1).public_key();
  const PublicKey b = TestKey(2).public_key();
  Result<std::vector<ledger::StateWrite>> writes = AccountsGenesisWrites({a, b, a});
  ASSERT_TRUE(writes.ok());
  EXPECT_EQ(writes->size(), 3u);  // two enrolments and the count
  EXPECT_FALSE(AccountsGenesisWrites({PublicKey{}}).ok());
}

}  // namespace
}  // namespace city::contracts
