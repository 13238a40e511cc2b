// The genesis file: the chain id, the validators in leader order, the council, the initial
// roles, chain parameters and balances. Every validator of a chain holds the same file; the
// genesis block's hash commits to it, so nodes with different files never agree on a block.
//
// Format (JSON, at most kMaxGenesisFileBytes; accounts as city1... addresses):
//   {"format":"cityledger-genesis","version":1,"chain_id":"...","genesis_time_ms":N,
//    "validators":[{"name":"...","public_key":"city1..."}],
//    "council":{"members":["city1..."],"threshold":N},
//    "roles":[{"role":"registrar","account":"city1..."}],
//    "params":{"ubi_amount":N,...},
//    "balances":[{"account":"city1...","amount":N}]}
// Unknown fields are refused (a typo must not silently drop a validator).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "city/contracts/city_contracts.h"
#include "city/ledger/store.h"
#include "city/ledger/types.h"

namespace city::contracts {

inline constexpr size_t kMaxGenesisFileBytes = 1 << 20;

struct GenesisValidator {
  std::string name;
  PublicKey key;
  friend bool operator==(const GenesisValidator&, const GenesisValidator&) = default;
};

struct GenesisDoc {
  std::string chain_id;
  uint64_t genesis_time_ms = 0;
  std::vector<GenesisValidator> validators;  // leader order
  std::vector<PublicKey> council;
  uint64_t council_threshold = 1;
  std::vector<std::pair<std::string, PublicKey>> roles;  // (role, account)
  std::vector<std::pair<std::string, uint64_t>> params;  // sorted by name when written
  std::vector<std::pair<PublicKey, uint64_t>> balances;
  friend bool operator==(const GenesisDoc&, const GenesisDoc&) = default;
};

// Pretty JSON (2-space indent, trailing newline), fields in the order above.
std::string GenesisToJson(const GenesisDoc& doc);
// kInvalidArgument naming the field: bad JSON, unknown or missing field, bad address, bad
// chain id, no validators, a repeated validator, threshold 0 or above the council size, ...
// `source` names the document in messages (a file path).
Result<GenesisDoc> ParseGenesisJson(std::string_view text,
                                    std::string_view source = "genesis.json");
// The same format with CheckGenesisDoc deferred: a genesis being assembled (cityd genesis),
// which may have no validators or council yet. Everything else (JSON, fields, addresses,
// numbers) is checked as above.
Result<GenesisDoc> ParseGenesisDraftJson(std::string_view text,
                                         std::string_view source = "genesis draft");
// The checks every genesis passes (the parser runs them); messages name `source`.
Status CheckGenesisDoc(std::string_view source, const GenesisDoc& doc);

// What a node starts a chain from.
struct GenesisChain {
  ledger::ValidatorSet validators;
  ledger::BlockHeader header;     // height 0; parent_hash = DocHash(doc); timestamp = genesis time
  Hash256 block_hash;             // header.Hash()
  ledger::Genesis store_genesis;  // for LedgerStore::Create: chain id, block hash, state writes
};
// TaggedHash("city.genesis.doc.v1", canonical encoding of every field of the doc).
Hash256 GenesisDocHash(const GenesisDoc& doc);
// kInvalidArgument when the contracts refuse the initial state (contracts::CityGenesisWrites).
Result<GenesisChain> BuildGenesisChain(const GenesisDoc& doc);

}  // namespace city::contracts
