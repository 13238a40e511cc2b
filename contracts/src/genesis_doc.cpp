// The genesis document (genesis_doc.h): strict parsing, the checks every genesis must pass, the
// document's hash and the genesis block and state a chain starts from.
#include "city/contracts/genesis_doc.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "city/crypto/address.h"
#include "city/crypto/hash.h"
#include "city/ledger/codec.h"

namespace city::contracts {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kFormat = "cityledger-genesis";
constexpr uint64_t kVersion = 1;
constexpr std::string_view kDocHashTag = "city.genesis.doc.v1";
// The governance parameter holding the council threshold (contracts/src/governance.cpp).
constexpr std::string_view kCouncilThresholdParam = "council_threshold";
// Validator names are for logs and status pages; longer ones are a mistake.
constexpr size_t kMaxValidatorNameLength = 64;

Status Fail(std::string_view source, std::string_view field, std::string_view what) {
  return Status(ErrorCode::kInvalidArgument,
                std::string(source) + ": " + std::string(field) + ": " + std::string(what));
}

std::string At(std::string_view list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

// Reads one JSON object, field by field, refusing what it does not expect.
class ObjectReader {
 public:
  ObjectReader(std::string_view source, std::string field, const Json& object)
      : source_(source), field_(std::move(field)), object_(object) {}

  std::string Name(std::string_view key) const {
    return field_.empty() ? std::string(key) : field_ + "." + std::string(key);
  }

  // `allowed` lists every field; those before `required_count` must be present.
  Status CheckFields(std::initializer_list<std::string_view> allowed, size_t required_count) const {
    if (!object_.is_object()) {
      return Fail(source_, field_.empty() ? "document" : field_, "expected a JSON object");
    }
    for (const auto& item : object_.items()) {
      if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
        return Fail(source_, Name(item.key()), "unknown field");
      }
    }
    size_t i = 0;
    for (std::string_view key : allowed) {
      if (i++ >= required_count) break;
      if (!object_.contains(key)) return Fail(source_, Name(key), "missing field");
    }
    return Status::Ok();
  }

  bool Has(std::string_view key) const { return object_.contains(key); }
  const Json& Get(std::string_view key) const { return object_.at(key); }

  Status String(std::string_view key, std::string& out) const {
    const Json& value = object_.at(key);
    if (!value.is_string()) return Fail(source_, Name(key), "expected a string");
    out = value.get<std::string>();
    return Status::Ok();
  }

  Status U64(std::string_view key, uint64_t& out) const {
    return ReadU64(source_, Name(key), object_.at(key), out);
  }

  Status Account(std::string_view key, PublicKey& out) const {
    return ReadAccount(source_, Name(key), object_.at(key), out);
  }

  // nlohmann parses a non-negative integer that fits 64 bits as unsigned; anything else
  // (negative, fractional, too large) is another kind of number.
  static Status ReadU64(std::string_view source, const std::string& field, const Json& value,
                        uint64_t& out) {
    if (!value.is_number_unsigned()) {
      return Fail(source, field, "expected an integer in 0..18446744073709551615");
    }
    out = value.get<uint64_t>();
    return Status::Ok();
  }

  static Status ReadAccount(std::string_view source, const std::string& field, const Json& value,
                            PublicKey& out) {
    if (!value.is_string()) return Fail(source, field, "expected a city1... address");
    Result<PublicKey> key = DecodeAddress(value.get<std::string>());
    if (!key.ok()) return Fail(source, field, "not a valid address: " + key.status().message());
    out = *key;
    return Status::Ok();
  }

 private:
  std::string_view source_;
  std::string field_;
  const Json& object_;
};

Status ExpectArray(std::string_view source, std::string_view field, const Json& value) {
  if (!value.is_array()) return Fail(source, field, "expected a JSON array");
  return Status::Ok();
}

// The rules of a genesis document, whether it came from a file or was built in memory.
// Addresses read from a file were checked when decoded; built ones are checked here.
}  // namespace

Status CheckGenesisDoc(std::string_view source, const GenesisDoc& doc) {
  if (!ledger::IsValidChainId(doc.chain_id)) {
    return Fail(source, "chain_id",
                "\"" + doc.chain_id + "\" is not 1.." + std::to_string(ledger::kMaxChainIdLength) +
                    " characters of a-z, 0-9, '.', '_', '-'");
  }
  if (doc.validators.empty()) return Fail(source, "validators", "at least one validator is needed");
  if (doc.validators.size() > ledger::kMaxValidators) {
    return Fail(source, "validators",
                "at most " + std::to_string(ledger::kMaxValidators) + " validators");
  }
  std::map<PublicKey, size_t> validators;
  for (size_t i = 0; i < doc.validators.size(); ++i) {
    const GenesisValidator& v = doc.validators[i];
    if (v.name.empty() || v.name.size() > kMaxValidatorNameLength) {
      return Fail(source, At("validators", i) + ".name",
                  "must be 1.." + std::to_string(kMaxValidatorNameLength) + " characters");
    }
    if (!v.key.IsValidPoint()) {
      return Fail(source, At("validators", i) + ".public_key", "not a valid public key");
    }
    auto [it, added] = validators.emplace(v.key, i);
    if (!added) {
      return Fail(source, At("validators", i) + ".public_key",
                  "repeats " + At("validators", it->second));
    }
  }
  std::map<PublicKey, size_t> council;
  for (size_t i = 0; i < doc.council.size(); ++i) {
    const std::string field = At("council.members", i);
    if (!doc.council[i].IsValidPoint()) return Fail(source, field, "not a valid public key");
    auto [it, added] = council.emplace(doc.council[i], i);
    if (!added) return Fail(source, field, "repeats " + At("council.members", it->second));
  }
  if (doc.council_threshold == 0 ||
      (!doc.council.empty() && doc.council_threshold > doc.council.size())) {
    return Fail(source, "council.threshold",
                "must be 1..council size (" + std::to_string(doc.council.size()) + "), got " +
                    std::to_string(doc.council_threshold));
  }
  std::set<std::pair<std::string, PublicKey>> roles;
  for (size_t i = 0; i < doc.roles.size(); ++i) {
    const auto& [role, account] = doc.roles[i];
    if (!ledger::IsValidName(role)) {
      return Fail(source, At("roles", i) + ".role",
                  "\"" + role + "\" is not a name (a-z, 0-9, '_', starting with a letter)");
    }
    if (!account.IsValidPoint()) {
      return Fail(source, At("roles", i) + ".account", "not a valid public key");
    }
    if (!roles.insert(doc.roles[i]).second) {
      return Fail(source, At("roles", i), "grants " + role + " to the same account twice");
    }
  }
  std::set<std::string> params;
  for (const auto& [name, value] : doc.params) {
    if (!ledger::IsValidName(name)) {
      return Fail(source, "params." + name, "not a name (a-z, 0-9, '_', starting with a letter)");
    }
    // Governance stores the council threshold as this parameter and would silently
    // replace a value given here with council.threshold.
    if (name == kCouncilThresholdParam) {
      return Fail(source, "params." + name, "is set by council.threshold, not here");
    }
    if (!params.insert(name).second) return Fail(source, "params." + name, "set twice");
  }
  std::map<PublicKey, size_t> balances;
  uint64_t total = 0;
  for (size_t i = 0; i < doc.balances.size(); ++i) {
    const auto& [account, amount] = doc.balances[i];
    if (!account.IsValidPoint()) {
      return Fail(source, At("balances", i) + ".account", "not a valid public key");
    }
    auto [it, added] = balances.emplace(account, i);
    if (!added) {
      return Fail(source, At("balances", i) + ".account", "repeats " + At("balances", it->second));
    }
    if (amount == 0) return Fail(source, At("balances", i) + ".amount", "must be > 0");
    if (amount > UINT64_MAX - total) {
      return Fail(source, At("balances", i) + ".amount", "the total passes 2^64 - 1");
    }
    total += amount;
  }
  return Status::Ok();
}

namespace {

// Duplicate keys in one object are refused: nlohmann would keep the last silently, and a
// repeated "validators" must not replace the first list unnoticed.
Result<Json> ParseStrictJson(std::string_view source, std::string_view text) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json json;
  try {
    json = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception& error) {
    std::string what = error.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> the rest.
    if (const size_t close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
    return Status(ErrorCode::kInvalidArgument, std::string(source) + ": not valid JSON: " + what);
  }
  if (!duplicate.empty()) return Fail(source, duplicate, "appears twice in one object");
  return json;
}

Result<GenesisDoc> ParseGenesis(std::string_view source, std::string_view text, bool check) {
  if (text.size() > kMaxGenesisFileBytes) {
    return Status(ErrorCode::kTooLarge, std::string(source) + ": larger than " +
                                            std::to_string(kMaxGenesisFileBytes) + " bytes");
  }
  Result<Json> json = ParseStrictJson(source, text);
  if (!json.ok()) return json.status();

  GenesisDoc doc;
  const ObjectReader top(source, "", *json);
  Status s = top.CheckFields({"format", "version", "chain_id", "genesis_time_ms", "validators",
                              "council", "roles", "params", "balances"},
                             5);
  if (!s.ok()) return s;
  std::string format;
  if (s = top.String("format", format); !s.ok()) return s;
  if (format != kFormat) {
    return Fail(source, "format",
                "expected \"" + std::string(kFormat) + "\", got \"" + format + "\"");
  }
  uint64_t version = 0;
  if (s = top.U64("version", version); !s.ok()) return s;
  if (version != kVersion) {
    return Fail(source, "version",
                "version " + std::to_string(version) + " is not supported (this build reads " +
                    std::to_string(kVersion) + ")");
  }
  if (s = top.String("chain_id", doc.chain_id); !s.ok()) return s;
  if (s = top.U64("genesis_time_ms", doc.genesis_time_ms); !s.ok()) return s;

  const Json& validators = top.Get("validators");
  if (s = ExpectArray(source, "validators", validators); !s.ok()) return s;
  for (size_t i = 0; i < validators.size(); ++i) {
    const ObjectReader entry(source, At("validators", i), validators[i]);
    GenesisValidator validator;
    if (s = entry.CheckFields({"name", "public_key"}, 2); !s.ok()) return s;
    if (s = entry.String("name", validator.name); !s.ok()) return s;
    if (s = entry.Account("public_key", validator.key); !s.ok()) return s;
    doc.validators.push_back(std::move(validator));
  }

  if (top.Has("council")) {
    const ObjectReader council(source, "council", top.Get("council"));
    if (s = council.CheckFields({"members", "threshold"}, 1); !s.ok()) return s;
    const Json& members = council.Get("members");
    if (s = ExpectArray(source, "council.members", members); !s.ok()) return s;
    for (size_t i = 0; i < members.size(); ++i) {
      PublicKey member;
      if (s = ObjectReader::ReadAccount(source, At("council.members", i), members[i], member);
          !s.ok()) {
        return s;
      }
      doc.council.push_back(member);
    }
    if (council.Has("threshold")) {
      if (s = council.U64("threshold", doc.council_threshold); !s.ok()) return s;
    }
  }

  if (top.Has("roles")) {
    const Json& roles = top.Get("roles");
    if (s = ExpectArray(source, "roles", roles); !s.ok()) return s;
    for (size_t i = 0; i < roles.size(); ++i) {
      const ObjectReader entry(source, At("roles", i), roles[i]);
      std::pair<std::string, PublicKey> grant;
      if (s = entry.CheckFields({"role", "account"}, 2); !s.ok()) return s;
      if (s = entry.String("role", grant.first); !s.ok()) return s;
      if (s = entry.Account("account", grant.second); !s.ok()) return s;
      doc.roles.push_back(std::move(grant));
    }
  }

  if (top.Has("params")) {
    const Json& params = top.Get("params");
    if (!params.is_object()) return Fail(source, "params", "expected a JSON object");
    for (const auto& item : params.items()) {  // nlohmann keeps object keys sorted
      uint64_t value = 0;
      if (s = ObjectReader::ReadU64(source, "params." + item.key(), item.value(), value); !s.ok()) {
        return s;
      }
      doc.params.emplace_back(item.key(), value);
    }
  }

  if (top.Has("balances")) {
    const Json& balances = top.Get("balances");
    if (s = ExpectArray(source, "balances", balances); !s.ok()) return s;
    for (size_t i = 0; i < balances.size(); ++i) {
      const ObjectReader entry(source, At("balances", i), balances[i]);
      std::pair<PublicKey, uint64_t> balance;
      if (s = entry.CheckFields({"account", "amount"}, 2); !s.ok()) return s;
      if (s = entry.Account("account", balance.first); !s.ok()) return s;
      if (s = entry.U64("amount", balance.second); !s.ok()) return s;
      doc.balances.push_back(balance);
    }
  }

  if (check) {
    if (s = CheckGenesisDoc(source, doc); !s.ok()) return s;
  }
  return doc;
}

std::vector<std::pair<std::string, uint64_t>> SortedParams(const GenesisDoc& doc) {
  std::vector<std::pair<std::string, uint64_t>> params = doc.params;
  std::stable_sort(params.begin(), params.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return params;
}

}  // namespace

std::string GenesisToJson(const GenesisDoc& doc) {
  OrderedJson out;
  out["format"] = kFormat;
  out["version"] = kVersion;
  out["chain_id"] = doc.chain_id;
  out["genesis_time_ms"] = doc.genesis_time_ms;
  OrderedJson validators = OrderedJson::array();
  for (const GenesisValidator& v : doc.validators) {
    OrderedJson entry;
    entry["name"] = v.name;
    entry["public_key"] = EncodeAddress(v.key);
    validators.push_back(std::move(entry));
  }
  out["validators"] = std::move(validators);
  OrderedJson members = OrderedJson::array();
  for (const PublicKey& member : doc.council) members.push_back(EncodeAddress(member));
  out["council"]["members"] = std::move(members);
  out["council"]["threshold"] = doc.council_threshold;
  OrderedJson roles = OrderedJson::array();
  for (const auto& [role, account] : doc.roles) {
    OrderedJson entry;
    entry["role"] = role;
    entry["account"] = EncodeAddress(account);
    roles.push_back(std::move(entry));
  }
  out["roles"] = std::move(roles);
  OrderedJson params = OrderedJson::object();
  for (const auto& [name, value] : SortedParams(doc)) params[name] = value;
  out["params"] = std::move(params);
  OrderedJson balances = OrderedJson::array();
  for (const auto& [account, amount] : doc.balances) {
    OrderedJson entry;
    entry["account"] = EncodeAddress(account);
    entry["amount"] = amount;
    balances.push_back(std::move(entry));
  }
  out["balances"] = std::move(balances);
  return out.dump(2) + "\n";
}

Result<GenesisDoc> ParseGenesisJson(std::string_view text, std::string_view source) {
  return ParseGenesis(source, text, true);
}

Result<GenesisDoc> ParseGenesisDraftJson(std::string_view text, std::string_view source) {
  return ParseGenesis(source, text, false);
}

// The canonical encoding hashed (codec.h rules: integers little-endian, text as u32 length
// and bytes, keys as their 32 raw bytes, lists as u32 count and elements):
//   u8   0x01                       the codec's little-endian flag
//   text chain_id
//   u64  genesis_time_ms
//   u32  n, then n x (text name, key public_key)             validators, in leader order
//   u32  n, then n x key                                     council members, in order
//   u64  council threshold
//   u32  n, then n x (text role, key account)                roles, in file order
//   u32  n, then n x (text name, u64 value)                  params, sorted by name
//   u32  n, then n x (key account, u64 amount)               balances, in file order
// Params are hashed sorted because the file (a JSON object) cannot hold their order; lists
// the file does order are hashed in that order. The format and version are in the tag.
Hash256 GenesisDocHash(const GenesisDoc& doc) {
  Bytes bytes;
  {
    ledger::Encoder e(bytes);
    e.Text(doc.chain_id);
    e.U64(doc.genesis_time_ms);
    e.U32(static_cast<uint32_t>(doc.validators.size()));
    for (const GenesisValidator& v : doc.validators) {
      e.Text(v.name);
      e.Fixed(v.key);
    }
    e.FixedList(doc.council, 0, "council");
    e.U64(doc.council_threshold);
    e.U32(static_cast<uint32_t>(doc.roles.size()));
    for (const auto& [role, account] : doc.roles) {
      e.Text(role);
      e.Fixed(account);
    }
    const auto params = SortedParams(doc);
    e.U32(static_cast<uint32_t>(params.size()));
    for (const auto& [name, value] : params) {
      e.Text(name);
      e.U64(value);
    }
    e.U32(static_cast<uint32_t>(doc.balances.size()));
    for (const auto& [account, amount] : doc.balances) {
      e.Fixed(account);
      e.U64(amount);
    }
  }
  return TaggedHash(kDocHashTag, bytes);
}

Result<GenesisChain> BuildGenesisChain(const GenesisDoc& doc) {
  if (Status s = CheckGenesisDoc("genesis", doc); !s.ok()) return s;
  contracts::CityGenesis city;
  city.governance.council = doc.council;
  city.governance.threshold = doc.council_threshold;
  city.governance.roles = doc.roles;
  city.governance.params = doc.params;
  city.ubi.balances = doc.balances;
  for (const GenesisValidator& validator : doc.validators) city.enrolled.push_back(validator.key);
  for (const auto& [account, amount] : doc.balances) city.enrolled.push_back(account);
  Result<std::vector<ledger::StateWrite>> writes = contracts::CityGenesisWrites(city);
  if (!writes.ok()) {
    return Status(ErrorCode::kInvalidArgument,
                  "the contracts refuse the genesis state: " + writes.status().message());
  }

  GenesisChain chain;
  std::vector<PublicKey> members;
  members.reserve(doc.validators.size());
  for (const GenesisValidator& v : doc.validators) members.push_back(v.key);
  chain.validators = ledger::ValidatorSet(std::move(members));
  chain.header.chain_id = doc.chain_id;
  chain.header.parent_hash = GenesisDocHash(doc);  // binds the block to the whole document
  chain.header.timestamp_ms = doc.genesis_time_ms;
  chain.block_hash = chain.header.Hash();
  chain.store_genesis = {doc.chain_id, chain.block_hash, std::move(*writes), {}};
  return chain;
}

}  // namespace city::contracts
