// The client API's JSON shapes of ledger objects (json_views.h), and transactions in from hex.
#include "city/node/json_views.h"

#include "city/contracts/codes.h"
#include "city/crypto/address.h"
#include "city/ledger/codec.h"

namespace city::node {

std::string ToHex(ByteSpan bytes) { return city::ToHex(bytes); }

Result<Bytes> FromHex(std::string_view hex) { return city::FromHex(hex); }

Json TransactionJson(const ledger::Transaction& tx) {
  return Json{{"id", tx.Id().ToHex()},
              {"signed_hash", tx.SignedHash().ToHex()},
              {"chain_id", tx.chain_id},
              {"sender", tx.sender.ToHex()},
              {"sender_address", EncodeAddress(tx.sender)},
              {"nonce", tx.nonce},
              {"expiry_height", tx.expiry_height},
              {"contract", tx.contract},
              {"method", tx.method},
              {"args", ToHex(tx.args)},
              {"signature", tx.signature.ToHex()},
              {"size", ledger::Encode(tx).size()}};
}

Json QuorumCertJson(const ledger::QuorumCert& qc) {
  Json signatures = Json::array();
  for (const ledger::CertSignature& s : qc.signatures) {
    signatures.push_back({{"signer", s.signer.ToHex()}, {"signature", s.signature.ToHex()}});
  }
  return Json{{"epoch", qc.data.epoch},
              {"term", qc.data.term},
              {"round", qc.data.round},
              {"height", qc.data.height},
              {"block_hash", qc.data.block_hash.ToHex()},
              {"signatures", std::move(signatures)}};
}

Json TimeoutCertJson(const ledger::TimeoutCert& tc) {
  Json entries = Json::array();
  for (const ledger::TimeoutCertEntry& e : tc.entries) {
    entries.push_back({{"signer", e.signer.ToHex()},
                       {"high_qc_round", e.high_qc_round},
                       {"signature", e.signature.ToHex()}});
  }
  return Json{{"epoch", tc.epoch},
              {"round", tc.round},
              {"high_qc", QuorumCertJson(tc.high_qc)},
              {"entries", std::move(entries)}};
}

Json HeaderJson(const ledger::BlockHeader& header) {
  return Json{{"hash", header.Hash().ToHex()},
              {"chain_id", header.chain_id},
              {"epoch", header.epoch},
              {"height", header.height},
              {"term", header.term},
              {"round", header.round},
              {"parent_hash", header.parent_hash.ToHex()},
              {"proposer", header.proposer.ToHex()},
              {"timestamp_ms", header.timestamp_ms},
              {"tx_root", header.tx_root.ToHex()},
              {"exec_height", header.exec_height},
              {"state_root", header.state_root.ToHex()},
              {"result_root", header.result_root.ToHex()},
              {"justify", QuorumCertJson(header.justify)},
              {"timeout_cert",
               header.timeout_cert ? TimeoutCertJson(*header.timeout_cert) : Json(nullptr)}};
}

Json BlockJson(const ledger::Block& block) {
  Json transactions = Json::array();
  for (const ledger::Transaction& tx : block.transactions) {
    transactions.push_back(TransactionJson(tx));
  }
  return Json{{"header", HeaderJson(block.header)},
              {"signature", block.signature.ToHex()},
              {"transactions", std::move(transactions)},
              {"encoded", ToHex(ledger::Encode(block))}};
}

Json TxResultJson(const ledger::TxResult& result) {
  Json events = Json::array();
  for (const ledger::Event& event : result.events) {
    events.push_back(
        {{"contract", event.contract}, {"name", event.name}, {"data", ToHex(event.data)}});
  }
  // Accounts, so addresses: what a person compares with the address they know.
  Json related = Json::array();
  for (const PublicKey& account : result.related_accounts) {
    related.push_back(EncodeAddress(account));
  }
  return Json{
      {"code", result.code},         {"code_name", std::string(contracts::CodeName(result.code))},
      {"ok", result.ok()},           {"detail", result.detail},
      {"events", std::move(events)}, {"related_accounts", std::move(related)}};
}

Json StateProofJson(ByteSpan key, const ledger::StateAt& state) {
  return Json{{"key", ToHex(key)},
              {"value", state.value ? Json(ToHex(*state.value)) : Json(nullptr)},
              {"version", state.version},
              {"root", state.root.ToHex()},
              {"proof", ToHex(ledger::Encode(state.proof))}};
}

Result<ledger::Transaction> ParseTransactionHex(std::string_view hex) {
  // Before decoding: an oversized body must not cost an allocation of its size.
  if (hex.size() > 2 * ledger::kMaxTransactionBytes) {
    return Status(ErrorCode::kTooLarge,
                  "transaction: " + std::to_string(hex.size()) + " hex characters is over the " +
                      std::to_string(2 * ledger::kMaxTransactionBytes) + " of a " +
                      std::to_string(ledger::kMaxTransactionBytes) + "-byte transaction");
  }
  Result<Bytes> bytes = FromHex(hex);
  if (!bytes.ok()) {
    return Status(ErrorCode::kInvalidArgument, "transaction: " + bytes.status().message());
  }
  Result<ledger::Transaction> tx = ledger::Decode<ledger::Transaction>(*bytes);
  if (!tx.ok()) {
    return Status(tx.status().code(), "transaction: " + tx.status().message());
  }
  return tx;
}

}  // namespace city::node
