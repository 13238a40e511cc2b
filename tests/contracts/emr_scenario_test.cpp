// The emr contract as people use it (a GP under a 30-day consent, a paramedic breaking the
// glass, an auditor, a parent for a child), and determinism: the same blocks on two
// independent stores give the same state root at every height.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "city/contracts/emr.h"
#include "city/crypto/hash.h"
#include "support/contract_harness.h"
#include "support/emr_fixtures.h"

namespace city::contracts {
namespace {

using test::CodeOf;
using test::ContractHarness;
using test::TestKey;

constexpr uint64_t kDayMs = 24ull * 60 * 60 * 1000;
constexpr uint64_t kMarch1st2024Ms = 1'709'251'200'000;

uint32_t EmrCodeOf(EmrCode code) { return static_cast<uint32_t>(code); }

struct Cast {
  KeyPair lab = TestKey(30);         // the hospital laboratory (clinician, custodian)
  KeyPair gp = TestKey(31);          // the family doctor (clinician)
  KeyPair specialist = TestKey(32);  // a cardiologist (clinician)
  KeyPair paramedic = TestKey(33);   // emergency
  KeyPair auditor = TestKey(34);     // auditor
  KeyPair alice = TestKey(40);       // a patient
  KeyPair parent = TestKey(41);      // a parent ...
  KeyPair child = TestKey(42);       // ... of a child patient
  KeyPair stranger = TestKey(43);
};

std::unique_ptr<ContractHarness> MakeChain(const Cast& cast, uint64_t start_time_ms = 0) {
  GovernanceGenesis genesis;
  genesis.council.push_back(TestKey(1).public_key());
  for (const KeyPair* key : {&cast.lab, &cast.gp, &cast.specialist})
    genesis.roles.push_back({std::string(kClinicianRole), key->public_key()});
  genesis.roles.push_back({std::string(kEmergencyRole), cast.paramedic.public_key()});
  genesis.roles.push_back({std::string(kAuditorRole), cast.auditor.public_key()});
  auto registry = std::make_unique<Registry>();
  EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
  EXPECT_TRUE(registry->Add(MakeEmr()).ok());
  return std::make_unique<ContractHarness>(std::move(registry), *GovernanceGenesisWrites(genesis),
                                           start_time_ms);
}

// The harness's blocks on a calendar: the first block comes one block interval after
// `now_ms`, and Wait(days) lets days pass before the next one.
class Calendar {
 public:
  Calendar(ContractHarness& chain, uint64_t now_ms) : chain_(chain) {
    chain_.Wait(now_ms + test::kHarnessBlockMs - chain_.TimeAt(chain_.height() + 1));
  }
  template <typename Args>
  ledger::TxResult Call(const KeyPair& sender, std::string method, const Args& args) {
    return chain_.Call(sender, "emr", std::move(method), args);
  }
  void Wait(uint64_t days) { chain_.Wait(days * kDayMs); }
  uint64_t now_ms() const { return chain_.now_ms(); }  // of the last block
  uint64_t next_block_ms() const { return chain_.TimeAt(chain_.height() + 1); }

 private:
  ContractHarness& chain_;
};

Json QueryOk(ContractHarness& chain, std::string_view query, const Json& params) {
  Result<Json> answer = chain.Query("emr", query, params);
  EXPECT_TRUE(answer.ok()) << query << ": " << answer.status().ToString();
  return answer.ok() ? *answer : Json();
}

AnchorArgs Record(const KeyPair& patient, std::string id, std::string type) {
  return {patient.public_key(), id, std::move(type), Blake2b256(AsBytes("report " + id)),
          test::Sealed(patient.public_key(), "https://records.city-hospital.example/" + id)};
}

GrantConsentArgs ConsentFor(const KeyPair& patient, const KeyPair& grantee,
                            std::vector<std::string> types, uint64_t start_ms, uint64_t end_ms) {
  GrantConsentArgs args;
  args.patient = patient.public_key();
  args.grantee = grantee.public_key();
  for (std::string& type : types) args.record_types.push_back({std::move(type)});
  args.purpose = "TREAT";
  args.start_ms = start_ms;
  args.end_ms = end_ms;
  return args;
}

uint64_t ConsentId(const ledger::TxResult& granted) {
  EXPECT_TRUE(granted.ok()) << granted.detail;
  for (const ledger::Event& event : granted.events) {
    if (event.name == "consent_granted") return *ReadU64Value(event.data);
  }
  return UINT64_MAX;
}

TEST(EmrScenarioTest, AGpReadsLabResultsForThirtyDaysThenAParamedicBreaksTheGlass) {
  const Cast cast;
  std::unique_ptr<ContractHarness> chain = MakeChain(cast);
  Calendar calendar(*chain, kMarch1st2024Ms);
  const std::string alice = EncodeAddress(cast.alice.public_key());

  // The hospital laboratory anchors Alice's blood test and her chest X-ray.
  ASSERT_TRUE(calendar.Call(cast.lab, "anchor", Record(cast.alice, "lab/2024/0042", "lab")).ok());
  ASSERT_TRUE(
      calendar.Call(cast.lab, "anchor", Record(cast.alice, "img/2024/0007", "imaging")).ok());

  // Alice lets her GP see her lab results for 30 days, for treatment.
  const uint64_t start = calendar.now_ms();
  const uint64_t consent = ConsentId(
      calendar.Call(cast.alice, "grant_consent",
                    ConsentFor(cast.alice, cast.gp, {"lab"}, start, start + 30 * kDayMs)));

  // Two days later the GP reads the blood test.
  calendar.Wait(2);
  const ledger::TxResult read = calendar.Call(
      cast.gp, "access", AccessArgs{cast.alice.public_key(), "lab/2024/0042", consent, "TREAT"});
  EXPECT_TRUE(read.ok()) << read.detail;
  // The consent is for lab results: the X-ray stays closed.
  EXPECT_EQ(calendar
                .Call(cast.gp, "access",
                      AccessArgs{cast.alice.public_key(), "img/2024/0007", consent, "TREAT"})
                .code,
            EmrCodeOf(EmrCode::kRecordTypeNotCovered));

  // A month later the consent has expired and the next read is refused.
  calendar.Wait(29);
  EXPECT_GE(calendar.next_block_ms(), start + 30 * kDayMs);
  EXPECT_EQ(calendar
                .Call(cast.gp, "access",
                      AccessArgs{cast.alice.public_key(), "lab/2024/0042", consent, "TREAT"})
                .code,
            EmrCodeOf(EmrCode::kConsentExpired));

  // Alice collapses in the street; the paramedic opens her lab results without consent.
  const std::string why = "patient unconscious, checking recent blood results before sedation";
  ASSERT_TRUE(calendar
                  .Call(cast.paramedic, "break_glass",
                        BreakGlassArgs{cast.alice.public_key(), "lab/2024/0042",
                                       test::Sealed(cast.alice.public_key(), why)})
                  .ok());

  // The auditor's list of flagged accesses shows it, with its justification ...
  const Json flagged = QueryOk(*chain, "flagged", {{"newest_first", true}});
  ASSERT_EQ(flagged.at("flagged").size(), 1u);
  const Json& glass = flagged.at("flagged")[0];
  EXPECT_EQ(glass.at("patient"), alice);
  EXPECT_EQ(glass.at("accessor"), EncodeAddress(cast.paramedic.public_key()));
  EXPECT_EQ(glass.at("record_id"), "lab/2024/0042");
  // Sealed to Alice: she reads why; the ledger does not say it in the clear.
  EXPECT_EQ(
      OpenSealedText(SealedTextFromJson(glass.at("justification")).value(), cast.alice).value(),
      why);
  EXPECT_EQ(glass.dump().find("sedation"), std::string::npos);
  EXPECT_EQ(glass.at("time_ms"), calendar.now_ms());

  // ... and so does Alice's access history: every access with its justification.
  const Json accesses = QueryOk(*chain, "accesses", {{"patient", alice}});
  ASSERT_EQ(accesses.at("accesses").size(), 2u);
  const Json& by_gp = accesses.at("accesses")[0];
  EXPECT_EQ(by_gp.at("accessor"), EncodeAddress(cast.gp.public_key()));
  EXPECT_EQ(by_gp.at("consent_id"), consent);
  EXPECT_EQ(by_gp.at("purpose"), "TREAT");
  EXPECT_FALSE(by_gp.at("flagged").get<bool>());
  const Json& by_paramedic = accesses.at("accesses")[1];
  EXPECT_TRUE(by_paramedic.at("flagged").get<bool>());
  EXPECT_EQ(by_paramedic.at("justification"), glass.at("justification"));

  // The auditor checks the ambulance log and closes the review.
  ASSERT_TRUE(calendar
                  .Call(cast.auditor, "review",
                        ReviewArgs{glass.at("flag_id").get<uint64_t>(), 1, "dispatch log #5531"})
                  .ok());
  EXPECT_TRUE(QueryOk(*chain, "flagged", Json::object())
                  .at("flagged")[0]
                  .at("review")
                  .at("justified")
                  .get<bool>());
}

TEST(EmrScenarioTest, ConsentExpiryWithTheHarnessClock) {
  // The same story at the harness's one-second blocks: a 30-second consent.
  const Cast cast;
  std::unique_ptr<ContractHarness> chain = MakeChain(cast);
  ASSERT_TRUE(
      chain->Call(cast.lab, "emr", "anchor", Record(cast.alice, "lab/2024/0042", "lab")).ok());
  const uint64_t end = chain->now_ms() + 30'000;
  const uint64_t consent =
      ConsentId(chain->Call(cast.alice, "emr", "grant_consent",
                            ConsentFor(cast.alice, cast.gp, {"lab"}, chain->now_ms(), end)));
  const AccessArgs read{cast.alice.public_key(), "lab/2024/0042", consent, "TREAT"};
  EXPECT_TRUE(chain->Call(cast.gp, "emr", "access", read).ok());
  chain->AdvanceTo(end);
  EXPECT_EQ(chain->Call(cast.gp, "emr", "access", read).code, EmrCodeOf(EmrCode::kConsentExpired));
}

TEST(EmrScenarioTest, RevokingAConsentStopsTheNextRead) {
  const Cast cast;
  std::unique_ptr<ContractHarness> chain = MakeChain(cast);
  ASSERT_TRUE(chain->Call(cast.lab, "emr", "anchor", Record(cast.alice, "ecg-1", "cardio")).ok());
  // Alice's GP refers her to a cardiologist for a year.
  const uint64_t consent =
      ConsentId(chain->Call(cast.alice, "emr", "grant_consent",
                            ConsentFor(cast.alice, cast.specialist, {"cardio", "lab"},
                                       chain->now_ms(), chain->now_ms() + 365 * kDayMs)));
  const AccessArgs read{cast.alice.public_key(), "ecg-1", consent, "TREAT"};
  EXPECT_TRUE(chain->Call(cast.specialist, "emr", "access", read).ok());
  // She changes cardiologist and withdraws the consent: the very next read is refused.
  ASSERT_TRUE(chain->Call(cast.alice, "emr", "revoke_consent", RevokeConsentArgs{consent}).ok());
  EXPECT_EQ(chain->Call(cast.specialist, "emr", "access", read).code,
            EmrCodeOf(EmrCode::kConsentRevoked));
  EXPECT_EQ(QueryOk(*chain, "accesses", {{"patient", EncodeAddress(cast.alice.public_key())}})
                .at("total"),
            1u);
}

TEST(EmrScenarioTest, AParentConsentsForTheirChild) {
  const Cast cast;
  std::unique_ptr<ContractHarness> chain = MakeChain(cast);
  ASSERT_TRUE(
      chain->Call(cast.lab, "emr", "anchor", Record(cast.child, "vacc-1", "immunization")).ok());
  // The child's account names the parent as guardian.
  ASSERT_TRUE(chain
                  ->Call(cast.child, "emr", "set_guardian",
                         SetGuardianArgs{cast.child.public_key(), cast.parent.public_key()})
                  .ok());
  // The parent lets the GP see the vaccination record for school entry; a stranger cannot.
  const GrantConsentArgs args = ConsentFor(cast.child, cast.gp, {"immunization"}, chain->now_ms(),
                                           chain->now_ms() + 7 * kDayMs);
  EXPECT_EQ(chain->Call(cast.stranger, "emr", "grant_consent", args).code,
            CodeOf(Code::kPermissionDenied));
  const uint64_t consent = ConsentId(chain->Call(cast.parent, "emr", "grant_consent", args));
  EXPECT_TRUE(chain
                  ->Call(cast.gp, "emr", "access",
                         AccessArgs{cast.child.public_key(), "vacc-1", consent, "TREAT"})
                  .ok());
  const Json granted = QueryOk(*chain, "consent", {{"id", consent}});
  EXPECT_EQ(granted.at("granted_by"), EncodeAddress(cast.parent.public_key()));
  EXPECT_EQ(granted.at("patient"), EncodeAddress(cast.child.public_key()));
}

// ---- determinism ----

// A random mix of emr calls, valid and not, from a fixed seed.
class RandomCalls {
 public:
  RandomCalls(const Cast& cast, uint64_t seed) : cast_(cast), random_(seed) {}

  ledger::Transaction Next(ContractHarness& chain) {
    const std::vector<const KeyPair*> patients = {&cast_.alice, &cast_.child, &cast_.stranger};
    const std::vector<const KeyPair*> clinicians = {&cast_.gp, &cast_.specialist, &cast_.lab};
    const KeyPair& patient = *patients[Pick(patients.size())];
    const std::vector<std::string> types = {"lab", "imaging", "cardio"};
    const std::string record = "r" + std::to_string(Pick(6));
    switch (Pick(7)) {
      case 0:
        return chain.Tx(cast_.lab, "emr", "anchor", Record(patient, record, types[Pick(3)]));
      case 1: {
        GrantConsentArgs args =
            ConsentFor(patient, *clinicians[Pick(3)], {types[Pick(3)]},
                       chain.now_ms() + Pick(3) * 1000, chain.now_ms() + 1000 + Pick(60) * 1000);
        args.permit = Pick(5) == 0 ? 0 : 1;
        const KeyPair& by = Pick(4) == 0 ? cast_.parent : patient;
        return chain.Tx(by, "emr", "grant_consent", args);
      }
      case 2:
        return chain.Tx(patient, "emr", "revoke_consent", RevokeConsentArgs{Pick(30)});
      case 3:
        return chain.Tx(
            cast_.paramedic, "emr", "break_glass",
            BreakGlassArgs{patient.public_key(), record,
                           test::Sealed(patient.public_key(), "seed-driven emergency")});
      case 4:
        return chain.Tx(cast_.auditor, "emr", "review", ReviewArgs{Pick(5), 1, "ok"});
      case 5:
        return chain.Tx(cast_.child, "emr", "set_guardian",
                        SetGuardianArgs{cast_.child.public_key(), cast_.parent.public_key()});
      default: {
        // Mostly a read the calls so far make plausible: a granted consent, a record of its
        // patient (which may or may not be of a covered type).
        if (!consents_.empty() && Pick(4) != 0) {
          const Granted& consent = consents_[Pick(consents_.size())];
          std::vector<std::string> records;
          for (const auto& [key, type] : records_) {
            if (key.first == consent.patient) records.push_back(key.second);
          }
          if (!records.empty()) {
            return chain.Tx(
                *consent.grantee, "emr", "access",
                AccessArgs{consent.patient, records[Pick(records.size())], consent.id, "TREAT"});
          }
        }
        return chain.Tx(*clinicians[Pick(3)], "emr", "access",
                        AccessArgs{patient.public_key(), record, Pick(30), "TREAT"});
      }
    }
  }

  // Learns the records and consents the last block created.
  void Observe(const std::vector<ledger::Transaction>& txs,
               const std::vector<ledger::TxResult>& results) {
    for (size_t i = 0; i < txs.size(); ++i) {
      if (!results[i].ok()) continue;
      if (txs[i].method == "anchor") {
        const AnchorArgs args = *ledger::Decode<AnchorArgs>(txs[i].args);
        records_[{args.patient, args.record_id}] = args.record_type;
      } else if (txs[i].method == "grant_consent") {
        const GrantConsentArgs args = *ledger::Decode<GrantConsentArgs>(txs[i].args);
        for (const KeyPair* key : {&cast_.gp, &cast_.specialist, &cast_.lab}) {
          if (key->public_key() == args.grantee)
            consents_.push_back({ConsentId(results[i]), args.patient, key});
        }
      }
    }
  }

 private:
  uint64_t Pick(uint64_t n) { return random_() % n; }

  struct Granted {
    uint64_t id = 0;
    PublicKey patient;
    const KeyPair* grantee = nullptr;
  };

  const Cast& cast_;
  std::mt19937_64 random_;
  std::map<std::pair<PublicKey, std::string>, std::string> records_;  // -> record type
  std::vector<Granted> consents_;
};

TEST(EmrDeterminismTest, TheSameBlocksGiveTheSameStateRootsOnTwoStores) {
  constexpr uint64_t kSeed = 0x5eed'e3a1;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  const Cast cast;
  std::unique_ptr<ContractHarness> first = MakeChain(cast);
  std::unique_ptr<ContractHarness> second = MakeChain(cast);
  RandomCalls calls(cast, kSeed);
  size_t succeeded = 0;
  size_t accessed = 0;
  for (int block = 0; block < 60; ++block) {
    std::vector<ledger::Transaction> txs;
    for (int i = 0; i < 8; ++i) txs.push_back(calls.Next(*first));
    const std::vector<ledger::TxResult> a = first->Block(txs);
    const std::vector<ledger::TxResult> b = second->Block(txs);
    ASSERT_EQ(a, b) << "at height " << first->height();
    ASSERT_EQ(first->last_root(), second->last_root()) << "at height " << first->height();
    calls.Observe(txs, a);
    for (size_t i = 0; i < a.size(); ++i) {
      succeeded += a[i].ok() ? 1 : 0;
      accessed += a[i].ok() && txs[i].method == "access" ? 1 : 0;
    }
  }
  // The mix exercised real work, not only refusals.
  EXPECT_GT(succeeded, 100u);
  EXPECT_GT(accessed, 10u);
  const Json params = {{"patient", EncodeAddress(cast.alice.public_key())}, {"limit", 1000}};
  EXPECT_EQ(QueryOk(*first, "accesses", params), QueryOk(*second, "accesses", params));
  EXPECT_EQ(QueryOk(*first, "flagged", {{"limit", 1000}}),
            QueryOk(*second, "flagged", {{"limit", 1000}}));
}

}  // namespace
}  // namespace city::contracts
