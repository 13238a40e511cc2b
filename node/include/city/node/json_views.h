// The JSON shapes of ledger objects in the client API. Hashes, keys, signatures and byte
// strings are lower-case hex; accounts also appear as city1... addresses; u64 values are
// JSON numbers. These shapes are a stable API: cityctl and scripts parse them.
//
// Transactions enter the API as hex of their canonical encoding (what the sender signed
// over is exactly those bytes), never as JSON fields a node would have to re-encode.
#pragma once

#include <nlohmann/json.hpp>

#include "city/ledger/records.h"
#include "city/ledger/smt.h"
#include "city/ledger/store.h"  // StateAt
#include "city/ledger/types.h"

namespace city::node {

using Json = nlohmann::json;

std::string ToHex(ByteSpan bytes);
Result<Bytes> FromHex(std::string_view hex);  // kInvalidArgument on odd length or a bad digit

// {"id","signed_hash","chain_id","sender","sender_address","nonce","expiry_height",
//  "contract","method","args" (hex),"signature","size"}
Json TransactionJson(const ledger::Transaction& tx);
// {"signer","signature"} list inside {"epoch","term","round","height","block_hash","signatures"}
Json QuorumCertJson(const ledger::QuorumCert& qc);
// {"epoch","round","high_qc","entries":[{"signer","high_qc_round","signature"}]}
Json TimeoutCertJson(const ledger::TimeoutCert& tc);
// {"hash","chain_id","epoch","height","term","round","parent_hash","proposer",
//  "timestamp_ms","tx_root","exec_height","state_root","result_root","justify",
//  "timeout_cert" (null when absent)}
Json HeaderJson(const ledger::BlockHeader& header);
// {"header", "signature", "transactions":[TransactionJson...], "encoded" (hex of the whole
// canonical block, so an auditor can re-hash it without trusting this JSON)}
Json BlockJson(const ledger::Block& block);
// {"code","ok","detail","events":[{"contract","name","data"}],"related_accounts":[...]}
Json TxResultJson(const ledger::TxResult& result);
// {"key" (hex),"value" (hex or null),"version","root", "proof" (hex of its canonical encoding)}
Json StateProofJson(ByteSpan key, const ledger::StateAt& state);

// A transaction from the API: hex of its canonical encoding. kInvalidArgument for bad hex,
// kTooLarge over kMaxTransactionBytes, kMalformed when it does not decode (with trailing
// bytes refused).
Result<ledger::Transaction> ParseTransactionHex(std::string_view hex);

}  // namespace city::node
