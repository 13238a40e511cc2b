// genesis.json: the file round-trips, each mistake is refused naming its field, the
// document hash covers every field (pinned by a golden value), and the genesis chain built
// from it commits to a store whose contracts hold the state the file describes.
#include "city/node/genesis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "city/contracts/executor.h"
#include "city/crypto/address.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;

PublicKey Key(uint8_t i) { return test::TestKey(i).public_key(); }

GenesisDoc SampleDoc() {
  GenesisDoc doc;
  doc.chain_id = "city-test";
  doc.genesis_time_ms = 1'700'000'000'000;
  doc.validators = {{"node0", Key(1)}, {"node1", Key(2)}, {"node2", Key(3)}, {"node3", Key(4)}};
  doc.council = {Key(10), Key(11), Key(12)};
  doc.council_threshold = 2;
  doc.roles = {{"registrar", Key(20)},
               {"clinician", Key(21)},
               {"custodian", Key(22)},
               {"custodian", Key(23)}};
  doc.params = {{"ubi_amount", 100}, {"ubi_max_periods", 24}, {"ubi_period_ms", 60'000}};
  doc.balances = {{Key(20), 1'000'000}, {Key(30), 5}, {Key(31), 123'456'789}};
  return doc;
}

Json SampleJson() { return Json::parse(GenesisToJson(SampleDoc())); }

// The message of a genesis that must be refused with kInvalidArgument.
std::string ErrorOfText(const std::string& text) {
  Result<GenesisDoc> parsed = ParseGenesisJson(text);
  EXPECT_FALSE(parsed.ok()) << text;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument) << parsed.status().ToString();
  return parsed.status().message();
}
std::string ErrorOf(const Json& json) { return ErrorOfText(json.dump()); }

TEST(GenesisJson, RoundTrips) {
  Result<GenesisDoc> parsed = ParseGenesisJson(GenesisToJson(SampleDoc()));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, SampleDoc());
}

TEST(GenesisJson, WritesFieldsInOrderWithAddressesAndSortedParams) {
  GenesisDoc doc = SampleDoc();
  std::reverse(doc.params.begin(), doc.params.end());
  const std::string text = GenesisToJson(doc);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_THAT(text, StartsWith("{\n  \"format\": \"cityledger-genesis\",\n  \"version\": 1,\n"));
  size_t at = 0;
  for (const char* field : {"\"chain_id\"", "\"genesis_time_ms\"", "\"validators\"", "\"council\"",
                            "\"roles\"", "\"params\"", "\"balances\""}) {
    const size_t next = text.find(field);
    ASSERT_NE(next, std::string::npos) << field;
    EXPECT_GT(next, at) << field;
    at = next;
  }
  EXPECT_LT(text.find("ubi_amount"), text.find("ubi_max_periods"));
  EXPECT_LT(text.find("ubi_max_periods"), text.find("ubi_period_ms"));
  EXPECT_THAT(text, HasSubstr("\"public_key\": \"" + EncodeAddress(Key(1)) + "\""));
  // Parsing gives the params back sorted: the order a JSON object can hold.
  EXPECT_EQ(ParseGenesisJson(text)->params, SampleDoc().params);
}

TEST(GenesisJson, OptionalSectionsDefault) {
  Json json = SampleJson();
  for (const char* field : {"council", "roles", "params", "balances"}) json.erase(field);
  Result<GenesisDoc> parsed = ParseGenesisJson(json.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->council.empty());
  EXPECT_EQ(parsed->council_threshold, 1u);
  EXPECT_TRUE(parsed->roles.empty());
  EXPECT_TRUE(parsed->params.empty());
  EXPECT_TRUE(parsed->balances.empty());

  json = SampleJson();
  json["council"].erase("threshold");
  EXPECT_EQ(ParseGenesisJson(json.dump())->council_threshold, 1u);
}

struct Mistake {
  std::string what;
  std::function<void(Json&)> edit;
  std::string expected;  // in the message
};

TEST(GenesisErrors, EachMistakeIsRefusedNamingItsField) {
  const std::string other = EncodeAddress(Key(40));
  std::string bad_address = EncodeAddress(Key(41));
  bad_address.back() = bad_address.back() == 'q' ? 'p' : 'q';
  const std::vector<Mistake> mistakes = {
      {"unknown top-level field", [](Json& j) { j["validator"] = Json::array(); },
       "validator: unknown field"},
      {"unknown validator field", [](Json& j) { j["validators"][1]["power"] = 1; },
       "validators[1].power: unknown field"},
      {"missing chain id", [](Json& j) { j.erase("chain_id"); }, "chain_id: missing field"},
      {"missing format", [](Json& j) { j.erase("format"); }, "format: missing field"},
      {"missing version", [](Json& j) { j.erase("version"); }, "version: missing field"},
      {"missing time", [](Json& j) { j.erase("genesis_time_ms"); },
       "genesis_time_ms: missing field"},
      {"missing validators", [](Json& j) { j.erase("validators"); }, "validators: missing field"},
      {"wrong format", [](Json& j) { j["format"] = "cityledger-key"; }, "format: expected"},
      {"future version", [](Json& j) { j["version"] = 2; }, "version: version 2 is not supported"},
      {"bad chain id", [](Json& j) { j["chain_id"] = "City Test"; }, "chain_id:"},
      {"empty chain id", [](Json& j) { j["chain_id"] = ""; }, "chain_id:"},
      {"chain id not a string", [](Json& j) { j["chain_id"] = 7; }, "chain_id: expected a string"},
      {"negative time", [](Json& j) { j["genesis_time_ms"] = -1; }, "genesis_time_ms: expected"},
      {"fractional time", [](Json& j) { j["genesis_time_ms"] = 1.5; }, "genesis_time_ms: expected"},
      {"time as text", [](Json& j) { j["genesis_time_ms"] = "1"; }, "genesis_time_ms: expected"},
      {"no validators", [](Json& j) { j["validators"] = Json::array(); },
       "validators: at least one validator"},
      {"validators not a list", [](Json& j) { j["validators"] = Json::object(); },
       "validators: expected a JSON array"},
      {"repeated validator",
       [](Json& j) { j["validators"][3]["public_key"] = j["validators"][1]["public_key"]; },
       "validators[3].public_key: repeats validators[1]"},
      {"bad validator address", [&](Json& j) { j["validators"][2]["public_key"] = bad_address; },
       "validators[2].public_key: not a valid address"},
      {"hex instead of address", [](Json& j) { j["validators"][0]["public_key"] = Key(1).ToHex(); },
       "validators[0].public_key: not a valid address"},
      {"empty validator name", [](Json& j) { j["validators"][0]["name"] = ""; },
       "validators[0].name: must be 1..64 characters"},
      {"validator without key", [](Json& j) { j["validators"][0].erase("public_key"); },
       "validators[0].public_key: missing field"},
      {"threshold 0", [](Json& j) { j["council"]["threshold"] = 0; }, "council.threshold: must be"},
      {"threshold above council", [](Json& j) { j["council"]["threshold"] = 4; },
       "council.threshold: must be 1..council size (3), got 4"},
      {"repeated council member",
       [](Json& j) { j["council"]["members"][2] = j["council"]["members"][0]; },
       "council.members[2]: repeats council.members[0]"},
      {"bad council member", [&](Json& j) { j["council"]["members"][1] = bad_address; },
       "council.members[1]: not a valid address"},
      {"council without members", [](Json& j) { j["council"].erase("members"); },
       "council.members: missing field"},
      {"unknown council field", [](Json& j) { j["council"]["quorum"] = 2; },
       "council.quorum: unknown field"},
      {"bad role name", [](Json& j) { j["roles"][0]["role"] = "Registrar"; },
       "roles[0].role: \"Registrar\" is not a name"},
      {"repeated role", [](Json& j) { j["roles"][3] = j["roles"][2]; },
       "roles[3]: grants custodian"},
      {"role without account", [](Json& j) { j["roles"][1].erase("account"); },
       "roles[1].account: missing field"},
      {"negative param", [](Json& j) { j["params"]["ubi_amount"] = -100; },
       "params.ubi_amount: expected an integer"},
      {"param as text", [](Json& j) { j["params"]["ubi_amount"] = "100"; },
       "params.ubi_amount: expected an integer"},
      {"bad param name", [](Json& j) { j["params"]["UBI"] = 1; }, "params.UBI: not a name"},
      {"threshold as a param", [](Json& j) { j["params"]["council_threshold"] = 1; },
       "params.council_threshold: is set by council.threshold"},
      {"params as a list", [](Json& j) { j["params"] = Json::array(); },
       "params: expected a JSON object"},
      {"zero balance", [](Json& j) { j["balances"][1]["amount"] = 0; },
       "balances[1].amount: must be > 0"},
      {"repeated balance",
       [](Json& j) { j["balances"][2]["account"] = j["balances"][0]["account"]; },
       "balances[2].account: repeats balances[0]"},
      {"balance overflow", [](Json& j) { j["balances"][0]["amount"] = UINT64_MAX; },
       "balances[1].amount: the total passes 2^64 - 1"},
      {"balance past u64", [](Json& j) { j["balances"][0]["amount"] = 1.8446744073709552e19; },
       "balances[0].amount: expected an integer"},
      {"unknown balance field", [&](Json& j) { j["balances"][0]["to"] = other; },
       "balances[0].to: unknown field"},
      {"not an object", [](Json& j) { j = Json::array(); }, "document: expected a JSON object"},
  };
  for (const Mistake& mistake : mistakes) {
    Json json = SampleJson();
    mistake.edit(json);
    EXPECT_THAT(ErrorOf(json), HasSubstr("genesis.json: " + mistake.expected)) << mistake.what;
  }
}

TEST(GenesisErrors, TooManyValidators) {
  Json json = SampleJson();
  json["validators"] = Json::array();
  for (size_t i = 0; i <= ledger::kMaxValidators; ++i) {
    json["validators"].push_back(
        {{"name", std::to_string(i)}, {"public_key", EncodeAddress(Key(static_cast<uint8_t>(i)))}});
  }
  EXPECT_THAT(ErrorOf(json), HasSubstr("validators: at most 256 validators"));
}

TEST(GenesisErrors, BadJsonAndRepeatedKeysAreRefused) {
  EXPECT_THAT(ErrorOfText("{\"format\": "), HasSubstr("genesis.json: not valid JSON: parse error"));
  EXPECT_THAT(ErrorOfText(""), HasSubstr("genesis.json: not valid JSON"));
  // Deep nesting is refused without exhausting the stack, parsed or destroyed.
  EXPECT_THAT(ErrorOfText(std::string(300'000, '[') + std::string(300'000, ']')),
              HasSubstr("document: expected a JSON object"));
  EXPECT_THAT(ErrorOfText("{\"format\": " + std::string(300'000, '{')),
              HasSubstr("not valid JSON"));
  // nlohmann would keep the second "validators" silently.
  std::string text = GenesisToJson(SampleDoc());
  text.insert(1, "\"validators\": [],");
  EXPECT_THAT(ErrorOfText(text), HasSubstr("genesis.json: validators: appears twice"));
  EXPECT_EQ(ParseGenesisJson(std::string(kMaxGenesisFileBytes + 1, ' ')).status().code(),
            ErrorCode::kTooLarge);
}

TEST(GenesisHash, ChangesWithEveryField) {
  const Hash256 base = GenesisDocHash(SampleDoc());
  const std::vector<std::function<void(GenesisDoc&)>> edits = {
      [](GenesisDoc& d) { d.chain_id = "city-tesu"; },
      [](GenesisDoc& d) { d.genesis_time_ms += 1; },
      [](GenesisDoc& d) { std::swap(d.validators[0], d.validators[1]); },
      [](GenesisDoc& d) { d.validators[2].name = "node9"; },
      [](GenesisDoc& d) { d.validators[3].key = Key(9); },
      [](GenesisDoc& d) { d.validators.pop_back(); },
      [](GenesisDoc& d) { d.council.pop_back(); },
      [](GenesisDoc& d) { d.council_threshold = 3; },
      [](GenesisDoc& d) { d.roles[0].first = "auditor"; },
      [](GenesisDoc& d) { d.roles[1].second = Key(50); },
      [](GenesisDoc& d) { d.params[1].second += 1; },
      [](GenesisDoc& d) { d.params.emplace_back("zz", 0); },
      [](GenesisDoc& d) { d.balances[1].second += 1; },
      [](GenesisDoc& d) { d.balances[2].first = Key(60); },
      [](GenesisDoc& d) { d.balances.clear(); },
      // Moving bytes between neighbouring fields must not give the same encoding.
      [](GenesisDoc& d) {
        d.validators[0].name = "node";
        d.validators[1].name = "0node1";
      },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    GenesisDoc doc = SampleDoc();
    edits[i](doc);
    EXPECT_NE(GenesisDocHash(doc), base) << "edit " << i;
  }
}

TEST(GenesisHash, StableAcrossRenderAndParse) {
  GenesisDoc doc = SampleDoc();
  std::reverse(doc.params.begin(), doc.params.end());  // a file cannot hold param order
  Result<GenesisDoc> parsed = ParseGenesisJson(GenesisToJson(doc));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(GenesisDocHash(*parsed), GenesisDocHash(doc));
  EXPECT_EQ(GenesisDocHash(*parsed), GenesisDocHash(SampleDoc()));
}

TEST(GenesisHash, GoldenValue) {
  // Pinned: every chain's genesis block commits to this hash (its parent_hash). Changing
  // the encoding changes every existing chain's genesis block, so nodes built after the
  // change could not join them. Change it only with a new tag ("city.genesis.doc.v2").
  EXPECT_EQ(GenesisDocHash(SampleDoc()).ToHex(),
            "4c89b13dee84d0d113f23dbf3ae5b8e0b4d1c997792ec40c0a2c888be40f1a40");
}

// The byte layout documented above GenesisDocHash, written out by hand.
TEST(GenesisHash, FollowsTheDocumentedLayout) {
  GenesisDoc doc;
  doc.chain_id = "c";
  doc.genesis_time_ms = 0x0102030405060708;
  doc.validators = {{"v", Key(1)}};
  doc.council = {Key(2)};
  doc.council_threshold = 1;
  doc.roles = {{"r", Key(3)}};
  doc.params = {{"z", 9}, {"a", 8}};  // hashed sorted
  doc.balances = {{Key(4), 7}};
  Bytes b = {0x01};
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  auto u64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  auto text = [&](std::string_view t) {
    u32(static_cast<uint32_t>(t.size()));
    b.insert(b.end(), t.begin(), t.end());
  };
  auto key = [&](const PublicKey& k) { b.insert(b.end(), k.bytes.begin(), k.bytes.end()); };
  text("c");
  u64(0x0102030405060708);
  u32(1), text("v"), key(Key(1));
  u32(1), key(Key(2));
  u64(1);
  u32(1), text("r"), key(Key(3));
  u32(2), text("a"), u64(8), text("z"), u64(9);
  u32(1), key(Key(4)), u64(7);
  EXPECT_EQ(GenesisDocHash(doc), TaggedHash("city.genesis.doc.v1", b));
}

TEST(GenesisChain, HeaderCommitsToTheDocument) {
  const GenesisDoc doc = SampleDoc();
  Result<GenesisChain> chain = BuildGenesisChain(doc);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  const ledger::BlockHeader& h = chain->header;
  EXPECT_EQ(h.chain_id, doc.chain_id);
  EXPECT_EQ(h.epoch, 0u);
  EXPECT_EQ(h.height, 0u);
  EXPECT_EQ(h.term, 0u);
  EXPECT_EQ(h.round, 0u);
  EXPECT_EQ(h.parent_hash, GenesisDocHash(doc));
  EXPECT_TRUE(h.proposer.IsZero());
  EXPECT_EQ(h.timestamp_ms, doc.genesis_time_ms);
  EXPECT_TRUE(h.tx_root.IsZero());
  EXPECT_EQ(h.exec_height, 0u);
  EXPECT_FALSE(h.timeout_cert.has_value());
  EXPECT_EQ(chain->block_hash, h.Hash());
  EXPECT_EQ(chain->validators.members(), (std::vector<PublicKey>{Key(1), Key(2), Key(3), Key(4)}));
  EXPECT_EQ(chain->store_genesis.chain_id, doc.chain_id);
  EXPECT_EQ(chain->store_genesis.block_hash, chain->block_hash);
  EXPECT_FALSE(chain->store_genesis.writes.empty());
  EXPECT_TRUE(chain->store_genesis.index_entries.empty());

  GenesisDoc other = doc;
  other.balances[0].second += 1;
  EXPECT_NE(BuildGenesisChain(other)->block_hash, chain->block_hash);
}

TEST(GenesisChain, ContractsRefusalIsPassedOn) {
  GenesisDoc doc = SampleDoc();
  doc.council.clear();  // governance needs a council
  doc.council_threshold = 1;
  Result<GenesisChain> chain = BuildGenesisChain(doc);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(chain.status().message(), HasSubstr("council"));

  doc = SampleDoc();
  doc.chain_id = "Bad";
  EXPECT_EQ(BuildGenesisChain(doc).status().code(), ErrorCode::kInvalidArgument);
}

TEST(GenesisChain, CommitsToAStoreHoldingTheDocumentsState) {
  const GenesisDoc doc = SampleDoc();
  Result<GenesisChain> chain = BuildGenesisChain(doc);
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  test::TempDir dir;
  auto store = ledger::LedgerStore::Create(dir.path() / "data", chain->store_genesis);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const auto registry = contracts::MakeCityRegistry();

  Result<Json> supply = contracts::RunQuery(*registry, **store, "ubi", "supply", Json::object());
  ASSERT_TRUE(supply.ok()) << supply.status().ToString();
  uint64_t total = 0;
  for (const auto& [account, amount] : doc.balances) total += amount;
  EXPECT_EQ((*supply)["supply"].get<uint64_t>(), total);
  EXPECT_EQ((*supply)["issued"].get<uint64_t>(), total);

  Result<Json> role =
      contracts::RunQuery(*registry, **store, "governance", "has_role",
                          {{"account", EncodeAddress(Key(22))}, {"role", "custodian"}});
  ASSERT_TRUE(role.ok()) << role.status().ToString();
  EXPECT_TRUE((*role)["granted"].get<bool>());
  Result<Json> council =
      contracts::RunQuery(*registry, **store, "governance", "has_role",
                          {{"account", EncodeAddress(Key(11))}, {"role", "council"}});
  ASSERT_TRUE(council.ok());
  EXPECT_TRUE((*council)["granted"].get<bool>());
  Result<Json> param = contracts::RunQuery(*registry, **store, "governance", "parameter",
                                           {{"name", "ubi_period_ms"}});
  ASSERT_TRUE(param.ok());
  EXPECT_EQ((*param)["value"].get<uint64_t>(), 60'000u);
}

TEST(GenesisFile, WritesOnceReadablyAndLoadsBack) {
  test::TempDir dir;
  const auto path = dir.path() / "genesis.json";
  ASSERT_TRUE(WriteGenesisFile(path, SampleDoc()).ok());
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u);
  Result<GenesisDoc> loaded = LoadGenesisFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(*loaded, SampleDoc());

  GenesisDoc other = SampleDoc();
  other.chain_id = "city-other";
  Status again = WriteGenesisFile(path, other);
  EXPECT_EQ(again.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(LoadGenesisFile(path)->chain_id, "city-test");
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(GenesisFile, RefusesToWriteAnInvalidDocument) {
  test::TempDir dir;
  GenesisDoc doc = SampleDoc();
  doc.validators.clear();
  EXPECT_EQ(WriteGenesisFile(dir.path() / "genesis.json", doc).code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "genesis.json"));
}

TEST(GenesisFile, LoadErrorsNameTheFile) {
  test::TempDir dir;
  const auto path = dir.path() / "genesis.json";
  Result<GenesisDoc> missing = LoadGenesisFile(path);
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(path.string()));

  std::ofstream(path) << "{}";
  EXPECT_THAT(LoadGenesisFile(path).status().message(),
              StartsWith(path.string() + ": format: missing field"));

  const auto big = dir.path() / "big.json";
  std::ofstream(big) << std::string(kMaxGenesisFileBytes + 1, ' ');
  EXPECT_EQ(LoadGenesisFile(big).status().code(), ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace city::node
