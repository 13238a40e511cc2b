// A node's home: the validator key file's format and modes, `init` for one validator, and a
// local testnet whose homes, genesis, peers and client keys fit together.
#include "city/node/home.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "city/contracts/executor.h"
#include "city/crypto/address.h"
#include "city/crypto/keyfile.h"
#include "support/ledger_fixtures.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kOperatorPassphrase[] = "an operator passphrase for tests";

unsigned ModeOf(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

bool HasRole(const GenesisDoc& doc, std::string_view role, const PublicKey& account) {
  return std::find(doc.roles.begin(), doc.roles.end(),
                   std::pair<std::string, PublicKey>(std::string(role), account)) !=
         doc.roles.end();
}

std::string WithChar(std::string text, size_t at, char c) {
  text[at] = c;
  return text;
}

TEST(HomeValidatorKey, WritesHexSeedOwnerOnlyAndReadsBack) {
  test::TempDir dir;
  const fs::path path = dir.path() / "validator.key";
  const KeyPair key = test::TestKey(7);
  ASSERT_TRUE(WriteValidatorKey(path, key).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(test::ReadFileText(path), ToHex(key.seed()) + "\n");
  Result<KeyPair> read = ReadValidatorKey(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->public_key(), key.public_key());
}

TEST(HomeValidatorKey, RefusesToOverwriteOrFollowASymlink) {
  test::TempDir dir;
  const fs::path path = dir.path() / "validator.key";
  ASSERT_TRUE(WriteValidatorKey(path, test::TestKey(1)).ok());
  EXPECT_EQ(WriteValidatorKey(path, test::TestKey(2)).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadValidatorKey(path)->public_key(), test::TestKey(1).public_key());

  // A planted symlink must not make the seed land wherever it points.
  const fs::path link = dir.path() / "planted.key";
  const fs::path target = dir.path() / "elsewhere";
  fs::create_symlink(target, link);
  EXPECT_EQ(WriteValidatorKey(link, test::TestKey(3)).code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(target));
}

TEST(HomeValidatorKey, ReadErrors) {
  test::TempDir dir;
  const fs::path path = dir.path() / "validator.key";
  EXPECT_EQ(ReadValidatorKey(path).status().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(WriteValidatorKey(path, test::TestKey(1)).ok());
  fs::permissions(path, fs::perms::group_read, fs::perm_options::add);
  Result<KeyPair> exposed = ReadValidatorKey(path);
  EXPECT_EQ(exposed.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_THAT(exposed.status().message(), HasSubstr("chmod 600"));

  const std::string seed = ToHex(test::TestKey(1).seed());
  const std::vector<std::string> corrupt = {"",
                                            "\n",
                                            seed.substr(1) + "\n",
                                            seed + "0\n",
                                            seed + "\n\n",
                                            WithChar(seed, 0, 'g') + "\n",
                                            WithChar(seed, 62, ' ') + "\n",
                                            std::string(" ").append(seed),
                                            seed + "\r\n"};
  for (const std::string& text : corrupt) {
    const fs::path bad = dir.path() / "bad.key";
    fs::remove(bad);
    std::ofstream(bad) << text;
    fs::permissions(bad, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(ReadValidatorKey(bad).status().code(), ErrorCode::kCorruption) << "'" << text << "'";
  }
  // Without the newline, or in upper case, it is still the same 32 bytes.
  for (std::string text : {seed, seed + "\n"}) {
    std::transform(text.begin(), text.end(), text.begin(), ::toupper);
    const fs::path ok = dir.path() / "ok.key";
    fs::remove(ok);
    std::ofstream(ok) << text;
    fs::permissions(ok, fs::perms::owner_read | fs::perms::owner_write);
    Result<KeyPair> read = ReadValidatorKey(ok);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->public_key(), test::TestKey(1).public_key());
  }
}

TEST(HomeInit, WritesAOneValidatorHome) {
  test::TempDir dir;
  const HomePaths home{dir.path() / "home"};
  const uint64_t before = NowMs();
  ASSERT_TRUE(InitHome({home.root, "city-dev", 27100, 27101, kOperatorPassphrase}).ok());
  EXPECT_EQ(ModeOf(home.root), 0700u);
  EXPECT_EQ(ModeOf(home.validator_key()), 0600u);
  EXPECT_EQ(ModeOf(home.genesis()), 0644u);
  EXPECT_EQ(ModeOf(home.config()), 0644u);
  EXPECT_EQ(ModeOf(home.root / "keys"), 0700u);
  EXPECT_EQ(ModeOf(home.root / "keys" / "operator.key"), 0600u);

  Result<NodeConfig> config = LoadConfigFile(home.config());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  NodeConfig expected;
  expected.p2p_port = 27100;
  expected.api_port = 27101;
  EXPECT_EQ(*config, expected);  // moniker "validator", no peers, every other default

  Result<KeyPair> validator = ReadValidatorKey(home.validator_key());
  ASSERT_TRUE(validator.ok());
  Result<PublicKey> operator_key = ReadKeyFilePublicKey(home.root / "keys" / "operator.key");
  ASSERT_TRUE(operator_key.ok()) << operator_key.status().ToString();
  EXPECT_NE(*operator_key, validator->public_key());

  Result<GenesisDoc> genesis = LoadGenesisFile(home.genesis());
  ASSERT_TRUE(genesis.ok()) << genesis.status().ToString();
  EXPECT_EQ(genesis->chain_id, "city-dev");
  EXPECT_GE(genesis->genesis_time_ms, before);
  EXPECT_LE(genesis->genesis_time_ms, NowMs());
  ASSERT_EQ(genesis->validators.size(), 1u);
  EXPECT_EQ(genesis->validators[0].name, "validator0");
  EXPECT_EQ(genesis->validators[0].key, validator->public_key());
  EXPECT_EQ(genesis->council, std::vector<PublicKey>{*operator_key});
  EXPECT_EQ(genesis->council_threshold, 1u);
  EXPECT_TRUE(HasRole(*genesis, "admin", *operator_key));
  EXPECT_TRUE(HasRole(*genesis, "registrar", *operator_key));
  EXPECT_TRUE(BuildGenesisChain(*genesis).ok());
}

TEST(HomeInit, OperatorKeyOpensWithItsOwnPassphraseOnly) {
  test::TempDir dir;
  ASSERT_TRUE(InitHome({dir.path(), "city-dev", 27100, 27101, kOperatorPassphrase}).ok());
  const fs::path path = dir.path() / "keys" / "operator.key";
  Result<KeyPair> key = ReadKeyFile(path, kOperatorPassphrase);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->public_key(), *ReadKeyFilePublicKey(path));
  EXPECT_FALSE(ReadKeyFile(path, kDevKeyPassphrase).ok()) << "the public dev passphrase";
}

TEST(HomeInit, RefusesAWeakOperatorPassphraseAndWritesNothing) {
  for (const std::string& weak : {std::string(), std::string(kDevKeyPassphrase),
                                  std::string(kMinOperatorPassphrase - 1, 'x')}) {
    test::TempDir dir;
    const fs::path home = dir.path() / "home";
    const Status status = InitHome({home, "city-dev", 27100, 27101, weak});
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << "'" << weak << "'";
    EXPECT_THAT(status.message(), HasSubstr("passphrase"));
    EXPECT_FALSE(fs::exists(home)) << "nothing written for '" << weak << "'";
  }
  EXPECT_TRUE(CheckOperatorPassphrase(std::string(kMinOperatorPassphrase, 'x')).ok());
}

TEST(HomeInit, RefusesAnInitialisedHomeNamingTheFile) {
  for (const char* name : {"config.toml", "genesis.json", "validator.key"}) {
    test::TempDir dir;
    std::ofstream(dir.path() / name) << "mine";
    Status status = InitHome({dir.path(), "city-local", 26656, 8080, kOperatorPassphrase});
    EXPECT_EQ(status.code(), ErrorCode::kAlreadyExists) << name;
    EXPECT_THAT(status.message(), HasSubstr((dir.path() / name).string()));
    EXPECT_EQ(test::ReadFileText(dir.path() / name), "mine");
    // Nothing else was written.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1)
        << name;
  }
  test::TempDir dir;
  ASSERT_TRUE(InitHome({dir.path(), "city-local", 26656, 8080, kOperatorPassphrase}).ok());
  EXPECT_EQ(InitHome({dir.path(), "city-local", 26656, 8080, kOperatorPassphrase}).code(),
            ErrorCode::kAlreadyExists);
}

TEST(HomeInit, RefusesBadOptions) {
  test::TempDir dir;
  EXPECT_EQ(InitHome({dir.path() / "a", "City Dev", 26656, 8080, kOperatorPassphrase}).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(InitHome({dir.path() / "b", "city-dev", 9000, 9000, kOperatorPassphrase}).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(InitHome({dir.path() / "c", "city-dev", 0, 9000, kOperatorPassphrase}).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.path() / "a"));
}

// One testnet for the tests that look at it: 11 client keys under Argon2id take a while.
class HomeTestnet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    fs::create_directory(out());  // an existing empty directory is accepted
    const auto start = std::chrono::steady_clock::now();
    Result<TestnetLayout> made =
        CreateTestnet({out(), 4, "city-testnet", 27200, 1'700'000'000'000});
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("CreateTestnet (4 validators, 11 client keys) took %.2f s\n", seconds_);
    status_ = made.status();
    if (made.ok()) layout_ = *made;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(status_.ok()) << status_.ToString(); }

  static fs::path out() { return dir_->path() / "testnet"; }

  static const ClientKey& Client(std::string_view name) {
    for (const ClientKey& key : layout_.client_keys) {
      if (key.name == name) return key;
    }
    ADD_FAILURE() << "no client key " << name;
    return layout_.client_keys.front();
  }

  static GenesisDoc Genesis() {
    Result<GenesisDoc> genesis = LoadGenesisFile(HomePaths{layout_.homes[0]}.genesis());
    EXPECT_TRUE(genesis.ok()) << genesis.status().ToString();
    return genesis.ok() ? *genesis : GenesisDoc{};
  }

  static inline test::TempDir* dir_ = nullptr;
  static inline Status status_;
  static inline TestnetLayout layout_;
  static inline double seconds_ = 0;
};

TEST_F(HomeTestnet, HomesAndUrls) {
  ASSERT_EQ(layout_.homes.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(layout_.homes[i], out() / ("node" + std::to_string(i)));
    EXPECT_EQ(layout_.api_urls[i], "http://127.0.0.1:" + std::to_string(27201 + 2 * i));
    const HomePaths home{layout_.homes[i]};
    EXPECT_EQ(ModeOf(home.root), 0700u);
    EXPECT_EQ(ModeOf(home.validator_key()), 0600u);
  }
}

TEST_F(HomeTestnet, GenesisIsSharedAndListsTheValidatorsInOrder) {
  const std::string text = test::ReadFileText(HomePaths{layout_.homes[0]}.genesis());
  for (const fs::path& root : layout_.homes)
    EXPECT_EQ(test::ReadFileText(HomePaths{root}.genesis()), text);
  const GenesisDoc genesis = Genesis();
  EXPECT_EQ(genesis.chain_id, "city-testnet");
  EXPECT_EQ(genesis.genesis_time_ms, 1'700'000'000'000u);
  ASSERT_EQ(genesis.validators.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(genesis.validators[i].name, "node" + std::to_string(i));
    Result<KeyPair> key = ReadValidatorKey(HomePaths{layout_.homes[i]}.validator_key());
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(genesis.validators[i].key, key->public_key());
  }
}

TEST_F(HomeTestnet, EachConfigPeersWithEveryOtherValidator) {
  const GenesisDoc genesis = Genesis();
  for (size_t i = 0; i < 4; ++i) {
    Result<NodeConfig> config = LoadConfigFile(HomePaths{layout_.homes[i]}.config());
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(config->moniker, "node" + std::to_string(i));
    EXPECT_EQ(config->p2p_port, 27200 + 2 * i);
    EXPECT_EQ(config->api_port, 27201 + 2 * i);
    std::vector<PeerAddress> expected;
    for (size_t j = 0; j < 4; ++j) {
      if (j == i) continue;
      expected.push_back(
          {genesis.validators[j].key, "127.0.0.1", static_cast<uint16_t>(27200 + 2 * j)});
    }
    EXPECT_EQ(config->peers, expected);
  }
}

TEST_F(HomeTestnet, ClientKeysHoldTheirRolesAndFunds) {
  const std::vector<std::string> names = {"council",   "admin",     "registrar", "clinician",
                                          "emergency", "custodian", "auditor",   "citizen",
                                          "patient",   "shipper",   "receiver"};
  ASSERT_EQ(layout_.client_keys.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const ClientKey& key = layout_.client_keys[i];
    EXPECT_EQ(key.name, names[i]);
    EXPECT_EQ(key.file, out() / "keys" / (names[i] + ".key"));
    EXPECT_EQ(ModeOf(key.file), 0600u);
    EXPECT_EQ(*ReadKeyFilePublicKey(key.file), key.key) << key.name;
  }
  const GenesisDoc genesis = Genesis();
  EXPECT_EQ(genesis.council, std::vector<PublicKey>{Client("council").key});
  EXPECT_EQ(genesis.council_threshold, 1u);
  for (const char* role :
       {"admin", "registrar", "clinician", "emergency", "custodian", "auditor"}) {
    EXPECT_TRUE(HasRole(genesis, role, Client(role).key)) << role;
  }
  // Custody moves between custodians only.
  EXPECT_TRUE(HasRole(genesis, "custodian", Client("shipper").key));
  EXPECT_TRUE(HasRole(genesis, "custodian", Client("receiver").key));
  EXPECT_EQ(genesis.roles.size(), 8u);
  ASSERT_EQ(genesis.balances.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(genesis.balances[i], std::make_pair(layout_.client_keys[i].key, uint64_t{1'000'000}));
  }
  EXPECT_EQ(genesis.params,
            (std::vector<std::pair<std::string, uint64_t>>{
                {"ubi_amount", 100}, {"ubi_max_periods", 24}, {"ubi_period_ms", 60'000}}));
}

TEST_F(HomeTestnet, KeysOpenWithTheDevPassphrase) {
  Result<KeyPair> key = ReadKeyFile(Client("registrar").file, kDevKeyPassphrase);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->public_key(), Client("registrar").key);
}

TEST_F(HomeTestnet, ReadmeListsKeysAndWarns) {
  const std::string readme = test::ReadFileText(out() / "keys" / "README.txt");
  EXPECT_THAT(readme, HasSubstr(std::string(kDevKeyPassphrase)));
  EXPECT_THAT(readme, HasSubstr("FOR TRYING THINGS ONLY"));
  for (const ClientKey& key : layout_.client_keys) {
    EXPECT_THAT(readme, HasSubstr(key.name));
    EXPECT_THAT(readme, HasSubstr(EncodeAddress(key.key)));
  }
}

TEST_F(HomeTestnet, GenesisStartsAChainWithTheFundedSupply) {
  Result<GenesisChain> chain = BuildGenesisChain(Genesis());
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  test::TempDir data;
  auto store = ledger::LedgerStore::Create(data.path() / "data", chain->store_genesis);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Result<Json> supply =
      contracts::RunQuery(*contracts::MakeCityRegistry(), **store, "ubi", "supply", Json::object());
  ASSERT_TRUE(supply.ok());
  EXPECT_EQ((*supply)["supply"].get<uint64_t>(), 11'000'000u);
}

TEST(HomeTestnetOptions, RefusesBadOptionsBeforeWritingAnything) {
  test::TempDir dir;
  const fs::path out = dir.path() / "net";
  EXPECT_EQ(CreateTestnet({out, 0}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CreateTestnet({out, 65}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CreateTestnet({out, 4, "Bad Chain"}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CreateTestnet({out, 4, "city-testnet", 65529}).status().code(),
            ErrorCode::kInvalidArgument);  // node3's API port would be 65536
  EXPECT_EQ(CreateTestnet({out, 4, "city-testnet", 0}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(out));

  fs::create_directory(out);
  std::ofstream(out / "something") << "x";
  Result<TestnetLayout> made = CreateTestnet({out});
  EXPECT_EQ(made.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(made.status().message(), HasSubstr(out.string()));
}

}  // namespace
}  // namespace city::node
