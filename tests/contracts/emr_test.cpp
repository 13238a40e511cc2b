// The emr contract method by method, on a real store: each success path, each permission
// denial and each refused argument or state, and the audit queries.
#include "city/contracts/emr.h"

#include <gtest/gtest.h>

#include "city/crypto/hash.h"
#include "support/contract_harness.h"
#include "support/emr_fixtures.h"

namespace city::contracts {
namespace {

using test::CodeOf;
using test::Sealed;
using test::TestKey;

uint32_t EmrCodeOf(EmrCode code) { return static_cast<uint32_t>(code); }

class EmrTest : public ::testing::Test {
 protected:
  EmrTest()
      : hospital_(TestKey(30)),
        gp_(TestKey(31)),
        other_clinician_(TestKey(32)),
        paramedic_(TestKey(33)),
        auditor_(TestKey(34)),
        patient_(TestKey(40)),
        other_patient_(TestKey(41)),
        guardian_(TestKey(42)),
        stranger_(TestKey(43)) {
    GovernanceGenesis genesis;
    genesis.council.push_back(TestKey(1).public_key());
    for (const KeyPair* key : {&hospital_, &gp_, &other_clinician_})
      genesis.roles.push_back({std::string(kClinicianRole), key->public_key()});
    genesis.roles.push_back({std::string(kEmergencyRole), paramedic_.public_key()});
    genesis.roles.push_back({std::string(kAuditorRole), auditor_.public_key()});
    auto registry = std::make_unique<Registry>();
    EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
    EXPECT_TRUE(registry->Add(MakeEmr()).ok());
    Result<std::vector<ledger::StateWrite>> writes = GovernanceGenesisWrites(genesis);
    EXPECT_TRUE(writes.ok()) << writes.status().ToString();
    chain_ = std::make_unique<test::ContractHarness>(std::move(registry), *writes);
  }

  template <typename Args>
  ledger::TxResult Call(const KeyPair& sender, std::string method, const Args& args) {
    return chain_->Call(sender, "emr", std::move(method), args);
  }

  AnchorArgs Anchor(const KeyPair& patient, std::string record_id, std::string type) {
    return {patient.public_key(), record_id, std::move(type),
            Blake2b256(AsBytes("contents of " + record_id)),
            Sealed(patient.public_key(), IsPrintableText(record_id) && record_id.size() < 200
                                             ? "https://hospital.example/" + record_id
                                             : "https://hospital.example/r")};
  }
  void Anchored(const KeyPair& patient, std::string record_id, std::string type) {
    const ledger::TxResult result =
        Call(hospital_, "anchor", Anchor(patient, std::move(record_id), std::move(type)));
    ASSERT_TRUE(result.ok()) << result.detail;
  }

  // A consent from now for `duration_ms`.
  GrantConsentArgs Consent(const KeyPair& patient, const KeyPair& grantee,
                           std::vector<std::string> types, uint64_t duration_ms = 60'000,
                           std::string purpose = "TREAT") {
    GrantConsentArgs args;
    args.patient = patient.public_key();
    args.grantee = grantee.public_key();
    for (std::string& type : types) args.record_types.push_back({std::move(type)});
    args.purpose = std::move(purpose);
    args.start_ms = chain_->now_ms();
    args.end_ms = chain_->now_ms() + duration_ms;
    return args;
  }
  // Grants and returns the consent's id (from the "consent_granted" event).
  uint64_t Granted(const KeyPair& by, const GrantConsentArgs& args) {
    const ledger::TxResult result = Call(by, "grant_consent", args);
    EXPECT_TRUE(result.ok()) << result.detail;
    for (const ledger::Event& event : result.events) {
      if (event.name == "consent_granted") return *ReadU64Value(event.data);
    }
    ADD_FAILURE() << "no consent_granted event";
    return UINT64_MAX;
  }

  AccessArgs Read(const KeyPair& patient, std::string record_id, uint64_t consent,
                  std::string purpose = "TREAT") {
    return {patient.public_key(), std::move(record_id), consent, std::move(purpose)};
  }

  Json QueryOk(std::string_view query, const Json& params) {
    Result<Json> answer = chain_->Query("emr", query, params);
    EXPECT_TRUE(answer.ok()) << query << ": " << answer.status().ToString();
    return answer.ok() ? *answer : Json();
  }
  Json Accesses(const KeyPair& patient, Json params = Json::object()) {
    params["patient"] = EncodeAddress(patient.public_key());
    return QueryOk("accesses", params);
  }
  std::string Address(const KeyPair& key) { return EncodeAddress(key.public_key()); }

  KeyPair hospital_, gp_, other_clinician_, paramedic_, auditor_;
  KeyPair patient_, other_patient_, guardian_, stranger_;
  std::unique_ptr<test::ContractHarness> chain_;
};

// ---- anchor ----

TEST_F(EmrTest, AnchorRecordsTheCallerAsCustodian) {
  Anchored(patient_, "lab-2024-001", "lab");
  const Json record =
      QueryOk("record", {{"patient", Address(patient_)}, {"record_id", "lab-2024-001"}});
  EXPECT_EQ(record.at("custodian"), Address(hospital_));
  EXPECT_EQ(record.at("record_type"), "lab");
  EXPECT_EQ(record.at("content_hash"), Blake2b256(AsBytes("contents of lab-2024-001")).ToHex());
  EXPECT_EQ(OpenSealedText(SealedTextFromJson(record.at("location")).value(), patient_).value(),
            "https://hospital.example/lab-2024-001");
  EXPECT_EQ(record.dump().find("hospital.example"), std::string::npos) << "sealed";
  EXPECT_EQ(record.at("anchored_ms"), chain_->now_ms());
  Anchored(patient_, "xray-7", "imaging");
  const Json records = QueryOk("records", {{"patient", Address(patient_)}});
  ASSERT_EQ(records.at("records").size(), 2u);
  EXPECT_EQ(records.at("records")[1].at("record_id"), "xray-7");
  // The patient's account history shows the anchoring.
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(patient_.public_key(), {});
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->items.size(), 2u);
}

TEST_F(EmrTest, AnchorNeedsTheClinicianRole) {
  for (const KeyPair* caller : {&patient_, &paramedic_, &auditor_, &stranger_}) {
    EXPECT_EQ(Call(*caller, "anchor", Anchor(patient_, "r1", "lab")).code,
              CodeOf(Code::kPermissionDenied));
  }
  EXPECT_FALSE(
      chain_->Query("emr", "record", {{"patient", Address(patient_)}, {"record_id", "r1"}}).ok());
}

TEST_F(EmrTest, AnchorRefusesInvalidArguments) {
  AnchorArgs bad = Anchor(patient_, "r1", "lab");
  bad.patient = PublicKey{};
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  bad = Anchor(patient_, "", "lab");
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  bad = Anchor(patient_, "r\n1", "lab");
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  bad = Anchor(patient_, std::string(kMaxRecordIdLength + 1, 'r'), "lab");  // does not decode
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  bad = Anchor(patient_, "r1", "Lab Results");
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  bad = Anchor(patient_, "r1", "lab");
  bad.content_hash = Hash256{};
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  bad = Anchor(patient_, "r1", "lab");
  bad.location = SealedText{};
  EXPECT_EQ(Call(hospital_, "anchor", bad).code, CodeOf(Code::kBadArguments));
  Anchored(patient_, "r1", "lab");
  EXPECT_EQ(Call(other_clinician_, "anchor", Anchor(patient_, "r1", "imaging")).code,
            CodeOf(Code::kAlreadyExists));
  // The same record id under another patient is another record.
  Anchored(other_patient_, "r1", "lab");
}

// ---- guardians ----

TEST_F(EmrTest, ThePatientSetsAndRemovesTheirGuardian) {
  const Json none = QueryOk("guardian", {{"patient", Address(patient_)}});
  EXPECT_TRUE(none.at("guardian").is_null());
  ASSERT_TRUE(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), guardian_.public_key()})
          .ok());
  EXPECT_EQ(QueryOk("guardian", {{"patient", Address(patient_)}}).at("guardian"),
            Address(guardian_));
  // Replacing the guardian is a plain set.
  ASSERT_TRUE(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), stranger_.public_key()})
          .ok());
  EXPECT_EQ(QueryOk("guardian", {{"patient", Address(patient_)}}).at("guardian"),
            Address(stranger_));
  ASSERT_TRUE(Call(patient_, "remove_guardian", RemoveGuardianArgs{patient_.public_key()}).ok());
  EXPECT_TRUE(QueryOk("guardian", {{"patient", Address(patient_)}}).at("guardian").is_null());
}

TEST_F(EmrTest, OnlyThePatientChangesTheGuardian) {
  // Not the would-be guardian, not a clinician.
  for (const KeyPair* caller : {&guardian_, &gp_, &stranger_}) {
    EXPECT_EQ(Call(*caller, "set_guardian",
                   SetGuardianArgs{patient_.public_key(), guardian_.public_key()})
                  .code,
              CodeOf(Code::kPermissionDenied));
  }
  ASSERT_TRUE(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), guardian_.public_key()})
          .ok());
  // Not even the guardian removes themself or names another.
  EXPECT_EQ(Call(guardian_, "remove_guardian", RemoveGuardianArgs{patient_.public_key()}).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(guardian_, "set_guardian",
                 SetGuardianArgs{patient_.public_key(), stranger_.public_key()})
                .code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(QueryOk("guardian", {{"patient", Address(patient_)}}).at("guardian"),
            Address(guardian_));
}

TEST_F(EmrTest, GuardianArgumentsAreChecked) {
  EXPECT_EQ(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), PublicKey{}}).code,
      CodeOf(Code::kBadArguments));
  EXPECT_EQ(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), patient_.public_key()})
          .code,
      CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(patient_, "remove_guardian", RemoveGuardianArgs{patient_.public_key()}).code,
            CodeOf(Code::kNotFound));
}

// ---- grant_consent ----

TEST_F(EmrTest, ThePatientGrantsAConsent) {
  GrantConsentArgs args = Consent(patient_, gp_, {"lab", "imaging"}, 60'000);
  EXPECT_EQ(Granted(patient_, args), 0u);
  EXPECT_EQ(Granted(patient_, Consent(patient_, other_clinician_, {"lab"})), 1u);
  const Json consent = QueryOk("consent", {{"id", 0}});
  EXPECT_EQ(consent.at("patient"), Address(patient_));
  EXPECT_EQ(consent.at("grantee"), Address(gp_));
  EXPECT_EQ(consent.at("record_types"), Json::array({"imaging", "lab"}));  // canonical order
  EXPECT_EQ(consent.at("purpose"), "TREAT");
  EXPECT_EQ(consent.at("start_ms"), args.start_ms);
  EXPECT_EQ(consent.at("end_ms"), args.end_ms);
  EXPECT_TRUE(consent.at("permit").get<bool>());
  EXPECT_EQ(consent.at("granted_by"), Address(patient_));
  EXPECT_FALSE(consent.at("revoked").get<bool>());
  EXPECT_TRUE(consent.at("revoked_by").is_null());
  const Json listed = QueryOk("consents", {{"patient", Address(patient_)}});
  ASSERT_EQ(listed.at("consents").size(), 2u);
  EXPECT_EQ(listed.at("consents")[1].at("grantee"), Address(other_clinician_));
  EXPECT_TRUE(listed.at("next_cursor").is_null());
  // The grantee's account history shows the consent.
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(gp_.public_key(), {});
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->items.size(), 1u);
}

TEST_F(EmrTest, OnlyThePatientOrTheirGuardianGrants) {
  const GrantConsentArgs args = Consent(patient_, gp_, {"lab"});
  for (const KeyPair* caller : {&gp_, &guardian_, &auditor_, &stranger_}) {
    EXPECT_EQ(Call(*caller, "grant_consent", args).code, CodeOf(Code::kPermissionDenied));
  }
  ASSERT_TRUE(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), guardian_.public_key()})
          .ok());
  EXPECT_EQ(Granted(guardian_, args), 0u);
  EXPECT_EQ(QueryOk("consent", {{"id", 0}}).at("granted_by"), Address(guardian_));
  // A removed guardian no longer acts for the patient.
  ASSERT_TRUE(Call(patient_, "remove_guardian", RemoveGuardianArgs{patient_.public_key()}).ok());
  EXPECT_EQ(Call(guardian_, "grant_consent", args).code, CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(guardian_, "revoke_consent", RevokeConsentArgs{0}).code,
            CodeOf(Code::kPermissionDenied));
  // Another patient's guardian does not act for this one.
  ASSERT_TRUE(Call(other_patient_, "set_guardian",
                   SetGuardianArgs{other_patient_.public_key(), guardian_.public_key()})
                  .ok());
  EXPECT_EQ(Call(guardian_, "grant_consent", args).code, CodeOf(Code::kPermissionDenied));
}

TEST_F(EmrTest, GrantRefusesInvalidArguments) {
  auto refused = [&](const GrantConsentArgs& args) {
    return Call(patient_, "grant_consent", args).code;
  };
  const uint32_t bad = CodeOf(Code::kBadArguments);
  GrantConsentArgs args = Consent(patient_, gp_, {"lab"});
  args.patient = PublicKey{};
  EXPECT_EQ(refused(args), bad);  // (the subject check cannot pass for a non-point anyway)
  args = Consent(patient_, gp_, {"lab"});
  args.grantee = PublicKey{};
  EXPECT_EQ(refused(args), bad);
  EXPECT_EQ(refused(Consent(patient_, patient_, {"lab"})), bad);
  EXPECT_EQ(refused(Consent(patient_, gp_, {})), bad);
  EXPECT_EQ(refused(Consent(patient_, gp_, {"lab", "Imaging"})), bad);
  EXPECT_EQ(refused(Consent(patient_, gp_, {"lab", "imaging", "lab"})), bad);
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxConsentRecordTypes; ++i)
    many.push_back(std::string(1, static_cast<char>('a' + i)));
  EXPECT_EQ(refused(Consent(patient_, gp_, many)), bad);  // does not decode
  EXPECT_EQ(refused(Consent(patient_, gp_, {"lab"}, 60'000, "treat")), bad);
  EXPECT_EQ(refused(Consent(patient_, gp_, {"lab"}, 60'000, "")), bad);
  args = Consent(patient_, gp_, {"lab"});
  args.end_ms = args.start_ms;
  EXPECT_EQ(refused(args), bad);
  args = Consent(patient_, gp_, {"lab"});
  args.start_ms = 0;
  args.end_ms = chain_->now_ms() + test::kHarnessBlockMs;  // over when the block runs
  EXPECT_EQ(refused(args), bad);
  args = Consent(patient_, gp_, {"lab"});
  args.permit = 2;
  EXPECT_EQ(refused(args), bad);
  // None of the refusals took a consent id.
  EXPECT_EQ(Granted(patient_, Consent(patient_, gp_, {"lab"})), 0u);
}

// ---- revoke_consent ----

TEST_F(EmrTest, RevocationStopsAccessImmediately) {
  Anchored(patient_, "lab-1", "lab");
  const uint64_t id = Granted(patient_, Consent(patient_, gp_, {"lab"}));
  ASSERT_TRUE(Call(gp_, "access", Read(patient_, "lab-1", id)).ok());
  // Revoked and read in the same block: the read, ordered after, is refused.
  const ledger::Transaction revoke =
      chain_->Tx(patient_, "emr", "revoke_consent", RevokeConsentArgs{id});
  const ledger::Transaction read = chain_->Tx(gp_, "emr", "access", Read(patient_, "lab-1", id));
  const std::vector<ledger::TxResult> results = chain_->Block({revoke, read});
  EXPECT_TRUE(results[0].ok()) << results[0].detail;
  EXPECT_EQ(results[1].code, EmrCodeOf(EmrCode::kConsentRevoked));
  const Json consent = QueryOk("consent", {{"id", id}});
  EXPECT_TRUE(consent.at("revoked").get<bool>());
  EXPECT_EQ(consent.at("revoked_by"), Address(patient_));
  EXPECT_EQ(consent.at("revoked_ms"), chain_->now_ms());
  EXPECT_EQ(Accesses(patient_).at("total"), 1u);
}

TEST_F(EmrTest, RevokeIsCheckedLikeGrant) {
  const uint64_t id = Granted(patient_, Consent(patient_, gp_, {"lab"}));
  for (const KeyPair* caller : {&gp_, &guardian_, &stranger_}) {
    EXPECT_EQ(Call(*caller, "revoke_consent", RevokeConsentArgs{id}).code,
              CodeOf(Code::kPermissionDenied));
  }
  EXPECT_EQ(Call(patient_, "revoke_consent", RevokeConsentArgs{id + 1}).code,
            CodeOf(Code::kNotFound));
  ASSERT_TRUE(
      Call(patient_, "set_guardian", SetGuardianArgs{patient_.public_key(), guardian_.public_key()})
          .ok());
  ASSERT_TRUE(Call(guardian_, "revoke_consent", RevokeConsentArgs{id}).ok());
  EXPECT_EQ(QueryOk("consent", {{"id", id}}).at("revoked_by"), Address(guardian_));
  EXPECT_EQ(Call(patient_, "revoke_consent", RevokeConsentArgs{id}).code,
            CodeOf(Code::kInvalidState));
}

// ---- access ----

TEST_F(EmrTest, AConsentedAccessIsRecordedForTheAuditors) {
  Anchored(patient_, "lab-1", "lab");
  const uint64_t id = Granted(patient_, Consent(patient_, gp_, {"lab"}));
  const ledger::TxResult result = Call(gp_, "access", Read(patient_, "lab-1", id));
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(result.events[0].name, "accessed");
  const Json accesses = Accesses(patient_);
  EXPECT_EQ(accesses.at("total"), 1u);
  ASSERT_EQ(accesses.at("accesses").size(), 1u);
  const Json& entry = accesses.at("accesses")[0];
  EXPECT_EQ(entry.at("accessor"), Address(gp_));
  EXPECT_EQ(entry.at("record_id"), "lab-1");
  EXPECT_EQ(entry.at("record_type"), "lab");
  EXPECT_EQ(entry.at("consent_id"), id);
  EXPECT_EQ(entry.at("purpose"), "TREAT");
  EXPECT_FALSE(entry.at("flagged").get<bool>());
  EXPECT_EQ(entry.at("time_ms"), chain_->now_ms());
  EXPECT_EQ(entry.at("height"), chain_->height());
  // Consented accesses are not flagged; another patient's trail is empty.
  EXPECT_TRUE(QueryOk("flagged", Json::object()).at("flagged").empty());
  EXPECT_EQ(Accesses(other_patient_).at("total"), 0u);
  // The patient sees the access in their account history.
  Result<ledger::Page<ledger::AccountTx>> history =
      chain_->store().AccountHistory(patient_.public_key(), {{}, 100, true});
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->items.front().role, ledger::kAccountReceived);
}

TEST_F(EmrTest, AccessNeedsTheClinicianRole) {
  Anchored(patient_, "lab-1", "lab");
  // A consent to someone without the role does not make them a clinician.
  const uint64_t to_stranger = Granted(patient_, Consent(patient_, stranger_, {"lab"}));
  const uint64_t to_paramedic = Granted(patient_, Consent(patient_, paramedic_, {"lab"}));
  EXPECT_EQ(Call(stranger_, "access", Read(patient_, "lab-1", to_stranger)).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(paramedic_, "access", Read(patient_, "lab-1", to_paramedic)).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(patient_, "access", Read(patient_, "lab-1", to_stranger)).code,
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Accesses(patient_).at("total"), 0u);
}

TEST_F(EmrTest, AccessRefusesWhatNoConsentCovers) {
  Anchored(patient_, "lab-1", "lab");
  Anchored(patient_, "xray-1", "imaging");
  Anchored(other_patient_, "lab-9", "lab");
  const uint64_t lab = Granted(patient_, Consent(patient_, gp_, {"lab"}));
  const uint64_t other = Granted(other_patient_, Consent(other_patient_, gp_, {"lab"}));
  // The record must exist and be this patient's.
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-2", lab)).code, CodeOf(Code::kNotFound));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-9", lab)).code, CodeOf(Code::kNotFound));
  // The consent must exist, be the patient's and be given to the caller.
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", 99)).code, EmrCodeOf(EmrCode::kNoConsent));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", other)).code,
            EmrCodeOf(EmrCode::kPatientMismatch));
  EXPECT_EQ(Call(other_clinician_, "access", Read(patient_, "lab-1", lab)).code,
            EmrCodeOf(EmrCode::kGranteeMismatch));
  // It must cover the record's type and the purpose.
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "xray-1", lab)).code,
            EmrCodeOf(EmrCode::kRecordTypeNotCovered));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", lab, "HPAYMT")).code,
            EmrCodeOf(EmrCode::kPurposeNotCovered));
  // Refused accesses leave no trail.
  EXPECT_EQ(Accesses(patient_).at("total"), 0u);
  EXPECT_TRUE(Accesses(patient_).at("accesses").empty());
  EXPECT_TRUE(Call(gp_, "access", Read(patient_, "lab-1", lab)).ok());
}

TEST_F(EmrTest, AccessIsOnlyWithinTheConsentPeriod) {
  Anchored(patient_, "lab-1", "lab");
  GrantConsentArgs later = Consent(patient_, gp_, {"lab"});
  later.start_ms = chain_->now_ms() + 10'000;
  later.end_ms = chain_->now_ms() + 40'000;
  const uint64_t id = Granted(patient_, later);
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", id)).code,
            EmrCodeOf(EmrCode::kConsentNotYetValid));
  chain_->AdvanceTo(later.start_ms - test::kHarnessBlockMs);  // the next block is at start
  EXPECT_TRUE(Call(gp_, "access", Read(patient_, "lab-1", id)).ok());
  chain_->AdvanceTo(later.end_ms - 2 * test::kHarnessBlockMs);  // the next block is the last
  EXPECT_TRUE(Call(gp_, "access", Read(patient_, "lab-1", id)).ok());
  EXPECT_EQ(chain_->now_ms(), later.end_ms - test::kHarnessBlockMs);
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", id)).code,  // at end_ms: over
            EmrCodeOf(EmrCode::kConsentExpired));
  EXPECT_EQ(Accesses(patient_).at("total"), 2u);
}

TEST_F(EmrTest, AccessRefusesInvalidArguments) {
  Anchored(patient_, "lab-1", "lab");
  const uint64_t id = Granted(patient_, Consent(patient_, gp_, {"lab"}));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "", id)).code, CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", id, "TREATMENT")).code,
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "lab-1", id, "")).code, CodeOf(Code::kBadArguments));
  EXPECT_EQ(chain_->Run(chain_->RawTx(gp_, "emr", "access", Bytes{1, 2, 3})).code,
            CodeOf(Code::kBadArguments));
}

TEST_F(EmrTest, ADenyConsentRefusesEvenWithAPermit) {
  Anchored(patient_, "lab-1", "lab");
  Anchored(patient_, "xray-1", "imaging");
  const uint64_t permit = Granted(patient_, Consent(patient_, gp_, {"lab", "imaging"}));
  GrantConsentArgs deny_args = Consent(patient_, gp_, {"imaging"});
  deny_args.permit = 0;
  const uint64_t deny = Granted(patient_, deny_args);
  EXPECT_FALSE(QueryOk("consent", {{"id", deny}}).at("permit").get<bool>());
  // Naming the deny consent, or a permit it overrides, is refused.
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "xray-1", deny)).code,
            EmrCodeOf(EmrCode::kConsentDenies));
  EXPECT_EQ(Call(gp_, "access", Read(patient_, "xray-1", permit)).code,
            EmrCodeOf(EmrCode::kConsentDenies));
  // It refuses only what it names: other types, other purposes, other grantees.
  EXPECT_TRUE(Call(gp_, "access", Read(patient_, "lab-1", permit)).ok());
  // Revoking the deny lifts it.
  ASSERT_TRUE(Call(patient_, "revoke_consent", RevokeConsentArgs{deny}).ok());
  EXPECT_TRUE(Call(gp_, "access", Read(patient_, "xray-1", permit)).ok());
}

TEST_F(EmrTest, DenyConsentsPerGranteeAreBounded) {
  GrantConsentArgs deny = Consent(patient_, gp_, {"lab"});
  deny.permit = 0;
  std::vector<ledger::Transaction> txs;
  for (size_t i = 0; i <= kMaxDenyConsentsPerGrantee; ++i)
    txs.push_back(chain_->Tx(patient_, "emr", "grant_consent", deny));
  const std::vector<ledger::TxResult> results = chain_->Block(txs);
  for (size_t i = 0; i < kMaxDenyConsentsPerGrantee; ++i) EXPECT_TRUE(results[i].ok());
  EXPECT_EQ(results.back().code, CodeOf(Code::kLimitExceeded));
  // Another grantee has its own list; a revoked deny frees a place.
  deny.grantee = other_clinician_.public_key();
  EXPECT_TRUE(Call(patient_, "grant_consent", deny).ok());
  ASSERT_TRUE(Call(patient_, "revoke_consent", RevokeConsentArgs{3}).ok());
  deny.grantee = gp_.public_key();
  EXPECT_TRUE(Call(patient_, "grant_consent", deny).ok());
}

TEST_F(EmrTest, ExpiredDenyConsentsFreeTheirPlace) {
  GrantConsentArgs deny = Consent(patient_, gp_, {"lab"}, 5'000);
  deny.permit = 0;
  std::vector<ledger::Transaction> txs;
  for (size_t i = 0; i < kMaxDenyConsentsPerGrantee; ++i)
    txs.push_back(chain_->Tx(patient_, "emr", "grant_consent", deny));
  for (const ledger::TxResult& result : chain_->Block(txs)) EXPECT_TRUE(result.ok());
  EXPECT_EQ(Call(patient_, "grant_consent", deny).code, CodeOf(Code::kLimitExceeded));
  chain_->AdvanceTo(deny.end_ms);
  deny = Consent(patient_, gp_, {"lab"});
  deny.permit = 0;
  EXPECT_TRUE(Call(patient_, "grant_consent", deny).ok());
}

// ---- break_glass and review ----

TEST_F(EmrTest, BreakGlassIsAllowedAndFlagged) {
  Anchored(patient_, "allergies", "summary");
  const std::string why = "unconscious at the scene, checking allergies before treatment";
  const BreakGlassArgs args{patient_.public_key(), "allergies", Sealed(patient_.public_key(), why)};
  const ledger::TxResult result = Call(paramedic_, "break_glass", args);
  ASSERT_TRUE(result.ok()) << result.detail;
  EXPECT_EQ(result.events.at(0).name, "break_glass");
  const Json flagged = QueryOk("flagged", Json::object());
  EXPECT_EQ(flagged.at("total"), 1u);
  ASSERT_EQ(flagged.at("flagged").size(), 1u);
  const Json& entry = flagged.at("flagged")[0];
  EXPECT_EQ(entry.at("patient"), Address(patient_));
  EXPECT_EQ(entry.at("accessor"), Address(paramedic_));
  EXPECT_EQ(entry.at("justification").at("to_patient"), ToHex(args.justification.to_patient));
  EXPECT_EQ(entry.dump().find("unconscious"), std::string::npos) << "no plaintext in the log";
  EXPECT_EQ(entry.at("purpose"), std::string(kEmergencyPurpose));
  EXPECT_TRUE(entry.at("consent_id").is_null());
  EXPECT_TRUE(entry.at("flagged").get<bool>());
  EXPECT_EQ(entry.at("flag_id"), 0u);
  EXPECT_TRUE(entry.at("review").is_null());
  const Json accesses = Accesses(patient_);
  ASSERT_EQ(accesses.at("accesses").size(), 1u);
  EXPECT_EQ(accesses.at("accesses")[0].at("justification"), entry.at("justification"));
}

TEST_F(EmrTest, BreakGlassNeedsTheEmergencyRole) {
  Anchored(patient_, "allergies", "summary");
  const BreakGlassArgs args{patient_.public_key(), "allergies",
                            Sealed(patient_.public_key(), "emergency")};
  for (const KeyPair* caller : {&gp_, &hospital_, &auditor_, &patient_, &stranger_}) {
    EXPECT_EQ(Call(*caller, "break_glass", args).code, CodeOf(Code::kPermissionDenied));
  }
  EXPECT_EQ(QueryOk("flagged", Json::object()).at("total"), 0u);
}

TEST_F(EmrTest, BreakGlassNeedsASealedJustificationAndARecord) {
  Anchored(patient_, "allergies", "summary");
  auto code = [&](std::string record, SealedText justification) {
    return Call(paramedic_, "break_glass",
                BreakGlassArgs{patient_.public_key(), std::move(record), std::move(justification)})
        .code;
  };
  const PublicKey& patient = patient_.public_key();
  // What a sender may seal: 1..512 printable characters.
  for (const std::string& text :
       {std::string(), std::string("line\nbreak"), std::string(kMaxJustificationLength + 1, 'x')}) {
    EXPECT_EQ(
        SealForPatient(patient, std::nullopt, text, kMaxJustificationLength, "why").status().code(),
        ErrorCode::kInvalidArgument)
        << text.size();
  }
  // What the contract takes: a box of 1..512 characters, sealed to nobody else.
  EXPECT_EQ(code("allergies", SealedText{}), CodeOf(Code::kBadArguments));
  SealedText empty_box{Bytes(kSealOverhead, 0), PublicKey{}, {}};
  EXPECT_EQ(code("allergies", empty_box), CodeOf(Code::kBadArguments));
  SealedText oversize{Bytes(kSealOverhead + kMaxJustificationLength + 1, 0), PublicKey{}, {}};
  EXPECT_EQ(code("allergies", oversize), CodeOf(Code::kBadArguments));
  EXPECT_EQ(code("allergies", Sealed(patient, "emergency", auditor_.public_key())),
            CodeOf(Code::kBadArguments))
      << "sealed to an auditor key governance never published";
  EXPECT_EQ(code("", Sealed(patient, "emergency")), CodeOf(Code::kBadArguments));
  EXPECT_EQ(code("missing", Sealed(patient, "emergency")), CodeOf(Code::kNotFound));
  EXPECT_TRUE(Call(paramedic_, "break_glass",
                   BreakGlassArgs{other_patient_.public_key(), "allergies",
                                  Sealed(other_patient_.public_key(), "emergency")})
                  .code == CodeOf(Code::kNotFound));
  EXPECT_EQ(code("allergies", Sealed(patient, std::string(kMaxJustificationLength, 'x'))), 0u);
  EXPECT_EQ(QueryOk("flagged", Json::object()).at("total"), 1u);
}

// Once governance publishes the auditor's sealing key, personal text must be sealed to it as
// well; the patient and the auditor each open their copy, nobody else can.
TEST_F(EmrTest, TextIsSealedToThePatientAndTheAuditorKeyGovernancePublishes) {
  Anchored(patient_, "allergies", "summary");
  const KeyPair council = test::TestKey(1);
  Action publish{
      uint8_t(ActionKind::kSetSealingKey), std::string(kAuditorRole), auditor_.public_key(), 0, {}};
  const ledger::TxResult passed =
      chain_->Call(council, "governance", "propose", ProposeArgs{publish, 1000});
  ASSERT_TRUE(passed.ok()) << passed.detail;
  const Json key = chain_->Query("governance", "sealing_key", {{"role", "auditor"}}).value();
  EXPECT_EQ(key.at("key"), Address(auditor_));

  const PublicKey& patient = patient_.public_key();
  auto code = [&](SealedText justification) {
    return Call(paramedic_, "break_glass",
                BreakGlassArgs{patient, "allergies", std::move(justification)})
        .code;
  };
  EXPECT_EQ(code(Sealed(patient, "no auditor copy")), CodeOf(Code::kBadArguments));
  EXPECT_EQ(code(Sealed(patient, "a stale auditor key", stranger_.public_key())),
            CodeOf(Code::kBadArguments));
  SealedText short_copy = Sealed(patient, "a short auditor copy", auditor_.public_key());
  short_copy.to_auditor.pop_back();
  EXPECT_EQ(code(short_copy), CodeOf(Code::kBadArguments));
  const std::string why = "unconscious, checking allergies";
  ASSERT_EQ(code(Sealed(patient, why, auditor_.public_key())), 0u);

  const Json entry = QueryOk("flagged", Json::object()).at("flagged")[0];
  ASSERT_EQ(entry.at("justification").at("auditor"), Address(auditor_));
  const SealedText stored = SealedTextFromJson(entry.at("justification")).value();
  EXPECT_EQ(OpenSealedText(stored, patient_).value(), why);
  EXPECT_EQ(OpenSealedText(stored, auditor_).value(), why);
  EXPECT_EQ(OpenSealedText(stored, stranger_).status().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(OpenSealedText(stored, paramedic_).status().code(), ErrorCode::kUnauthenticated)
      << "not even the one who wrote it";
}

TEST_F(EmrTest, AnAuditorReviewsAFlaggedAccessOnce) {
  Anchored(patient_, "allergies", "summary");
  ASSERT_TRUE(Call(paramedic_, "break_glass",
                   BreakGlassArgs{patient_.public_key(), "allergies",
                                  Sealed(patient_.public_key(), "cardiac arrest")})
                  .ok());
  const ReviewArgs review{0, 1, "ambulance call log confirms the emergency"};
  for (const KeyPair* caller : {&paramedic_, &gp_, &patient_}) {
    EXPECT_EQ(Call(*caller, "review", review).code, CodeOf(Code::kPermissionDenied));
  }
  EXPECT_EQ(Call(auditor_, "review", ReviewArgs{1, 1, ""}).code, CodeOf(Code::kNotFound));
  EXPECT_EQ(Call(auditor_, "review", ReviewArgs{0, 2, ""}).code, CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(auditor_, "review", ReviewArgs{0, 1, "tab\there"}).code,
            CodeOf(Code::kBadArguments));
  ASSERT_TRUE(Call(auditor_, "review", review).ok());
  EXPECT_EQ(Call(auditor_, "review", review).code, CodeOf(Code::kAlreadyExists));
  const Json entry = QueryOk("flagged", Json::object()).at("flagged")[0];
  EXPECT_EQ(entry.at("review").at("reviewer"), Address(auditor_));
  EXPECT_TRUE(entry.at("review").at("justified").get<bool>());
  EXPECT_EQ(entry.at("review").at("note"), review.note);
}

// ---- queries ----

TEST_F(EmrTest, AccessListsArePaginated) {
  Anchored(patient_, "lab-1", "lab");
  const uint64_t id = Granted(patient_, Consent(patient_, gp_, {"lab"}));
  std::vector<ledger::Transaction> txs;
  for (int i = 0; i < 3; ++i)
    txs.push_back(chain_->Tx(gp_, "emr", "access", Read(patient_, "lab-1", id)));
  txs.push_back(chain_->Tx(
      paramedic_, "emr", "break_glass",
      BreakGlassArgs{patient_.public_key(), "lab-1", Sealed(patient_.public_key(), "overdose")}));
  txs.push_back(chain_->Tx(gp_, "emr", "access", Read(patient_, "lab-1", id)));
  for (const ledger::TxResult& result : chain_->Block(txs)) ASSERT_TRUE(result.ok());
  const Json first = Accesses(patient_, {{"limit", 2}});
  ASSERT_EQ(first.at("accesses").size(), 2u);
  EXPECT_EQ(first.at("accesses")[0].at("seq"), 0u);
  ASSERT_TRUE(first.at("next_cursor").is_string());
  const Json second = Accesses(patient_, {{"limit", 2}, {"cursor", first.at("next_cursor")}});
  ASSERT_EQ(second.at("accesses").size(), 2u);
  EXPECT_EQ(second.at("accesses")[1].at("seq"), 3u);
  EXPECT_TRUE(second.at("accesses")[1].at("flagged").get<bool>());
  const Json newest = Accesses(patient_, {{"limit", 1}, {"newest_first", true}});
  EXPECT_EQ(newest.at("accesses")[0].at("seq"), 4u);
  EXPECT_EQ(newest.at("total"), 5u);
  // Bad query parameters are errors, not exceptions.
  EXPECT_FALSE(chain_->Query("emr", "accesses", {{"patient", "city1nope"}}).ok());
  EXPECT_FALSE(chain_->Query("emr", "accesses", Json::object()).ok());
  EXPECT_FALSE(chain_->Query("emr", "flagged", {{"limit", 0}}).ok());
  EXPECT_FALSE(chain_->Query("emr", "consent", {{"id", "zero"}}).ok());
  EXPECT_FALSE(chain_->Query("emr", "consent", {{"id", 42}}).ok());
  EXPECT_FALSE(chain_->Query("emr", "record", {{"patient", Address(patient_)}}).ok());
}

}  // namespace
}  // namespace city::contracts
