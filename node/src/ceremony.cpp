// The genesis ceremony (ceremony.h): validator records, the draft, finalizing and installing.
#include "city/node/ceremony.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <nlohmann/json.hpp>

#include "city/contracts/governance.h"
#include "city/crypto/address.h"
#include "city/crypto/private_file.h"
#include "city/ledger/types.h"
#include "file_io_internal.h"
#include "home_internal.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace internal;  // home_internal.h

constexpr std::string_view kRecordFormat = "cityledger-validator-record";
constexpr std::string_view kDraftFormat = "cityledger-genesis-draft";
constexpr std::string_view kPeersFormat = "cityledger-peers";
constexpr uint64_t kCeremonyVersion = 1;
constexpr size_t kMaxNameLength = 64;

// "\"text\"", built by appending: GCC 12 at -O3 reports a false -Wrestrict on
// "\"" + std::string(...).
std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  return out.append("\"").append(text).append("\"");
}

Status Invalid(std::string_view source, const std::string& what) {
  return Status(ErrorCode::kInvalidArgument, std::string(source) + ": " + what);
}

Result<Json> ParseObject(std::string_view text, std::string_view source) {
  if (text.size() > kMaxCeremonyFileBytes) {
    return Status(ErrorCode::kTooLarge, std::string(source) + ": larger than " +
                                            std::to_string(kMaxCeremonyFileBytes) + " bytes");
  }
  Json json = Json::parse(text.begin(), text.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) return Invalid(source, "not a JSON object");
  return json;
}

// The object has exactly `fields`, `format` as its format and the supported version.
Status CheckEnvelope(const Json& json, std::string_view source, std::string_view format,
                     std::initializer_list<std::string_view> fields) {
  for (const auto& item : json.items()) {
    if (std::find(fields.begin(), fields.end(), item.key()) == fields.end()) {
      return Invalid(source, "unknown field " + Quoted(item.key()));
    }
  }
  for (std::string_view field : fields) {
    if (!json.contains(field)) return Invalid(source, "missing field " + Quoted(field));
  }
  if (!json["format"].is_string() || json["format"].get<std::string>() != format) {
    return Invalid(source, "format must be " + Quoted(format));
  }
  if (!json["version"].is_number_unsigned() ||
      json["version"].get<uint64_t>() != kCeremonyVersion) {
    return Invalid(source, "version " + json["version"].dump() +
                               " is not supported (this build reads " +
                               std::to_string(kCeremonyVersion) + ")");
  }
  return Status::Ok();
}

Result<std::string> StringField(const Json& json, std::string_view source, std::string_view field) {
  const Json& value = json[std::string(field)];
  if (!value.is_string()) return Invalid(source, std::string(field) + " must be a string");
  return value.get<std::string>();
}

Result<PublicKey> AccountField(const Json& json, std::string_view source, std::string_view field) {
  Result<std::string> text = StringField(json, source, field);
  if (!text.ok()) return text.status();
  Result<PublicKey> key = DecodeAddress(*text);
  if (!key.ok()) return Invalid(source, std::string(field) + ": " + key.status().message());
  return *key;
}

Status CheckName(std::string_view source, const std::string& name) {
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (name.empty() || name.size() > kMaxNameLength || !printable) {
    return Invalid(source, "a validator name is 1.." + std::to_string(kMaxNameLength) +
                               " printable ASCII characters, not " + Quoted(name));
  }
  return Status::Ok();
}

Result<Json> ReadJsonFile(const fs::path& path, std::string_view kind) {
  Result<std::string> text = internal::ReadBoundedFile(
      path, kMaxCeremonyFileBytes, kind, "no " + std::string(kind) + " at " + path.string());
  if (!text.ok()) return text.status();
  return ParseObject(*text, path.string());
}

// The validators and their addresses as peers.json lists them.
Json PeersJson(const GenesisDraft& draft, const Hash256& hash) {
  Json peers = Json::array();
  for (size_t i = 0; i < draft.genesis.validators.size(); ++i) {
    peers.push_back({{"name", draft.genesis.validators[i].name},
                     {"public_key", EncodeAddress(draft.genesis.validators[i].key)},
                     {"p2p_address", draft.p2p_addresses[i].second}});
  }
  return {{"format", kPeersFormat},
          {"version", kCeremonyVersion},
          {"genesis_hash", hash.ToHex()},
          {"peers", peers}};
}

}  // namespace

Result<std::pair<std::string, uint16_t>> ParseP2pAddress(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find("]:");
    if (close == std::string_view::npos) return Invalid("p2p address", "expected [IPv6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return Invalid("p2p address", "expected HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Invalid("p2p address", "an IPv6 address is written [ADDRESS]:PORT");
    }
  }
  const bool host_ok =
      !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
               c == '_';
      });
  if (!host_ok) {
    return Invalid("p2p address", Quoted(host) + " is not a host name or address");
  }
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return Invalid("p2p address", "port " + Quoted(port) + " is not in 1..65535");
  }
  return std::pair<std::string, uint16_t>(std::string(host), static_cast<uint16_t>(value));
}

std::string P2pAddressText(const std::string& host, uint16_t port) {
  std::string text;
  if (host.find(':') != std::string::npos) {
    text.append("[").append(host).append("]");
  } else {
    text.append(host);
  }
  return text.append(":").append(std::to_string(port));
}

std::string ValidatorRecordToJson(const ValidatorRecord& record) {
  const Json json = {{"format", kRecordFormat},
                     {"version", kCeremonyVersion},
                     {"name", record.name},
                     {"public_key", EncodeAddress(record.key)},
                     {"p2p_address", P2pAddressText(record.p2p_host, record.p2p_port)}};
  return json.dump(2) + "\n";
}

Result<ValidatorRecord> ParseValidatorRecord(std::string_view text, std::string_view source) {
  Result<Json> json = ParseObject(text, source);
  if (!json.ok()) return json.status();
  if (Status s = CheckEnvelope(*json, source, kRecordFormat,
                               {"format", "version", "name", "public_key", "p2p_address"});
      !s.ok()) {
    return s;
  }
  ValidatorRecord record;
  Result<std::string> name = StringField(*json, source, "name");
  if (!name.ok()) return name.status();
  if (Status s = CheckName(source, *name); !s.ok()) return s;
  record.name = *name;
  Result<PublicKey> key = AccountField(*json, source, "public_key");
  if (!key.ok()) return key.status();
  record.key = *key;
  Result<std::string> address = StringField(*json, source, "p2p_address");
  if (!address.ok()) return address.status();
  Result<std::pair<std::string, uint16_t>> parsed = ParseP2pAddress(*address);
  if (!parsed.ok()) return Invalid(source, parsed.status().message());
  record.p2p_host = parsed->first;
  record.p2p_port = parsed->second;
  return record;
}

Result<ValidatorRecord> InitJoiningHome(const JoinOptions& options) {
  if (Status s = CheckName("--name", options.name); !s.ok()) return s;
  Result<std::pair<std::string, uint16_t>> address = ParseP2pAddress(options.p2p_address);
  if (!address.ok()) return address.status();
  if (Status s = CheckPorts(address->second, options.api_port); !s.ok()) return s;
  const HomePaths home{options.home};
  const fs::path record_file = home.root / "validator-record.json";
  if (Status s = RefuseInitialisedHome(home, record_file); !s.ok()) return s;
  if (Status s = MakeDirectory(home.root, 0700); !s.ok()) return s;

  const KeyPair validator = KeyPair::Generate();
  ValidatorRecord record{options.name, validator.public_key(), address->first, address->second};
  NodeConfig config;
  config.moniker = options.name;
  config.p2p_listen_host = options.listen_host;
  config.p2p_port = address->second;
  config.api_listen_host = options.listen_host;
  config.api_port = options.api_port;
  // The host's own address is a name its API is reached by (the DNS-rebinding check).
  config.api_allowed_hosts += "," + address->first;

  CreatedFiles created;
  Status s = created.Add(home.validator_key(), WriteValidatorKey(home.validator_key(), validator));
  if (s.ok()) s = created.Add(home.config(), WriteConfigFile(home.config(), config));
  if (s.ok()) {
    s = created.Add(record_file,
                    internal::WriteNewFile(record_file, ValidatorRecordToJson(record), 0644));
  }
  if (!s.ok()) return s;
  created.Commit();
  return record;
}

Result<GenesisDraft> LoadGenesisDraft(const fs::path& path) {
  Result<Json> json = ReadJsonFile(path, "genesis draft");
  if (!json.ok()) return json.status();
  const std::string source = path.string();
  if (Status s = CheckEnvelope(*json, source, kDraftFormat,
                               {"format", "version", "genesis", "p2p_addresses"});
      !s.ok()) {
    return s;
  }
  GenesisDraft draft;
  Result<GenesisDoc> genesis = ParseGenesisDraftJson((*json)["genesis"].dump(), source);
  if (!genesis.ok()) return genesis.status();
  draft.genesis = std::move(*genesis);
  const Json& addresses = (*json)["p2p_addresses"];
  if (!addresses.is_object()) return Invalid(source, "p2p_addresses must be an object");
  for (const GenesisValidator& v : draft.genesis.validators) {
    const std::string account = EncodeAddress(v.key);
    if (!addresses.contains(account) || !addresses[account].is_string()) {
      return Invalid(source, "no p2p address for validator " + v.name);
    }
    const std::string text = addresses[account].get<std::string>();
    if (Result<std::pair<std::string, uint16_t>> ok = ParseP2pAddress(text); !ok.ok()) {
      return Invalid(source, v.name + ": " + ok.status().message());
    }
    draft.p2p_addresses.emplace_back(v.key, text);
  }
  if (addresses.size() != draft.genesis.validators.size()) {
    return Invalid(source, "p2p_addresses lists an account that is not a validator");
  }
  return draft;
}

Status SaveGenesisDraft(const fs::path& path, const GenesisDraft& draft) {
  Json addresses = Json::object();
  for (const auto& [key, address] : draft.p2p_addresses) addresses[EncodeAddress(key)] = address;
  const Json json = {{"format", kDraftFormat},
                     {"version", kCeremonyVersion},
                     {"genesis", Json::parse(GenesisToJson(draft.genesis))},
                     {"p2p_addresses", addresses}};
  return ReplaceFile(path, json.dump(2) + "\n", 0644);
}

Status NewGenesisDraft(const fs::path& path, const std::string& chain_id,
                       uint64_t genesis_time_ms) {
  if (Status s = CheckChainId(chain_id); !s.ok()) return s;
  if (PathExists(path)) {
    return Status(ErrorCode::kAlreadyExists, path.string() + " already exists");
  }
  GenesisDraft draft;
  draft.genesis.chain_id = chain_id;
  draft.genesis.genesis_time_ms = genesis_time_ms != 0 ? genesis_time_ms : NowMs();
  draft.genesis.council_threshold = 1;
  Json addresses = Json::object();
  const Json json = {{"format", kDraftFormat},
                     {"version", kCeremonyVersion},
                     {"genesis", Json::parse(GenesisToJson(draft.genesis))},
                     {"p2p_addresses", addresses}};
  return internal::WriteNewFile(path, json.dump(2) + "\n", 0644);
}

Status AddValidator(GenesisDraft& draft, const ValidatorRecord& record) {
  if (Status s = CheckName("validator record", record.name); !s.ok()) return s;
  for (const GenesisValidator& v : draft.genesis.validators) {
    if (v.key == record.key) {
      return Status(ErrorCode::kAlreadyExists,
                    "the key of " + record.name + " is already validator " + v.name);
    }
    if (v.name == record.name) {
      return Status(ErrorCode::kAlreadyExists, "a validator is already named " + record.name);
    }
  }
  if (draft.genesis.validators.size() >= ledger::kMaxValidators) {
    return Status(ErrorCode::kInvalidArgument,
                  "at most " + std::to_string(ledger::kMaxValidators) + " validators");
  }
  draft.genesis.validators.push_back({record.name, record.key});
  draft.p2p_addresses.emplace_back(record.key, P2pAddressText(record.p2p_host, record.p2p_port));
  return Status::Ok();
}

Status AddCouncilMember(GenesisDraft& draft, const PublicKey& member) {
  auto& council = draft.genesis.council;
  if (std::find(council.begin(), council.end(), member) != council.end()) {
    return Status(ErrorCode::kAlreadyExists, EncodeAddress(member) + " is already on the council");
  }
  council.push_back(member);
  return Status::Ok();
}

Status SetCouncilThreshold(GenesisDraft& draft, uint64_t threshold) {
  if (threshold == 0 || threshold > draft.genesis.council.size()) {
    return Status(ErrorCode::kInvalidArgument, "the threshold must be 1.." +
                                                   std::to_string(draft.genesis.council.size()) +
                                                   " (the council's size; add members first)");
  }
  draft.genesis.council_threshold = threshold;
  return Status::Ok();
}

Status AddRole(GenesisDraft& draft, const std::string& role, const PublicKey& account) {
  // The roles the contracts check (governance.h). Any name would pass the genesis checks, but
  // a typo at the ceremony ("registar") would give nobody the role it meant.
  static constexpr std::array<std::string_view, 6> kContractRoles = {
      contracts::kAdminRole,     contracts::kRegistrarRole, contracts::kClinicianRole,
      contracts::kEmergencyRole, contracts::kCustodianRole, contracts::kAuditorRole};
  if (std::find(kContractRoles.begin(), kContractRoles.end(), role) == kContractRoles.end()) {
    std::string known;
    for (std::string_view name : kContractRoles)
      known.append(known.empty() ? "" : ", ").append(name);
    return Status(ErrorCode::kInvalidArgument, Quoted(role) +
                                                   " is not a role the contracts check (" + known +
                                                   "; the council is set with add-council)");
  }
  const std::pair<std::string, PublicKey> grant(role, account);
  auto& roles = draft.genesis.roles;
  if (std::find(roles.begin(), roles.end(), grant) != roles.end()) {
    return Status(ErrorCode::kAlreadyExists, EncodeAddress(account) + " already has " + role);
  }
  roles.push_back(grant);
  return Status::Ok();
}

Status SetParam(GenesisDraft& draft, const std::string& name, uint64_t value) {
  auto& params = draft.genesis.params;
  auto it = std::find_if(params.begin(), params.end(),
                         [&](const auto& param) { return param.first == name; });
  if (it != params.end()) {
    it->second = value;
  } else {
    params.emplace_back(name, value);
  }
  return Status::Ok();
}

Status AddBalance(GenesisDraft& draft, const PublicKey& account, uint64_t amount) {
  for (const auto& [holder, _] : draft.genesis.balances) {
    if (holder == account) {
      return Status(ErrorCode::kAlreadyExists,
                    EncodeAddress(account) + " already has a genesis balance");
    }
  }
  draft.genesis.balances.emplace_back(account, amount);
  return Status::Ok();
}

Result<FinalGenesis> FinalizeGenesis(const GenesisDraft& draft, const fs::path& out_dir) {
  if (Status s = CheckGenesisDoc("the draft", draft.genesis); !s.ok()) return s;
  if (draft.genesis.council.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "the draft has no council: add its members (cityd genesis add-council)");
  }
  Result<GenesisChain> chain = BuildGenesisChain(draft.genesis);
  if (!chain.ok()) return chain.status();
  FinalGenesis final{out_dir / "genesis.json", out_dir / "peers.json", chain->block_hash};
  for (const fs::path& path : {final.genesis_file, final.peers_file}) {
    if (PathExists(path))
      return Status(ErrorCode::kAlreadyExists, path.string() + " already exists");
  }
  if (Status s = MakeDirectory(out_dir, 0755); !s.ok()) return s;
  CreatedFiles created;
  Status s = created.Add(final.genesis_file, WriteGenesisFile(final.genesis_file, draft.genesis));
  if (s.ok()) {
    s = created.Add(final.peers_file,
                    internal::WriteNewFile(final.peers_file,
                                           PeersJson(draft, final.hash).dump(2) + "\n", 0644));
  }
  if (!s.ok()) return s;
  created.Commit();
  return final;
}

Result<Hash256> InstallGenesis(const InstallOptions& options) {
  const HomePaths home{options.home};
  for (const fs::path& path : {home.genesis(), home.safety()}) {
    if (PathExists(path)) {
      return Status(ErrorCode::kAlreadyExists,
                    path.string() + " already exists: this home has a genesis already");
    }
  }
  Result<KeyPair> key = ReadValidatorKey(home.validator_key());
  if (!key.ok()) return key.status();
  Result<NodeConfig> config = LoadConfigFile(home.config());
  if (!config.ok()) return config.status();
  Result<GenesisDoc> genesis = LoadGenesisFile(options.genesis_file);
  if (!genesis.ok()) return genesis.status();
  Result<GenesisChain> chain = BuildGenesisChain(*genesis);
  if (!chain.ok()) return chain.status();
  const Hash256 hash = chain->block_hash;
  if (!options.expected_hash.empty() && options.expected_hash != hash.ToHex()) {
    return Status(ErrorCode::kInvalidArgument, options.genesis_file.string() + " has hash " +
                                                   hash.ToHex() + ", not the expected " +
                                                   options.expected_hash +
                                                   ": do not install it; ask the coordinator");
  }
  const auto self =
      std::find_if(genesis->validators.begin(), genesis->validators.end(),
                   [&](const GenesisValidator& v) { return v.key == key->public_key(); });
  if ((self == genesis->validators.end()) != options.joining) {
    return Status(ErrorCode::kPermissionDenied,
                  "this home's validator key (" + EncodeAddress(key->public_key()) + ") is " +
                      (options.joining ? "a validator of " + options.genesis_file.string() +
                                             ": it does not join later, drop --joining"
                                       : "not a validator of " + options.genesis_file.string() +
                                             " (a validator joining a running chain installs "
                                             "with --joining)"));
  }

  Result<Json> peers = ReadJsonFile(options.peers_file, "peers file");
  if (!peers.ok()) return peers.status();
  const std::string source = options.peers_file.string();
  if (Status s = CheckEnvelope(*peers, source, kPeersFormat,
                               {"format", "version", "genesis_hash", "peers"});
      !s.ok()) {
    return s;
  }
  if ((*peers)["genesis_hash"] != hash.ToHex()) {
    return Invalid(source, "it belongs to another genesis (hash " +
                               (*peers)["genesis_hash"].dump() + ", not " + hash.ToHex() + ")");
  }
  const Json& list = (*peers)["peers"];
  if (!list.is_array() || list.size() != genesis->validators.size()) {
    return Invalid(source, "it must list every validator of the genesis, once");
  }
  config->peers.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = source + " peers[" + std::to_string(i) + "]";
    if (!list[i].is_object()) return Invalid(at, "not an object");
    Result<PublicKey> peer_key = AccountField(list[i], at, "public_key");
    if (!peer_key.ok()) return peer_key.status();
    if (*peer_key != genesis->validators[i].key) {
      return Invalid(at, "not the genesis validator at this position");
    }
    Result<std::string> text = StringField(list[i], at, "p2p_address");
    if (!text.ok()) return text.status();
    Result<std::pair<std::string, uint16_t>> address = ParseP2pAddress(*text);
    if (!address.ok()) return Invalid(at, address.status().message());
    if (*peer_key == key->public_key()) continue;
    config->peers.push_back({*peer_key, address->first, address->second});
  }

  CreatedFiles created;
  Status s = created.Add(home.genesis(), WriteGenesisFile(home.genesis(), *genesis));
  if (s.ok()) s = created.Add(home.safety(), WriteFreshSafetyState(home, *genesis));
  if (s.ok()) s = ReplaceFile(home.config(), RenderConfigToml(*config), 0644);
  if (!s.ok()) return s;
  created.Commit();
  return hash;
}

}  // namespace city::node
