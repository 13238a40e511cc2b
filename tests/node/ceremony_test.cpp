// The genesis ceremony (ceremony.h): records and addresses as an operator sends them, a draft
// that refuses what would make it invalid, finalize, and install into each home, with every
// mismatch refused before anything is written.
#include "city/node/ceremony.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "city/crypto/address.h"
#include "city/node/home.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// prefix + i, appended: GCC 12 at -O3 reports a false -Wrestrict on "v" + std::to_string(i).
std::string Numbered(std::string_view prefix, int i) {
  return std::string(prefix).append(std::to_string(i));
}

TEST(P2pAddress, ParsesHostsAndRefusesWhatIsNotOne) {
  EXPECT_EQ(ParseP2pAddress("10.0.0.1:26656").value(),
            std::make_pair(std::string("10.0.0.1"), uint16_t{26656}));
  EXPECT_EQ(ParseP2pAddress("val-1.city.example:1").value().first, "val-1.city.example");
  EXPECT_EQ(ParseP2pAddress("[fd00::1]:443").value().first, "fd00::1");
  EXPECT_EQ(P2pAddressText("fd00::1", 443), "[fd00::1]:443");
  EXPECT_EQ(P2pAddressText("10.0.0.1", 26656), "10.0.0.1:26656");
  for (const char* bad : {"", "10.0.0.1", "10.0.0.1:", ":26656", "10.0.0.1:0", "10.0.0.1:65536",
                          "10.0.0.1:12ab", "fd00::1:443", "[fd00::1]443", "a b:1", "host;rm:1"}) {
    EXPECT_FALSE(ParseP2pAddress(bad).ok()) << bad;
  }
}

TEST(ValidatorRecord, RoundTripsAndRefusesUnknownFieldsAndOtherFormats) {
  const ValidatorRecord record{"hospital-1", KeyPair::Generate().public_key(), "10.0.0.7", 26656};
  const std::string text = ValidatorRecordToJson(record);
  EXPECT_EQ(ParseValidatorRecord(text, "r").value(), record);

  auto json = nlohmann::json::parse(text);
  auto with = [&](const std::string& field, nlohmann::json value) {
    auto changed = json;
    changed[field] = std::move(value);
    return changed.dump();
  };
  EXPECT_THAT(ParseValidatorRecord(with("extra", 1), "r").status().message(),
              HasSubstr("unknown field"));
  EXPECT_FALSE(ParseValidatorRecord(with("format", "cityledger-genesis"), "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(with("version", 2), "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(with("public_key", "city1notakey"), "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(with("name", ""), "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(with("name", std::string(65, 'x')), "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(with("name", "bell\x07"), "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(with("p2p_address", "10.0.0.7"), "r").ok());
  auto missing = json;
  missing.erase("p2p_address");
  EXPECT_THAT(ParseValidatorRecord(missing.dump(), "r").status().message(),
              HasSubstr("missing field"));
  EXPECT_FALSE(ParseValidatorRecord("[1,2]", "r").ok());
  EXPECT_FALSE(ParseValidatorRecord(std::string(kMaxCeremonyFileBytes + 1, ' '), "r").ok());
}

// Four operators' homes, a council key, and the coordinator's draft in one directory.
class CeremonyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 4; ++i) {
      JoinOptions join;
      join.home = Home(i);
      join.name = Numbered("v", i);
      join.p2p_address = Numbered("10.9.0.", i + 1).append(":26656");
      records_.push_back(InitJoiningHome(join).value());
    }
    ASSERT_TRUE(NewGenesisDraft(draft_path_, "city-ceremony", 1'700'000'000'000).ok());
  }

  fs::path Home(int i) const { return dir_.path() / Numbered("host", i); }

  GenesisDraft CompleteDraft() {
    GenesisDraft draft = LoadGenesisDraft(draft_path_).value();
    for (const ValidatorRecord& record : records_) EXPECT_TRUE(AddValidator(draft, record).ok());
    EXPECT_TRUE(AddCouncilMember(draft, council_.public_key()).ok());
    EXPECT_TRUE(AddRole(draft, "registrar", council_.public_key()).ok());
    EXPECT_TRUE(AddBalance(draft, council_.public_key(), 1000).ok());
    EXPECT_TRUE(SetParam(draft, "ubi_amount", 100).ok());
    return draft;
  }

  InstallOptions Install(int i, const FinalGenesis& final) const {
    return {Home(i), final.genesis_file, final.peers_file, final.hash.ToHex()};
  }

  test::TempDir dir_;
  fs::path draft_path_ = dir_.path() / "draft.json";
  std::vector<ValidatorRecord> records_;
  KeyPair council_ = KeyPair::Generate();
};

TEST_F(CeremonyTest, AJoiningHomeHasAKeyAConfigAndARecordButNoGenesis) {
  const HomePaths home{Home(0)};
  EXPECT_TRUE(fs::exists(home.validator_key()));
  EXPECT_FALSE(fs::exists(home.genesis()));
  EXPECT_FALSE(fs::exists(home.safety()));
  const NodeConfig config = LoadConfigFile(home.config()).value();
  EXPECT_EQ(config.p2p_port, 26656);
  EXPECT_EQ(config.p2p_listen_host, "0.0.0.0");
  EXPECT_EQ(config.moniker, "v0");
  const std::string record_text = test::ReadFileText(home.root / "validator-record.json");
  const ValidatorRecord record = ParseValidatorRecord(record_text, "record").value();
  EXPECT_EQ(record, records_[0]);
  EXPECT_EQ(record.key, ReadValidatorKey(home.validator_key()).value().public_key());

  JoinOptions again{Home(0), "v0", "10.9.0.1:26656"};
  EXPECT_EQ(InitJoiningHome(again).status().code(), ErrorCode::kAlreadyExists);
  JoinOptions same_ports{Home(9), "v9", "10.9.0.9:8080"};
  EXPECT_FALSE(InitJoiningHome(same_ports).ok()) << "the P2P port equals the API port";
  EXPECT_FALSE(fs::exists(Home(9) / "validator.key"));
}

TEST_F(CeremonyTest, TheDraftRefusesRepeatsAndImpossibleThresholdsAndSurvivesARoundTrip) {
  GenesisDraft draft = LoadGenesisDraft(draft_path_).value();
  ASSERT_TRUE(AddValidator(draft, records_[0]).ok());
  ValidatorRecord same_key = records_[1];
  same_key.key = records_[0].key;
  EXPECT_EQ(AddValidator(draft, same_key).code(), ErrorCode::kAlreadyExists);
  ValidatorRecord same_name = records_[1];
  same_name.name = records_[0].name;
  EXPECT_EQ(AddValidator(draft, same_name).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(draft.genesis.validators.size(), 1u);

  EXPECT_FALSE(SetCouncilThreshold(draft, 1).ok()) << "no council yet";
  ASSERT_TRUE(AddCouncilMember(draft, council_.public_key()).ok());
  EXPECT_EQ(AddCouncilMember(draft, council_.public_key()).code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(SetCouncilThreshold(draft, 2).ok());
  EXPECT_FALSE(SetCouncilThreshold(draft, 0).ok());
  EXPECT_TRUE(SetCouncilThreshold(draft, 1).ok());
  ASSERT_TRUE(AddBalance(draft, council_.public_key(), 5).ok());
  EXPECT_EQ(AddBalance(draft, council_.public_key(), 6).code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(SetParam(draft, "ubi_amount", 1).ok());
  ASSERT_TRUE(SetParam(draft, "ubi_amount", 2).ok());
  EXPECT_EQ(draft.genesis.params.size(), 1u);

  ASSERT_TRUE(SaveGenesisDraft(draft_path_, draft).ok());
  const GenesisDraft loaded = LoadGenesisDraft(draft_path_).value();
  EXPECT_EQ(loaded.genesis, draft.genesis);
  EXPECT_EQ(loaded.p2p_addresses, draft.p2p_addresses);
  EXPECT_EQ(NewGenesisDraft(draft_path_, "city-ceremony", 0).code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(NewGenesisDraft(dir_.path() / "x.json", "Bad Chain", 0).ok());
}

TEST_F(CeremonyTest, ATamperedDraftIsRefusedWithTheReason) {
  GenesisDraft draft = CompleteDraft();
  ASSERT_TRUE(SaveGenesisDraft(draft_path_, draft).ok());
  auto json = nlohmann::json::parse(test::ReadFileText(draft_path_));
  auto write = [&](const nlohmann::json& changed) {
    fs::remove(draft_path_);
    std::ofstream(draft_path_) << changed.dump();
  };
  auto no_address = json;
  no_address["p2p_addresses"].erase(EncodeAddress(records_[2].key));
  write(no_address);
  EXPECT_THAT(LoadGenesisDraft(draft_path_).status().message(), HasSubstr("no p2p address"));
  auto stranger = json;
  stranger["p2p_addresses"][EncodeAddress(council_.public_key())] = "10.0.0.1:1";
  write(stranger);
  EXPECT_THAT(LoadGenesisDraft(draft_path_).status().message(), HasSubstr("not a validator"));
  auto bad_address = json;
  bad_address["p2p_addresses"][EncodeAddress(records_[1].key)] = "10.0.0.1";
  write(bad_address);
  EXPECT_FALSE(LoadGenesisDraft(draft_path_).ok());
  auto extra = json;
  extra["genesis"]["surprise"] = 1;
  write(extra);
  EXPECT_FALSE(LoadGenesisDraft(draft_path_).ok());
}

TEST_F(CeremonyTest, FinalizeChecksTheGenesisAndRefusesToOverwrite) {
  GenesisDraft no_council = LoadGenesisDraft(draft_path_).value();
  for (const ValidatorRecord& record : records_) ASSERT_TRUE(AddValidator(no_council, record).ok());
  EXPECT_THAT(FinalizeGenesis(no_council, dir_.path() / "out").status().message(),
              HasSubstr("no council"));
  GenesisDraft no_validators = LoadGenesisDraft(draft_path_).value();
  ASSERT_TRUE(AddCouncilMember(no_validators, council_.public_key()).ok());
  EXPECT_FALSE(FinalizeGenesis(no_validators, dir_.path() / "out").ok());
  GenesisDraft complete = CompleteDraft();
  EXPECT_THAT(AddRole(complete, "registar", council_.public_key()).message(),
              HasSubstr("not a role the contracts check"));
  EXPECT_EQ(AddRole(complete, "registrar", council_.public_key()).code(),
            ErrorCode::kAlreadyExists);
  GenesisDraft bad_chain = CompleteDraft();
  bad_chain.genesis.chain_id = "Not A Chain";
  EXPECT_FALSE(FinalizeGenesis(bad_chain, dir_.path() / "out").ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "out" / "genesis.json"));

  const FinalGenesis final = FinalizeGenesis(CompleteDraft(), dir_.path() / "out").value();
  const GenesisDoc doc = LoadGenesisFile(final.genesis_file).value();
  EXPECT_EQ(BuildGenesisChain(doc).value().block_hash, final.hash);
  ASSERT_EQ(doc.validators.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(doc.validators[i].key, records_[i].key) << "in order";
  EXPECT_EQ(FinalizeGenesis(CompleteDraft(), dir_.path() / "out").status().code(),
            ErrorCode::kAlreadyExists);
}

TEST_F(CeremonyTest, EveryHomeInstallsTheSameGenesisWithTheOthersAsPeers) {
  const FinalGenesis final = FinalizeGenesis(CompleteDraft(), dir_.path() / "out").value();
  for (int i = 0; i < 4; ++i) {
    const Result<Hash256> hash = InstallGenesis(Install(i, final));
    ASSERT_TRUE(hash.ok()) << hash.status().ToString();
    EXPECT_EQ(*hash, final.hash);
    const HomePaths home{Home(i)};
    EXPECT_TRUE(fs::exists(home.safety()));
    const NodeConfig config = LoadConfigFile(home.config()).value();
    ASSERT_EQ(config.peers.size(), 3u);
    for (const PeerAddress& peer : config.peers) {
      EXPECT_NE(peer.key, records_[i].key) << "not itself";
      const auto record = std::find_if(records_.begin(), records_.end(),
                                       [&](const ValidatorRecord& r) { return r.key == peer.key; });
      ASSERT_NE(record, records_.end());
      EXPECT_EQ(peer.host, record->p2p_host);
      EXPECT_EQ(peer.port, record->p2p_port);
    }
    EXPECT_EQ(config.moniker, Numbered("v", i)) << "the rest of the config is kept";
  }
  EXPECT_EQ(InstallGenesis(Install(0, final)).status().code(), ErrorCode::kAlreadyExists);
}

TEST_F(CeremonyTest, StartRefusesAConfigThatDoesNotFitTheGenesisNamingTheEntry) {
  const FinalGenesis final = FinalizeGenesis(CompleteDraft(), dir_.path() / "out").value();
  ASSERT_TRUE(InstallGenesis(Install(0, final)).ok());
  const HomePaths home{Home(0)};
  const NodeConfig config = LoadConfigFile(home.config()).value();
  const GenesisDoc genesis = LoadGenesisFile(home.genesis()).value();
  const PublicKey self = records_[0].key;
  EXPECT_TRUE(CheckConfigAgainstGenesis(home, config, genesis, self).ok());

  NodeConfig with_self = config;
  with_self.peers.push_back({self, "10.9.0.1", 26656});
  EXPECT_TRUE(CheckConfigAgainstGenesis(home, with_self, genesis, self).ok())
      << "an entry for the node itself is ignored, as the config's comment says";

  EXPECT_THAT(CheckConfigAgainstGenesis(home, config, genesis, council_.public_key()).message(),
              HasSubstr("is not a validator"));
  NodeConfig stranger = config;
  stranger.peers[1].key = council_.public_key();
  EXPECT_THAT(
      CheckConfigAgainstGenesis(home, stranger, genesis, self).message(),
      HasSubstr("entry 2 (" + EncodeAddress(council_.public_key()) + ") is not a validator"));
  NodeConfig twice = config;
  twice.peers.push_back(config.peers[0]);
  EXPECT_THAT(CheckConfigAgainstGenesis(home, twice, genesis, self).message(),
              HasSubstr("a second time"));
  NodeConfig missing = config;
  missing.peers.pop_back();
  EXPECT_THAT(CheckConfigAgainstGenesis(home, missing, genesis, self).message(),
              HasSubstr("no [[p2p.peers]] entry for validator v3"));

  // Epochs: a key a later set named is a validator too; one that joins later starts with
  // --join; a genesis validator no longer in the current set needs no entry.
  const PublicKey added = council_.public_key();
  NodeConfig with_added = config;
  with_added.peers.push_back({added, "10.9.0.9", 26656});
  EXPECT_THAT(CheckConfigAgainstGenesis(home, with_added, genesis, self).message(),
              HasSubstr("is not a validator"));
  ChainValidators later{{}, {added}};
  EXPECT_TRUE(CheckConfigAgainstGenesis(home, with_added, genesis, self, later).ok());
  // (with_self lists all four genesis validators, as the added validator's config does)
  EXPECT_TRUE(CheckConfigAgainstGenesis(home, with_self, genesis, added, later).ok())
      << "a validator a passed change names";
  EXPECT_THAT(CheckConfigAgainstGenesis(home, with_self, genesis, added).message(),
              HasSubstr("starts with --join"));
  EXPECT_TRUE(
      CheckConfigAgainstGenesis(home, with_self, genesis, added, {}, /*joining=*/true).ok());
  ChainValidators without_v3{{records_[0].key, records_[1].key, records_[2].key, added}, {added}};
  EXPECT_TRUE(CheckConfigAgainstGenesis(home, missing, genesis, self, without_v3).ok())
      << "v3 was removed: no entry needed";

  EXPECT_THAT(MissingGenesis(HomePaths{Home(1)}).message(), HasSubstr("cityd genesis install"));
  EXPECT_THAT(MissingGenesis(HomePaths{dir_.path() / "elsewhere"}).message(),
              ::testing::Not(HasSubstr("ceremony")));
}

TEST_F(CeremonyTest, InstallRefusesAStrangerAWrongHashAndAnotherGenesisPeersWritingNothing) {
  const FinalGenesis final = FinalizeGenesis(CompleteDraft(), dir_.path() / "out").value();
  auto nothing_written = [&](int i) {
    EXPECT_FALSE(fs::exists(HomePaths{Home(i)}.genesis()));
    EXPECT_FALSE(fs::exists(HomePaths{Home(i)}.safety()));
    EXPECT_TRUE(LoadConfigFile(HomePaths{Home(i)}.config()).value().peers.empty());
  };

  JoinOptions stranger{Home(7), "v7", "10.9.0.7:26656"};
  ASSERT_TRUE(InitJoiningHome(stranger).ok());
  EXPECT_EQ(InstallGenesis(Install(7, final)).status().code(), ErrorCode::kPermissionDenied);
  nothing_written(7);
  // --joining: the key must not be a genesis validator, and then the stranger may install
  // (a validator a set-validators change adds to the running chain).
  InstallOptions genesis_member_joining = Install(0, final);
  genesis_member_joining.joining = true;
  EXPECT_THAT(InstallGenesis(genesis_member_joining).status().message(),
              HasSubstr("drop --joining"));
  nothing_written(0);
  InstallOptions joining = Install(7, final);
  joining.joining = true;
  ASSERT_TRUE(InstallGenesis(joining).ok());
  EXPECT_TRUE(fs::exists(HomePaths{Home(7)}.genesis()));
  EXPECT_EQ(LoadConfigFile(HomePaths{Home(7)}.config()).value().peers.size(), 4u)
      << "every genesis validator is its peer";

  InstallOptions wrong_hash = Install(0, final);
  wrong_hash.expected_hash = Hash256{}.ToHex();
  EXPECT_THAT(InstallGenesis(wrong_hash).status().message(), HasSubstr("not the expected"));
  nothing_written(0);

  // Peers of another ceremony (same validators, other genesis time).
  ASSERT_TRUE(NewGenesisDraft(dir_.path() / "other.json", "city-ceremony", 1).ok());
  GenesisDraft other = LoadGenesisDraft(dir_.path() / "other.json").value();
  for (const ValidatorRecord& record : records_) ASSERT_TRUE(AddValidator(other, record).ok());
  ASSERT_TRUE(AddCouncilMember(other, council_.public_key()).ok());
  const FinalGenesis other_final = FinalizeGenesis(other, dir_.path() / "other").value();
  InstallOptions mixed = Install(1, final);
  mixed.peers_file = other_final.peers_file;
  EXPECT_THAT(InstallGenesis(mixed).status().message(), HasSubstr("another genesis"));
  nothing_written(1);

  // A peers file whose addresses were swapped to another order.
  auto peers = nlohmann::json::parse(test::ReadFileText(final.peers_file));
  std::swap(peers["peers"][0], peers["peers"][1]);
  const fs::path swapped = dir_.path() / "swapped.json";
  std::ofstream(swapped) << peers.dump();
  InstallOptions reordered = Install(2, final);
  reordered.peers_file = swapped;
  EXPECT_THAT(InstallGenesis(reordered).status().message(), HasSubstr("not the genesis validator"));
  nothing_written(2);
}

}  // namespace
}  // namespace city::node
