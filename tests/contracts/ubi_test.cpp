// The basic-income contract on a real store: each method's success path, permission denials
// and invalid arguments; periods, the look-back cap and parameters; a city scenario that
// ends with the supply invariant.
#include "city/contracts/ubi.h"

#include <gtest/gtest.h>

#include <limits>

#include "support/contract_harness.h"

namespace city::contracts {
namespace {

using test::CodeOf;
using test::TestKey;

constexpr uint64_t kAmount = 100;
constexpr uint64_t kPeriodMs = 10'000;  // 10 harness blocks
constexpr uint64_t kMaxPeriods = 3;
constexpr uint64_t kFunded = 1'000;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

std::vector<std::pair<std::string, uint64_t>> DefaultParams() {
  return {{std::string(kUbiAmountParam), kAmount},
          {std::string(kUbiPeriodParam), kPeriodMs},
          {std::string(kUbiMaxPeriodsParam), kMaxPeriods}};
}

// Governance (council 1..3, registrar TestKey(10), `params`) plus ubi genesis `balances`.
std::unique_ptr<test::ContractHarness> MakeChain(
    const std::vector<std::pair<std::string, uint64_t>>& params,
    const std::vector<std::pair<PublicKey, uint64_t>>& balances) {
  GovernanceGenesis governance;
  for (const KeyPair& key : test::TestValidators(3)) governance.council.push_back(key.public_key());
  governance.threshold = 2;
  governance.roles.push_back({std::string(kRegistrarRole), TestKey(10).public_key()});
  governance.params = params;
  Result<std::vector<ledger::StateWrite>> writes = GovernanceGenesisWrites(governance);
  EXPECT_TRUE(writes.ok()) << writes.status().ToString();
  Result<std::vector<ledger::StateWrite>> ubi = UbiGenesisWrites(UbiGenesis{balances});
  EXPECT_TRUE(ubi.ok()) << ubi.status().ToString();
  writes->insert(writes->end(), ubi->begin(), ubi->end());
  auto registry = std::make_unique<Registry>();
  EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
  EXPECT_TRUE(registry->Add(MakeUbi()).ok());
  return std::make_unique<test::ContractHarness>(std::move(registry), std::move(writes).value());
}

// A person id as a registrar derives it from an identity document.
Hash256 PersonId(uint64_t n) { return TaggedHash("city.test.person", AsBytes(std::to_string(n))); }

class UbiTest : public ::testing::Test {
 protected:
  UbiTest()
      : registrar_(TestKey(10)),
        funded_(TestKey(30)),
        alice_(TestKey(40)),
        bob_(TestKey(41)),
        carol_(TestKey(42)),
        outsider_(TestKey(9)) {
    chain_ = MakeChain(DefaultParams(), {{funded_.public_key(), kFunded}});
  }

  ledger::TxResult Register(const KeyPair& citizen, uint64_t person) {
    return chain_->Call(registrar_, "ubi", "register",
                        UbiRegisterArgs{citizen.public_key(), PersonId(person)});
  }
  // Claims in a block whose time is exactly `time_ms`.
  ledger::TxResult ClaimAt(const KeyPair& citizen, uint64_t time_ms) {
    chain_->AdvanceTo(time_ms - test::kHarnessBlockMs);
    EXPECT_EQ(chain_->TimeAt(chain_->height() + 1), time_ms);
    return chain_->Call(citizen, "ubi", "claim", UbiClaimArgs{});
  }
  Json Query(std::string_view query, const Json& params) {
    Result<Json> answer = chain_->Query("ubi", query, params);
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? *answer : Json{};
  }
  uint64_t Balance(const PublicKey& account) {
    return Query("balance", {{"account", EncodeAddress(account)}}).at("balance").get<uint64_t>();
  }
  uint64_t Balance(const KeyPair& account) { return Balance(account.public_key()); }
  Json Citizen(const KeyPair& account) {
    return Query("citizen", {{"account", EncodeAddress(account.public_key())}});
  }
  Json Supply() { return Query("supply", Json::object()); }
  // Sum of the balances of `accounts` (everyone who ever held tokens) == issued - burned.
  void ExpectSupplyInvariant(const std::vector<const KeyPair*>& accounts) {
    uint64_t sum = 0;
    for (const KeyPair* account : accounts) sum += Balance(*account);
    const Json supply = Supply();
    EXPECT_EQ(sum, supply.at("supply").get<uint64_t>());
    EXPECT_EQ(sum, supply.at("issued").get<uint64_t>() - supply.at("burned").get<uint64_t>());
  }

  KeyPair registrar_, funded_, alice_, bob_, carol_, outsider_;
  std::unique_ptr<test::ContractHarness> chain_;
};

// ---- register ----

TEST_F(UbiTest, RegistrarRegistersACitizen) {
  const ledger::TxResult result = Register(alice_, 1);
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(result.events[0].name, "registered");
  const Json citizen = Citizen(alice_);
  EXPECT_TRUE(citizen.at("registered").get<bool>());
  EXPECT_FALSE(citizen.at("suspended").get<bool>());
  EXPECT_EQ(citizen.at("person_id").get<std::string>(), PersonId(1).ToHex());
  EXPECT_EQ(citizen.at("registered_ms").get<uint64_t>(), chain_->now_ms());
  EXPECT_EQ(citizen.at("baseline_ms").get<uint64_t>(), chain_->now_ms());
  EXPECT_EQ(Supply().at("citizens").get<uint64_t>(), 1u);
  EXPECT_EQ(Query("person", {{"person_id", PersonId(1).ToHex()}}).at("account"),
            EncodeAddress(alice_.public_key()));
  EXPECT_TRUE(Query("person", {{"person_id", PersonId(2).ToHex()}}).at("account").is_null());
  EXPECT_FALSE(Citizen(bob_).at("registered").get<bool>());
  // The citizen's history shows its registration.
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(alice_.public_key(), {});
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->items.size(), 1u);
}

TEST_F(UbiTest, OnlyTheRegistrarRegisters) {
  EXPECT_EQ(
      chain_->Call(outsider_, "ubi", "register", UbiRegisterArgs{alice_.public_key(), PersonId(1)})
          .code,
      CodeOf(Code::kPermissionDenied));
  // Not even for oneself.
  EXPECT_EQ(
      chain_->Call(alice_, "ubi", "register", UbiRegisterArgs{alice_.public_key(), PersonId(1)})
          .code,
      CodeOf(Code::kPermissionDenied));
  EXPECT_FALSE(Citizen(alice_).at("registered").get<bool>());
}

TEST_F(UbiTest, OneAccountPerPerson) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  EXPECT_EQ(Register(alice_, 1).code, CodeOf(Code::kAlreadyExists));  // re-registration
  EXPECT_EQ(Register(alice_, 2).code, CodeOf(Code::kAlreadyExists));  // account taken
  EXPECT_EQ(Register(bob_, 1).code, CodeOf(Code::kAlreadyExists));    // person has an account
  EXPECT_FALSE(Citizen(bob_).at("registered").get<bool>());
  EXPECT_TRUE(Query("person", {{"person_id", PersonId(2).ToHex()}}).at("account").is_null());
  ASSERT_TRUE(Register(bob_, 2).ok());
  EXPECT_EQ(Supply().at("citizens").get<uint64_t>(), 2u);
}

TEST_F(UbiTest, RegisterRefusesInvalidArguments) {
  EXPECT_EQ(
      chain_->Call(registrar_, "ubi", "register", UbiRegisterArgs{PublicKey{}, PersonId(1)}).code,
      CodeOf(Code::kBadArguments));
  EXPECT_EQ(
      chain_->Call(registrar_, "ubi", "register", UbiRegisterArgs{alice_.public_key(), Hash256{}})
          .code,
      CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Run(chain_->RawTx(registrar_, "ubi", "register", Bytes{1, 2, 3})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Run(chain_->RawTx(registrar_, "ubi", "register", Bytes{})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(Supply().at("citizens").get<uint64_t>(), 0u);
}

// ---- suspend / resume ----

TEST_F(UbiTest, RegistrarSuspendsAndResumes) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  const ledger::TxResult suspended =
      chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()});
  ASSERT_TRUE(suspended.ok()) << suspended.detail;
  EXPECT_TRUE(Citizen(alice_).at("suspended").get<bool>());
  const ledger::TxResult resumed =
      chain_->Call(registrar_, "ubi", "resume", UbiCitizenArgs{alice_.public_key()});
  ASSERT_TRUE(resumed.ok()) << resumed.detail;
  EXPECT_FALSE(Citizen(alice_).at("suspended").get<bool>());
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(alice_.public_key(), {});
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->items.size(), 3u);
}

TEST_F(UbiTest, OnlyTheRegistrarSuspendsAndResumes) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  EXPECT_EQ(chain_->Call(outsider_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).code,
            CodeOf(Code::kPermissionDenied));
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).ok());
  // A suspended citizen cannot lift its own suspension.
  EXPECT_EQ(chain_->Call(alice_, "ubi", "resume", UbiCitizenArgs{alice_.public_key()}).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_TRUE(Citizen(alice_).at("suspended").get<bool>());
}

TEST_F(UbiTest, SuspendAndResumeRefuseInvalidArgumentsAndStates) {
  EXPECT_EQ(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).code,
            CodeOf(Code::kNotFound));
  EXPECT_EQ(chain_->Call(registrar_, "ubi", "resume", UbiCitizenArgs{alice_.public_key()}).code,
            CodeOf(Code::kNotFound));
  EXPECT_EQ(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{PublicKey{}}).code,
            CodeOf(Code::kNotFound));
  EXPECT_EQ(chain_->Run(chain_->RawTx(registrar_, "ubi", "suspend", Bytes{1, 9})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Run(chain_->RawTx(registrar_, "ubi", "resume", Bytes{1, 9})).code,
            CodeOf(Code::kBadArguments));
  ASSERT_TRUE(Register(alice_, 1).ok());
  EXPECT_EQ(chain_->Call(registrar_, "ubi", "resume", UbiCitizenArgs{alice_.public_key()}).code,
            CodeOf(Code::kInvalidState));  // not suspended
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).ok());
  EXPECT_EQ(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).code,
            CodeOf(Code::kInvalidState));  // already suspended
}

// ---- claim ----

TEST_F(UbiTest, ClaimPaysWholePeriodsAndCarriesTheFraction) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  const uint64_t registered = chain_->now_ms();
  // 2.5 periods: 2 paid, the baseline advances by exactly 2 periods.
  const ledger::TxResult first = ClaimAt(alice_, registered + 5 * kPeriodMs / 2);
  ASSERT_TRUE(first.ok()) << first.detail;
  EXPECT_EQ(Balance(alice_), 2 * kAmount);
  EXPECT_EQ(Citizen(alice_).at("baseline_ms").get<uint64_t>(), registered + 2 * kPeriodMs);
  ASSERT_EQ(first.events.size(), 1u);
  EXPECT_EQ(first.events[0].name, "claimed");
  Result<UbiClaimRecord> record = ledger::Decode<UbiClaimRecord>(first.events[0].data);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->account, alice_.public_key());
  EXPECT_EQ(record->periods, 2u);
  EXPECT_EQ(record->amount, 2 * kAmount);
  // The half period carried over: at 3 periods after registration, one more is due.
  EXPECT_EQ(ClaimAt(alice_, registered + 3 * kPeriodMs - test::kHarnessBlockMs).code,
            uint32_t(UbiCode::kNoPeriodElapsed));
  EXPECT_TRUE(ClaimAt(alice_, registered + 3 * kPeriodMs).ok());
  EXPECT_EQ(Balance(alice_), 3 * kAmount);
  // Immediately again: nothing due.
  EXPECT_EQ(chain_->Call(alice_, "ubi", "claim", UbiClaimArgs{}).code,
            uint32_t(UbiCode::kNoPeriodElapsed));
  EXPECT_EQ(Supply().at("issued").get<uint64_t>(), kFunded + 3 * kAmount);
}

TEST_F(UbiTest, ClaimIsCappedAtTheLookBack) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  const uint64_t registered = chain_->now_ms();
  // 7 periods and a bit: 3 paid, 4 forfeited, the baseline moves past all 7.
  const ledger::TxResult claimed = ClaimAt(alice_, registered + 7 * kPeriodMs + 4000);
  ASSERT_TRUE(claimed.ok()) << claimed.detail;
  EXPECT_EQ(Balance(alice_), kMaxPeriods * kAmount);
  EXPECT_EQ(Citizen(alice_).at("baseline_ms").get<uint64_t>(), registered + 7 * kPeriodMs);
  const Json claims =
      Query("claims", {{"account", EncodeAddress(alice_.public_key())}, {"limit", 10}});
  ASSERT_EQ(claims.at("claims").size(), 1u);
  EXPECT_EQ(claims.at("claims")[0].at("periods").get<uint64_t>(), kMaxPeriods);
  EXPECT_EQ(claims.at("claims")[0].at("forfeited").get<uint64_t>(), 4u);
  EXPECT_EQ(claims.at("claims")[0].at("height").get<uint64_t>(), chain_->height());
  // The forfeited periods are gone: the next period pays one.
  ASSERT_TRUE(ClaimAt(alice_, registered + 8 * kPeriodMs).ok());
  EXPECT_EQ(Balance(alice_), (kMaxPeriods + 1) * kAmount);
}

TEST_F(UbiTest, OnlyRegisteredCitizensClaim) {
  EXPECT_EQ(ClaimAt(outsider_, chain_->now_ms() + kPeriodMs * 2).code,
            CodeOf(Code::kPermissionDenied));
  // The registrar's role does not make it a citizen either.
  EXPECT_EQ(chain_->Call(registrar_, "ubi", "claim", UbiClaimArgs{}).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Supply().at("issued").get<uint64_t>(), kFunded);
}

TEST_F(UbiTest, ClaimRefusesBadArguments) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  chain_->AdvanceTo(chain_->now_ms() + kPeriodMs);
  EXPECT_EQ(chain_->Run(chain_->RawTx(alice_, "ubi", "claim", Bytes{1, 0})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Run(chain_->RawTx(alice_, "ubi", "claim", Bytes{})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Run(chain_->RawTx(alice_, "ubi", "claim", Bytes{1})).code,
            CodeOf(Code::kOk));  // the canonical empty encoding
}

TEST_F(UbiTest, SuspendedCitizensCannotClaimAndTheSuspensionIsNotPaid) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  const uint64_t registered = chain_->now_ms();
  chain_->AdvanceTo(registered + kPeriodMs / 2 - test::kHarnessBlockMs);
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).ok());
  ASSERT_EQ(chain_->now_ms(), registered + kPeriodMs / 2);
  EXPECT_EQ(ClaimAt(alice_, registered + 2 * kPeriodMs).code, CodeOf(Code::kInvalidState));
  // Suspended for 2 periods, from 0.5 to 2.5: the baseline moves 2 periods on; the half
  // period before the suspension is kept.
  chain_->AdvanceTo(registered + 5 * kPeriodMs / 2 - test::kHarnessBlockMs);
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "resume", UbiCitizenArgs{alice_.public_key()}).ok());
  EXPECT_EQ(Citizen(alice_).at("baseline_ms").get<uint64_t>(), registered + 2 * kPeriodMs);
  EXPECT_EQ(ClaimAt(alice_, registered + 3 * kPeriodMs - test::kHarnessBlockMs).code,
            uint32_t(UbiCode::kNoPeriodElapsed));
  EXPECT_TRUE(ClaimAt(alice_, registered + 3 * kPeriodMs).ok());
  EXPECT_EQ(Balance(alice_), kAmount);
}

TEST_F(UbiTest, ClaimNeedsEveryParameter) {
  for (const std::string_view missing : {kUbiAmountParam, kUbiPeriodParam, kUbiMaxPeriodsParam}) {
    for (const bool zero : {false, true}) {
      std::vector<std::pair<std::string, uint64_t>> params;
      for (auto [name, value] : DefaultParams()) {
        if (name != missing) {
          params.push_back({name, value});
        } else if (zero) {
          params.push_back({name, 0});
        }
      }
      chain_ = MakeChain(params, {});
      ASSERT_TRUE(Register(alice_, 1).ok());
      // Parameters are checked before time: no need to wait for a period.
      const ledger::TxResult claimed = chain_->Call(alice_, "ubi", "claim", UbiClaimArgs{});
      EXPECT_EQ(claimed.code, CodeOf(Code::kInvalidState)) << missing;
      EXPECT_NE(claimed.detail.find(missing), std::string::npos) << claimed.detail;
      EXPECT_EQ(Supply().at("issued").get<uint64_t>(), 0u);
    }
  }
}

TEST_F(UbiTest, ClaimOverflowIsRefusedNotWrapped) {
  // periods x amount passes 2^64.
  chain_ = MakeChain({{std::string(kUbiAmountParam), kMax / 2},
                      {std::string(kUbiPeriodParam), kPeriodMs},
                      {std::string(kUbiMaxPeriodsParam), kMaxPeriods}},
                     {});
  ASSERT_TRUE(Register(alice_, 1).ok());
  EXPECT_EQ(ClaimAt(alice_, chain_->now_ms() + 3 * kPeriodMs).code, CodeOf(Code::kOverflow));
  EXPECT_EQ(Balance(alice_), 0u);
  // One period fits on its own; the baseline did not move on the failure.
  chain_ = MakeChain({{std::string(kUbiAmountParam), kMax / 2},
                      {std::string(kUbiPeriodParam), kPeriodMs},
                      {std::string(kUbiMaxPeriodsParam), kMaxPeriods}},
                     {});
  ASSERT_TRUE(Register(alice_, 1).ok());
  const uint64_t registered = chain_->now_ms();
  ASSERT_TRUE(ClaimAt(alice_, registered + kPeriodMs).ok());
  ASSERT_TRUE(ClaimAt(alice_, registered + 2 * kPeriodMs).ok());  // issued: kMax - 1
  EXPECT_EQ(ClaimAt(alice_, registered + 3 * kPeriodMs).code, CodeOf(Code::kOverflow));
  EXPECT_EQ(Supply().at("issued").get<uint64_t>(), kMax - 1);
  EXPECT_EQ(Citizen(alice_).at("baseline_ms").get<uint64_t>(), registered + 2 * kPeriodMs);
}

// ---- transfer ----

TEST_F(UbiTest, HoldersTransfer) {
  const ledger::TxResult sent =
      chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{alice_.public_key(), 300});
  ASSERT_TRUE(sent.ok()) << sent.detail;
  EXPECT_EQ(Balance(funded_), kFunded - 300);
  EXPECT_EQ(Balance(alice_), 300u);
  ASSERT_EQ(sent.events.size(), 1u);
  EXPECT_EQ(sent.events[0].name, "transferred");
  // The recipient's history shows the payment.
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(alice_.public_key(), {});
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->items.size(), 1u);
  EXPECT_EQ(history->items[0].role, ledger::kAccountReceived);
  // Non-citizens pass tokens on; the whole balance may go.
  ASSERT_TRUE(
      chain_->Call(alice_, "ubi", "transfer", UbiTransferArgs{bob_.public_key(), 300}).ok());
  EXPECT_EQ(Balance(alice_), 0u);
  EXPECT_EQ(Balance(bob_), 300u);
  ExpectSupplyInvariant({&funded_, &alice_, &bob_});
}

TEST_F(UbiTest, TransferRefusesInvalidArguments) {
  EXPECT_EQ(chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{alice_.public_key(), 0}).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{PublicKey{}, 10}).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(
      chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{funded_.public_key(), 10}).code,
      CodeOf(Code::kBadArguments));
  EXPECT_EQ(
      chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{alice_.public_key(), kFunded + 1})
          .code,
      CodeOf(Code::kInsufficientFunds));
  EXPECT_EQ(
      chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{alice_.public_key(), kMax}).code,
      CodeOf(Code::kInsufficientFunds));
  EXPECT_EQ(
      chain_->Call(outsider_, "ubi", "transfer", UbiTransferArgs{alice_.public_key(), 1}).code,
      CodeOf(Code::kInsufficientFunds));  // holds nothing
  EXPECT_EQ(chain_->Run(chain_->RawTx(funded_, "ubi", "transfer", Bytes{1, 2, 3})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(Balance(funded_), kFunded);
  EXPECT_EQ(Balance(alice_), 0u);
}

TEST_F(UbiTest, SuspendedCitizensStillTransferWhatTheyHold) {
  ASSERT_TRUE(Register(alice_, 1).ok());
  ASSERT_TRUE(ClaimAt(alice_, chain_->now_ms() + kPeriodMs).ok());
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{alice_.public_key()}).ok());
  EXPECT_TRUE(chain_->Call(alice_, "ubi", "transfer", UbiTransferArgs{bob_.public_key(), 40}).ok());
  EXPECT_TRUE(chain_->Call(alice_, "ubi", "burn", UbiBurnArgs{10}).ok());
  EXPECT_EQ(Balance(alice_), kAmount - 50);
}

// ---- burn ----

TEST_F(UbiTest, HoldersBurn) {
  const ledger::TxResult burned = chain_->Call(funded_, "ubi", "burn", UbiBurnArgs{250});
  ASSERT_TRUE(burned.ok()) << burned.detail;
  ASSERT_EQ(burned.events.size(), 1u);
  EXPECT_EQ(burned.events[0].name, "burned");
  EXPECT_EQ(Balance(funded_), kFunded - 250);
  const Json supply = Supply();
  EXPECT_EQ(supply.at("issued").get<uint64_t>(), kFunded);
  EXPECT_EQ(supply.at("burned").get<uint64_t>(), 250u);
  EXPECT_EQ(supply.at("supply").get<uint64_t>(), kFunded - 250);
  ASSERT_TRUE(chain_->Call(funded_, "ubi", "burn", UbiBurnArgs{kFunded - 250}).ok());
  EXPECT_EQ(Balance(funded_), 0u);
  EXPECT_EQ(Supply().at("supply").get<uint64_t>(), 0u);
}

TEST_F(UbiTest, BurnRefusesInvalidArguments) {
  EXPECT_EQ(chain_->Call(funded_, "ubi", "burn", UbiBurnArgs{0}).code, CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Call(funded_, "ubi", "burn", UbiBurnArgs{kFunded + 1}).code,
            CodeOf(Code::kInsufficientFunds));
  EXPECT_EQ(chain_->Call(outsider_, "ubi", "burn", UbiBurnArgs{1}).code,
            CodeOf(Code::kInsufficientFunds));
  EXPECT_EQ(chain_->Run(chain_->RawTx(funded_, "ubi", "burn", Bytes{1, 5})).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(Supply().at("burned").get<uint64_t>(), 0u);
}

// ---- queries and genesis ----

TEST_F(UbiTest, QueriesRefuseBadParameters) {
  EXPECT_FALSE(chain_->Query("ubi", "balance", Json::object()).ok());
  EXPECT_FALSE(chain_->Query("ubi", "balance", {{"account", "city1nope"}}).ok());
  EXPECT_FALSE(chain_->Query("ubi", "citizen", {{"account", 7}}).ok());
  EXPECT_FALSE(chain_->Query("ubi", "person", {{"person_id", "zz"}}).ok());
  EXPECT_FALSE(
      chain_
          ->Query("ubi", "claims", {{"account", EncodeAddress(alice_.public_key())}, {"limit", 0}})
          .ok());
  EXPECT_FALSE(chain_->Query("ubi", "nope", Json::object()).ok());
}

TEST_F(UbiTest, GenesisIsValidated) {
  EXPECT_TRUE(UbiGenesisWrites({}).ok());
  EXPECT_FALSE(UbiGenesisWrites({{{PublicKey{}, 5}}}).ok());
  EXPECT_FALSE(UbiGenesisWrites({{{alice_.public_key(), 0}}}).ok());
  EXPECT_FALSE(UbiGenesisWrites({{{alice_.public_key(), 5}, {alice_.public_key(), 5}}}).ok());
  EXPECT_FALSE(UbiGenesisWrites({{{alice_.public_key(), kMax}, {bob_.public_key(), 1}}}).ok());
  EXPECT_TRUE(UbiGenesisWrites({{{alice_.public_key(), kMax - 1}, {bob_.public_key(), 1}}}).ok());
}

// ---- a city scenario ----

TEST_F(UbiTest, CitizensClaimOverSeveralPeriodsTransferAndBurn) {
  // Three neighbours register in one block.
  const uint64_t start = chain_->now_ms() + test::kHarnessBlockMs;
  std::vector<ledger::Transaction> registrations;
  uint64_t person = 1;
  for (const KeyPair* citizen : {&alice_, &bob_, &carol_}) {
    registrations.push_back(chain_->Tx(registrar_, "ubi", "register",
                                       UbiRegisterArgs{citizen->public_key(), PersonId(person++)}));
  }
  for (const ledger::TxResult& result : chain_->Block(registrations)) ASSERT_TRUE(result.ok());
  ASSERT_EQ(chain_->now_ms(), start);

  // Alice claims every period; Bob after 2; Carol forgets for 5 (capped at 3).
  ASSERT_TRUE(ClaimAt(alice_, start + kPeriodMs).ok());
  ASSERT_TRUE(ClaimAt(alice_, start + 2 * kPeriodMs).ok());
  ASSERT_TRUE(ClaimAt(bob_, start + 2 * kPeriodMs + 3000).ok());
  // Alice pays Bob for vegetables; the market (a non-citizen) sells to both.
  ASSERT_TRUE(chain_->Call(alice_, "ubi", "transfer", UbiTransferArgs{bob_.public_key(), 50}).ok());
  ASSERT_TRUE(
      chain_->Call(funded_, "ubi", "transfer", UbiTransferArgs{carol_.public_key(), 70}).ok());
  ASSERT_TRUE(ClaimAt(alice_, start + 3 * kPeriodMs).ok());
  ASSERT_TRUE(ClaimAt(carol_, start + 5 * kPeriodMs + 3000).ok());
  // Bob is suspended (a registry check); he spends but cannot claim; then resumed.
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "suspend", UbiCitizenArgs{bob_.public_key()}).ok());
  ASSERT_TRUE(
      chain_->Call(bob_, "ubi", "transfer", UbiTransferArgs{funded_.public_key(), 120}).ok());
  EXPECT_EQ(ClaimAt(bob_, start + 6 * kPeriodMs).code, CodeOf(Code::kInvalidState));
  ASSERT_TRUE(chain_->Call(registrar_, "ubi", "resume", UbiCitizenArgs{bob_.public_key()}).ok());
  // Carol burns some (e.g. a fee the city retires); the market burns too.
  ASSERT_TRUE(chain_->Call(carol_, "ubi", "burn", UbiBurnArgs{30}).ok());
  ASSERT_TRUE(chain_->Call(funded_, "ubi", "burn", UbiBurnArgs{100}).ok());
  ASSERT_TRUE(ClaimAt(alice_, start + 7 * kPeriodMs - 1000).ok());  // 3.9 periods: 3 paid

  EXPECT_EQ(Balance(alice_), 6 * kAmount - 50);
  EXPECT_EQ(Balance(bob_), 2 * kAmount + 50 - 120);   // two periods, then suspended
  EXPECT_EQ(Balance(carol_), 3 * kAmount + 70 - 30);  // capped: 5 elapsed, 3 paid
  EXPECT_EQ(Balance(funded_), kFunded - 70 + 120 - 100);
  const Json supply = Supply();
  EXPECT_EQ(supply.at("issued").get<uint64_t>(), kFunded + 11 * kAmount);
  EXPECT_EQ(supply.at("burned").get<uint64_t>(), 130u);
  EXPECT_EQ(supply.at("citizens").get<uint64_t>(), 3u);
  ExpectSupplyInvariant({&funded_, &alice_, &bob_, &carol_, &registrar_, &outsider_});
  const Json claims = Query(
      "claims",
      {{"account", EncodeAddress(alice_.public_key())}, {"limit", 2}, {"newest_first", true}});
  EXPECT_EQ(claims.at("claims").size(), 2u);
  EXPECT_FALSE(claims.at("next_cursor").is_null());
}

}  // namespace
}  // namespace city::contracts
