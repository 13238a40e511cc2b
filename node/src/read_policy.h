// Who may read what through the client API: the one read rule. Every route asks here, and
// docs/node.md ("Signed reads: who may read what") is this table in prose:
//
//   anyone                headers, certificates, status, genesis, metrics, the UBI supply,
//                         governance and logistics (queries, events, state, indexes), blocks
//                         of those contracts only, a transaction's status and result code,
//                         an account's nonces
//   the account itself    its enrolment, UBI balance, citizen record and claims, its history,
//                         its own transactions in full
//   patient or guardian   the patient's EMR records, guardian, consents and accesses
//   a grantee             the consents given to it (by id, or in a patient's list)
//   the registrar role    enrolments, citizen records, person lookups
//   the auditor role      everything
//   this node's operator  this node's raw data: blocks, transactions, events, state, indexes
//                         (it holds them on disk anyway), not the decoded EMR queries
//
// Private contracts (emr, ubi, accounts) are never anonymous in raw form: a block carrying
// one of their transactions, their events, state and indexes. Anything not in the table is
// the auditor's alone.
#pragma once

#include <optional>
#include <string_view>

#include "chain.h"
#include "city/contracts/contract.h"

namespace city::node {

// The one who asks, with what the chain says about them now.
struct Reader {
  std::optional<PublicKey> account;  // nullopt: anonymous
  bool auditor = false;
  bool registrar = false;
  bool node_operator = false;
};

enum class ReadVerdict {
  kAllow,
  kDeny,         // anonymous: 401 unauthenticated; signed: 403 read_forbidden
  kCheckAnswer,  // run the query, then AnswerFor decides what of it the reader sees
  kBadSubject,   // the query's subject parameter is missing or not an address (400)
};

bool IsPrivateContract(std::string_view contract);

class ReadPolicy {
 public:
  ReadPolicy(const Chain& chain, PublicKey node_key);

  Reader Identify(const std::optional<PublicKey>& account) const;

  // Raw data: blocks, transactions, events, state keys ("<contract>/..."), indexes.
  bool MayReadBlock(const Reader& reader, const ledger::Block& block) const;
  bool MayReadTransaction(const Reader& reader, const ledger::Transaction& tx) const;
  bool MayReadContractData(const Reader& reader, std::string_view contract) const;
  bool MayReadStateKey(const Reader& reader, ByteSpan key) const;
  // An account's enrolment and history.
  bool MayReadAccount(const Reader& reader, const PublicKey& account) const;

  ReadVerdict ForQuery(const Reader& reader, std::string_view contract, std::string_view query,
                       const contracts::Json& params) const;
  // After kCheckAnswer: what of `answer` the reader sees; nullopt when nothing.
  std::optional<contracts::Json> AnswerFor(const Reader& reader, std::string_view contract,
                                           std::string_view query, contracts::Json answer) const;

 private:
  bool SeesRawData(const Reader& reader) const { return reader.auditor || reader.node_operator; }
  bool ActsFor(const Reader& reader, const PublicKey& patient) const;

  const Chain& chain_;
  const PublicKey node_key_;
};

}  // namespace city::node
