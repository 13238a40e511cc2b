// The emr contract: access to medical records under the patient's consent, and its audit
// trail. No medical data is on the ledger, only anchors (content hash, type, custodian,
// location) of records kept by their custodians. What could say something about a person in
// free text (a record's location URI, a break-glass justification) is sealed (SealedText) to
// the patient and to the auditor role's sealing key that governance publishes: every
// validator stores it, only they can read it.
//
// Consents follow the FHIR Consent resource: a patient (or the patient's guardian) grants a
// grantee access to some record types, for a purpose, during [start_ms, end_ms); a deny
// consent refuses what it names even when a permit consent would allow it. An access is a
// clinician's transaction naming the consent it relies on; emergency ("break-glass") access
// needs no consent but is flagged for review. Times are block times (BlockContext).
//
// Key space ("emr/..."), values canonical encodings or u64 LE:
//   record/<patient>/<record id>   RecordAnchor
//   guardian/<patient>             32-byte account
//   next_consent                   u64          the id the next consent gets
//   consent/<id BE>                Consent
//   deny/<patient><grantee>        DenyList     ids of unrevoked deny consents of the pair
//   access_count/<patient>         u64          accesses (consented and break-glass)
//   flagged_count                  u64          break-glass accesses, all patients
//   review/<flag id BE>            Review       an auditor's review of a flagged access
// Indexes: records/<patient> (record id), consents/<patient> (consent id BE),
// accesses/<patient> (AccessEntry), flagged/"all" (AccessEntry).
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "city/contracts/args.h"
#include "city/crypto/ed25519.h"
#include "city/crypto/seal.h"

namespace city::contracts {

inline constexpr std::string_view kEmr = "emr";

inline constexpr size_t kMaxRecordIdLength = 64;
inline constexpr size_t kMaxLocationLength = 256;
inline constexpr size_t kMaxPurposeLength = 16;
inline constexpr size_t kMaxConsentRecordTypes = 16;
inline constexpr size_t kMaxJustificationLength = 512;
inline constexpr size_t kMaxReviewNoteLength = 512;
// Unrevoked, unexpired deny consents one patient may hold against one grantee.
inline constexpr size_t kMaxDenyConsentsPerGrantee = 16;
// The key of the "flagged" index: every break-glass access, of every patient.
inline constexpr std::string_view kFlaggedIndexKey = "all";
// The purpose recorded for break-glass accesses (FHIR PurposeOfUse "emergency treatment").
inline constexpr std::string_view kEmergencyPurpose = "ETREAT";

enum class EmrCode : uint32_t {
  kNoConsent = 300,             // the named consent does not exist
  kConsentNotYetValid = 301,    // the block time is before the consent's start
  kConsentExpired = 302,        // the block time is at or after the consent's end
  kConsentRevoked = 303,        // revoked by the patient or guardian
  kRecordTypeNotCovered = 304,  // the record's type is not among the consent's types
  kGranteeMismatch = 305,       // the consent was given to someone else
  kPatientMismatch = 306,       // the consent is another patient's
  kConsentDenies = 307,         // a deny consent refuses this access
  kPurposeNotCovered = 308,     // the access's purpose is not the consent's
};

// Who acts for a patient (grants and revokes consents; reads the patient's records,
// consents and accesses through the API): the patient, or the patient's current guardian.
bool IsPatientOrGuardian(const PublicKey& account, const PublicKey& patient,
                         const std::optional<PublicKey>& guardian);
bool ActsForPatient(const StateReader& state, const PublicKey& account, const PublicKey& patient);

// FHIR PurposeOfUse codes (v3 ActReason) a consent or an access may name.
bool IsValidPurpose(std::string_view purpose);

// A text field holding printable ASCII only (record ids, locations, justifications).
bool IsPrintableText(std::string_view text);

// The same printable text sealed (crypto/seal.h) to the patient and, when governance has
// published one (SealingKey(kAuditorRole)), to the auditor role's key: `auditor` names that
// key, zero and an empty `to_auditor` when there was none.
inline constexpr size_t kMaxSealedTextBytes =
    std::max(kMaxJustificationLength, kMaxLocationLength) + kSealOverhead;
struct SealedText {
  Bytes to_patient;
  PublicKey auditor;
  Bytes to_auditor;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Blob(t.to_patient, kMaxSealedTextBytes, "sealed text (patient)");
    v.Fixed(t.auditor);
    v.Blob(t.to_auditor, kMaxSealedTextBytes, "sealed text (auditor)");
  }
  CITY_CONTRACT_CODEC(SealedText);
};
// What a sender builds: `text` (1..max_length printable characters) sealed to the patient and
// to `auditor` when given. kInvalidArgument naming `what` otherwise.
Result<SealedText> SealForPatient(const PublicKey& patient, const std::optional<PublicKey>& auditor,
                                  std::string_view text, size_t max_length, std::string_view what);
// The contract's check of a SealedText: box sizes within 1..max_length of text, and sealed
// to exactly the auditor key governance publishes now (`current_auditor`). A failure says why.
Outcome CheckSealed(const SealedText& sealed, const std::optional<PublicKey>& current_auditor,
                    size_t max_length, std::string_view what);
// Opens whichever copy `reader` can (the patient's or the auditor's): kUnauthenticated when
// neither is sealed to it.
Result<std::string> OpenSealedText(const SealedText& sealed, const KeyPair& reader);
// Back from the form the queries show it in ({"to_patient","auditor","to_auditor"}).
Result<SealedText> SealedTextFromJson(const nlohmann::json& json);

// One record type in a list ("lab", "imaging", ...; ledger::IsValidName).
struct RecordType {
  std::string name;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Text(t.name, ledger::kMaxNameLength, "record type");
  }
  CITY_CONTRACT_CODEC(RecordType);
};

// anchor: the caller (a clinician account of the hospital or GP that keeps the record)
// becomes its custodian.
struct AnchorArgs {
  PublicKey patient;
  std::string record_id;
  std::string record_type;
  Hash256 content_hash;
  SealedText location;  // where the custodian serves it (a URI), sealed

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
    v.Text(t.record_id, kMaxRecordIdLength, "record id");
    v.Text(t.record_type, ledger::kMaxNameLength, "record type");
    v.Fixed(t.content_hash);
    v.Object(t.location);
  }
  CITY_CONTRACT_CODEC(AnchorArgs);
};

struct SetGuardianArgs {
  PublicKey patient;
  PublicKey guardian;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
    v.Fixed(t.guardian);
  }
  CITY_CONTRACT_CODEC(SetGuardianArgs);
};

struct RemoveGuardianArgs {
  PublicKey patient;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
  }
  CITY_CONTRACT_CODEC(RemoveGuardianArgs);
};

// grant_consent: by the patient or the patient's guardian. The consent gets the next id
// (event "consent_granted" carries it, u64 LE).
struct GrantConsentArgs {
  PublicKey patient;
  PublicKey grantee;
  std::vector<RecordType> record_types;  // 1..kMaxConsentRecordTypes, no repeats
  std::string purpose;                   // IsValidPurpose
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;  // exclusive; after start and after the block time
  uint8_t permit = 1;   // 1 permit, 0 deny

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
    v.Fixed(t.grantee);
    v.List(t.record_types, kMaxConsentRecordTypes, 4, "record types");
    v.Text(t.purpose, kMaxPurposeLength, "purpose");
    v.U64(t.start_ms);
    v.U64(t.end_ms);
    v.U8(t.permit);
  }
  CITY_CONTRACT_CODEC(GrantConsentArgs);
};

struct RevokeConsentArgs {
  uint64_t consent_id = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.consent_id);
  }
  CITY_CONTRACT_CODEC(RevokeConsentArgs);
};

// access: a clinician reads a record under a consent given to them.
struct AccessArgs {
  PublicKey patient;
  std::string record_id;
  uint64_t consent_id = 0;
  std::string purpose;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
    v.Text(t.record_id, kMaxRecordIdLength, "record id");
    v.U64(t.consent_id);
    v.Text(t.purpose, kMaxPurposeLength, "purpose");
  }
  CITY_CONTRACT_CODEC(AccessArgs);
};

// break_glass: the emergency role reads a record without consent; flagged for review.
struct BreakGlassArgs {
  PublicKey patient;
  std::string record_id;
  SealedText justification;  // 1..kMaxJustificationLength printable characters, sealed

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
    v.Text(t.record_id, kMaxRecordIdLength, "record id");
    v.Object(t.justification);
  }
  CITY_CONTRACT_CODEC(BreakGlassArgs);
};

// review: an auditor records the outcome of reviewing flagged access `flag_id` (its
// position in the "flagged" index, 0-based; the entry carries it).
struct ReviewArgs {
  uint64_t flag_id = 0;
  uint8_t justified = 1;  // 1: the emergency access was justified
  std::string note;       // 0..kMaxReviewNoteLength printable characters

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.flag_id);
    v.U8(t.justified);
    v.Text(t.note, kMaxReviewNoteLength, "review note");
  }
  CITY_CONTRACT_CODEC(ReviewArgs);
};

std::unique_ptr<Contract> MakeEmr();

}  // namespace city::contracts
