// The transaction-builder table (wallet/methods.h): it covers every contract method, encodes
// what the flags say, names the flag in every error, renders arguments back as JSON, and
// what it encodes the real contracts accept.
#include "city/wallet/methods.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "city/contracts/city_contracts.h"
#include "city/crypto/address.h"
#include "city/crypto/private_file.h"
#include "city/wallet/person_key.h"
#include "support/contract_harness.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::wallet {
namespace {

namespace c = contracts;
namespace fs = std::filesystem;

const std::string kItem = "urn:epc:id:sgtin:0614141.107346.2018";
const std::string kItem2 = "urn:epc:id:sgtin:0614141.107346.2019";
const std::string kPallet = "urn:epc:id:sscc:0614141.1234567890";
const std::string kPlace = "urn:epc:id:sgln:0614141.00777.0";
const std::string kHashHex(64, 'a');
constexpr uint64_t kNow = 1'700'000'000'000;
constexpr uint64_t kTip = 50;

PublicKey Key(uint8_t fill) { return test::TestKey(fill).public_key(); }
std::string Addr(uint8_t fill) { return EncodeAddress(Key(fill)); }
TxContext Context(uint8_t sender = 1) { return {Key(sender), kNow, kTip, std::nullopt}; }

Result<Bytes> Encode(std::string_view contract, std::string_view command, const ArgValues& values,
                     const TxContext& context = Context()) {
  const MethodSpec* spec = FindMethod(contract, command);
  if (spec == nullptr) return Status(ErrorCode::kNotFound, "no such method");
  return spec->encode(values, context);
}

template <typename Args>
Args EncodeAs(std::string_view contract, std::string_view command, const ArgValues& values,
              const TxContext& context = Context()) {
  Result<Bytes> bytes = Encode(contract, command, values, context);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  if (!bytes.ok()) return Args{};
  Result<Args> args = ledger::Decode<Args>(bytes.value(), ledger::kMaxArgsBytes);
  EXPECT_TRUE(args.ok()) << args.status().ToString();
  return args.ok() ? args.value() : Args{};
}

// The message of a refused encoding ("" when it was accepted).
std::string ErrorOf(std::string_view contract, std::string_view command, const ArgValues& values,
                    const TxContext& context = Context()) {
  Result<Bytes> bytes = Encode(contract, command, values, context);
  if (bytes.ok()) return "";
  EXPECT_EQ(bytes.status().code(), ErrorCode::kInvalidArgument);
  return bytes.status().message();
}

// ---- the table ----

TEST(MethodsTable, CoversExactlyTheRegistryMethods) {
  const std::unique_ptr<c::Registry> registry = c::MakeCityRegistry();
  std::set<std::pair<std::string, std::string>> expected;
  for (const std::string& contract : registry->Names()) {
    for (const std::string& method : registry->Find(contract)->MethodNames())
      expected.insert({contract, method});
  }
  std::set<std::pair<std::string, std::string>> listed;
  for (const MethodSpec& spec : TxMethods()) {
    EXPECT_TRUE(listed.insert({spec.contract, spec.method}).second) << spec.method;
  }
  EXPECT_EQ(listed, expected);
}

TEST(MethodsTable, EntriesAreWellFormedAndFoundByCommandOrMethod) {
  for (const MethodSpec& spec : TxMethods()) {
    SCOPED_TRACE(spec.contract + " " + spec.command);
    EXPECT_EQ(FindMethod(spec.contract, spec.command), &spec);
    EXPECT_EQ(FindMethod(spec.contract, spec.method), &spec);
    EXPECT_EQ(spec.command.find('_'), std::string::npos);
    EXPECT_FALSE(spec.summary.empty());
    EXPECT_TRUE(spec.example.starts_with("cityctl tx " + spec.contract + " " + spec.command));
    EXPECT_TRUE(spec.encode);
    std::set<std::string> flags;
    for (const ArgSpec& arg : spec.args) {
      EXPECT_TRUE(flags.insert(arg.flag).second) << arg.flag;
      EXPECT_FALSE(arg.help.empty()) << arg.flag;
      EXPECT_TRUE(!arg.required || arg.default_value.empty()) << arg.flag;
      EXPECT_EQ(arg.type == ArgType::kChoice, !arg.choices.empty()) << arg.flag;
      if (!arg.default_value.empty() && arg.type == ArgType::kChoice) {
        EXPECT_NE(std::find(arg.choices.begin(), arg.choices.end(), arg.default_value),
                  arg.choices.end());
      }
    }
  }
  EXPECT_EQ(FindMethod("emr", "grant"), FindMethod("emr", "grant_consent"));
  EXPECT_EQ(FindMethod("emr", "break-glass"), FindMethod("emr", "break_glass"));
  EXPECT_EQ(FindMethod("emr", "revoke")->method, "revoke_consent");
  EXPECT_EQ(FindMethod("logistics", "cancel_offer")->command, "cancel-offer");
  EXPECT_EQ(FindMethod("ubi", "grant"), nullptr);
  EXPECT_EQ(FindMethod("nope", "transfer"), nullptr);
}

// Splits an example command line (single quotes group words).
std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool any = false;
  for (char ch : line) {
    if (ch == '\'') {
      quoted = !quoted;
      any = true;
    } else if (ch == ' ' && !quoted) {
      if (any) words.push_back(word);
      word.clear();
      any = false;
    } else {
      word += ch;
      any = true;
    }
  }
  if (any) words.push_back(word);
  return words;
}

TEST(MethodsTable, EveryExampleEncodes) {
  // Key names in the examples stand for test keys, as cityctl resolves them from its store.
  std::map<std::string, uint8_t> names;
  test::TempDir dir;
  auto key_of = [&](const std::string& name) {
    return Key(names.emplace(name, uint8_t(names.size() + 1)).first->second);
  };
  for (const MethodSpec& spec : TxMethods()) {
    SCOPED_TRACE(spec.example);
    const std::vector<std::string> words = Words(spec.example);
    ASSERT_GE(words.size(), 4u);
    ArgValues values;
    TxContext context = Context();
    for (size_t i = 4; i + 1 < words.size(); i += 2) {
      ASSERT_TRUE(words[i].starts_with("--"));
      const std::string flag = words[i].substr(2);
      if (flag == "from") {
        context.sender = key_of(words[i + 1]);
        continue;
      }
      auto arg = std::find_if(spec.args.begin(), spec.args.end(),
                              [&](const ArgSpec& a) { return a.flag == flag; });
      ASSERT_NE(arg, spec.args.end()) << flag;
      const bool account = arg->type == ArgType::kAccount && !words[i + 1].starts_with("city1");
      values[flag] = account ? EncodeAddress(key_of(words[i + 1])) : words[i + 1];
      if (flag == "person-key") {  // a file the example names: made here
        values[flag] = (dir.path() / words[i + 1]).string();
        if (!fs::exists(values[flag])) {
          ASSERT_TRUE(CreatePersonKey(values[flag]).ok());
        }
      }
    }
    Result<Bytes> bytes = spec.encode(values, context);
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  }
}

// ---- one representative flag set per method ----

struct Case {
  std::string contract;
  std::string command;
  ArgValues values;
};

std::vector<Case> Cases() {
  return {
      {"accounts", "enrol", {{"account", Addr(2)}}},
      {"accounts", "revoke", {{"account", Addr(3)}}},
      {"governance",
       "propose",
       {{"action", "grant-role"},
        {"role", "clinician"},
        {"account", Addr(2)},
        {"expiry-height", "900"}}},
      {"governance",
       "propose",
       {{"action", "set-param"},
        {"param", "ubi_amount"},
        {"value", "100"},
        {"expiry-height", "60"}}},
      {"governance",
       "propose",
       {{"action", "set-validators"},
        {"validators", Addr(3) + "," + Addr(4) + "," + Addr(5) + "," + Addr(6)},
        {"epoch", "2"},
        {"expiry-height", "70"}}},
      {"governance", "approve", {{"proposal", "3"}}},
      {"ubi", "register", {{"account", Addr(2)}, {"person-id", kHashHex}}},
      {"ubi", "suspend", {{"account", Addr(2)}}},
      {"ubi", "resume", {{"account", Addr(2)}}},
      {"ubi", "claim", {}},
      {"ubi", "transfer", {{"to", Addr(2)}, {"amount", "18446744073709551615"}}},
      {"ubi", "burn", {{"amount", "5"}}},
      {"emr",
       "anchor",
       {{"patient", Addr(3)},
        {"record", "lab-1"},
        {"type", "lab"},
        {"content-hash", kHashHex},
        {"location", "https://records.example/lab-1"}}},
      {"emr", "set-guardian", {{"patient", Addr(3)}, {"guardian", Addr(5)}}},
      {"emr", "remove-guardian", {{"patient", Addr(3)}}},
      {"emr",
       "grant",
       {{"patient", Addr(3)},
        {"grantee", Addr(4)},
        {"types", "lab,imaging"},
        {"purpose", "research"},
        {"start-ms", "1000"},
        {"end-ms", "2000000000000"},
        {"deny", "true"}}},
      {"emr", "revoke", {{"consent", "7"}}},
      {"emr",
       "access",
       {{"patient", Addr(3)}, {"record", "lab-1"}, {"consent", "7"}, {"purpose", "emergency"}}},
      {"emr",
       "break-glass",
       {{"patient", Addr(3)}, {"record", "lab-1"}, {"justification", "unconscious, no ID"}}},
      {"emr", "review", {{"flag-id", "0"}, {"verdict", "unjustified"}, {"note", "no emergency"}}},
      {"logistics",
       "register",
       {{"epcs", kItem + "," + kPallet},
        {"biz-step", "commissioning"},
        {"disposition", "active"},
        {"read-point", kPlace},
        {"biz-location", kPlace},
        {"document-hash", kHashHex}}},
      {"logistics", "object-event", {{"epcs", kItem}, {"action", "delete"}}},
      {"logistics",
       "aggregate",
       {{"parent", kPallet}, {"children", kItem + "," + kItem2}, {"action", "add"}}},
      {"logistics",
       "transform",
       {{"inputs", kItem}, {"outputs", kItem2}, {"biz-step", "transforming"}}},
      {"logistics",
       "transact",
       {{"epcs", kItem},
        {"action", "observe"},
        {"tx-type", "po"},
        {"tx-id", "urn:epcglobal:cbv:bt:0614141073467:1152"}}},
      {"logistics", "offer", {{"epc", kPallet}, {"to", Addr(6)}}},
      {"logistics", "accept", {{"epc", kPallet}}},
      {"logistics", "cancel-offer", {{"epc", kPallet}}},
  };
}

// A JSON value as the flag text that gives it.
std::string FlagText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_array()) {
    std::string joined;
    for (const Json& item : value) joined += (joined.empty() ? "" : ",") + FlagText(item);
    return joined;
  }
  return value.dump();
}

TEST(MethodsCases, CoverEveryMethod) {
  std::set<std::string> covered;
  for (const Case& test_case : Cases())
    covered.insert(test_case.contract + "." + test_case.command);
  EXPECT_EQ(covered.size(), TxMethods().size());
}

TEST(MethodsCases, DecodeArgsJsonRoundTripsTheFlags) {
  for (const Case& test_case : Cases()) {
    SCOPED_TRACE(test_case.contract + " " + test_case.command);
    const MethodSpec* spec = FindMethod(test_case.contract, test_case.command);
    ASSERT_NE(spec, nullptr);
    Result<Bytes> bytes = spec->encode(test_case.values, Context());
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    Result<Json> json = DecodeArgsJson(spec->contract, spec->method, bytes.value());
    ASSERT_TRUE(json.ok()) << json.status().ToString();
    ASSERT_TRUE(json->is_object());
    // Sealed text shows whom it is sealed to, never the text, and seals differently each
    // time: it cannot round-trip.
    bool sealed = false;
    for (const auto& [flag, value] : test_case.values) {
      ASSERT_TRUE(json->contains(flag)) << flag << " in " << json->dump();
      if ((*json)[flag].is_object() && (*json)[flag].contains("sealed_to_patient_bytes")) {
        sealed = true;
        EXPECT_EQ(json->dump().find(value), std::string::npos) << flag << ": " << json->dump();
        continue;
      }
      EXPECT_EQ(FlagText((*json)[flag]), value) << flag;
    }
    if (sealed) continue;
    // The JSON, given back as flags, encodes the same bytes.
    ArgValues again;
    for (const auto& [flag, value] : json->items()) again[flag] = FlagText(value);
    Result<Bytes> bytes_again = spec->encode(again, Context());
    ASSERT_TRUE(bytes_again.ok()) << bytes_again.status().ToString();
    EXPECT_EQ(bytes_again.value(), bytes.value());
  }
}

TEST(MethodsCases, DecodeArgsJsonRefusesUnknownMethodsAndBadBytes) {
  const Bytes transfer = c::EncodeArgs(c::UbiTransferArgs{Key(2), 5});
  EXPECT_EQ(DecodeArgsJson("ubi", "mint", transfer).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(DecodeArgsJson("bank", "transfer", transfer).status().code(), ErrorCode::kNotFound);
  Bytes truncated(transfer.begin(), transfer.end() - 1);
  EXPECT_EQ(DecodeArgsJson("ubi", "transfer", truncated).status().code(), ErrorCode::kMalformed);
  Bytes trailing = transfer;
  trailing.push_back(0);
  EXPECT_EQ(DecodeArgsJson("ubi", "transfer", trailing).status().code(), ErrorCode::kMalformed);
  EXPECT_EQ(DecodeArgsJson("ubi", "transfer", {}).status().code(), ErrorCode::kMalformed);
}

TEST(MethodsCases, DecodeArgsJsonShowsUnknownCodesAsNumbers) {
  c::ObjectEventArgs args;
  args.epcs = {kItem};
  args.action = 9;
  Result<Json> json = DecodeArgsJson("logistics", "object_event", c::EncodeArgs(args));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["action"], 9);
  c::ProposeArgs propose;
  propose.action.kind = 7;
  propose.action.name = "x";
  json = DecodeArgsJson("governance", "propose", c::EncodeArgs(propose));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["action"], 7);
  EXPECT_EQ((*json)["name"], "x");
}

// ---- fields, method by method ----

TEST(MethodsGovernance, ProposeEncodesEachAction) {
  c::ProposeArgs grant = EncodeAs<c::ProposeArgs>(
      "governance", "propose",
      {{"action", "grant-role"}, {"role", "registrar"}, {"account", Addr(2)}});
  EXPECT_EQ(grant.action.kind, uint8_t(c::ActionKind::kGrantRole));
  EXPECT_EQ(grant.action.name, "registrar");
  EXPECT_EQ(grant.action.account, Key(2));
  EXPECT_EQ(grant.expiry_height, kTip + 1000);  // the default

  c::ProposeArgs revoke = EncodeAs<c::ProposeArgs>("governance", "propose",
                                                   {{"action", "revoke-role"},
                                                    {"role", "council"},
                                                    {"account", Addr(3)},
                                                    {"expiry-height", "51"}});
  EXPECT_EQ(revoke.action.kind, uint8_t(c::ActionKind::kRevokeRole));
  EXPECT_EQ(revoke.action.account, Key(3));
  EXPECT_EQ(revoke.expiry_height, 51u);

  c::ProposeArgs param = EncodeAs<c::ProposeArgs>(
      "governance", "propose", {{"action", "set-param"}, {"param", "ubi_amount"}, {"value", "0"}});
  EXPECT_EQ(param.action.kind, uint8_t(c::ActionKind::kSetParameter));
  EXPECT_EQ(param.action.name, "ubi_amount");
  EXPECT_EQ(param.action.value, 0u);

  c::ProposeArgs validators = EncodeAs<c::ProposeArgs>(
      "governance", "propose",
      {{"action", "set-validators"},
       {"validators", Addr(3) + ", " + Addr(4) + "," + Addr(5) + "," + Addr(6)},
       {"epoch", "4"}});
  EXPECT_EQ(validators.action.kind, uint8_t(c::ActionKind::kSetValidators));
  EXPECT_EQ(validators.action.validators, (std::vector<PublicKey>{Key(3), Key(4), Key(5), Key(6)}));
  EXPECT_EQ(validators.action.value, 4u);

  EXPECT_EQ(EncodeAs<c::ApproveArgs>("governance", "approve", {{"proposal", "12"}}).proposal, 12u);
}

TEST(MethodsGovernance, ProposeRefusesFlagsOfAnotherAction) {
  EXPECT_EQ(ErrorOf("governance", "propose", {{"action", "grant-role"}, {"role", "clinician"}}),
            "--account is required with --action grant-role");
  EXPECT_EQ(ErrorOf("governance", "propose",
                    {{"action", "set-param"}, {"param", "x"}, {"value", "1"}, {"role", "admin"}}),
            "--role: not used with --action set-param");
  const std::string four = Addr(3) + "," + Addr(4) + "," + Addr(5) + "," + Addr(6);
  EXPECT_EQ(ErrorOf("governance", "propose",
                    {{"action", "set-validators"}, {"validators", four}, {"epoch", "0"}}),
            "--epoch: must be at least 1");
  EXPECT_EQ(ErrorOf("governance", "propose",
                    {{"action", "set-validators"}, {"validators", Addr(3) + "," + Addr(4)}}),
            "--validators: a set of 2 validators; at least 4 are needed to tolerate a faulty one");
  EXPECT_EQ(
      ErrorOf(
          "governance", "propose",
          {{"action", "set-validators"}, {"validators", Addr(3) + "," + Addr(3)}, {"epoch", "1"}}),
      "--validators: '" + Addr(3) + "' is listed twice");
  EXPECT_EQ(
      ErrorOf("governance", "propose",
              {{"action", "set-param"}, {"param", "x"}, {"value", "1"}, {"expiry-height", "50"}}),
      "--expiry-height: must be above the chain's height 50");
  EXPECT_EQ(ErrorOf("governance", "propose",
                    {{"action", "grant-role"}, {"role", "Not A Name"}, {"account", Addr(2)}}),
            "--role: 'Not A Name' is not a name (a-z, 0-9 and _, starting with a letter, at most "
            "32)");
  EXPECT_EQ(ErrorOf("governance", "propose", {{"action", "dissolve"}}),
            "--action: unknown value 'dissolve' (one of: grant-role, revoke-role, set-param, "
            "set-validators, set-sealing-key)");
}

TEST(MethodsUbi, EncodesEveryMethod) {
  c::UbiRegisterArgs by_id = EncodeAs<c::UbiRegisterArgs>(
      "ubi", "register", {{"account", Addr(2)}, {"person-id", kHashHex}});
  EXPECT_EQ(by_id.account, Key(2));
  EXPECT_EQ(by_id.person_id.ToHex(), kHashHex);
  test::TempDir dir;
  const std::string office = (dir.path() / "office.pkey").string();
  const std::string other_office = (dir.path() / "other.pkey").string();
  ASSERT_TRUE(wallet::CreatePersonKey(office).ok());
  ASSERT_TRUE(wallet::CreatePersonKey(other_office).ok());
  auto person_id = [&](const std::string& text, const std::string& key_file) {
    return EncodeAs<c::UbiRegisterArgs>(
               "ubi", "register",
               {{"account", Addr(2)}, {"person", text}, {"person-key", key_file}})
        .person_id;
  };
  const Hash256 by_text = person_id("passport P1234567", office);
  Result<Bytes> office_key = wallet::ReadPersonKey(office);
  ASSERT_TRUE(office_key.ok()) << office_key.status().ToString();
  EXPECT_EQ(by_text, c::PersonIdFor(*office_key, "passport P1234567"));
  EXPECT_EQ(person_id("passport P1234567", office), by_text) << "one person, one id";
  EXPECT_NE(person_id("passport P1234568", office), by_text);
  // Without the office's key the id cannot be found again from the text.
  EXPECT_NE(person_id("passport P1234567", other_office), by_text);
  EXPECT_NE(by_text, TaggedHash("city.ubi.person.v1", AsBytes("passport P1234567")));
  EXPECT_NE(by_text, TaggedHash(c::kPersonIdTag, AsBytes("passport P1234567")));

  EXPECT_EQ(EncodeAs<c::UbiCitizenArgs>("ubi", "suspend", {{"account", Addr(4)}}).account, Key(4));
  EXPECT_EQ(EncodeAs<c::UbiCitizenArgs>("ubi", "resume", {{"account", Addr(5)}}).account, Key(5));
  Result<Bytes> claim = Encode("ubi", "claim", {});
  ASSERT_TRUE(claim.ok());
  EXPECT_EQ(claim.value(), c::EncodeArgs(c::UbiClaimArgs{}));

  c::UbiTransferArgs transfer =
      EncodeAs<c::UbiTransferArgs>("ubi", "transfer", {{"to", Addr(2)}, {"amount", "10"}});
  EXPECT_EQ(transfer.to, Key(2));
  EXPECT_EQ(transfer.amount, 10u);
  EXPECT_EQ(EncodeAs<c::UbiBurnArgs>("ubi", "burn", {{"amount", "7"}}).amount, 7u);
}

TEST(MethodsUbi, RefusesBadValuesNamingTheFlag) {
  EXPECT_EQ(ErrorOf("ubi", "register", {{"account", Addr(2)}}),
            "--person-id or --person is required");
  EXPECT_EQ(
      ErrorOf(
          "ubi", "register",
          {{"account", Addr(2)}, {"person", "x"}, {"person-key", "k"}, {"person-id", kHashHex}}),
      "--person-id: not used with --person");
  EXPECT_EQ(ErrorOf("ubi", "register", {{"account", Addr(2)}, {"person", "x"}}),
            "--person-key is required with --person");
  test::TempDir dir;
  const fs::path loose = dir.path() / "loose.pkey";
  ASSERT_TRUE(wallet::CreatePersonKey(loose).ok());
  EXPECT_EQ(wallet::CreatePersonKey(loose).code(), ErrorCode::kAlreadyExists) << "never overwrites";
  fs::permissions(loose, fs::perms::group_read, fs::perm_options::add);
  EXPECT_NE(ErrorOf("ubi", "register",
                    {{"account", Addr(2)}, {"person", "x"}, {"person-key", loose.string()}})
                .find("--person-key: "),
            std::string::npos)
      << "a key file others may read is refused";
  const fs::path garbage = dir.path() / "garbage.pkey";
  ASSERT_TRUE(WriteNewFile(garbage, "not hex\n", 0600).ok());
  EXPECT_EQ(wallet::ReadPersonKey(garbage).status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(wallet::ReadPersonKey(dir.path() / "absent").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorOf("ubi", "register", {{"account", Addr(2)}, {"person-id", "abcd"}}),
            "--person-id: expected 64 hex digits");
  EXPECT_EQ(ErrorOf("ubi", "register", {{"account", Addr(2)}, {"person-id", std::string(64, '0')}}),
            "--person-id: must not be zero");
  EXPECT_EQ(ErrorOf("ubi", "transfer", {{"to", Addr(2)}, {"amount", "0"}}),
            "--amount: must be at least 1");
  EXPECT_EQ(ErrorOf("ubi", "transfer", {{"to", Addr(1)}, {"amount", "1"}}),
            "--to: the sender cannot transfer to itself");
  EXPECT_EQ(ErrorOf("ubi", "claim", {{"amount", "1"}}), "unknown flag --amount");
}

TEST(MethodsEmr, GrantUsesTheSenderTheWordsAndTheDays) {
  c::GrantConsentArgs grant = EncodeAs<c::GrantConsentArgs>(
      "emr", "grant",
      {{"grantee", Addr(4)}, {"types", "lab,imaging"}, {"purpose", "treatment"}, {"days", "30"}},
      Context(3));
  EXPECT_EQ(grant.patient, Key(3));  // the sender
  EXPECT_EQ(grant.grantee, Key(4));
  ASSERT_EQ(grant.record_types.size(), 2u);
  EXPECT_EQ(grant.record_types[0].name, "lab");
  EXPECT_EQ(grant.record_types[1].name, "imaging");
  EXPECT_EQ(grant.purpose, "TREAT");
  EXPECT_EQ(grant.start_ms, kNow);
  EXPECT_EQ(grant.end_ms, kNow + 30 * 86'400'000ull);
  EXPECT_EQ(grant.permit, 1);

  c::GrantConsentArgs deny = EncodeAs<c::GrantConsentArgs>("emr", "grant",
                                                           {{"patient", Addr(5)},
                                                            {"grantee", Addr(4)},
                                                            {"types", "genetic"},
                                                            {"purpose", "hresch"},
                                                            {"start-ms", "100"},
                                                            {"end-ms", "2000000000000"},
                                                            {"deny", ""}});
  EXPECT_EQ(deny.patient, Key(5));
  EXPECT_EQ(deny.purpose, "HRESCH");  // a code, in any case
  EXPECT_EQ(deny.start_ms, 100u);
  EXPECT_EQ(deny.end_ms, 2'000'000'000'000u);
  EXPECT_EQ(deny.permit, 0);  // a flag given without a value is true
}

TEST(MethodsEmr, GrantRefusesBadPeriodsAndPurposes) {
  const ArgValues base = {{"grantee", Addr(4)}, {"types", "lab"}, {"purpose", "treatment"}};
  auto with = [&](ArgValues extra) {
    extra.insert(base.begin(), base.end());
    return ErrorOf("emr", "grant", extra, Context(3));
  };
  EXPECT_EQ(with({}), "--days or --end-ms is required");
  EXPECT_EQ(with({{"days", "0"}}), "--days: must be at least 1");
  EXPECT_EQ(with({{"days", "99999999999999"}}), "--days: too many days");
  EXPECT_EQ(with({{"days", "1"}, {"end-ms", "5"}}), "--end-ms: not used with --days");
  EXPECT_EQ(with({{"start-ms", "10"}, {"end-ms", "10"}}), "--end-ms: must be after the start");
  EXPECT_EQ(with({{"start-ms", "10"}, {"end-ms", "20"}}), "--end-ms: the period is already over");
  EXPECT_EQ(with({{"days", "1"}, {"deny", "maybe"}}), "--deny: expected true or false");
  EXPECT_EQ(
      ErrorOf("emr", "grant",
              {{"grantee", Addr(3)}, {"types", "lab"}, {"purpose", "treatment"}, {"days", "1"}},
              Context(3)),
      "--grantee: the patient needs no consent of their own");
  EXPECT_EQ(
      ErrorOf(
          "emr", "grant",
          {{"grantee", Addr(4)}, {"types", "lab,lab"}, {"purpose", "treatment"}, {"days", "1"}}),
      "--types: 'lab' is listed twice");
  EXPECT_EQ(
      ErrorOf("emr", "grant",
              {{"grantee", Addr(4)}, {"types", "lab,,x"}, {"purpose", "treatment"}, {"days", "1"}}),
      "--types: an item of the list is empty");
  std::string seventeen = "t0";
  for (int i = 1; i < 17; ++i) seventeen += ",t" + std::to_string(i);
  EXPECT_EQ(
      ErrorOf(
          "emr", "grant",
          {{"grantee", Addr(4)}, {"types", seventeen}, {"purpose", "treatment"}, {"days", "1"}}),
      "--types: expected 1..16 items, got 17");
  const std::string purpose_error = ErrorOf(
      "emr", "grant", {{"grantee", Addr(4)}, {"types", "lab"}, {"purpose", "x"}, {"days", "1"}});
  EXPECT_TRUE(purpose_error.starts_with("--purpose: unknown purpose 'x' (one of: treatment, "))
      << purpose_error;
}

TEST(MethodsEmr, EncodesTheOtherMethods) {
  c::AnchorArgs anchor = EncodeAs<c::AnchorArgs>("emr", "anchor",
                                                 {{"patient", Addr(3)},
                                                  {"record", "r-1"},
                                                  {"type", "imaging"},
                                                  {"content-hash", kHashHex},
                                                  {"location", "https://h.example/r-1"}});
  EXPECT_EQ(anchor.patient, Key(3));
  EXPECT_EQ(anchor.record_id, "r-1");
  EXPECT_EQ(anchor.record_type, "imaging");
  EXPECT_EQ(anchor.content_hash.ToHex(), kHashHex);
  EXPECT_EQ(c::OpenSealedText(anchor.location, test::TestKey(3)).value(), "https://h.example/r-1")
      << "sealed to the patient";
  EXPECT_TRUE(anchor.location.auditor.IsZero()) << "no auditor key was published";

  c::SetGuardianArgs guardian =
      EncodeAs<c::SetGuardianArgs>("emr", "set-guardian", {{"guardian", Addr(5)}}, Context(3));
  EXPECT_EQ(guardian.patient, Key(3));
  EXPECT_EQ(guardian.guardian, Key(5));
  EXPECT_EQ(EncodeAs<c::RemoveGuardianArgs>("emr", "remove-guardian", {}, Context(3)).patient,
            Key(3));
  EXPECT_EQ(EncodeAs<c::RevokeConsentArgs>("emr", "revoke", {{"consent", "9"}}).consent_id, 9u);

  c::AccessArgs access = EncodeAs<c::AccessArgs>(
      "emr", "access", {{"patient", Addr(3)}, {"record", "r-1"}, {"consent", "2"}});
  EXPECT_EQ(access.patient, Key(3));
  EXPECT_EQ(access.record_id, "r-1");
  EXPECT_EQ(access.consent_id, 2u);
  EXPECT_EQ(access.purpose, "TREAT");  // the default

  c::BreakGlassArgs glass = EncodeAs<c::BreakGlassArgs>(
      "emr", "break_glass", {{"patient", Addr(3)}, {"record", "r-1"}, {"justification", "coma"}});
  EXPECT_EQ(c::OpenSealedText(glass.justification, test::TestKey(3)).value(), "coma");
  // With the auditor's published key, the auditor opens its own copy.
  TxContext with_auditor = Context();
  with_auditor.auditor_sealing_key = Key(9);
  c::BreakGlassArgs audited = EncodeAs<c::BreakGlassArgs>(
      "emr", "break_glass", {{"patient", Addr(3)}, {"record", "r-1"}, {"justification", "coma"}},
      with_auditor);
  EXPECT_EQ(audited.justification.auditor, Key(9));
  EXPECT_EQ(c::OpenSealedText(audited.justification, test::TestKey(9)).value(), "coma");
  EXPECT_FALSE(c::OpenSealedText(audited.justification, test::TestKey(4)).ok());

  c::ReviewArgs review =
      EncodeAs<c::ReviewArgs>("emr", "review", {{"flag-id", "4"}, {"verdict", "justified"}});
  EXPECT_EQ(review.flag_id, 4u);
  EXPECT_EQ(review.justified, 1);
  EXPECT_EQ(review.note, "");
}

TEST(MethodsEmr, RefusesBadTextNamingTheFlag) {
  const ArgValues anchor = {{"patient", Addr(3)},
                            {"record", "r-1"},
                            {"type", "lab"},
                            {"content-hash", kHashHex},
                            {"location", "https://h.example"}};
  auto changed = [&](const std::string& flag, const std::string& value) {
    ArgValues values = anchor;
    values[flag] = value;
    return ErrorOf("emr", "anchor", values);
  };
  EXPECT_EQ(changed("record", std::string(65, 'r')), "--record: at most 64 characters");
  EXPECT_EQ(changed("record", "tab\there"), "--record: printable ASCII characters only");
  EXPECT_EQ(changed("record", ""), "--record: must not be empty");
  EXPECT_EQ(changed("location", std::string(257, 'l')), "--location: at most 256 characters");
  EXPECT_EQ(changed("content-hash", kHashHex + "aa"), "--content-hash: expected 64 hex digits");
  EXPECT_EQ(changed("content-hash", std::string(64, 'g')),
            "--content-hash: expected 64 hex digits");
  EXPECT_EQ(
      ErrorOf("emr", "break-glass",
              {{"patient", Addr(3)}, {"record", "r"}, {"justification", std::string(513, 'j')}}),
      "--justification: at most 512 characters");
  EXPECT_EQ(ErrorOf("emr", "review",
                    {{"flag-id", "0"}, {"verdict", "justified"}, {"note", std::string(513, 'n')}}),
            "--note: at most 512 characters");
  EXPECT_EQ(ErrorOf("emr", "set-guardian", {{"guardian", Addr(3)}}, Context(3)),
            "--guardian: a patient cannot be their own guardian");
}

TEST(MethodsLogistics, EncodesEveryMethod) {
  c::RegisterArgs registered = EncodeAs<c::RegisterArgs>("logistics", "register",
                                                         {{"epcs", kItem + "," + kPallet},
                                                          {"biz-step", "commissioning"},
                                                          {"read-point", kPlace},
                                                          {"document-hash", kHashHex}});
  EXPECT_EQ(registered.epcs, (std::vector<c::Epc>{kItem, kPallet}));
  EXPECT_EQ(registered.fields.biz_step, "commissioning");
  EXPECT_EQ(registered.fields.disposition, "");
  EXPECT_EQ(registered.fields.read_point, kPlace);
  ASSERT_TRUE(registered.fields.document.has_value());
  EXPECT_EQ(registered.fields.document->hash.ToHex(), kHashHex);

  c::ObjectEventArgs observed =
      EncodeAs<c::ObjectEventArgs>("logistics", "object-event", {{"epcs", kItem}});
  EXPECT_EQ(observed.action, uint8_t(c::EpcisAction::kObserve));  // the default
  EXPECT_FALSE(observed.fields.document.has_value());

  c::AggregateArgs unpack = EncodeAs<c::AggregateArgs>("logistics", "aggregate",
                                                       {{"parent", kPallet}, {"action", "delete"}});
  EXPECT_EQ(unpack.parent.id, kPallet);
  EXPECT_TRUE(unpack.children.empty());
  EXPECT_EQ(unpack.action, uint8_t(c::EpcisAction::kDelete));

  c::TransformArgs transform = EncodeAs<c::TransformArgs>("logistics", "transform",
                                                          {{"inputs", kItem}, {"outputs", kItem2}});
  EXPECT_EQ(transform.inputs, (std::vector<c::Epc>{kItem}));
  EXPECT_EQ(transform.outputs, (std::vector<c::Epc>{kItem2}));

  c::TransactArgs transact = EncodeAs<c::TransactArgs>(
      "logistics", "transact",
      {{"epcs", kItem}, {"tx-type", "inv"}, {"tx-id", "https://erp.example/inv/1"}});
  EXPECT_EQ(transact.action, uint8_t(c::EpcisAction::kAdd));
  EXPECT_EQ(transact.transaction.type, "inv");
  EXPECT_EQ(transact.transaction.id, "https://erp.example/inv/1");

  c::OfferArgs offer =
      EncodeAs<c::OfferArgs>("logistics", "offer", {{"epc", kPallet}, {"to", Addr(6)}});
  EXPECT_EQ(offer.epc.id, kPallet);
  EXPECT_EQ(offer.to, Key(6));
  EXPECT_EQ(EncodeAs<c::CustodyArgs>("logistics", "accept", {{"epc", kItem}}).epc.id, kItem);
  EXPECT_EQ(EncodeAs<c::CustodyArgs>("logistics", "cancel-offer", {{"epc", kItem}}).epc.id, kItem);
}

TEST(MethodsLogistics, RefusesBadEpcsAndFields) {
  EXPECT_EQ(
      ErrorOf("logistics", "register", {{"epcs", kItem + ",urn:epc:id:pallet:1"}}),
      "--epcs: 'urn:epc:id:pallet:1' is not an EPC URI (urn:epc:id:{sgtin,sscc,grai,giai}:...)");
  EXPECT_EQ(ErrorOf("logistics", "register", {{"epcs", kItem + "," + kItem}}),
            "--epcs: '" + kItem + "' is listed twice");
  EXPECT_EQ(ErrorOf("logistics", "register", {{"epcs", kItem}, {"biz-step", "Shipping"}}),
            "--biz-step: 'Shipping' is not a name (a-z, 0-9 and _, starting with a letter, at "
            "most 32)");
  EXPECT_EQ(ErrorOf("logistics", "register", {{"epcs", kItem}, {"read-point", "dock 4"}}),
            "--read-point: 'dock 4' is not a location URI (urn:epc:id:sgln:...)");
  EXPECT_EQ(ErrorOf("logistics", "aggregate", {{"parent", kItem}, {"children", kItem2}}),
            "--parent: '" + kItem + "' is not a container (urn:epc:id:sscc:...)");
  EXPECT_EQ(ErrorOf("logistics", "aggregate", {{"parent", kPallet}}),
            "--children is required with --action add");
  EXPECT_EQ(ErrorOf("logistics", "object-event", {{"epcs", kItem}, {"action", "add"}}),
            "--action: unknown value 'add' (one of: observe, delete)");
  EXPECT_EQ(ErrorOf("logistics", "transform", {{"inputs", kItem}, {"outputs", kItem}}),
            "--outputs: '" + kItem + "' is also an input");
  EXPECT_EQ(
      ErrorOf("logistics", "transact", {{"epcs", kItem}, {"tx-type", "po"}, {"tx-id", "po 17"}}),
      "--tx-id: 'po 17' is not a transaction URI (urn:..., http(s)://... of "
      "A-Za-z0-9.:/_-)");
  EXPECT_EQ(ErrorOf("logistics", "offer", {{"epc", std::string(129, 'x')}, {"to", Addr(6)}}),
            "--epc: at most 128 characters");
  std::string many = kItem;
  for (int i = 0; i < 64; ++i) many += ",urn:epc:id:sgtin:1.2." + std::to_string(i);
  EXPECT_EQ(ErrorOf("logistics", "transform", {{"inputs", many}, {"outputs", kItem2}}),
            "--inputs: expected 1..64 items, got 65");
}

// ---- errors every method shares ----

TEST(MethodsErrors, NameTheFlag) {
  std::string flipped = Addr(2);
  flipped[10] = flipped[10] == 'q' ? 'p' : 'q';
  const std::string checksum = ErrorOf("ubi", "transfer", {{"to", flipped}, {"amount", "1"}});
  EXPECT_TRUE(checksum.starts_with("--to: invalid address: checksum")) << checksum;
  EXPECT_TRUE(ErrorOf("ubi", "transfer", {{"to", "bob"}, {"amount", "1"}}).starts_with("--to: "));

  const std::string number = "--amount: expected a whole number 0..18446744073709551615";
  for (const char* bad : {"ten", "", "-1", "+1", "1.5", "1e3", " 1", "18446744073709551616"}) {
    EXPECT_EQ(ErrorOf("ubi", "transfer", {{"to", Addr(2)}, {"amount", bad}}), number) << bad;
  }
  EXPECT_EQ(ErrorOf("ubi", "transfer", {{"amount", "1"}}), "--to is required");
  EXPECT_EQ(ErrorOf("ubi", "transfer", {{"to", Addr(2)}, {"amount", "1"}, {"foo", "x"}}),
            "unknown flag --foo");
  EXPECT_EQ(ErrorOf("emr", "access",
                    {{"patient", Addr(3)}, {"record", "r"}, {"consent", "1"}, {"purpose", "fun"}})
                .substr(0, 32),
            "--purpose: unknown purpose 'fun'");
}

TEST(MethodsErrors, EveryRequiredFlagIsReportedMissing) {
  for (const Case& test_case : Cases()) {
    const MethodSpec* spec = FindMethod(test_case.contract, test_case.command);
    for (const ArgSpec& arg : spec->args) {
      if (!arg.required) continue;
      ArgValues values = test_case.values;
      values.erase(arg.flag);
      EXPECT_EQ(spec->encode(values, Context()).status().message(),
                "--" + arg.flag + " is required")
          << spec->command;
    }
  }
}

// ---- the contracts accept what the table encodes ----

class MethodsOnChain : public ::testing::Test {
 protected:
  // alice (1) and bob (2): council; alice the registrar; carol (3) a patient; clinic (4);
  // dave (5) a guardian; port (6) and shipper (7) custodians; paramedic (8); auditor (9).
  MethodsOnChain() : harness_(c::MakeCityRegistry(), Genesis()) {}

  static std::vector<ledger::StateWrite> Genesis() {
    c::CityGenesis genesis;
    genesis.governance.council = {Key(1), Key(2)};
    genesis.governance.threshold = 2;
    genesis.governance.roles = {{"registrar", Key(1)}, {"clinician", Key(4)}, {"custodian", Key(6)},
                                {"custodian", Key(7)}, {"emergency", Key(8)}, {"auditor", Key(9)}};
    genesis.governance.params = {
        {"ubi_amount", 100}, {"ubi_period_ms", 1000}, {"ubi_max_periods", 10}};
    genesis.ubi.balances = {{Key(1), 1000}};
    Result<std::vector<ledger::StateWrite>> writes = c::CityGenesisWrites(genesis);
    EXPECT_TRUE(writes.ok()) << writes.status().ToString();
    return writes.ok() ? writes.value() : std::vector<ledger::StateWrite>{};
  }

  // Encodes with the chain's time and height and runs it from TestKey(sender).
  void Run(uint8_t sender, const std::string& contract, const std::string& command,
           const ArgValues& values) {
    SCOPED_TRACE(contract + " " + command);
    const MethodSpec* spec = FindMethod(contract, command);
    ASSERT_NE(spec, nullptr);
    Result<Bytes> args =
        spec->encode(values, {Key(sender), harness_.now_ms(), harness_.height(), std::nullopt});
    ASSERT_TRUE(args.ok()) << args.status().ToString();
    const ledger::TxResult result =
        harness_.Run(harness_.RawTx(test::TestKey(sender), contract, spec->method, args.value()));
    EXPECT_TRUE(result.ok()) << result.code << " " << result.detail;
  }

  test::ContractHarness harness_;
};

TEST_F(MethodsOnChain, GovernanceAndUbi) {
  Run(1, "governance", "propose",
      {{"action", "grant-role"}, {"role", "custodian"}, {"account", Addr(10)}});
  Run(2, "governance", "approve", {{"proposal", "0"}});
  Run(1, "governance", "propose",
      {{"action", "set-validators"},
       {"validators", Addr(11) + "," + Addr(12) + "," + Addr(13) + "," + Addr(14)}});
  Run(1, "governance", "propose",
      {{"action", "set-param"}, {"param", "ubi_amount"}, {"value", "5"}});

  test::TempDir dir;
  const std::string office = (dir.path() / "office.pkey").string();
  ASSERT_TRUE(wallet::CreatePersonKey(office).ok());
  Run(1, "ubi", "register",
      {{"account", Addr(3)}, {"person", "passport P1234567"}, {"person-key", office}});
  Run(1, "ubi", "register", {{"account", Addr(5)}, {"person-id", kHashHex}});
  Run(3, "ubi", "claim", {});
  Run(1, "ubi", "transfer", {{"to", Addr(2)}, {"amount", "10"}});
  Run(1, "ubi", "burn", {{"amount", "5"}});
  Run(1, "ubi", "suspend", {{"account", Addr(3)}});
  Run(1, "ubi", "resume", {{"account", Addr(3)}});
}

TEST_F(MethodsOnChain, Emr) {
  Run(4, "emr", "anchor",
      {{"patient", Addr(3)},
       {"record", "lab-1"},
       {"type", "lab"},
       {"content-hash", kHashHex},
       {"location", "https://records.example/lab-1"}});
  Run(3, "emr", "grant",
      {{"grantee", Addr(4)}, {"types", "lab,imaging"}, {"purpose", "treatment"}, {"days", "30"}});
  Run(4, "emr", "access", {{"patient", Addr(3)}, {"record", "lab-1"}, {"consent", "0"}});
  Run(8, "emr", "break-glass",
      {{"patient", Addr(3)}, {"record", "lab-1"}, {"justification", "unconscious, allergy check"}});
  Run(9, "emr", "review", {{"flag-id", "0"}, {"verdict", "justified"}, {"note", "ok"}});
  Run(3, "emr", "set-guardian", {{"guardian", Addr(5)}});
  Run(5, "emr", "grant",
      {{"patient", Addr(3)},
       {"grantee", Addr(4)},
       {"types", "genetic"},
       {"purpose", "HRESCH"},
       {"days", "1"},
       {"deny", "true"}});
  Run(3, "emr", "remove-guardian", {});
  Run(3, "emr", "revoke", {{"consent", "0"}});
}

TEST_F(MethodsOnChain, Logistics) {
  Run(6, "logistics", "register",
      {{"epcs", kItem + "," + kPallet},
       {"biz-step", "commissioning"},
       {"read-point", kPlace},
       {"document-hash", kHashHex}});
  Run(6, "logistics", "object-event", {{"epcs", kItem}, {"disposition", "active"}});
  Run(6, "logistics", "transact",
      {{"epcs", kItem}, {"tx-type", "po"}, {"tx-id", "urn:epcglobal:cbv:bt:0614141073467:1152"}});
  Run(6, "logistics", "transform", {{"inputs", kItem}, {"outputs", kItem2}});
  Run(6, "logistics", "aggregate", {{"parent", kPallet}, {"children", kItem2}});
  Run(6, "logistics", "aggregate", {{"parent", kPallet}, {"action", "delete"}});
  Run(6, "logistics", "offer", {{"epc", kPallet}, {"to", Addr(7)}});
  Run(6, "logistics", "cancel-offer", {{"epc", kPallet}});
  Run(6, "logistics", "offer", {{"epc", kPallet}, {"to", Addr(7)}});
  Run(7, "logistics", "accept", {{"epc", kPallet}});
  Run(7, "logistics", "object-event", {{"epcs", kPallet}, {"action", "delete"}});
}

}  // namespace
}  // namespace city::wallet
