// A node's home directory (home.h): the validator key file, `cityd init` for one validator
// and `cityd testnet` for a local multi-validator chain with client keys to try it with.
#include "city/node/home.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>

#include "city/consensus/core.h"
#include "city/contracts/governance.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/crypto/keyfile.h"
#include "city/crypto/private_file.h"
#include "city/ledger/safety_file.h"
#include "city/ledger/types.h"
#include "city/node/genesis.h"
#include "file_io_internal.h"
#include "home_internal.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using namespace internal;  // home_internal.h

constexpr size_t kMaxTestnetValidators = 64;
constexpr uint64_t kTestnetBalance = 1'000'000;
// UBI parameters of the chains `init` and `testnet` make: a claim pays every minute, so
// trying it out does not take long.
const std::vector<std::pair<std::string, uint64_t>> kDevUbiParams = {
    {std::string(contracts::kUbiAmountParam), 100},
    {std::string(contracts::kUbiMaxPeriodsParam), 24},
    {std::string(contracts::kUbiPeriodParam), 60'000},
};

// Wipes a string that held a secret before its memory goes back to the allocator.
struct WipeOnExit {
  std::string& text;
  ~WipeOnExit() { sodium_memzero(text.data(), text.size()); }
};

// The client keys of a testnet, in the order README.txt lists them, with the roles each is
// granted at genesis. Logistics checks the custodian role on every method, and an offer of
// custody only to a custodian, so the shipper and the receiver are custodians too.
struct ClientKeySpec {
  std::string_view name;
  std::vector<std::string_view> roles;
  std::string_view about;
};
const std::vector<ClientKeySpec>& TestnetClientKeys() {
  using namespace contracts;
  static const std::vector<ClientKeySpec> specs = {
      {"council", {}, "the council (threshold 1): proposes and approves governance changes"},
      {"admin", {kAdminRole}, "role admin"},
      {"registrar", {kRegistrarRole}, "role registrar: registers UBI citizens"},
      {"clinician", {kClinicianRole}, "role clinician: anchors records, accesses with consent"},
      {"emergency", {kEmergencyRole}, "role emergency: break-glass access to records"},
      {"custodian", {kCustodianRole}, "role custodian: logistics events and custody"},
      {"auditor", {kAuditorRole}, "role auditor: reviews break-glass accesses"},
      {"citizen", {}, "a plain account (register it as a UBI citizen)"},
      {"patient", {}, "a plain account (an EMR patient)"},
      {"shipper", {kCustodianRole}, "role custodian: offers custody of goods"},
      {"receiver", {kCustodianRole}, "role custodian: accepts custody of goods"},
  };
  return specs;
}

std::string TestnetReadme(const std::vector<ClientKey>& keys, const TestnetOptions& options) {
  std::string out =
      "CityLedger testnet client keys (chain " + options.chain_id +
      ")\n\n"
      "FOR TRYING THINGS ONLY. Every key here is encrypted with the same published passphrase,\n"
      "\"" +
      std::string(kDevKeyPassphrase) +
      "\", so anyone who has these files can use them. Never use them, or a\n"
      "chain they hold roles in, for anything real: make real keys with a passphrase of your\n"
      "own and put them in a genesis of your own.\n\n"
      "Each account holds " +
      std::to_string(kTestnetBalance) + " ubi tokens at genesis.\n\n";
  const auto& specs = TestnetClientKeys();
  for (size_t i = 0; i < keys.size(); ++i) {
    out += keys[i].name + "\n  file:    " + keys[i].file.filename().string() +
           "\n  address: " + EncodeAddress(keys[i].key) +
           "\n  what:    " + std::string(specs[i].about) + "\n";
  }
  return out;
}

}  // namespace

Status WriteValidatorKey(const fs::path& path, const KeyPair& key) {
  std::string text = ToHex(key.seed()) + "\n";
  const WipeOnExit wipe{text};
  // A temporary file created 0600 and linked into place: the secret only ever lands in a
  // file this call created, and a crash leaves either no key file or a whole one.
  return WriteNewFile(path, text, 0600);
}

Result<KeyPair> ReadValidatorKey(const fs::path& path) {
  constexpr size_t kHexLength = 2 * kSeedSize;
  Result<std::string> read = ReadPrivateFile(path, kHexLength + 16, "validator key file");
  if (!read.ok()) return read.status();
  std::string& text = *read;
  const WipeOnExit wipe_text{text};
  const Status corrupt(ErrorCode::kCorruption,
                       path.string() + " is not a validator key file: expected " +
                           std::to_string(kHexLength) + " hex characters and a newline");
  const size_t length = !text.empty() && text.back() == '\n' ? text.size() - 1 : text.size();
  if (length != kHexLength) return corrupt;
  Result<Bytes> seed = FromHex(std::string_view(text).substr(0, length));
  if (!seed.ok()) return corrupt;
  KeyPair key = KeyPair::FromSeed(std::span<const uint8_t, kSeedSize>(seed->data(), kSeedSize));
  sodium_memzero(seed->data(), seed->size());
  return key;
}

Status CheckConfigAgainstGenesis(const HomePaths& home, const NodeConfig& config,
                                 const GenesisDoc& genesis, const PublicKey& self,
                                 const ChainValidators& chain, bool joining) {
  auto in_genesis = [&](const PublicKey& key) {
    return std::any_of(genesis.validators.begin(), genesis.validators.end(),
                       [&](const GenesisValidator& v) { return v.key == key; });
  };
  auto is_validator = [&](const PublicKey& key) {
    return in_genesis(key) ||
           std::find(chain.later.begin(), chain.later.end(), key) != chain.later.end();
  };
  if (!joining && !is_validator(self)) {
    return Status(ErrorCode::kInvalidArgument,
                  "the validator key " + EncodeAddress(self) + " is not a validator in " +
                      home.genesis().string() +
                      " nor in a later set this node's chain has; a validator joining a "
                      "running chain starts with --join");
  }
  std::set<PublicKey> listed;
  for (size_t i = 0; i < config.peers.size(); ++i) {
    const PublicKey& key = config.peers[i].key;
    const std::string entry = home.config().string() + ": [[p2p.peers]] entry " +
                              std::to_string(i + 1) + " (" + EncodeAddress(key) + ")";
    if (!is_validator(key)) {
      return Status(ErrorCode::kInvalidArgument, entry + " is not a validator in " +
                                                     home.genesis().string() +
                                                     " (a peer of another chain, or a typo?)");
    }
    if (!listed.insert(key).second) {
      return Status(ErrorCode::kInvalidArgument, entry + " lists that validator a second time");
    }
  }
  const bool still_genesis = chain.current.empty();
  for (const GenesisValidator& v : genesis.validators) {
    const bool current = still_genesis || std::find(chain.current.begin(), chain.current.end(),
                                                    v.key) != chain.current.end();
    if (v.key != self && current && !listed.contains(v.key)) {
      return Status(ErrorCode::kInvalidArgument, home.config().string() +
                                                     " has no [[p2p.peers]] entry for validator " +
                                                     v.name + " (" + EncodeAddress(v.key) + ")");
    }
  }
  return Status::Ok();
}

Status MissingGenesis(const HomePaths& home) {
  if (PathExists(home.root / "validator-record.json")) {
    return Status(ErrorCode::kNotFound,
                  "no genesis file at " + home.genesis().string() +
                      ": this home waits for the genesis ceremony; install the genesis with "
                      "`cityd genesis install --home " +
                      home.root.string() + " --genesis FILE --peers FILE` (docs/operators.md)");
  }
  return Status(ErrorCode::kNotFound, "no genesis file at " + home.genesis().string());
}

Status MissingSafetyState(const std::filesystem::path& safety_file) {
  return Status(ErrorCode::kNotFound,
                "no consensus safety state at " + safety_file.string() +
                    "; this validator may have voted before and lost it. Start it with "
                    "--recover-safety to rebuild it from its peers (it signs nothing until "
                    "they have shown it their rounds)");
}

Status CheckOperatorPassphrase(std::string_view passphrase) {
  if (passphrase == kDevKeyPassphrase) {
    return Status(ErrorCode::kInvalidArgument,
                  "the operator key's passphrase is the public dev passphrase; choose your own");
  }
  if (passphrase.size() < kMinOperatorPassphrase) {
    return Status(ErrorCode::kInvalidArgument,
                  "the operator key's passphrase is too short: at least " +
                      std::to_string(kMinOperatorPassphrase) + " characters");
  }
  return Status::Ok();
}

Status InitHome(const InitOptions& options) {
  if (Status s = CheckChainId(options.chain_id); !s.ok()) return s;
  if (Status s = CheckOperatorPassphrase(options.operator_passphrase); !s.ok()) return s;
  if (Status s = CheckPorts(options.p2p_port, options.api_port); !s.ok()) return s;
  const HomePaths home{options.home};
  const fs::path operator_key = home.root / "keys" / "operator.key";
  if (Status s = RefuseInitialisedHome(home, operator_key); !s.ok()) return s;
  if (Status s = MakeDirectory(home.root, 0700); !s.ok()) return s;
  if (Status s = MakeDirectory(operator_key.parent_path(), 0700); !s.ok()) return s;

  const KeyPair validator = KeyPair::Generate();
  const KeyPair operator_pair = KeyPair::Generate();
  GenesisDoc genesis;
  genesis.chain_id = options.chain_id;
  genesis.genesis_time_ms = NowMs();
  genesis.validators = {{"validator0", validator.public_key()}};
  genesis.council = {operator_pair.public_key()};
  genesis.council_threshold = 1;
  genesis.roles = {{std::string(contracts::kAdminRole), operator_pair.public_key()},
                   {std::string(contracts::kRegistrarRole), operator_pair.public_key()}};
  genesis.params = kDevUbiParams;

  NodeConfig config;
  config.p2p_port = options.p2p_port;
  config.api_port = options.api_port;

  CreatedFiles created;
  Status s = created.Add(home.validator_key(), WriteValidatorKey(home.validator_key(), validator));
  if (s.ok())
    s = created.Add(operator_key,
                    WriteKeyFile(operator_key, operator_pair, options.operator_passphrase));
  if (s.ok()) s = created.Add(home.genesis(), WriteGenesisFile(home.genesis(), genesis));
  if (s.ok()) s = created.Add(home.config(), WriteConfigFile(home.config(), config));
  if (s.ok()) s = created.Add(home.safety(), WriteFreshSafetyState(home, genesis));
  if (s.ok()) created.Commit();
  return s;
}

Result<TestnetLayout> CreateTestnet(const TestnetOptions& options) {
  const size_t n = options.validators;
  if (n < 1 || n > kMaxTestnetValidators) {
    return Status(ErrorCode::kInvalidArgument, "a testnet has 1.." +
                                                   std::to_string(kMaxTestnetValidators) +
                                                   " validators, not " + std::to_string(n));
  }
  if (Status s = CheckChainId(options.chain_id); !s.ok()) return s;
  if (options.base_port == 0 || options.base_port + 2 * n - 1 > 65535) {
    return Status(ErrorCode::kInvalidArgument,
                  "base port " + std::to_string(options.base_port) + " does not leave room for " +
                      std::to_string(2 * n) + " ports (two per validator) below 65536");
  }
  std::error_code error;
  if (PathExists(options.out)) {
    if (!fs::is_directory(options.out, error)) {
      return Status(ErrorCode::kAlreadyExists,
                    options.out.string() + " exists and is not a directory");
    }
    if (!fs::is_empty(options.out, error) || error) {
      return Status(
          ErrorCode::kAlreadyExists,
          options.out.string() + " exists and is not empty; refusing to write a testnet into it");
    }
  }
  if (Status s = MakeDirectory(options.out, 0755); !s.ok()) return s;
  const fs::path keys_dir = options.out / "keys";
  if (Status s = MakeDirectory(keys_dir, 0700); !s.ok()) return s;

  TestnetLayout layout;
  std::vector<KeyPair> validators;
  GenesisDoc genesis;
  genesis.chain_id = options.chain_id;
  genesis.genesis_time_ms = options.genesis_time_ms != 0 ? options.genesis_time_ms : NowMs();
  for (size_t i = 0; i < n; ++i) {
    validators.push_back(KeyPair::Generate());
    genesis.validators.push_back({"node" + std::to_string(i), validators.back().public_key()});
  }
  std::vector<KeyPair> clients;
  for (const ClientKeySpec& spec : TestnetClientKeys()) {
    clients.push_back(KeyPair::Generate());
    const PublicKey& key = clients.back().public_key();
    if (spec.name == "council") genesis.council = {key};
    for (std::string_view role : spec.roles) genesis.roles.emplace_back(std::string(role), key);
    genesis.balances.emplace_back(key, kTestnetBalance);
    layout.client_keys.push_back(
        {std::string(spec.name), keys_dir / (std::string(spec.name) + ".key"), key});
  }
  genesis.council_threshold = 1;
  genesis.params = kDevUbiParams;

  auto p2p_port = [&](size_t i) { return static_cast<uint16_t>(options.base_port + 2 * i); };
  auto api_port = [&](size_t i) { return static_cast<uint16_t>(options.base_port + 2 * i + 1); };
  for (size_t i = 0; i < n; ++i) {
    const HomePaths home{options.out / ("node" + std::to_string(i))};
    if (Status s = MakeDirectory(home.root, 0700); !s.ok()) return s;
    NodeConfig config;
    config.moniker = "node" + std::to_string(i);
    config.p2p_port = p2p_port(i);
    config.api_port = api_port(i);
    for (size_t j = 0; j < n; ++j) {
      if (j != i) config.peers.push_back({validators[j].public_key(), "127.0.0.1", p2p_port(j)});
    }
    if (Status s = WriteValidatorKey(home.validator_key(), validators[i]); !s.ok()) return s;
    if (Status s = WriteGenesisFile(home.genesis(), genesis); !s.ok()) return s;
    if (Status s = WriteConfigFile(home.config(), config); !s.ok()) return s;
    if (Status s = WriteFreshSafetyState(home, genesis); !s.ok()) return s;
    layout.homes.push_back(home.root);
    layout.api_urls.push_back("http://127.0.0.1:" + std::to_string(api_port(i)));
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    Status s = WriteKeyFile(layout.client_keys[i].file, clients[i], kDevKeyPassphrase,
                            KdfParams::Interactive());
    if (!s.ok()) return s;
  }
  const std::string readme = TestnetReadme(layout.client_keys, options);
  if (Status s = internal::WriteNewFile(keys_dir / "README.txt", readme, 0644); !s.ok()) return s;
  return layout;
}

}  // namespace city::node
