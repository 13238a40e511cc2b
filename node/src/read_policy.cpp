// The read policy (read_policy.h).
#include "read_policy.h"

#include <algorithm>
#include <array>

#include "city/contracts/accounts.h"
#include "city/contracts/emr.h"
#include "city/contracts/executor.h"
#include "city/contracts/governance.h"
#include "city/contracts/logistics.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/ledger/smt.h"

namespace city::node {
namespace {

using contracts::Json;

// Who may run a contract query.
enum class QueryRule {
  kAnyone,
  kAccountItself,     // params.account: that account, the registrar or the auditor
  kRegistrar,         // the registrar or the auditor
  kPatient,           // params.patient: who acts for the patient, or the auditor
  kPatientOrGrantee,  // kPatient; a grantee sees the consents given to it
  kConsentParties,    // the consent's patient (or guardian) or grantee, or the auditor
  kAuditor,
};

struct QueryEntry {
  std::string_view contract;
  std::string_view query;  // "*": every query of the contract
  QueryRule rule;
};

constexpr std::array<QueryEntry, 17> kQueryRules = {{
    {contracts::kGovernance, "*", QueryRule::kAnyone},
    {contracts::kLogistics, "*", QueryRule::kAnyone},
    {contracts::kUbi, "supply", QueryRule::kAnyone},
    {contracts::kUbi, "balance", QueryRule::kAccountItself},
    {contracts::kUbi, "citizen", QueryRule::kAccountItself},
    {contracts::kUbi, "claims", QueryRule::kAccountItself},
    {contracts::kUbi, "person", QueryRule::kRegistrar},
    {contracts::kAccounts, "enrolment", QueryRule::kAccountItself},
    {contracts::kEmr, "record", QueryRule::kPatient},
    {contracts::kEmr, "records", QueryRule::kPatient},
    {contracts::kEmr, "guardian", QueryRule::kPatient},
    {contracts::kEmr, "accesses", QueryRule::kPatient},
    {contracts::kEmr, "consents", QueryRule::kPatientOrGrantee},
    {contracts::kEmr, "consent", QueryRule::kConsentParties},
    {contracts::kEmr, "flagged", QueryRule::kAuditor},
    {contracts::kEmr, "*", QueryRule::kAuditor},
    {contracts::kUbi, "*", QueryRule::kAuditor},
}};

// The public contracts are the public halves of the state tree (ledger/smt.h).
static_assert(ledger::kPublicStateSpaces[0] == contracts::kGovernance &&
              ledger::kPublicStateSpaces[1] == contracts::kLogistics);

QueryRule RuleOf(std::string_view contract, std::string_view query) {
  for (const QueryEntry& entry : kQueryRules) {
    if (entry.contract == contract && (entry.query == query || entry.query == "*")) {
      return entry.rule;
    }
  }
  return QueryRule::kAuditor;
}

std::optional<PublicKey> SubjectOf(const Json& params, const char* field) {
  if (!params.is_object() || !params.contains(field) || !params[field].is_string()) {
    return std::nullopt;
  }
  Result<PublicKey> key = DecodeAddress(params[field].get<std::string>());
  if (!key.ok()) return std::nullopt;
  return *key;
}

bool Names(const Json& answer, const char* field, const PublicKey& account) {
  return answer.is_object() && answer.contains(field) && answer[field].is_string() &&
         answer[field].get<std::string>() == EncodeAddress(account);
}

}  // namespace

bool IsPrivateContract(std::string_view contract) { return !ledger::IsPublicStateSpace(contract); }

ReadPolicy::ReadPolicy(const Chain& chain, PublicKey node_key)
    : chain_(chain), node_key_(node_key) {}

Reader ReadPolicy::Identify(const std::optional<PublicKey>& account) const {
  Reader reader;
  reader.account = account;
  if (!account) return reader;
  const contracts::StoreStateReader state(chain_.store());
  try {
    reader.auditor = contracts::HoldsRole(state, *account, contracts::kAuditorRole);
    reader.registrar = contracts::HoldsRole(state, *account, contracts::kRegistrarRole);
  } catch (const contracts::StorageFailure&) {
    // Unreadable state grants nothing; the store logs why.
  }
  reader.node_operator = *account == node_key_;
  return reader;
}

bool ReadPolicy::ActsFor(const Reader& reader, const PublicKey& patient) const {
  if (!reader.account) return false;
  try {
    return contracts::ActsForPatient(contracts::StoreStateReader(chain_.store()), *reader.account,
                                     patient);
  } catch (const contracts::StorageFailure&) {
    return false;
  }
}

bool ReadPolicy::MayReadContractData(const Reader& reader, std::string_view contract) const {
  return !IsPrivateContract(contract) || SeesRawData(reader);
}

bool ReadPolicy::MayReadTransaction(const Reader& reader, const ledger::Transaction& tx) const {
  return MayReadContractData(reader, tx.contract) || reader.account == tx.sender;
}

bool ReadPolicy::MayReadBlock(const Reader& reader, const ledger::Block& block) const {
  if (SeesRawData(reader)) return true;
  return std::none_of(block.transactions.begin(), block.transactions.end(),
                      [](const ledger::Transaction& tx) { return IsPrivateContract(tx.contract); });
}

bool ReadPolicy::MayReadStateKey(const Reader& reader, ByteSpan key) const {
  // The same rule that splits the state tree: a key outside the public spaces (the engine's
  // "sys/...", a private contract's) is raw private data.
  return ledger::IsPublicStateKey(key) || SeesRawData(reader);
}

bool ReadPolicy::MayReadAccount(const Reader& reader, const PublicKey& account) const {
  return reader.account == account || reader.auditor || reader.registrar || reader.node_operator;
}

ReadVerdict ReadPolicy::ForQuery(const Reader& reader, std::string_view contract,
                                 std::string_view query, const Json& params) const {
  if (reader.auditor) return ReadVerdict::kAllow;
  switch (RuleOf(contract, query)) {
    case QueryRule::kAnyone:
      return ReadVerdict::kAllow;
    case QueryRule::kAccountItself: {
      const std::optional<PublicKey> account = SubjectOf(params, "account");
      if (!account) return ReadVerdict::kBadSubject;
      return reader.account == account || reader.registrar ? ReadVerdict::kAllow
                                                           : ReadVerdict::kDeny;
    }
    case QueryRule::kRegistrar:
      return reader.registrar ? ReadVerdict::kAllow : ReadVerdict::kDeny;
    case QueryRule::kPatient:
    case QueryRule::kPatientOrGrantee: {
      const std::optional<PublicKey> patient = SubjectOf(params, "patient");
      if (!patient) return ReadVerdict::kBadSubject;
      if (ActsFor(reader, *patient)) return ReadVerdict::kAllow;
      const bool grantee_may_look =
          RuleOf(contract, query) == QueryRule::kPatientOrGrantee && reader.account.has_value();
      return grantee_may_look ? ReadVerdict::kCheckAnswer : ReadVerdict::kDeny;
    }
    case QueryRule::kConsentParties:
      return reader.account ? ReadVerdict::kCheckAnswer : ReadVerdict::kDeny;
    case QueryRule::kAuditor:
      return ReadVerdict::kDeny;
  }
  return ReadVerdict::kDeny;
}

std::optional<Json> ReadPolicy::AnswerFor(const Reader& reader, std::string_view contract,
                                          std::string_view query, Json answer) const {
  if (!reader.account) return std::nullopt;
  const PublicKey& account = *reader.account;
  switch (RuleOf(contract, query)) {
    case QueryRule::kPatientOrGrantee: {
      // A patient's consents list, cut down to those given to the reader.
      if (!answer.is_object() || !answer.contains("consents") || !answer["consents"].is_array()) {
        return std::nullopt;
      }
      Json mine = Json::array();
      for (Json& consent : answer["consents"]) {
        if (Names(consent, "grantee", account)) mine.push_back(std::move(consent));
      }
      answer["consents"] = std::move(mine);
      return answer;
    }
    case QueryRule::kConsentParties: {
      if (Names(answer, "grantee", account)) return answer;
      if (!answer.is_object() || !answer.contains("patient") || !answer["patient"].is_string()) {
        return std::nullopt;
      }
      Result<PublicKey> patient = DecodeAddress(answer["patient"].get<std::string>());
      if (patient.ok() && ActsFor(reader, *patient)) return answer;
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace city::node
