// The genesis ceremony: one chain from validators that live on different hosts.
//
//   1. Each operator, on their own host: `cityd init --join` writes the validator key and the
//      config, and a public validator record (name, key, P2P address) to send to the
//      coordinator. No genesis yet, so the home cannot start.
//   2. The coordinator: `cityd genesis new` starts a draft; `add-validator` (one per record),
//      `add-council`, `add-role`, `set-param` and `add-balance` fill it; `finalize` checks it,
//      writes genesis.json and peers.json, and prints the genesis hash (the genesis block's,
//      which /v1/status shows as genesis_hash and which commits to every byte of the file).
//   3. Each operator: `cityd genesis install` checks that their validator is in the genesis,
//      that peers.json belongs to it, and compares the hash they were told; then writes the
//      genesis, the peers into config.toml and a fresh safety state. The home can start.
//
// Files (JSON, unknown fields refused, accounts as city1... addresses):
//   validator record  {"format":"cityledger-validator-record","version":1,"name":"...",
//                      "public_key":"city1...","p2p_address":"HOST:PORT"}
//   draft             {"format":"cityledger-genesis-draft","version":1,"genesis":{genesis
//                      format, checks deferred},"p2p_addresses":{"city1...":"HOST:PORT"}}
//   peers.json        {"format":"cityledger-peers","version":1,"genesis_hash":"hex",
//                      "peers":[{"name":"...","public_key":"city1...","p2p_address":"..."}]}
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/node/genesis.h"
#include "city/status.h"

namespace city::node {

inline constexpr size_t kMaxCeremonyFileBytes = 1 << 20;

struct ValidatorRecord {
  std::string name;
  PublicKey key;
  std::string p2p_host;
  uint16_t p2p_port = 0;
  friend bool operator==(const ValidatorRecord&, const ValidatorRecord&) = default;
};

// "HOST:PORT" or "[IPv6]:PORT" (kInvalidArgument naming what is wrong).
Result<std::pair<std::string, uint16_t>> ParseP2pAddress(std::string_view text);
std::string P2pAddressText(const std::string& host, uint16_t port);

std::string ValidatorRecordToJson(const ValidatorRecord& record);
Result<ValidatorRecord> ParseValidatorRecord(std::string_view text, std::string_view source);

struct JoinOptions {
  std::filesystem::path home;
  std::string name;         // the validator's name in the genesis (1..64 printable chars)
  std::string p2p_address;  // HOST:PORT where the other validators reach this one
  std::string listen_host = "0.0.0.0";  // what the links and the API bind to
  uint16_t api_port = 8080;
};
// A home waiting for its genesis: validator.key, config.toml (the P2P port of p2p_address,
// both listeners on listen_host) and validator-record.json (public). Refuses a home that has
// any of them, or a genesis, before writing anything.
Result<ValidatorRecord> InitJoiningHome(const JoinOptions& options);

struct GenesisDraft {
  GenesisDoc genesis;  // validators in the order they were added (the leader order)
  std::vector<std::pair<PublicKey, std::string>> p2p_addresses;  // per validator, same order
};

Result<GenesisDraft> LoadGenesisDraft(const std::filesystem::path& path);
// Written atomically; replaces the draft it was loaded from.
Status SaveGenesisDraft(const std::filesystem::path& path, const GenesisDraft& draft);

// A new draft for `chain_id` (genesis time `genesis_time_ms`, or now when 0). Refuses an
// existing file.
Status NewGenesisDraft(const std::filesystem::path& path, const std::string& chain_id,
                       uint64_t genesis_time_ms);
// Each refuses what would make the genesis invalid at once (a repeated validator, key or
// name; a threshold above the council; a role the contracts do not check) and changes
// nothing then.
Status AddValidator(GenesisDraft& draft, const ValidatorRecord& record);
Status AddCouncilMember(GenesisDraft& draft, const PublicKey& member);
Status SetCouncilThreshold(GenesisDraft& draft, uint64_t threshold);
Status AddRole(GenesisDraft& draft, const std::string& role, const PublicKey& account);
Status SetParam(GenesisDraft& draft, const std::string& name, uint64_t value);
Status AddBalance(GenesisDraft& draft, const PublicKey& account, uint64_t amount);

struct FinalGenesis {
  std::filesystem::path genesis_file;  // out_dir/genesis.json
  std::filesystem::path peers_file;    // out_dir/peers.json
  Hash256 hash;  // the genesis block's hash, as every node's /v1/status shows it
};
// The draft as a genesis (every check of CheckGenesisDoc, and a genesis block the contracts
// accept), written with its peers file into `out_dir`. Refuses to overwrite either file.
Result<FinalGenesis> FinalizeGenesis(const GenesisDraft& draft,
                                     const std::filesystem::path& out_dir);

struct InstallOptions {
  std::filesystem::path home;
  std::filesystem::path genesis_file;
  std::filesystem::path peers_file;
  std::string expected_hash;  // hex; when set, a genesis with another hash is refused
  // The home's validator joins a running chain: it is not a genesis validator (a later
  // set-validators change adds it), and is started with `cityd start --join`.
  bool joining = false;
};
// Installs a finalized genesis into a home made by InitJoiningHome: the home's validator key
// must be one of the genesis validators, the peers file must name the same genesis hash and
// exactly its validators; then genesis.json, every other validator as a peer in config.toml,
// and a fresh safety state. Refuses a home that already has a genesis or a safety state.
Result<Hash256> InstallGenesis(const InstallOptions& options);

}  // namespace city::node
