// The emr contract (emr.h).
#include "city/contracts/emr.h"

#include <algorithm>
#include <array>

#include "city/contracts/governance.h"

namespace city::contracts {

namespace {

// FHIR PurposeOfUse (v3 ActReason) codes a consent or an access may name.
constexpr std::array<std::string_view, 12> kPurposes = {
    "CAREMGT", "CLINTRL", "ETREAT",  "FAMRQT", "HOPERAT",  "HPAYMT",
    "HRESCH",  "PATRQT",  "PUBHLTH", "TREAT",  "TRANSRCH", "PWATRNY"};

struct ConsentIdItem {
  uint64_t id = 0;
  void EncodeTo(ledger::Encoder& encoder) const { encoder.U64(id); }
  static ConsentIdItem DecodeFrom(ledger::Decoder& decoder) {
    ConsentIdItem item;
    decoder.U64(item.id);
    return item;
  }
};

struct RecordAnchor {
  PublicKey patient;
  std::string record_id;
  std::string record_type;
  Hash256 content_hash;
  PublicKey custodian;
  SealedText location;
  uint64_t anchored_ms = 0;
  uint64_t anchored_height = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.patient);
    v.Text(t.record_id, kMaxRecordIdLength, "record id");
    v.Text(t.record_type, ledger::kMaxNameLength, "record type");
    v.Fixed(t.content_hash);
    v.Fixed(t.custodian);
    v.Object(t.location);
    v.U64(t.anchored_ms);
    v.U64(t.anchored_height);
  }
  CITY_CONTRACT_CODEC(RecordAnchor);
};

struct Consent {
  uint64_t id = 0;
  PublicKey patient;
  PublicKey grantee;
  std::vector<RecordType> record_types;  // sorted by name
  std::string purpose;
  uint64_t start_ms = 0;
  uint64_t end_ms = 0;
  uint8_t permit = 1;
  PublicKey granted_by;  // the patient or the guardian
  uint64_t granted_ms = 0;
  uint8_t revoked = 0;
  PublicKey revoked_by;
  uint64_t revoked_ms = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.id);
    v.Fixed(t.patient);
    v.Fixed(t.grantee);
    v.List(t.record_types, kMaxConsentRecordTypes, 4, "record types");
    v.Text(t.purpose, kMaxPurposeLength, "purpose");
    v.U64(t.start_ms);
    v.U64(t.end_ms);
    v.U8(t.permit);
    v.Fixed(t.granted_by);
    v.U64(t.granted_ms);
    v.U8(t.revoked);
    v.Fixed(t.revoked_by);
    v.U64(t.revoked_ms);
  }
  CITY_CONTRACT_CODEC(Consent);

  bool InForceAt(uint64_t time_ms) const {
    return revoked == 0 && start_ms <= time_ms && time_ms < end_ms;
  }
  bool Covers(std::string_view type) const {
    return std::any_of(record_types.begin(), record_types.end(),
                       [type](const RecordType& item) { return item.name == type; });
  }
};

struct DenyList {
  std::vector<ConsentIdItem> ids;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.List(t.ids, kMaxDenyConsentsPerGrantee, 8, "deny consents");
  }
  CITY_CONTRACT_CODEC(DenyList);
};

// One access, as the audit trail keeps it (the value of "accesses" and "flagged" entries).
struct AccessEntry {
  uint64_t seq = 0;  // the patient's n-th access, from 0
  PublicKey patient;
  PublicKey accessor;
  std::string record_id;
  std::string record_type;
  uint8_t has_consent = 0;
  uint64_t consent_id = 0;
  std::string purpose;
  SealedText justification;  // break-glass only (empty otherwise)
  uint8_t flagged = 0;
  uint64_t flag_id = 0;  // flagged only: position in the "flagged" index
  uint64_t time_ms = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.seq);
    v.Fixed(t.patient);
    v.Fixed(t.accessor);
    v.Text(t.record_id, kMaxRecordIdLength, "record id");
    v.Text(t.record_type, ledger::kMaxNameLength, "record type");
    v.U8(t.has_consent);
    v.U64(t.consent_id);
    v.Text(t.purpose, kMaxPurposeLength, "purpose");
    v.Object(t.justification);
    v.U8(t.flagged);
    v.U64(t.flag_id);
    v.U64(t.time_ms);
  }
  CITY_CONTRACT_CODEC(AccessEntry);
};

struct Review {
  uint64_t flag_id = 0;
  PublicKey reviewer;
  uint8_t justified = 0;
  std::string note;
  uint64_t time_ms = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.flag_id);
    v.Fixed(t.reviewer);
    v.U8(t.justified);
    v.Text(t.note, kMaxReviewNoteLength, "review note");
    v.U64(t.time_ms);
  }
  CITY_CONTRACT_CODEC(Review);
};

std::string AccountText(const PublicKey& key) {
  return std::string(key.bytes.begin(), key.bytes.end());
}
Bytes AccountBytes(const PublicKey& key) { return Bytes(key.bytes.begin(), key.bytes.end()); }

std::string RecordKey(const PublicKey& patient, std::string_view record_id) {
  std::string key = "record/" + AccountText(patient);
  key.push_back('/');
  key.append(record_id);
  return key;
}
std::string GuardianKey(const PublicKey& patient) { return "guardian/" + AccountText(patient); }
std::string ConsentKey(uint64_t id) { return "consent/" + U64Key(id); }
std::string DenyKey(const PublicKey& patient, const PublicKey& grantee) {
  return "deny/" + AccountText(patient) + AccountText(grantee);
}
std::string AccessCountKey(const PublicKey& patient) {
  return "access_count/" + AccountText(patient);
}
std::string ReviewKey(uint64_t flag_id) { return "review/" + U64Key(flag_id); }
constexpr std::string_view kNextConsentKey = "next_consent";
constexpr std::string_view kFlaggedCountKey = "flagged_count";

Bytes FlaggedIndexKey() { return Bytes(kFlaggedIndexKey.begin(), kFlaggedIndexKey.end()); }

uint64_t Counter(const Call& call, std::string_view key) {
  return ReadU64Value(call.Get(key)).value_or(0);
}

std::optional<PublicKey> LoadGuardian(const std::optional<Bytes>& stored) {
  if (!stored) return std::nullopt;
  Result<PublicKey> key = PublicKey::FromSpan(*stored);
  if (!key.ok()) throw StorageFailure{{ErrorCode::kCorruption, "a guardian is not 32 bytes"}};
  return *key;
}

// Consents are granted and revoked by the patient or the patient's current guardian; the
// engine's Permission cannot express the guardian (a state lookup), so methods check here.
bool ActsForPatient(const Call& call, const PublicKey& patient) {
  return IsPatientOrGuardian(call.caller(), patient, LoadGuardian(call.Get(GuardianKey(patient))));
}

Outcome CheckRecordId(std::string_view record_id) {
  if (record_id.empty() || !IsPrintableText(record_id))
    return Outcome::Fail(Code::kBadArguments, "record id must be 1..64 printable characters");
  return Outcome::Ok();
}

Outcome Fail(EmrCode code, std::string detail) {
  return Outcome::Fail(Code(code), std::move(detail));
}

Outcome Anchor(Call& call, const AnchorArgs& args) {
  if (!args.patient.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid patient");
  if (Outcome checked = CheckRecordId(args.record_id); !checked.ok()) return checked;
  if (!ledger::IsValidName(args.record_type))
    return Outcome::Fail(Code::kBadArguments, "invalid record type");
  if (args.content_hash.IsZero())
    return Outcome::Fail(Code::kBadArguments, "the content hash is missing");
  if (Outcome sealed =
          CheckSealed(args.location, call.SealingKey(kAuditorRole), kMaxLocationLength, "location");
      !sealed.ok()) {
    return sealed;
  }
  const std::string key = RecordKey(args.patient, args.record_id);
  if (call.Get(key)) return Outcome::Fail(Code::kAlreadyExists, "the record is already anchored");
  const RecordAnchor anchor{
      args.patient,  args.record_id, args.record_type,          args.content_hash,
      call.caller(), args.location,  call.block().timestamp_ms, call.block().height};
  call.Put(key, ledger::Encode(anchor));
  call.Index("records", AccountBytes(args.patient),
             Bytes(args.record_id.begin(), args.record_id.end()));
  call.Emit("record_anchored", Bytes(args.record_id.begin(), args.record_id.end()));
  call.Relate(args.patient);
  return Outcome::Ok();
}

Outcome SetGuardian(Call& call, const SetGuardianArgs& args) {
  if (!args.guardian.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid guardian");
  if (args.guardian == args.patient)
    return Outcome::Fail(Code::kBadArguments, "a patient cannot be their own guardian");
  call.Put(GuardianKey(args.patient), AccountBytes(args.guardian));
  call.Emit("guardian_set", AccountBytes(args.guardian));
  call.Relate(args.guardian);
  return Outcome::Ok();
}

Outcome RemoveGuardian(Call& call, const RemoveGuardianArgs& args) {
  const std::optional<PublicKey> guardian = LoadGuardian(call.Get(GuardianKey(args.patient)));
  if (!guardian) return Outcome::Fail(Code::kNotFound, "the patient has no guardian");
  call.Delete(GuardianKey(args.patient));
  call.Emit("guardian_removed", AccountBytes(*guardian));
  call.Relate(*guardian);
  return Outcome::Ok();
}

// Keeps the unrevoked, unexpired deny consents of (patient, grantee); adds `added` if set.
Outcome UpdateDenyList(Call& call, const PublicKey& patient, const PublicKey& grantee,
                       std::optional<uint64_t> added, std::optional<uint64_t> removed) {
  const std::string key = DenyKey(patient, grantee);
  DenyList list = LoadRecord<DenyList>(call.Get(key)).value_or(DenyList{});
  std::vector<ConsentIdItem> kept;
  for (const ConsentIdItem& item : list.ids) {
    if (removed && item.id == *removed) continue;
    const std::optional<Consent> consent = LoadRecord<Consent>(call.Get(ConsentKey(item.id)));
    if (consent && consent->revoked == 0 && call.block().timestamp_ms < consent->end_ms)
      kept.push_back(item);
  }
  if (added) {
    if (kept.size() >= kMaxDenyConsentsPerGrantee) {
      return Outcome::Fail(Code::kLimitExceeded, "too many deny consents for this grantee");
    }
    kept.push_back({*added});
  }
  if (kept.empty()) {
    if (!list.ids.empty()) call.Delete(key);
  } else {
    call.Put(key, ledger::Encode(DenyList{std::move(kept)}));
  }
  return Outcome::Ok();
}

Outcome GrantConsent(Call& call, const GrantConsentArgs& args) {
  if (!args.patient.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid patient");
  if (!ActsForPatient(call, args.patient)) {
    return Outcome::Fail(Code::kPermissionDenied, "only the patient or their guardian consents");
  }
  if (!args.grantee.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid grantee");
  if (args.grantee == args.patient)
    return Outcome::Fail(Code::kBadArguments, "a patient needs no consent of their own");
  if (args.record_types.empty())
    return Outcome::Fail(Code::kBadArguments, "a consent names at least one record type");
  std::vector<RecordType> types = args.record_types;
  std::sort(types.begin(), types.end(),
            [](const RecordType& a, const RecordType& b) { return a.name < b.name; });
  for (size_t i = 0; i < types.size(); ++i) {
    if (!ledger::IsValidName(types[i].name))
      return Outcome::Fail(Code::kBadArguments, "invalid record type");
    if (i > 0 && types[i].name == types[i - 1].name)
      return Outcome::Fail(Code::kBadArguments, "a record type is listed twice");
  }
  if (!IsValidPurpose(args.purpose))
    return Outcome::Fail(Code::kBadArguments, "unknown purpose of use");
  if (args.start_ms >= args.end_ms)
    return Outcome::Fail(Code::kBadArguments, "the period must end after it starts");
  if (args.end_ms <= call.block().timestamp_ms)
    return Outcome::Fail(Code::kBadArguments, "the period is already over");
  if (args.permit > 1) return Outcome::Fail(Code::kBadArguments, "permit must be 0 or 1");

  const uint64_t id = Counter(call, kNextConsentKey);
  call.Put(kNextConsentKey, U64Value(id + 1));
  const Consent consent{id,
                        args.patient,
                        args.grantee,
                        std::move(types),
                        args.purpose,
                        args.start_ms,
                        args.end_ms,
                        args.permit,
                        call.caller(),
                        call.block().timestamp_ms,
                        0,
                        PublicKey{},
                        0};
  if (consent.permit == 0) {
    if (Outcome updated = UpdateDenyList(call, args.patient, args.grantee, id, std::nullopt);
        !updated.ok())
      return updated;
  }
  call.Put(ConsentKey(id), ledger::Encode(consent));
  call.Index("consents", AccountBytes(args.patient), U64Value(id));
  call.Emit("consent_granted", U64Value(id));
  call.Relate(args.patient);
  call.Relate(args.grantee);
  return Outcome::Ok();
}

Outcome RevokeConsent(Call& call, const RevokeConsentArgs& args) {
  std::optional<Consent> consent = LoadRecord<Consent>(call.Get(ConsentKey(args.consent_id)));
  if (!consent) return Outcome::Fail(Code::kNotFound, "no such consent");
  if (!ActsForPatient(call, consent->patient)) {
    return Outcome::Fail(Code::kPermissionDenied, "only the patient or their guardian revokes");
  }
  if (consent->revoked) return Outcome::Fail(Code::kInvalidState, "already revoked");
  consent->revoked = 1;
  consent->revoked_by = call.caller();
  consent->revoked_ms = call.block().timestamp_ms;
  call.Put(ConsentKey(consent->id), ledger::Encode(*consent));
  if (consent->permit == 0) {
    if (Outcome updated =
            UpdateDenyList(call, consent->patient, consent->grantee, std::nullopt, consent->id);
        !updated.ok())
      return updated;
  }
  call.Emit("consent_revoked", U64Value(consent->id));
  call.Relate(consent->patient);
  call.Relate(consent->grantee);
  return Outcome::Ok();
}

// The patient's next access number, counted in state so the audit trail's length is part of
// the state root.
uint64_t NextAccessSeq(Call& call, const PublicKey& patient) {
  const uint64_t seq = Counter(call, AccessCountKey(patient));
  call.Put(AccessCountKey(patient), U64Value(seq + 1));
  return seq;
}

Outcome Access(Call& call, const AccessArgs& args) {
  if (Outcome checked = CheckRecordId(args.record_id); !checked.ok()) return checked;
  if (!IsValidPurpose(args.purpose))
    return Outcome::Fail(Code::kBadArguments, "unknown purpose of use");
  const std::optional<RecordAnchor> record =
      LoadRecord<RecordAnchor>(call.Get(RecordKey(args.patient, args.record_id)));
  if (!record) return Outcome::Fail(Code::kNotFound, "no such record for this patient");
  const std::optional<Consent> consent = LoadRecord<Consent>(call.Get(ConsentKey(args.consent_id)));
  if (!consent) return Fail(EmrCode::kNoConsent, "no such consent");
  if (consent->patient != args.patient)
    return Fail(EmrCode::kPatientMismatch, "the consent is another patient's");
  if (consent->grantee != call.caller())
    return Fail(EmrCode::kGranteeMismatch, "the consent was not given to the caller");
  if (consent->permit == 0) return Fail(EmrCode::kConsentDenies, "the consent denies access");
  if (consent->revoked) return Fail(EmrCode::kConsentRevoked, "the consent was revoked");
  const uint64_t now = call.block().timestamp_ms;
  if (now < consent->start_ms) return Fail(EmrCode::kConsentNotYetValid, "not yet in force");
  if (now >= consent->end_ms) return Fail(EmrCode::kConsentExpired, "the consent has expired");
  if (!consent->Covers(record->record_type)) {
    return Fail(EmrCode::kRecordTypeNotCovered, "the consent does not cover this record type");
  }
  if (consent->purpose != args.purpose)
    return Fail(EmrCode::kPurposeNotCovered, "the consent is for another purpose");
  // A deny consent in force overrides any permit.
  const DenyList denies =
      LoadRecord<DenyList>(call.Get(DenyKey(args.patient, call.caller()))).value_or(DenyList{});
  for (const ConsentIdItem& item : denies.ids) {
    const std::optional<Consent> deny = LoadRecord<Consent>(call.Get(ConsentKey(item.id)));
    if (deny && deny->InForceAt(now) && deny->Covers(record->record_type) &&
        deny->purpose == args.purpose) {
      return Fail(EmrCode::kConsentDenies,
                  "deny consent " + std::to_string(deny->id) + " refuses this access");
    }
  }
  AccessEntry entry;
  entry.seq = NextAccessSeq(call, args.patient);
  entry.patient = args.patient;
  entry.accessor = call.caller();
  entry.record_id = args.record_id;
  entry.record_type = record->record_type;
  entry.has_consent = 1;
  entry.consent_id = consent->id;
  entry.purpose = args.purpose;
  entry.time_ms = now;
  Bytes encoded = ledger::Encode(entry);
  call.Index("accesses", AccountBytes(args.patient), encoded);
  call.Emit("accessed", std::move(encoded));
  call.Relate(args.patient);
  return Outcome::Ok();
}

Outcome BreakGlass(Call& call, const BreakGlassArgs& args) {
  if (Outcome checked = CheckRecordId(args.record_id); !checked.ok()) return checked;
  if (Outcome sealed = CheckSealed(args.justification, call.SealingKey(kAuditorRole),
                                   kMaxJustificationLength, "justification");
      !sealed.ok()) {
    return sealed;
  }
  const std::optional<RecordAnchor> record =
      LoadRecord<RecordAnchor>(call.Get(RecordKey(args.patient, args.record_id)));
  if (!record) return Outcome::Fail(Code::kNotFound, "no such record for this patient");
  AccessEntry entry;
  entry.seq = NextAccessSeq(call, args.patient);
  entry.patient = args.patient;
  entry.accessor = call.caller();
  entry.record_id = args.record_id;
  entry.record_type = record->record_type;
  entry.purpose = std::string(kEmergencyPurpose);
  entry.justification = args.justification;
  entry.flagged = 1;
  entry.flag_id = Counter(call, kFlaggedCountKey);
  entry.time_ms = call.block().timestamp_ms;
  call.Put(kFlaggedCountKey, U64Value(entry.flag_id + 1));
  Bytes encoded = ledger::Encode(entry);
  call.Index("accesses", AccountBytes(args.patient), encoded);
  call.Index("flagged", FlaggedIndexKey(), encoded);
  call.Emit("break_glass", std::move(encoded));
  call.Relate(args.patient);
  return Outcome::Ok();
}

Outcome ReviewFlagged(Call& call, const ReviewArgs& args) {
  if (args.flag_id >= Counter(call, kFlaggedCountKey))
    return Outcome::Fail(Code::kNotFound, "no such flagged access");
  if (args.justified > 1) return Outcome::Fail(Code::kBadArguments, "justified must be 0 or 1");
  if (!IsPrintableText(args.note))
    return Outcome::Fail(Code::kBadArguments, "the note must be printable characters");
  if (call.Get(ReviewKey(args.flag_id)))
    return Outcome::Fail(Code::kAlreadyExists, "already reviewed");
  const Review review{args.flag_id, call.caller(), args.justified, args.note,
                      call.block().timestamp_ms};
  call.Put(ReviewKey(args.flag_id), ledger::Encode(review));
  call.Emit("reviewed", U64Value(args.flag_id));
  return Outcome::Ok();
}

// ---- queries ----
// Queries are read-only and not caller-authenticated at this layer: anyone with query access
// to the node reads them. The node's API restricts the audit queries (accesses, flagged) to
// auditors and the patient.

Json AccountJson(const PublicKey& key) { return EncodeAddress(key); }

Json SealedJson(const SealedText& sealed) {
  return {{"to_patient", ToHex(sealed.to_patient)},
          {"auditor", sealed.auditor.IsZero() ? Json(nullptr) : AccountJson(sealed.auditor)},
          {"to_auditor", sealed.auditor.IsZero() ? Json(nullptr) : Json(ToHex(sealed.to_auditor))}};
}

Json RecordJson(const RecordAnchor& record) {
  return {
      {"patient", AccountJson(record.patient)},     {"record_id", record.record_id},
      {"record_type", record.record_type},          {"content_hash", record.content_hash.ToHex()},
      {"custodian", AccountJson(record.custodian)}, {"location", SealedJson(record.location)},
      {"anchored_ms", record.anchored_ms},          {"anchored_height", record.anchored_height}};
}

Json ConsentJson(const Consent& consent) {
  Json types = Json::array();
  for (const RecordType& type : consent.record_types) types.push_back(type.name);
  return {{"id", consent.id},
          {"patient", AccountJson(consent.patient)},
          {"grantee", AccountJson(consent.grantee)},
          {"record_types", types},
          {"purpose", consent.purpose},
          {"start_ms", consent.start_ms},
          {"end_ms", consent.end_ms},
          {"permit", consent.permit == 1},
          {"granted_by", AccountJson(consent.granted_by)},
          {"granted_ms", consent.granted_ms},
          {"revoked", consent.revoked == 1},
          {"revoked_by", consent.revoked ? Json(AccountJson(consent.revoked_by)) : Json(nullptr)},
          {"revoked_ms", consent.revoked ? Json(consent.revoked_ms) : Json(nullptr)}};
}

Json ReviewJson(const std::optional<Review>& review) {
  if (!review) return nullptr;
  return {{"reviewer", AccountJson(review->reviewer)},
          {"justified", review->justified == 1},
          {"note", review->note},
          {"time_ms", review->time_ms}};
}

Json AccessJson(const QueryContext& context, const ledger::IndexItem& item) {
  const std::optional<AccessEntry> entry = LoadRecord<AccessEntry>(item.value);
  Json out = {{"seq", entry->seq},
              {"patient", AccountJson(entry->patient)},
              {"accessor", AccountJson(entry->accessor)},
              {"record_id", entry->record_id},
              {"record_type", entry->record_type},
              {"consent_id", entry->has_consent ? Json(entry->consent_id) : Json(nullptr)},
              {"purpose", entry->purpose},
              {"justification", entry->flagged ? SealedJson(entry->justification) : Json(nullptr)},
              {"flagged", entry->flagged == 1},
              {"time_ms", entry->time_ms},
              {"height", item.location.height},
              {"tx_index", item.location.index}};
  if (entry->flagged) {
    out["flag_id"] = entry->flag_id;
    out["review"] = ReviewJson(LoadRecord<Review>(context.Get(ReviewKey(entry->flag_id))));
  }
  return out;
}

// Lists index `index` under `key`, each item rendered by `render`, into {field: [...]}.
template <typename Render>
Result<Json> ListIndex(const QueryContext& context, const Json& params, std::string_view index,
                       ByteSpan key, const char* field, Render render) {
  Result<ledger::PageRequest> page = PageFromJson(params);
  if (!page.ok()) return page.status();
  Result<ledger::Page<ledger::IndexItem>> items = context.Index(index, key, *page);
  if (!items.ok()) return items.status();
  Json list = Json::array();
  for (const ledger::IndexItem& item : items->items) list.push_back(render(item));
  return Json{{field, list}, {"next_cursor", PageToJson(items->next_cursor)}};
}

Result<Json> QueryRecord(const QueryContext& context, const Json& params) {
  Result<PublicKey> patient = AccountFromJson(params, "patient");
  if (!patient.ok()) return patient.status();
  const std::optional<RecordAnchor> record = LoadRecord<RecordAnchor>(
      context.Get(RecordKey(*patient, params.at("record_id").get<std::string>())));
  if (!record) return Status{ErrorCode::kNotFound, "no such record"};
  return RecordJson(*record);
}

Result<Json> QueryConsent(const QueryContext& context, const Json& params) {
  const std::optional<Consent> consent =
      LoadRecord<Consent>(context.Get(ConsentKey(params.at("id").get<uint64_t>())));
  if (!consent) return Status{ErrorCode::kNotFound, "no such consent"};
  return ConsentJson(*consent);
}

class Emr : public Contract {
 public:
  Emr() : Contract(std::string(kEmr)) {
    const std::string clinician(kClinicianRole);
    AddMethod<AnchorArgs>("anchor", Permission<AnchorArgs>::Role(clinician), Anchor);
    AddMethod<SetGuardianArgs>("set_guardian",
                               Permission<SetGuardianArgs>::Subject(&SetGuardianArgs::patient),
                               SetGuardian);
    AddMethod<RemoveGuardianArgs>(
        "remove_guardian", Permission<RemoveGuardianArgs>::Subject(&RemoveGuardianArgs::patient),
        RemoveGuardian);
    // The patient or the guardian: checked inside (a state lookup).
    AddMethod<GrantConsentArgs>("grant_consent", Permission<GrantConsentArgs>::Anyone(),
                                GrantConsent);
    AddMethod<RevokeConsentArgs>("revoke_consent", Permission<RevokeConsentArgs>::Anyone(),
                                 RevokeConsent);
    AddMethod<AccessArgs>("access", Permission<AccessArgs>::Role(clinician), Access);
    AddMethod<BreakGlassArgs>(
        "break_glass", Permission<BreakGlassArgs>::Role(std::string(kEmergencyRole)), BreakGlass);
    AddMethod<ReviewArgs>("review", Permission<ReviewArgs>::Role(std::string(kAuditorRole)),
                          ReviewFlagged);

    AddQuery("record", QueryRecord);
    AddQuery("records", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<PublicKey> patient = AccountFromJson(params, "patient");
      if (!patient.ok()) return patient.status();
      return ListIndex(context, params, "records", patient->span(), "records",
                       [&](const ledger::IndexItem& item) -> Json {
                         const std::string id(item.value.begin(), item.value.end());
                         const std::optional<RecordAnchor> record =
                             LoadRecord<RecordAnchor>(context.Get(RecordKey(*patient, id)));
                         return record ? RecordJson(*record) : Json(nullptr);
                       });
    });
    AddQuery("guardian", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<PublicKey> patient = AccountFromJson(params, "patient");
      if (!patient.ok()) return patient.status();
      const std::optional<PublicKey> guardian = LoadGuardian(context.Get(GuardianKey(*patient)));
      return Json{{"patient", AccountJson(*patient)},
                  {"guardian", guardian ? Json(AccountJson(*guardian)) : Json(nullptr)}};
    });
    AddQuery("consent", QueryConsent);
    AddQuery("consents", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<PublicKey> patient = AccountFromJson(params, "patient");
      if (!patient.ok()) return patient.status();
      return ListIndex(context, params, "consents", patient->span(), "consents",
                       [&](const ledger::IndexItem& item) -> Json {
                         const std::optional<Consent> consent = LoadRecord<Consent>(
                             context.Get(ConsentKey(ReadU64Value(item.value).value())));
                         return consent ? ConsentJson(*consent) : Json(nullptr);
                       });
    });
    AddQuery("accesses", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<PublicKey> patient = AccountFromJson(params, "patient");
      if (!patient.ok()) return patient.status();
      Result<Json> list =
          ListIndex(context, params, "accesses", patient->span(), "accesses",
                    [&](const ledger::IndexItem& item) { return AccessJson(context, item); });
      if (!list.ok()) return list;
      (*list)["patient"] = AccountJson(*patient);
      (*list)["total"] = ReadU64Value(context.Get(AccessCountKey(*patient))).value_or(0);
      return list;
    });
    AddQuery("flagged", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<Json> list =
          ListIndex(context, params, "flagged", AsBytes(kFlaggedIndexKey), "flagged",
                    [&](const ledger::IndexItem& item) { return AccessJson(context, item); });
      if (!list.ok()) return list;
      (*list)["total"] = ReadU64Value(context.Get(kFlaggedCountKey)).value_or(0);
      return list;
    });
  }
};

}  // namespace

bool IsPatientOrGuardian(const PublicKey& account, const PublicKey& patient,
                         const std::optional<PublicKey>& guardian) {
  return account == patient || (guardian && *guardian == account);
}

bool ActsForPatient(const StateReader& state, const PublicKey& account, const PublicKey& patient) {
  const std::string key = std::string(kEmr) + "/" + GuardianKey(patient);
  return IsPatientOrGuardian(account, patient, LoadGuardian(state.Get(AsBytes(key))));
}

bool IsValidPurpose(std::string_view purpose) {
  return std::find(kPurposes.begin(), kPurposes.end(), purpose) != kPurposes.end();
}

bool IsPrintableText(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

Result<SealedText> SealForPatient(const PublicKey& patient, const std::optional<PublicKey>& auditor,
                                  std::string_view text, size_t max_length, std::string_view what) {
  if (text.empty() || text.size() > max_length || !IsPrintableText(text)) {
    return Status(
        ErrorCode::kInvalidArgument,
        std::string(what) + " must be 1.." + std::to_string(max_length) + " printable characters");
  }
  SealedText sealed;
  Result<Bytes> to_patient = SealTo(patient, AsBytes(text));
  if (!to_patient.ok()) return to_patient.status();
  sealed.to_patient = std::move(*to_patient);
  if (auditor) {
    Result<Bytes> to_auditor = SealTo(*auditor, AsBytes(text));
    if (!to_auditor.ok()) return to_auditor.status();
    sealed.auditor = *auditor;
    sealed.to_auditor = std::move(*to_auditor);
  }
  return sealed;
}

Outcome CheckSealed(const SealedText& sealed, const std::optional<PublicKey>& current_auditor,
                    size_t max_length, std::string_view what) {
  const std::string name(what);
  const size_t size = sealed.to_patient.size();
  if (size <= kSealOverhead || size > kSealOverhead + max_length) {
    return Outcome::Fail(Code::kBadArguments, name + " must be 1.." + std::to_string(max_length) +
                                                  " characters sealed to the patient");
  }
  if (!current_auditor) {
    if (!sealed.auditor.IsZero() || !sealed.to_auditor.empty()) {
      return Outcome::Fail(Code::kBadArguments,
                           name + " is sealed to an auditor key governance has not published");
    }
    return Outcome::Ok();
  }
  if (sealed.auditor != *current_auditor) {
    return Outcome::Fail(Code::kBadArguments,
                         name + " must also be sealed to the auditor key governance publishes (" +
                             EncodeAddress(*current_auditor) + ")");
  }
  if (sealed.to_auditor.size() != size) {
    return Outcome::Fail(Code::kBadArguments,
                         name + ": the auditor's copy is not the size of the patient's");
  }
  return Outcome::Ok();
}

Result<std::string> OpenSealedText(const SealedText& sealed, const KeyPair& reader) {
  Result<Bytes> opened = OpenSealed(reader, sealed.to_patient);
  if (!opened.ok() && !sealed.to_auditor.empty()) opened = OpenSealed(reader, sealed.to_auditor);
  if (!opened.ok()) {
    return Status(ErrorCode::kUnauthenticated,
                  "the text is sealed to neither this key's holder "
                  "as patient nor as auditor");
  }
  return std::string(opened->begin(), opened->end());
}

Result<SealedText> SealedTextFromJson(const Json& json) {
  const Status bad(ErrorCode::kMalformed, "not a sealed text object");
  if (!json.is_object() || !json.contains("to_patient") || !json["to_patient"].is_string()) {
    return bad;
  }
  SealedText sealed;
  Result<Bytes> to_patient = FromHex(json["to_patient"].get<std::string>());
  if (!to_patient.ok()) return bad;
  sealed.to_patient = std::move(*to_patient);
  if (json.contains("auditor") && json["auditor"].is_string()) {
    Result<PublicKey> auditor = DecodeAddress(json["auditor"].get<std::string>());
    if (!auditor.ok() || !json.contains("to_auditor") || !json["to_auditor"].is_string()) {
      return bad;
    }
    Result<Bytes> to_auditor = FromHex(json["to_auditor"].get<std::string>());
    if (!to_auditor.ok()) return bad;
    sealed.auditor = *auditor;
    sealed.to_auditor = std::move(*to_auditor);
  }
  return sealed;
}

std::unique_ptr<Contract> MakeEmr() { return std::make_unique<Emr>(); }

}  // namespace city::contracts
