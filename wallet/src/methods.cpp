// The transaction-builder table (methods.h): every method of the city contracts with its
// flags, their checks, and the JSON form of its arguments. Each method is one Define() call
// naming its flags, a builder from flags to the contract's Args struct and a renderer back.
#include "city/wallet/methods.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <span>

#include "city/contracts/city_contracts.h"
#include "city/crypto/address.h"
#include "city/crypto/hash.h"
#include "city/ledger/chain_rules.h"
#include "city/ledger/types.h"
#include "city/wallet/person_key.h"

namespace city::wallet {
namespace {

namespace c = contracts;

// The tag under which `ubi register --person TEXT` hashes the identity text into a person id.
constexpr uint64_t kDayMs = 24ull * 60 * 60 * 1000;
constexpr uint64_t kDefaultExpiryBlocks = 1000;
constexpr size_t kMaxPersonTextLength = 1024;

// ---- words for coded values ----

template <typename T>
struct Named {
  std::string_view word;
  T value;
};
template <typename T>
using Words = std::span<const Named<T>>;

// FHIR PurposeOfUse (v3 ActReason) codes under the names people use.
constexpr Named<std::string_view> kPurposeWords[] = {
    {"treatment", "TREAT"},
    {"emergency", "ETREAT"},
    {"research", "HRESCH"},
    {"payment", "HPAYMT"},
    {"operations", "HOPERAT"},
    {"care-management", "CAREMGT"},
    {"public-health", "PUBHLTH"},
    {"patient-request", "PATRQT"},
    {"family-request", "FAMRQT"},
    {"clinical-trial", "CLINTRL"},
    {"translational-research", "TRANSRCH"},
    {"power-of-attorney", "PWATRNY"},
};

constexpr uint8_t U8Of(c::ActionKind kind) { return static_cast<uint8_t>(kind); }
constexpr uint8_t U8Of(c::EpcisAction action) { return static_cast<uint8_t>(action); }

constexpr Named<uint8_t> kProposalActions[] = {
    {"grant-role", U8Of(c::ActionKind::kGrantRole)},
    {"revoke-role", U8Of(c::ActionKind::kRevokeRole)},
    {"set-param", U8Of(c::ActionKind::kSetParameter)},
    {"set-validators", U8Of(c::ActionKind::kSetValidators)},
    {"set-sealing-key", U8Of(c::ActionKind::kSetSealingKey)},
};
constexpr Named<uint8_t> kAddObserveDelete[] = {
    {"add", U8Of(c::EpcisAction::kAdd)},
    {"observe", U8Of(c::EpcisAction::kObserve)},
    {"delete", U8Of(c::EpcisAction::kDelete)},
};
constexpr Named<uint8_t> kObserveDelete[] = {
    {"observe", U8Of(c::EpcisAction::kObserve)},
    {"delete", U8Of(c::EpcisAction::kDelete)},
};
constexpr Named<uint8_t> kAddDelete[] = {
    {"add", U8Of(c::EpcisAction::kAdd)},
    {"delete", U8Of(c::EpcisAction::kDelete)},
};
constexpr Named<uint8_t> kVerdicts[] = {{"justified", 1}, {"unjustified", 0}};

template <typename T>
std::vector<std::string> WordList(Words<T> words) {
  std::vector<std::string> out;
  for (const Named<T>& named : words) out.emplace_back(named.word);
  return out;
}

template <typename T>
std::string JoinWords(Words<T> words) {
  std::string out;
  for (const Named<T>& named : words) out += (out.empty() ? "" : ", ") + std::string(named.word);
  return out;
}

// The word for a stored value, or the value itself when it has none (a failed transaction
// may carry any byte).
template <typename T>
Json WordFor(Words<T> words, const T& value) {
  for (const Named<T>& named : words) {
    if (named.value == value) return std::string(named.word);
  }
  return value;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// ---- text rules ----

enum class TextKind {
  kAny,          // any bytes (hashed, never stored)
  kPrintable,    // printable ASCII (record ids, locations, notes)
  kName,         // ledger::IsValidName: role, parameter, record type, CBV word
  kEpc,          // contracts::IsValidEpc
  kContainer,    // an EPC that can hold others (an SSCC)
  kLocation,     // urn:epc:id:sgln:...
  kTransaction,  // urn:..., http://... or https://... of [A-Za-z0-9.:/_-]
};

struct TextRule {
  TextKind kind = TextKind::kPrintable;
  size_t max = 0;
  bool allow_empty = false;
};

bool IsUriChar(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == ':' || ch == '-';
}

// What is wrong with `text` under `rule`, or nullopt.
std::optional<std::string> TextProblem(std::string_view text, const TextRule& rule) {
  if (text.empty()) {
    if (rule.allow_empty) return std::nullopt;
    return "must not be empty";
  }
  if (text.size() > rule.max) return "at most " + std::to_string(rule.max) + " characters";
  const std::string quoted = "'" + std::string(text) + "'";
  switch (rule.kind) {
    case TextKind::kAny:
      return std::nullopt;
    case TextKind::kPrintable:
      if (c::IsPrintableText(text)) return std::nullopt;
      return "printable ASCII characters only";
    case TextKind::kName:
      if (ledger::IsValidName(text)) return std::nullopt;
      return quoted + " is not a name (a-z, 0-9 and _, starting with a letter, at most " +
             std::to_string(ledger::kMaxNameLength) + ")";
    case TextKind::kEpc:
      if (c::IsValidEpc(text)) return std::nullopt;
      return quoted + " is not an EPC URI (urn:epc:id:{sgtin,sscc,grai,giai}:...)";
    case TextKind::kContainer:
      if (!c::IsValidEpc(text)) return TextProblem(text, {TextKind::kEpc, rule.max});
      if (c::IsContainerEpc(text)) return std::nullopt;
      return quoted + " is not a container (urn:epc:id:sscc:...)";
    case TextKind::kLocation: {
      constexpr std::string_view kSgln = "urn:epc:id:sgln:";
      if (text.size() > kSgln.size() && text.starts_with(kSgln) &&
          std::all_of(text.begin(), text.end(), IsUriChar))
        return std::nullopt;
      return quoted + " is not a location URI (urn:epc:id:sgln:...)";
    }
    case TextKind::kTransaction: {
      const bool scheme =
          text.starts_with("urn:") || text.starts_with("http://") || text.starts_with("https://");
      if (scheme && text.size() > 4 && std::all_of(text.begin(), text.end(), [](char ch) {
            return IsUriChar(ch) || ch == '/' || ch == '_';
          }))
        return std::nullopt;
      return quoted + " is not a transaction URI (urn:..., http(s)://... of A-Za-z0-9.:/_-)";
    }
  }
  return "unsupported text rule";
}

// ---- reading flags ----

// Reads typed values from the flags given; the first problem is kept and later reads return
// defaults, so a builder reads every flag straight through and checks status() once.
class Flags {
 public:
  Flags(const std::vector<ArgSpec>& specs, const ArgValues& values)
      : specs_(specs), values_(values) {}

  // Unknown flags, then missing required ones.
  Status CheckPresence() const {
    for (const auto& given : values_) {
      if (!Spec(given.first)) return Invalid("unknown flag --" + given.first);
    }
    for (const ArgSpec& spec : specs_) {
      if (spec.required && !values_.contains(spec.flag)) return Invalid(Missing(spec.flag));
    }
    return Status::Ok();
  }

  const Status& status() const { return status_; }

  // Given, or defaulted in the table.
  bool Has(std::string_view flag) const { return Raw(flag).has_value(); }

  void Fail(std::string_view flag, const std::string& what) {
    Error("--" + std::string(flag) + ": " + what);
  }
  void Error(std::string message) {
    if (status_.ok()) status_ = Invalid(std::move(message));
  }

  // For a flag that only some choices use: `needed` must be given, `unused` must not be.
  void Scope(std::string_view why, std::initializer_list<std::string_view> needed,
             std::initializer_list<std::string_view> unused) {
    for (std::string_view flag : needed) {
      if (!Has(flag)) Error(Missing(flag) + " " + std::string(why));
    }
    for (std::string_view flag : unused) {
      if (values_.contains(flag)) Fail(flag, "not used " + std::string(why));
    }
  }

  PublicKey Account(std::string_view flag) { return AccountOr(flag, PublicKey{}); }
  PublicKey AccountOr(std::string_view flag, const PublicKey& fallback) {
    const std::optional<std::string> raw = Raw(flag);
    if (!raw) return fallback;
    return ParseAccount(flag, *raw);
  }

  uint64_t U64(std::string_view flag, uint64_t min = 0) {
    const std::optional<std::string> raw = Raw(flag);
    if (!raw) return 0;
    uint64_t value = 0;
    const char* end = raw->data() + raw->size();
    const auto [ptr, error] = std::from_chars(raw->data(), end, value);
    const bool digits = !raw->empty() && std::all_of(raw->begin(), raw->end(), [](char ch) {
      return ch >= '0' && ch <= '9';
    });
    if (!digits || error != std::errc() || ptr != end) {
      Fail(flag,
           "expected a whole number 0.." + std::to_string(std::numeric_limits<uint64_t>::max()));
      return 0;
    }
    if (value < min) Fail(flag, "must be at least " + std::to_string(min));
    return value;
  }

  Hash256 Hash(std::string_view flag) {
    const std::optional<std::string> raw = Raw(flag);
    if (!raw) return {};
    Result<Hash256> hash = Hash256::FromHex(*raw);
    if (!hash.ok()) {
      Fail(flag, "expected " + std::to_string(2 * Hash256::kSize) + " hex digits");
      return {};
    }
    return hash.value();
  }

  std::string Text(std::string_view flag, const TextRule& rule) {
    std::string text = Raw(flag).value_or("");
    if (std::optional<std::string> problem = TextProblem(text, rule)) Fail(flag, *problem);
    return text;
  }

  // A comma-separated list of min..max distinct items, each under `item`.
  std::vector<std::string> List(std::string_view flag, const TextRule& item, size_t min,
                                size_t max) {
    std::vector<std::string> items = Split(flag);
    if (items.size() < min || items.size() > max) {
      Fail(flag, "expected " + std::to_string(min) + ".." + std::to_string(max) + " items, got " +
                     std::to_string(items.size()));
    }
    std::set<std::string_view> seen;
    for (const std::string& text : items) {
      if (text.empty()) Fail(flag, "an item of the list is empty");
      if (std::optional<std::string> problem = TextProblem(text, item)) Fail(flag, *problem);
      if (!seen.insert(text).second) Fail(flag, "'" + text + "' is listed twice");
    }
    return items;
  }

  std::vector<PublicKey> Accounts(std::string_view flag, size_t max) {
    std::vector<PublicKey> keys;
    std::set<PublicKey> seen;
    for (const std::string& text : List(flag, {TextKind::kAny, 1024}, 1, max)) {
      keys.push_back(ParseAccount(flag, text));
      if (status_.ok() && !seen.insert(keys.back()).second) Fail(flag, text + " is listed twice");
    }
    return keys;
  }

  bool Bool(std::string_view flag) {
    const std::string text = Lower(Raw(flag).value_or("false"));
    if (text.empty() || text == "true" || text == "yes" || text == "1") return true;
    if (text == "false" || text == "no" || text == "0") return false;
    Fail(flag, "expected true or false");
    return false;
  }

  template <typename T>
  T Choice(std::string_view flag, Words<T> words) {
    const std::string text = Lower(Raw(flag).value_or(""));
    for (const Named<T>& named : words) {
      if (named.word == text) return named.value;
    }
    Fail(flag, "unknown value '" + Raw(flag).value_or("") + "' (one of: " + JoinWords(words) + ")");
    return words.front().value;
  }

  // A purpose word ("treatment") or its FHIR code ("TREAT"), in any case.
  std::string Purpose(std::string_view flag) {
    const std::string text = Raw(flag).value_or("");
    const std::string lower = Lower(text);
    for (const Named<std::string_view>& named : kPurposeWords) {
      if (named.word == lower || Lower(named.value) == lower) return std::string(named.value);
    }
    Fail(flag, "unknown purpose '" + text + "' (one of: " +
                   JoinWords(Words<std::string_view>(kPurposeWords)) + "; or their codes)");
    return {};
  }

 private:
  static Status Invalid(std::string message) {
    return Status(ErrorCode::kInvalidArgument, std::move(message));
  }
  static std::string Missing(std::string_view flag) {
    return "--" + std::string(flag) + " is required";
  }

  const ArgSpec* Spec(std::string_view flag) const {
    for (const ArgSpec& spec : specs_) {
      if (spec.flag == flag) return &spec;
    }
    return nullptr;
  }

  std::optional<std::string> Raw(std::string_view flag) const {
    const ArgSpec* spec = Spec(flag);
    if (spec == nullptr) {  // a bug in the table; tests encode every method
      if (status_.ok())
        status_ = Status(ErrorCode::kInternal, "undeclared flag --" + std::string(flag));
      return std::nullopt;
    }
    if (auto found = values_.find(flag); found != values_.end()) return found->second;
    if (!spec->default_value.empty()) return spec->default_value;
    return std::nullopt;
  }

  std::vector<std::string> Split(std::string_view flag) const {
    std::vector<std::string> items;
    const std::string text = Raw(flag).value_or("");
    if (text.empty()) return items;
    size_t start = 0;
    while (true) {
      const size_t comma = text.find(',', start);
      std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
      const size_t first = item.find_first_not_of(' ');
      const size_t last = item.find_last_not_of(' ');
      items.push_back(first == std::string::npos ? "" : item.substr(first, last - first + 1));
      if (comma == std::string::npos) return items;
      start = comma + 1;
    }
  }

  PublicKey ParseAccount(std::string_view flag, std::string_view text) {
    Result<PublicKey> key = DecodeAddress(text);
    if (!key.ok()) {
      Fail(flag, key.status().message());
      return {};
    }
    return key.value();
  }

  const std::vector<ArgSpec>& specs_;
  const ArgValues& values_;
  mutable Status status_;  // Raw() records a table bug
};

// ---- declaring flags ----

ArgSpec Required(std::string flag, ArgType type, std::string help) {
  return {std::move(flag), type, std::move(help), true, "", {}};
}
ArgSpec Optional(std::string flag, ArgType type, std::string help, std::string value = "") {
  return {std::move(flag), type, std::move(help), false, std::move(value), {}};
}
template <typename T>
ArgSpec Choice(std::string flag, Words<T> words, std::string help, std::string value = "") {
  ArgSpec spec{std::move(flag), ArgType::kChoice, std::move(help), value.empty(), value, {}};
  spec.choices = WordList(words);
  return spec;
}
std::string Limit(size_t max) { return " (at most " + std::to_string(max) + " characters)"; }
std::vector<ArgSpec> Concat(std::vector<ArgSpec> a, const std::vector<ArgSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const TextRule kRecordId{TextKind::kPrintable, c::kMaxRecordIdLength};
const TextRule kName{TextKind::kName, ledger::kMaxNameLength};
const TextRule kEpcRule{TextKind::kEpc, c::kMaxEpcLength};

// ---- JSON helpers ----

Json Address(const PublicKey& key) { return EncodeAddress(key); }
Json Addresses(const std::vector<PublicKey>& keys) {
  Json out = Json::array();
  for (const PublicKey& key : keys) out.push_back(Address(key));
  return out;
}
template <typename T, typename F>
Json Texts(const std::vector<T>& items, F text_of) {
  Json out = Json::array();
  for (const T& item : items) out.push_back(text_of(item));
  return out;
}
Json EpcList(const std::vector<c::Epc>& epcs) {
  return Texts(epcs, [](const c::Epc& epc) { return epc.id; });
}
std::vector<c::Epc> ToEpcs(const std::vector<std::string>& items) {
  return {items.begin(), items.end()};
}
Json PurposeJson(const std::string& code) {
  return WordFor(Words<std::string_view>(kPurposeWords), std::string_view(code));
}

// ---- the table ----

struct Entry {
  MethodSpec spec;
  std::function<Result<Json>(ByteSpan)> render;
};

template <typename Args>
using Builder = std::function<Args(Flags&, const TxContext&)>;
template <typename Args>
using Renderer = std::function<Json(const Args&)>;

// A method's table entry but for `encode` (Define adds it): contract, command, method,
// summary, example, flags.
struct About {
  std::string contract;
  std::string command;
  std::string method;
  std::string summary;
  std::string example;
  std::vector<ArgSpec> args;
};

// One method: its flags are checked for presence, the builder reads them, the contract's
// codec writes the bytes; `render` reads them back for DecodeArgsJson.
template <typename Args>
Entry Define(About about, Builder<Args> build, Renderer<Args> render) {
  MethodSpec spec{std::move(about.contract),
                  std::move(about.command),
                  std::move(about.method),
                  std::move(about.summary),
                  std::move(about.example),
                  std::move(about.args),
                  nullptr};
  spec.encode = [args = spec.args, build = std::move(build)](
                    const ArgValues& values, const TxContext& context) -> Result<Bytes> {
    Flags flags(args, values);
    if (Status present = flags.CheckPresence(); !present.ok()) return present;
    const Args built = build(flags, context);
    if (!flags.status().ok()) return flags.status();
    return c::EncodeArgs(built);
  };
  auto to_json = [render = std::move(render)](ByteSpan bytes) -> Result<Json> {
    Result<Args> decoded = ledger::Decode<Args>(bytes, ledger::kMaxArgsBytes);
    if (!decoded.ok()) return Status(ErrorCode::kMalformed, decoded.status().message());
    return render(decoded.value());
  };
  return {std::move(spec), std::move(to_json)};
}

// A method whose only argument is a number, under its only flag.
template <typename Args>
Entry OneNumber(About about, uint64_t Args::*field) {
  const std::string flag = about.args.front().flag;
  return Define<Args>(
      std::move(about),
      [field, flag](Flags& flags, const TxContext&) {
        Args args;
        args.*field = flags.U64(flag);
        return args;
      },
      [field, flag](const Args& args) {
        return Json{{flag, args.*field}};
      });
}

// governance

c::ProposeArgs BuildPropose(Flags& flags, const TxContext& context) {
  c::ProposeArgs args;
  c::Action& action = args.action;
  action.kind = flags.Choice("action", Words<uint8_t>(kProposalActions));
  if (!flags.status().ok()) return args;
  const std::string why =
      "with --action " + WordFor(Words<uint8_t>(kProposalActions), action.kind).get<std::string>();
  switch (static_cast<c::ActionKind>(action.kind)) {
    case c::ActionKind::kGrantRole:
    case c::ActionKind::kRevokeRole:
    case c::ActionKind::kSetSealingKey:
      flags.Scope(why, {"role", "account"}, {"param", "value", "validators", "epoch"});
      action.name = flags.Text("role", kName);
      action.account = flags.Account("account");
      break;
    case c::ActionKind::kSetParameter:
      flags.Scope(why, {"param", "value"}, {"role", "account", "validators", "epoch"});
      action.name = flags.Text("param", kName);
      action.value = flags.U64("value");
      break;
    case c::ActionKind::kSetValidators:
      flags.Scope(why, {"validators"}, {"role", "account", "param", "value"});
      action.validators = flags.Accounts("validators", ledger::kMaxValidators);
      if (flags.status().ok()) {
        // The rule governance and every header reader apply (ledger/chain_rules.h).
        if (auto problem = ledger::ValidatorChangeProblem(action.validators)) {
          flags.Fail("validators", *problem);
        }
      }
      action.value = flags.Has("epoch") ? flags.U64("epoch", 1) : 0;  // 0: the next epoch
      break;
  }
  const uint64_t fallback =
      context.tip_height > std::numeric_limits<uint64_t>::max() - kDefaultExpiryBlocks
          ? std::numeric_limits<uint64_t>::max()
          : context.tip_height + kDefaultExpiryBlocks;
  args.expiry_height = flags.Has("expiry-height") ? flags.U64("expiry-height") : fallback;
  if (args.expiry_height <= context.tip_height) {
    flags.Fail("expiry-height",
               "must be above the chain's height " + std::to_string(context.tip_height));
  }
  return args;
}

Json RenderPropose(const c::ProposeArgs& args) {
  const c::Action& action = args.action;
  Json out = {{"action", WordFor(Words<uint8_t>(kProposalActions), action.kind)},
              {"expiry-height", args.expiry_height}};
  switch (static_cast<c::ActionKind>(action.kind)) {
    case c::ActionKind::kGrantRole:
    case c::ActionKind::kRevokeRole:
    case c::ActionKind::kSetSealingKey:
      out["role"] = action.name;
      out["account"] = Address(action.account);
      return out;
    case c::ActionKind::kSetParameter:
      out["param"] = action.name;
      out["value"] = action.value;
      return out;
    case c::ActionKind::kSetValidators:
      out["validators"] = Addresses(action.validators);
      out["epoch"] = action.value;
      return out;
  }
  // An unknown kind (a failed transaction): every field as stored.
  out["name"] = action.name;
  out["account"] = Address(action.account);
  out["value"] = action.value;
  out["validators"] = Addresses(action.validators);
  return out;
}

std::vector<Entry> GovernanceMethods() {
  return {
      Define<c::ProposeArgs>(
          {"governance",
           "propose",
           "propose",
           "Propose a role grant or revocation, a parameter or a validator set "
           "(council members only); it passes with enough approvals.",
           "cityctl tx governance propose --action grant-role --role clinician "
           "--account bob --from alice",
           {Choice("action", Words<uint8_t>(kProposalActions), "what the proposal does"),
            Optional("role", ArgType::kText,
                     "grant-role, revoke-role: the role (e.g. clinician, registrar)"),
            Optional("account", ArgType::kAccount,
                     "grant-role, revoke-role: the account (city1...)"),
            Optional("param", ArgType::kText, "set-param: the parameter's name (e.g. ubi_amount)"),
            Optional("value", ArgType::kU64, "set-param: the parameter's value"),
            Optional("validators", ArgType::kTextList,
                     "set-validators: the whole next validator set in leader order, "
                     "comma-separated city1... addresses (4 to 256)"),
            Optional("epoch", ArgType::kU64,
                     "set-validators: refuse to pass unless the set starts this epoch "
                     "(default: the next one)"),
            Optional("expiry-height", ArgType::kU64,
                     "the last height at which it may gather approvals (default: the "
                     "chain's height + 1000)")}},
          BuildPropose, RenderPropose),
      OneNumber<c::ApproveArgs>(
          {"governance",
           "approve",
           "approve",
           "Approve a proposal before its expiry height (council members only).",
           "cityctl tx governance approve --proposal 3 --from alice",
           {Required("proposal", ArgType::kU64, "the proposal's id")}},
          &c::ApproveArgs::proposal),
  };
}

// emr text that must not be on the ledger in the clear: `flag`'s printable text sealed to the
// patient and the auditor role's key (contracts::SealForPatient).
c::SealedText SealedFlag(Flags& flags, std::string_view flag, const PublicKey& patient,
                         const TxContext& context, size_t max_length) {
  const std::string text = flags.Text(flag, {TextKind::kPrintable, max_length});
  if (!flags.status().ok()) return {};
  Result<c::SealedText> sealed =
      c::SealForPatient(patient, context.auditor_sealing_key, text, max_length, "the text");
  if (!sealed.ok()) {
    flags.Fail(flag, sealed.status().message());
    return {};
  }
  return std::move(*sealed);
}

// How a sealed argument shows: to whom, never what.
Json SealedArgJson(const c::SealedText& sealed) {
  return Json{{"sealed_to_patient_bytes", sealed.to_patient.size()},
              {"auditor", sealed.auditor.IsZero() ? Json(nullptr) : Json(Address(sealed.auditor))}};
}

// ubi

const ArgSpec kCitizenFlag = Required("account", ArgType::kAccount, "the citizen's account");
const ArgSpec kAmountFlag = Required("amount", ArgType::kU64, "tokens (at least 1)");

c::UbiRegisterArgs BuildUbiRegister(Flags& flags, const TxContext&) {
  c::UbiRegisterArgs args;
  args.account = flags.Account("account");
  if (flags.Has("person")) {
    flags.Scope("with --person", {"person-key"}, {"person-id"});
    const std::string text = flags.Text("person", {TextKind::kAny, kMaxPersonTextLength});
    const std::string key_file = flags.Text("person-key", {TextKind::kAny, 4096});
    if (flags.status().ok()) {
      Result<Bytes> key = ReadPersonKey(key_file);
      if (!key.ok()) {
        flags.Fail("person-key", key.status().message());
      } else {
        args.person_id = c::PersonIdFor(*key, text);
      }
    }
  } else if (flags.Has("person-id")) {
    args.person_id = flags.Hash("person-id");
    if (flags.status().ok() && args.person_id.IsZero()) flags.Fail("person-id", "must not be zero");
  } else {
    flags.Error("--person-id or --person is required");
  }
  return args;
}

// A method whose only argument is an account (--account), sent by a registrar.
template <typename Args>
Entry AccountMethod(std::string contract, std::string command, std::string summary,
                    const ArgSpec& flag) {
  std::string example =
      "cityctl tx " + contract + " " + command + " --account bob --from registrar";
  return Define<Args>(
      {std::move(contract), command, command, std::move(summary), std::move(example), {flag}},
      [](Flags& flags, const TxContext&) { return Args{flags.Account("account")}; },
      [](const Args& args) {
        return Json{{"account", Address(args.account)}};
      });
}

// suspend and resume differ only in their words.
Entry CitizenMethod(std::string command, std::string summary) {
  return AccountMethod<c::UbiCitizenArgs>("ubi", std::move(command), std::move(summary),
                                          kCitizenFlag);
}

// accounts

std::vector<Entry> AccountsMethods() {
  const ArgSpec account = Required("account", ArgType::kAccount, "the account (city1...)");
  return {
      AccountMethod<c::EnrolArgs>(
          "accounts", "enrol",
          "Enrol an account so it may send transactions: a patient, staff member or company "
          "(registrars and admins only).",
          account),
      AccountMethod<c::EnrolArgs>(
          "accounts", "revoke",
          "End an enrolment made with enrol; roles and citizenship enrol on their own "
          "(registrars and admins only).",
          account),
  };
}

std::vector<Entry> UbiMethods() {
  return {
      Define<c::UbiRegisterArgs>(
          {"ubi",
           "register",
           "register",
           "Register a citizen: one account per person (registrars only).",
           "cityctl tx ubi register --account bob --person 'passport P1234567' "
           "--person-key office.pkey --from registrar",
           {kCitizenFlag,
            Optional("person-id", ArgType::kHash,
                     "the person's id: 64 hex digits (a hash of an identity document)"),
            Optional("person", ArgType::kText,
                     "instead of --person-id: identity text, hashed into the id with the "
                     "registrar office's key (--person-key)" +
                         Limit(kMaxPersonTextLength)),
            Optional("person-key", ArgType::kText,
                     "with --person: the registrar office's person-id key file (cityctl keys "
                     "person-key)")}},
          BuildUbiRegister,
          [](const c::UbiRegisterArgs& args) {
            return Json{{"account", Address(args.account)}, {"person-id", args.person_id.ToHex()}};
          }),
      CitizenMethod("suspend", "Suspend a citizen's claims (registrars only)."),
      CitizenMethod("resume", "Resume a suspended citizen's claims (registrars only)."),
      Define<c::UbiClaimArgs>(
          {"ubi",
           "claim",
           "claim",
           "Claim the basic income of every whole period since the last claim "
           "(registered citizens).",
           "cityctl tx ubi claim --from bob",
           {}},
          [](Flags&, const TxContext&) { return c::UbiClaimArgs{}; },
          [](const c::UbiClaimArgs&) { return Json::object(); }),
      Define<c::UbiTransferArgs>(
          {"ubi",
           "transfer",
           "transfer",
           "Send tokens to another account (any holder).",
           "cityctl tx ubi transfer --to bob --amount 10 --from alice",
           {Required("to", ArgType::kAccount, "the recipient (city1...)"), kAmountFlag}},
          [](Flags& flags, const TxContext& context) {
            c::UbiTransferArgs args{flags.Account("to"), flags.U64("amount", 1)};
            if (flags.status().ok() && args.to == context.sender)
              flags.Fail("to", "the sender cannot transfer to itself");
            return args;
          },
          [](const c::UbiTransferArgs& args) {
            return Json{{"to", Address(args.to)}, {"amount", args.amount}};
          }),
      Define<c::UbiBurnArgs>(
          {"ubi",
           "burn",
           "burn",
           "Destroy some of the sender's own tokens (any holder).",
           "cityctl tx ubi burn --amount 5 --from alice",
           {kAmountFlag}},
          [](Flags& flags, const TxContext&) { return c::UbiBurnArgs{flags.U64("amount", 1)}; },
          [](const c::UbiBurnArgs& args) {
            return Json{{"amount", args.amount}};
          }),
  };
}

// emr

const ArgSpec kPatientFlag = Required("patient", ArgType::kAccount, "the patient's account");
const ArgSpec kSelfPatientFlag =
    Optional("patient", ArgType::kAccount, "the patient's account (default: the sender)");
const ArgSpec kRecordFlag =
    Required("record", ArgType::kText, "the record's id, printable" + Limit(c::kMaxRecordIdLength));
// The choices are the words; the FHIR codes (e.g. TREAT) are accepted too.
ArgSpec PurposeFlag(std::string default_value) {
  return Choice("purpose", Words<std::string_view>(kPurposeWords),
                "the purpose of use (or its FHIR code, e.g. TREAT)", std::move(default_value));
}

c::GrantConsentArgs BuildGrant(Flags& flags, const TxContext& context) {
  c::GrantConsentArgs args;
  args.patient = flags.AccountOr("patient", context.sender);
  args.grantee = flags.Account("grantee");
  if (flags.status().ok() && args.grantee == args.patient)
    flags.Fail("grantee", "the patient needs no consent of their own");
  for (std::string& type : flags.List("types", kName, 1, c::kMaxConsentRecordTypes))
    args.record_types.push_back({std::move(type)});
  args.purpose = flags.Purpose("purpose");
  args.start_ms = flags.Has("start-ms") ? flags.U64("start-ms") : context.now_ms;
  if (flags.Has("days")) {
    flags.Scope("with --days", {}, {"end-ms"});
    const uint64_t days = flags.U64("days", 1);
    if (__builtin_mul_overflow(days, kDayMs, &args.end_ms) ||
        __builtin_add_overflow(args.end_ms, args.start_ms, &args.end_ms))
      flags.Fail("days", "too many days");
  } else if (flags.Has("end-ms")) {
    args.end_ms = flags.U64("end-ms");
    if (flags.status().ok() && args.end_ms <= args.start_ms)
      flags.Fail("end-ms", "must be after the start");
    if (flags.status().ok() && args.end_ms <= context.now_ms)
      flags.Fail("end-ms", "the period is already over");
  } else {
    flags.Error("--days or --end-ms is required");
  }
  args.permit = flags.Bool("deny") ? 0 : 1;
  return args;
}

Json RenderGrant(const c::GrantConsentArgs& args) {
  return {{"patient", Address(args.patient)},
          {"grantee", Address(args.grantee)},
          {"types", Texts(args.record_types, [](const c::RecordType& type) { return type.name; })},
          {"purpose", PurposeJson(args.purpose)},
          {"start-ms", args.start_ms},
          {"end-ms", args.end_ms},
          {"deny", args.permit == 0}};
}

std::vector<Entry> EmrMethods() {
  return {
      Define<c::AnchorArgs>(
          {"emr",
           "anchor",
           "anchor",
           "Anchor a medical record kept off-chain; the sender becomes its custodian "
           "(clinicians only).",
           "cityctl tx emr anchor --patient carol --record lab-2024-001 --type lab "
           "--content-hash " +
               std::string(64, 'a') +
               " --location https://records.example/lab-2024-001 --from clinic",
           {kPatientFlag, kRecordFlag,
            Required("type", ArgType::kText,
                     "the record type, a name (e.g. lab, imaging)" + Limit(ledger::kMaxNameLength)),
            Required("content-hash", ArgType::kHash,
                     "the hash of the record's content: 64 hex digits"),
            Required("location", ArgType::kText,
                     "where the custodian serves it (a URI), printable" +
                         Limit(c::kMaxLocationLength))}},
          [](Flags& flags, const TxContext& context) {
            c::AnchorArgs args{flags.Account("patient"), flags.Text("record", kRecordId),
                               flags.Text("type", kName), flags.Hash("content-hash"),
                               c::SealedText{}};
            args.location =
                SealedFlag(flags, "location", args.patient, context, c::kMaxLocationLength);
            return args;
          },
          [](const c::AnchorArgs& args) {
            return Json{{"patient", Address(args.patient)},
                        {"record", args.record_id},
                        {"type", args.record_type},
                        {"content-hash", args.content_hash.ToHex()},
                        {"location", SealedArgJson(args.location)}};
          }),
      Define<c::SetGuardianArgs>(
          {"emr",
           "set-guardian",
           "set_guardian",
           "Name a guardian who may grant and revoke consents for the patient "
           "(the patient only).",
           "cityctl tx emr set-guardian --guardian dave --from carol",
           {kSelfPatientFlag, Required("guardian", ArgType::kAccount, "the guardian's account")}},
          [](Flags& flags, const TxContext& context) {
            c::SetGuardianArgs args{flags.AccountOr("patient", context.sender),
                                    flags.Account("guardian")};
            if (flags.status().ok() && args.guardian == args.patient)
              flags.Fail("guardian", "a patient cannot be their own guardian");
            return args;
          },
          [](const c::SetGuardianArgs& args) {
            return Json{{"patient", Address(args.patient)}, {"guardian", Address(args.guardian)}};
          }),
      Define<c::RemoveGuardianArgs>(
          {"emr",
           "remove-guardian",
           "remove_guardian",
           "Remove the patient's guardian (the patient only).",
           "cityctl tx emr remove-guardian --from carol",
           {kSelfPatientFlag}},
          [](Flags& flags, const TxContext& context) {
            return c::RemoveGuardianArgs{flags.AccountOr("patient", context.sender)};
          },
          [](const c::RemoveGuardianArgs& args) {
            return Json{{"patient", Address(args.patient)}};
          }),
      Define<c::GrantConsentArgs>(
          {"emr",
           "grant",
           "grant_consent",
           "Consent to a grantee reading some record types for a purpose and a "
           "period (the patient or the guardian).",
           "cityctl tx emr grant --grantee clinic --types lab,imaging --purpose "
           "treatment --days 30 --from carol",
           {kSelfPatientFlag, Required("grantee", ArgType::kAccount, "who may read (city1...)"),
            Required("types", ArgType::kTextList,
                     "record types, comma-separated names (1..16, e.g. lab,imaging)"),
            PurposeFlag(""),
            Optional("days", ArgType::kU64, "the consent lasts this many days from its start"),
            Optional("start-ms", ArgType::kU64, "when it starts, Unix milliseconds (default: now)"),
            Optional("end-ms", ArgType::kU64,
                     "instead of --days: when it ends (exclusive), Unix milliseconds"),
            Optional("deny", ArgType::kBool,
                     "a deny consent: refuses what it names even where a permit allows", "false")}},
          BuildGrant, RenderGrant),
      OneNumber<c::RevokeConsentArgs>({"emr",
                                       "revoke",
                                       "revoke_consent",
                                       "Revoke a consent (the patient or the guardian).",
                                       "cityctl tx emr revoke --consent 7 --from carol",
                                       {Required("consent", ArgType::kU64, "the consent's id")}},
                                      &c::RevokeConsentArgs::consent_id),
      Define<c::AccessArgs>(
          {"emr",
           "access",
           "access",
           "Record reading a patient's record under a consent given to the sender "
           "(clinicians only).",
           "cityctl tx emr access --patient carol --record lab-2024-001 --consent 7 "
           "--from clinic",
           {kPatientFlag, kRecordFlag,
            Required("consent", ArgType::kU64, "the id of the consent relied on"),
            PurposeFlag("treatment")}},
          [](Flags& flags, const TxContext&) {
            return c::AccessArgs{flags.Account("patient"), flags.Text("record", kRecordId),
                                 flags.U64("consent"), flags.Purpose("purpose")};
          },
          [](const c::AccessArgs& args) {
            return Json{{"patient", Address(args.patient)},
                        {"record", args.record_id},
                        {"consent", args.consent_id},
                        {"purpose", PurposeJson(args.purpose)}};
          }),
      Define<c::BreakGlassArgs>(
          {"emr",
           "break-glass",
           "break_glass",
           "Emergency read of a record without consent, flagged for review "
           "(emergency role only).",
           "cityctl tx emr break-glass --patient carol --record lab-2024-001 "
           "--justification 'unconscious, allergy check' --from paramedic",
           {kPatientFlag, kRecordFlag,
            Required("justification", ArgType::kText,
                     "why, printable" + Limit(c::kMaxJustificationLength))}},
          [](Flags& flags, const TxContext& context) {
            c::BreakGlassArgs args{flags.Account("patient"), flags.Text("record", kRecordId),
                                   c::SealedText{}};
            args.justification = SealedFlag(flags, "justification", args.patient, context,
                                            c::kMaxJustificationLength);
            return args;
          },
          [](const c::BreakGlassArgs& args) {
            return Json{{"patient", Address(args.patient)},
                        {"record", args.record_id},
                        {"justification", SealedArgJson(args.justification)}};
          }),
      Define<c::ReviewArgs>(
          {"emr",
           "review",
           "review",
           "Record the review of a flagged break-glass access (auditors only).",
           "cityctl tx emr review --flag-id 0 --verdict justified --from auditor",
           {Required("flag-id", ArgType::kU64,
                     "the flagged access (its position in the flagged list, from 0)"),
            Choice("verdict", Words<uint8_t>(kVerdicts),
                   "whether the emergency access was justified"),
            Optional("note", ArgType::kText,
                     "a note, printable" + Limit(c::kMaxReviewNoteLength))}},
          [](Flags& flags, const TxContext&) {
            return c::ReviewArgs{
                flags.U64("flag-id"), flags.Choice("verdict", Words<uint8_t>(kVerdicts)),
                flags.Text("note", {TextKind::kPrintable, c::kMaxReviewNoteLength, true})};
          },
          [](const c::ReviewArgs& args) {
            return Json{{"flag-id", args.flag_id},
                        {"verdict", WordFor(Words<uint8_t>(kVerdicts), args.justified)},
                        {"note", args.note}};
          }),
  };
}

// logistics

const std::vector<ArgSpec> kEventFlags = {
    Optional("biz-step", ArgType::kText, "the CBV business step, e.g. shipping"),
    Optional("disposition", ArgType::kText, "the CBV disposition, e.g. in_transit"),
    Optional("read-point", ArgType::kText, "where it was seen: urn:epc:id:sgln:..."),
    Optional("biz-location", ArgType::kText, "where it is now: urn:epc:id:sgln:..."),
    Optional("document-hash", ArgType::kHash, "the hash of the full EPCIS document: 64 hex digits"),
};

c::EventFields ReadEventFields(Flags& flags) {
  const TextRule word{TextKind::kName, ledger::kMaxNameLength, true};
  const TextRule location{TextKind::kLocation, c::kMaxEpcLength, true};
  c::EventFields fields{flags.Text("biz-step", word), flags.Text("disposition", word),
                        flags.Text("read-point", location), flags.Text("biz-location", location),
                        std::nullopt};
  if (flags.Has("document-hash")) fields.document = c::DocumentHash{flags.Hash("document-hash")};
  return fields;
}

// The event fields given (the empty ones left out, as absent flags).
Json WithEventFields(Json out, const c::EventFields& fields) {
  const std::pair<const char*, const std::string*> texts[] = {
      {"biz-step", &fields.biz_step},
      {"disposition", &fields.disposition},
      {"read-point", &fields.read_point},
      {"biz-location", &fields.biz_location}};
  for (const auto& [flag, text] : texts) {
    if (!text->empty()) out[flag] = *text;
  }
  if (fields.document) out["document-hash"] = fields.document->hash.ToHex();
  return out;
}

// An EPCIS action as a word (every logistics method's actions are among these).
Json ActionWord(uint8_t action) { return WordFor(Words<uint8_t>(kAddObserveDelete), action); }

std::vector<ArgSpec> EpcsFlags(std::string flag, std::string help, size_t max) {
  return {Required(
      std::move(flag), ArgType::kTextList,
      std::move(help) + ": comma-separated EPC URIs (at most " + std::to_string(max) + ")")};
}
std::vector<c::Epc> ReadEpcs(Flags& flags, std::string_view flag, size_t min, size_t max) {
  return ToEpcs(flags.List(flag, kEpcRule, min, max));
}

const ArgSpec kEpcFlag = Required("epc", ArgType::kText, "the object's EPC URI");

// accept and cancel_offer take the same arguments.
Entry CustodyMethod(std::string command, std::string method, std::string summary,
                    std::string example) {
  return Define<c::CustodyArgs>(
      {"logistics",
       std::move(command),
       std::move(method),
       std::move(summary),
       std::move(example),
       {kEpcFlag}},
      [](Flags& flags, const TxContext&) { return c::CustodyArgs{flags.Text("epc", kEpcRule)}; },
      [](const c::CustodyArgs& args) {
        return Json{{"epc", args.epc.id}};
      });
}

c::AggregateArgs BuildAggregate(Flags& flags, const TxContext&) {
  c::AggregateArgs args;
  args.parent = flags.Text("parent", {TextKind::kContainer, c::kMaxEpcLength});
  args.action = flags.Choice("action", Words<uint8_t>(kAddDelete));
  const bool add = args.action == U8Of(c::EpcisAction::kAdd);
  if (add) flags.Scope("with --action add", {"children"}, {});
  args.children = ReadEpcs(flags, "children", add ? 1 : 0, c::kMaxEpcsPerEvent);
  args.fields = ReadEventFields(flags);
  return args;
}

c::TransformArgs BuildTransform(Flags& flags, const TxContext&) {
  c::TransformArgs args;
  args.inputs = ReadEpcs(flags, "inputs", 1, c::kMaxTransformEpcs);
  args.outputs = ReadEpcs(flags, "outputs", 1, c::kMaxTransformEpcs);
  for (const c::Epc& output : args.outputs) {
    if (std::find(args.inputs.begin(), args.inputs.end(), output) != args.inputs.end())
      flags.Fail("outputs", "'" + output.id + "' is also an input");
  }
  args.fields = ReadEventFields(flags);
  return args;
}

c::TransactArgs BuildTransact(Flags& flags, const TxContext&) {
  c::TransactArgs args;
  args.epcs = ReadEpcs(flags, "epcs", 1, c::kMaxEpcsPerEvent);
  args.action = flags.Choice("action", Words<uint8_t>(kAddObserveDelete));
  args.transaction.type = flags.Text("tx-type", kName);
  args.transaction.id = flags.Text("tx-id", {TextKind::kTransaction, c::kMaxEpcLength});
  args.fields = ReadEventFields(flags);
  return args;
}

std::vector<Entry> LogisticsMethods() {
  const std::string epc = "urn:epc:id:sgtin:0614141.107346.2018";
  const std::string pallet = "urn:epc:id:sscc:0614141.1234567890";
  return {
      Define<c::RegisterArgs>(
          {"logistics", "register", "register",
           "Commission new objects, held by the sender (custodians only).",
           "cityctl tx logistics register --epcs " + epc + "," + pallet +
               " --biz-step commissioning --from port",
           Concat(EpcsFlags("epcs", "the new objects", c::kMaxEpcsPerEvent), kEventFlags)},
          [](Flags& flags, const TxContext&) {
            return c::RegisterArgs{ReadEpcs(flags, "epcs", 1, c::kMaxEpcsPerEvent),
                                   ReadEventFields(flags)};
          },
          [](const c::RegisterArgs& args) {
            return WithEventFields({{"epcs", EpcList(args.epcs)}}, args.fields);
          }),
      Define<c::ObjectEventArgs>(
          {"logistics", "object-event", "object_event",
           "Observe objects, or decommission them (their holder, custodians only).",
           "cityctl tx logistics object-event --epcs " + epc +
               " --action observe --biz-step inspecting --from port",
           Concat(EpcsFlags("epcs", "the objects", c::kMaxEpcsPerEvent),
                  Concat({Choice("action", Words<uint8_t>(kObserveDelete),
                                 "observe, or delete (decommission)", "observe")},
                         kEventFlags))},
          [](Flags& flags, const TxContext&) {
            return c::ObjectEventArgs{ReadEpcs(flags, "epcs", 1, c::kMaxEpcsPerEvent),
                                      flags.Choice("action", Words<uint8_t>(kObserveDelete)),
                                      ReadEventFields(flags)};
          },
          [](const c::ObjectEventArgs& args) {
            return WithEventFields(
                {{"epcs", EpcList(args.epcs)}, {"action", ActionWord(args.action)}}, args.fields);
          }),
      Define<c::AggregateArgs>(
          {"logistics", "aggregate", "aggregate",
           "Pack objects into a container, or unpack them (the container's holder, "
           "custodians only).",
           "cityctl tx logistics aggregate --parent " + pallet + " --children " + epc +
               " --action add --biz-step packing --from port",
           Concat(
               {Required("parent", ArgType::kText, "the container's EPC URI (urn:epc:id:sscc:...)"),
                Optional("children", ArgType::kTextList,
                         "the objects, comma-separated EPC URIs (at most 256; with "
                         "--action delete, none means all)"),
                Choice("action", Words<uint8_t>(kAddDelete), "add (pack) or delete (unpack)",
                       "add")},
               kEventFlags)},
          BuildAggregate,
          [](const c::AggregateArgs& args) {
            return WithEventFields({{"parent", args.parent.id},
                                    {"children", EpcList(args.children)},
                                    {"action", ActionWord(args.action)}},
                                   args.fields);
          }),
      Define<c::TransformArgs>(
          {"logistics", "transform", "transform",
           "Consume input objects and commission the outputs made of them "
           "(custodians only).",
           "cityctl tx logistics transform --inputs " + epc +
               " --outputs urn:epc:id:sgtin:0614141.107346.2019 --from port",
           Concat(Concat(EpcsFlags("inputs", "the objects consumed", c::kMaxTransformEpcs),
                         EpcsFlags("outputs", "the objects made", c::kMaxTransformEpcs)),
                  kEventFlags)},
          BuildTransform,
          [](const c::TransformArgs& args) {
            return WithEventFields(
                {{"inputs", EpcList(args.inputs)}, {"outputs", EpcList(args.outputs)}},
                args.fields);
          }),
      Define<c::TransactArgs>(
          {"logistics", "transact", "transact",
           "Link objects to a business transaction, confirm or unlink it "
           "(custodians only).",
           "cityctl tx logistics transact --epcs " + epc +
               " --tx-type po --tx-id urn:epcglobal:cbv:bt:0614141073467:1152 --from port",
           Concat(EpcsFlags("epcs", "the objects", c::kMaxEpcsPerEvent),
                  Concat({Choice("action", Words<uint8_t>(kAddObserveDelete),
                                 "add (link), observe (confirm) or delete (unlink)", "add"),
                          Required("tx-type", ArgType::kText,
                                   "the CBV transaction type, e.g. po, inv, desadv"),
                          Required("tx-id", ArgType::kText,
                                   "the transaction's URI (urn:..., https://...)" +
                                       Limit(c::kMaxEpcLength))},
                         kEventFlags))},
          BuildTransact,
          [](const c::TransactArgs& args) {
            return WithEventFields({{"epcs", EpcList(args.epcs)},
                                    {"action", ActionWord(args.action)},
                                    {"tx-type", args.transaction.type},
                                    {"tx-id", args.transaction.id}},
                                   args.fields);
          }),
      Define<c::OfferArgs>(
          {"logistics",
           "offer",
           "offer",
           "Offer custody of an object (outside any container) to another custodian "
           "(its holder).",
           "cityctl tx logistics offer --epc " + pallet + " --to shipper --from port",
           {kEpcFlag, Required("to", ArgType::kAccount, "the receiving custodian")}},
          [](Flags& flags, const TxContext& context) {
            c::OfferArgs args{flags.Text("epc", kEpcRule), flags.Account("to")};
            if (flags.status().ok() && args.to == context.sender)
              flags.Fail("to", "the sender already holds it");
            return args;
          },
          [](const c::OfferArgs& args) {
            return Json{{"epc", args.epc.id}, {"to", Address(args.to)}};
          }),
      CustodyMethod("accept", "accept", "Accept custody offered to the sender.",
                    "cityctl tx logistics accept --epc " + pallet + " --from shipper"),
      CustodyMethod("cancel-offer", "cancel_offer",
                    "Withdraw a pending custody offer (its holder).",
                    "cityctl tx logistics cancel-offer --epc " + pallet + " --from port"),
  };
}

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> entries = [] {
    std::vector<Entry> all;
    for (auto group :
         {AccountsMethods, GovernanceMethods, UbiMethods, EmrMethods, LogisticsMethods}) {
      std::vector<Entry> more = group();
      std::move(more.begin(), more.end(), std::back_inserter(all));
    }
    return all;
  }();
  return entries;
}

std::string Hyphenated(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

const Entry* FindEntry(std::string_view contract, std::string_view command) {
  for (const Entry& entry : Entries()) {
    const MethodSpec& spec = entry.spec;
    if (spec.contract != contract) continue;
    if (spec.command == command || spec.method == command || Hyphenated(spec.method) == command)
      return &entry;
  }
  return nullptr;
}

}  // namespace

const std::vector<MethodSpec>& TxMethods() {
  static const std::vector<MethodSpec> specs = [] {
    std::vector<MethodSpec> out;
    for (const Entry& entry : Entries()) out.push_back(entry.spec);
    return out;
  }();
  return specs;
}

const MethodSpec* FindMethod(std::string_view contract, std::string_view command) {
  const Entry* entry = FindEntry(contract, command);
  if (entry == nullptr) return nullptr;
  for (const MethodSpec& spec : TxMethods()) {
    if (spec.contract == entry->spec.contract && spec.method == entry->spec.method) return &spec;
  }
  return nullptr;
}

Result<Json> DecodeArgsJson(std::string_view contract, std::string_view method, ByteSpan args) {
  const Entry* entry = FindEntry(contract, method);
  if (entry == nullptr) {
    return Status(ErrorCode::kNotFound,
                  "no method " + std::string(method) + " in contract " + std::string(contract));
  }
  return entry->render(args);
}

}  // namespace city::wallet
