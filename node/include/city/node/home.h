// A node's home directory and the commands that create one:
//   <home>/config.toml          NodeConfig (config.h)
//   <home>/genesis.json         GenesisDoc (genesis.h)
//   <home>/validator.key        the validator's Ed25519 seed, hex, mode 0600 (a machine key:
//                               the process must start unattended, so it is not encrypted)
//   <home>/validator_state.bin  consensus safety state (ledger::SafetyFile), outside data/
//                               so that deleting the data directory cannot cause a double vote
//   <home>/data/                the ledger store (LevelDB)
//   <home>/node.lock            held while a node runs
// Client keys made by `testnet` and `dev` are passphrase-encrypted key files (keyfile.h).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/node/config.h"
#include "city/node/genesis.h"

namespace city::node {

// Why a home without its safety state is refused, and the way out (cityd start).
Status MissingSafetyState(const std::filesystem::path& safety_file);

struct HomePaths {
  std::filesystem::path root;
  std::filesystem::path config() const { return root / "config.toml"; }
  std::filesystem::path genesis() const { return root / "genesis.json"; }
  std::filesystem::path validator_key() const { return root / "validator.key"; }
  std::filesystem::path safety() const { return root / "validator_state.bin"; }
  std::filesystem::path data() const { return root / "data"; }
  std::filesystem::path lock() const { return root / "node.lock"; }
};

// The validators a node's chain knows beyond its genesis (epochs, docs/consensus.md).
struct ChainValidators {
  std::vector<PublicKey> current;  // the set of the epoch the node's chain is in
  std::vector<PublicKey> later;    // every key a passed set-validators change named
};

// What `cityd start` checks: the home's validator key is a validator of the genesis or of a
// later set (unless `joining`: a validator joining a running chain that its store has not
// reached yet); config.toml has one [[p2p.peers]] entry for every other genesis validator
// still in the current set (validators added later are dialed if listed, else their links
// are accepted), and none for a key that is no validator (a peer of another chain, a typo)
// or twice for the same key. kInvalidArgument naming the file, the entry and the key.
Status CheckConfigAgainstGenesis(const HomePaths& home, const NodeConfig& config,
                                 const GenesisDoc& genesis, const PublicKey& self,
                                 const ChainValidators& chain = {}, bool joining = false);

// Why a home without its genesis is refused: the way out for a home made by `init --join`
// (cityd genesis install) or for one that lost the file.
Status MissingGenesis(const HomePaths& home);

// The validator key file: 64 hex characters and a newline, mode 0600, refuses to overwrite.
Status WriteValidatorKey(const std::filesystem::path& path, const KeyPair& key);
// kNotFound, kPermissionDenied (group/others can read it), kCorruption (not 64 hex chars).
Result<KeyPair> ReadValidatorKey(const std::filesystem::path& path);

// Holds an exclusive flock on <home>/node.lock (the file names the holder's pid) until the
// returned descriptor is closed: one cityd per home, and nothing rewrites a running node's
// files. kIoError naming the pid that holds it.
Result<int> LockHome(const HomePaths& paths);

// The passphrase of the client keys `testnet` and `dev` write (they are for trying things;
// the README says so and says how to make real keys).
inline constexpr std::string_view kDevKeyPassphrase = "citydev";

inline constexpr size_t kMinOperatorPassphrase = 10;

// The operator key is the council of a new chain: its passphrase is at least
// kMinOperatorPassphrase characters and is not the public kDevKeyPassphrase
// (kInvalidArgument saying which).
Status CheckOperatorPassphrase(std::string_view passphrase);

struct InitOptions {
  std::filesystem::path home;
  std::string chain_id = "city-local";
  uint16_t p2p_port = 26656;
  uint16_t api_port = 8080;
  std::string operator_passphrase;  // CheckOperatorPassphrase
};
// One validator: config.toml, a new validator.key and a genesis.json in which that
// validator is the only validator. The council (threshold 1) is a separate client key,
// <home>/keys/operator.key (encrypted with operator_passphrase), which also holds the admin
// and registrar roles; the UBI parameters are those of `testnet`. Refuses a home that already
// has any of those files (kAlreadyExists naming it), and a weak passphrase, before writing
// anything.
Status InitHome(const InitOptions& options);

// A client key made for trying things: its role ("registrar", "citizen", ...), file, address.
struct ClientKey {
  std::string name;
  std::filesystem::path file;
  PublicKey key;
};

struct TestnetOptions {
  std::filesystem::path out;
  size_t validators = 4;
  std::string chain_id = "city-testnet";
  uint16_t base_port = 26600;    // node i: p2p base_port + 2*i, api base_port + 2*i + 1
  uint64_t genesis_time_ms = 0;  // 0: now
};
struct TestnetLayout {
  std::vector<std::filesystem::path> homes;  // out/node0 ... out/node{N-1}
  std::vector<std::string> api_urls;         // http://127.0.0.1:PORT
  std::vector<ClientKey> client_keys;        // in out/keys/<name>.key
};
// N homes sharing one genesis (validators node0..node{N-1} in order, all on 127.0.0.1),
// each config listing every other validator as a peer; and one encrypted client key per
// role in out/keys (passphrase kDevKeyPassphrase): "council" (the council, threshold 1),
// "admin", "registrar", "clinician", "emergency", "custodian", "auditor", and "citizen",
// "patient", "shipper", "receiver" (plain accounts), each funded with 1'000'000 ubi tokens,
// and UBI parameters set (ubi_amount 100, ubi_period_ms 60'000, ubi_max_periods 24).
// out/keys/README.txt lists the keys, their addresses and the passphrase. Refuses an `out`
// that exists and is not empty.
Result<TestnetLayout> CreateTestnet(const TestnetOptions& options);

}  // namespace city::node
