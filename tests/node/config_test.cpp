// config.toml: defaults, every option read, the rendered file parsing back to the same
// config, and each kind of mistake refused with a message naming the file, table and key.
#include "city/node/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fstream>

#include "city/crypto/address.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

PublicKey Peer(uint8_t i) { return test::TestKey(i).public_key(); }

// The message of a config that must be refused with kInvalidArgument.
std::string ErrorOf(std::string_view text) {
  Result<NodeConfig> parsed = ParseConfigToml(text);
  EXPECT_FALSE(parsed.ok()) << text;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  return parsed.status().message();
}

NodeConfig ParseOk(std::string_view text) {
  Result<NodeConfig> parsed = ParseConfigToml(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  return parsed.ok() ? *parsed : NodeConfig{};
}

NodeConfig EveryOptionChanged() {
  NodeConfig c;
  c.moniker = "harbour-1";
  c.p2p_listen_host = "0.0.0.0";
  c.p2p_port = 30000;
  c.peers = {{Peer(2), "10.0.0.2", 30002}, {Peer(3), "node3.example", 30004}};
  c.api_listen_host = "::1";
  c.api_port = 30001;
  c.api_max_connections = 64;
  c.api_max_connections_per_ip = 5;
  c.api_allowed_hosts = "node.example,10.0.0.7";
  c.api_requests_per_second_per_ip = 50;
  c.api_rate_limit_exempt = "10.0.0.9";
  c.api_max_long_polls_per_ip = 8;
  c.api_tls_certificate_chain = "/etc/city/api.crt";
  c.api_tls_private_key = "/etc/city/api.key";
  c.api_max_body_bytes = 1 << 20;
  c.base_timeout_ms = 2'000;
  c.max_timeout_ms = 60'000;
  c.max_block_transactions = 10'000;
  c.max_block_bytes = ledger::kMaxBlockBytes;
  c.batch_delay_ms = 0;
  c.idle_block_interval_ms = 999;
  c.mempool_max_transactions = 7;
  c.mempool_max_bytes = 70'000;
  c.mempool_max_per_sender = 3;
  c.mempool_max_per_client = 9;
  c.mempool_max_nonce_ahead = 5;
  c.mempool_max_expiry_horizon = 77;
  c.mempool_gap_eviction_heights = 4;
  c.verify_threads = 4;
  c.verify_batch = 1;
  c.verify_cache_entries = 0;
  c.retain_versions = 200;
  c.retain_blocks = 5000;
  c.snapshot_interval = 250;
  c.snapshot_keep = 3;
  c.log_level = "debug";
  return c;
}

TEST(ConfigParse, EmptyFileGivesEveryDefault) { EXPECT_EQ(ParseOk(""), NodeConfig{}); }

TEST(ConfigParse, MissingKeysKeepTheirDefaults) {
  const NodeConfig c = ParseOk("[api]\nport = 9000\n[log]\nlevel = \"warn\"\n");
  NodeConfig expected;
  expected.api_port = 9000;
  expected.log_level = "warn";
  EXPECT_EQ(c, expected);
}

TEST(ConfigParse, ReadsEveryOption) {
  const std::string text = R"([node]
moniker = "harbour-1"
[p2p]
listen_host = "0.0.0.0"
port = 30000
[[p2p.peers]]
key = ")" + EncodeAddress(Peer(2)) +
                           R"("
host = "10.0.0.2"
port = 30002
[[p2p.peers]]
key = ")" + EncodeAddress(Peer(3)) +
                           R"("
host = "node3.example"
port = 30004
[api]
listen_host = "::1"
port = 30001
max_connections = 64
max_connections_per_ip = 5
allowed_hosts = "node.example,10.0.0.7"
requests_per_second_per_ip = 50
rate_limit_exempt = "10.0.0.9"
max_long_polls_per_ip = 8
max_body_bytes = 1048576
[api.tls]
certificate_chain = "/etc/city/api.crt"
private_key = "/etc/city/api.key"
[consensus]
base_timeout_ms = 2000
max_timeout_ms = 60000
max_block_transactions = 10000
max_block_bytes = 16777216
batch_delay_ms = 0
idle_block_interval_ms = 999
[mempool]
max_transactions = 7
max_bytes = 70000
max_per_sender = 3
max_per_client = 9
max_nonce_ahead = 5
max_expiry_horizon = 77
gap_eviction_heights = 4
verify_threads = 4
verify_batch = 1
verify_cache_entries = 0
[storage]
retain_versions = 200
retain_blocks = 5000
snapshot_interval = 250
snapshot_keep = 3
[log]
level = "debug"
)";
  EXPECT_EQ(ParseOk(text), EveryOptionChanged());
}

TEST(ConfigParse, InlineTablesAndDottedKeysAreTomlToo) {
  const NodeConfig c = ParseOk("api = { port = 9001 }\nconsensus.base_timeout_ms = 4000\n");
  EXPECT_EQ(c.api_port, 9001);
  EXPECT_EQ(c.base_timeout_ms, 4000u);
}

TEST(ConfigRender, DefaultsRoundTrip) {
  EXPECT_EQ(ParseOk(RenderConfigToml(NodeConfig{})), NodeConfig{});
}

TEST(ConfigRender, VariedConfigsRoundTrip) {
  NodeConfig tricky = EveryOptionChanged();
  tricky.moniker = "quote \" backslash \\ tab \t newline \n del \x7f unicode \xc3\xa9\xe5\x9f\x8e";
  tricky.peers.push_back({Peer(9), "h\"o\\st", 1});
  NodeConfig one_peer;
  one_peer.peers = {{Peer(1), "127.0.0.1", 65535}};
  for (const NodeConfig& config : {EveryOptionChanged(), tricky, one_peer}) {
    EXPECT_EQ(ParseOk(RenderConfigToml(config)), config);
  }
}

TEST(ConfigRender, EveryOptionHasACommentWithItsDefault) {
  const std::string text = RenderConfigToml(EveryOptionChanged());
  std::istringstream lines(text);
  std::string previous;
  std::string section;
  std::string line;
  size_t options = 0;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '[') section = line;
    const bool is_option = !line.empty() && line[0] != '#' && line[0] != '[';
    if (line == "[api.tls]") {
      EXPECT_THAT(previous, StartsWith("# ")) << "the [api.tls] table is explained";
    }
    if (is_option && section != "[[p2p.peers]]" && section != "[api.tls]") {
      ++options;
      EXPECT_THAT(previous, StartsWith("# ")) << line;
      EXPECT_THAT(previous, HasSubstr("Default: ")) << line;
    }
    previous = line;
  }
  EXPECT_EQ(options, 35u);  // every option of NodeConfig but the peers
  EXPECT_THAT(text, HasSubstr("Default: none."));
  EXPECT_THAT(text, HasSubstr("max_timeout_ms = 60000"));
  EXPECT_THAT(text, HasSubstr("Default: 30000."));
  EXPECT_THAT(text, HasSubstr("Default: \"info\"."));
}

TEST(ConfigRender, PeersFollowEveryP2pOption) {
  // A [p2p] key after [[p2p.peers]] would belong to the last peer.
  const std::string text = RenderConfigToml(EveryOptionChanged());
  EXPECT_LT(text.find("port = 30000"), text.find("[[p2p.peers]]"));
  EXPECT_LT(text.rfind("[[p2p.peers]]"), text.find("[api]"));
}

rc::Gen<std::string> GenText() {
  // Pieces that stress quoting: quotes, backslashes, control characters, multi-byte UTF-8.
  static const std::vector<std::string> kPieces = {"a",
                                                   "Z",
                                                   "0",
                                                   " ",
                                                   "\"",
                                                   "\\",
                                                   "\t",
                                                   "\n",
                                                   "\x01",
                                                   "\x7f",
                                                   "'",
                                                   "#",
                                                   "=",
                                                   "[",
                                                   "\xc3\xa9",
                                                   "\xe5\x9f\x8e",
                                                   "\xf0\x9f\x9a\x8c"};
  return rc::gen::map(
      rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(kPieces))),
      [](const std::vector<std::string>& pieces) {
        std::string out;
        for (const std::string& piece : pieces) out += piece;
        return out;
      });
}

RC_GTEST_PROP(ConfigProperty, RenderedConfigParsesBackIdentically, ()) {
  NodeConfig c;
  c.moniker = *GenText();
  c.p2p_listen_host = *GenText();
  c.api_listen_host = *GenText();
  c.p2p_port = *rc::gen::inRange<uint16_t>(1, 65535);
  c.api_port = *rc::gen::inRange<uint16_t>(1, 65535);
  c.api_max_connections = *rc::gen::inRange<size_t>(1, 1'000'000);
  c.api_max_body_bytes = *rc::gen::inRange<size_t>(1, size_t{1} << 40);
  c.base_timeout_ms = *rc::gen::inRange<uint64_t>(4, 100'000);
  c.max_timeout_ms = *rc::gen::inRange<uint64_t>(c.base_timeout_ms, 86'400'001);
  c.idle_block_interval_ms = *rc::gen::inRange<uint64_t>(1, c.base_timeout_ms / 2);
  c.batch_delay_ms = *rc::gen::inRange<uint64_t>(0, c.base_timeout_ms / 2);
  c.max_block_transactions = *rc::gen::inRange<size_t>(1, ledger::kMaxTransactionsPerBlock + 1);
  c.max_block_bytes = *rc::gen::inRange<size_t>(1, ledger::kMaxBlockBytes + 1);
  c.mempool_max_transactions = *rc::gen::inRange<size_t>(1, 10'000'000);
  c.mempool_max_bytes = *rc::gen::inRange<size_t>(1, size_t{1} << 40);
  c.mempool_max_per_sender = *rc::gen::inRange<size_t>(1, 10'000'000);
  c.verify_threads = *rc::gen::inRange<size_t>(0, 1025);
  c.verify_batch = *rc::gen::inRange<size_t>(1, 100'000);
  c.verify_cache_entries = *rc::gen::inRange<size_t>(0, size_t{1} << 40);
  c.retain_versions = *rc::gen::element(
      uint64_t{0}, *rc::gen::inRange<uint64_t>(kMinRetainBlocks, uint64_t{1} << 62));
  c.retain_blocks = *rc::gen::element(
      uint64_t{0}, *rc::gen::inRange<uint64_t>(kMinRetainBlocks, uint64_t{1} << 62));
  c.snapshot_interval = *rc::gen::inRange<uint64_t>(0, uint64_t{1} << 62);
  c.snapshot_keep = *rc::gen::inRange<uint64_t>(1, 17);
  c.log_level =
      *rc::gen::elementOf(std::vector<std::string>{"trace", "debug", "info", "warn", "error"});
  const size_t peers = *rc::gen::inRange<size_t>(0, 6);
  for (size_t i = 0; i < peers; ++i) {
    c.peers.push_back(
        {Peer(static_cast<uint8_t>(i + 1)), *GenText(), *rc::gen::inRange<uint16_t>(1, 65535)});
  }
  Result<NodeConfig> parsed = ParseConfigToml(RenderConfigToml(c));
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == c);
}

TEST(ConfigErrors, SyntaxErrorsGiveLineAndColumn) {
  const std::string message = ErrorOf("[api]\nport = 80\nmax_connections = = 3\n");
  EXPECT_THAT(message, StartsWith("config.toml:3:"));
}

TEST(ConfigErrors, FileNameIsTheOneGiven) {
  Result<NodeConfig> parsed = ParseConfigToml("[api]\nprot = 1\n", "/etc/city/node.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "/etc/city/node.toml: unknown key [api] prot");
}

TEST(ConfigErrors, UnknownKeysAndTablesAreRefused) {
  EXPECT_EQ(ErrorOf("[api]\nprot = 8080\n"), "config.toml: unknown key [api] prot");
  EXPECT_EQ(ErrorOf("[apii]\nport = 8080\n"), "config.toml: unknown table [apii]");
  EXPECT_THAT(ErrorOf("moniker = \"x\"\n"), StartsWith("config.toml: unknown key moniker"));
  EXPECT_EQ(ErrorOf("[api.tls]\ncert = \"x\"\n"), "config.toml: unknown key [api.tls] cert");
  EXPECT_EQ(ErrorOf("[api.tls]\ncertificate_chain = \"/a.crt\"\n"),
            "config.toml: [api.tls]: needs both certificate_chain and private_key");
  EXPECT_THAT(ErrorOf("[api]\ntls = 1\n"), HasSubstr("[api.tls]: expected a table"));
  EXPECT_THAT(ErrorOf("api = 3\n"), HasSubstr("[api]: expected a table"));
}

TEST(ConfigErrors, WrongTypesAreRefused) {
  EXPECT_EQ(ErrorOf("[p2p]\nport = \"26656\"\n"),
            "config.toml: [p2p] port: expected an integer in 1..65535, got a string");
  EXPECT_THAT(ErrorOf("[api]\nmax_connections = 1.5\n"),
              HasSubstr("[api] max_connections: expected an integer"));
  EXPECT_THAT(ErrorOf("[node]\nmoniker = 5\n"),
              HasSubstr("[node] moniker: expected a string, got an integer"));
  EXPECT_THAT(ErrorOf("[log]\nlevel = true\n"), HasSubstr("[log] level: expected a string"));
  EXPECT_THAT(ErrorOf("[node]\nmoniker = \"\"\n"), HasSubstr("[node] moniker: must not be empty"));
}

TEST(ConfigErrors, RangesAreChecked) {
  EXPECT_EQ(ErrorOf("[p2p]\nport = 0\n"),
            "config.toml: [p2p] port: expected an integer in 1..65535, got 0");
  EXPECT_THAT(ErrorOf("[api]\nport = 65536\n"),
              HasSubstr("[api] port: expected an integer in 1..65535"));
  EXPECT_THAT(ErrorOf("[storage]\nretain_versions = -1\n"),
              HasSubstr("[storage] retain_versions: expected an integer"));
  EXPECT_THAT(
      ErrorOf("[storage]\nretain_versions = 1\n"),
      HasSubstr("[storage] retain_versions: must be 0 (keep every version) or at least 128"));
  // Pruning to a few blocks would strand every peer a little behind.
  EXPECT_THAT(ErrorOf("[storage]\nretain_blocks = 127\n"),
              HasSubstr("[storage] retain_blocks: must be 0 (keep every block) or at least 128"));
  EXPECT_THAT(ErrorOf("[storage]\nretain_blocks = 1\n"), HasSubstr("[storage] retain_blocks"));
  EXPECT_EQ(ParseOk("[storage]\nretain_blocks = 128\n").retain_blocks, 128u);
  EXPECT_THAT(ErrorOf("[consensus]\nbase_timeout_ms = 0\n"),
              HasSubstr("[consensus] base_timeout_ms"));
  EXPECT_THAT(ErrorOf("[consensus]\nmax_block_transactions = 0\n"),
              HasSubstr("[consensus] max_block_transactions: expected an integer in 1..10000"));
  EXPECT_THAT(ErrorOf("[consensus]\nmax_block_transactions = 10001\n"),
              HasSubstr("[consensus] max_block_transactions"));
  EXPECT_THAT(ErrorOf("[consensus]\nmax_block_bytes = 16777217\n"),
              HasSubstr("[consensus] max_block_bytes"));
  EXPECT_THAT(ErrorOf("[mempool]\nverify_batch = 0\n"), HasSubstr("[mempool] verify_batch"));
  EXPECT_THAT(ErrorOf("[mempool]\nmax_transactions = 0\n"),
              HasSubstr("[mempool] max_transactions"));
  // The chain's expiry horizon caps the pool's: a farther expiry could never be proposed.
  EXPECT_THAT(ErrorOf("[mempool]\nmax_expiry_horizon = 20001\n"),
              HasSubstr("[mempool] max_expiry_horizon: expected an integer in 1..20000"));
  EXPECT_EQ(ParseOk("[mempool]\nmax_expiry_horizon = 20000\n").mempool_max_expiry_horizon, 20000u);
  EXPECT_THAT(ErrorOf("[storage]\nsnapshot_keep = 0\n"), HasSubstr("[storage] snapshot_keep"));
  EXPECT_THAT(ErrorOf("[storage]\nsnapshot_keep = 17\n"), HasSubstr("[storage] snapshot_keep"));
  EXPECT_THAT(ErrorOf("[log]\nlevel = \"verbose\"\n"),
              HasSubstr("[log] level: expected one of trace, debug, info, warn, error"));
}

TEST(ConfigErrors, TimeoutsMustFitTogether) {
  EXPECT_EQ(ErrorOf("[consensus]\nbase_timeout_ms = 5000\nmax_timeout_ms = 4000\n"),
            "config.toml: [consensus] max_timeout_ms: must be >= base_timeout_ms (5000)");
  // The default max (30 s) is checked against a changed base too.
  EXPECT_THAT(ErrorOf("[consensus]\nbase_timeout_ms = 40000\n"),
              HasSubstr("[consensus] max_timeout_ms"));
  EXPECT_THAT(ErrorOf("[consensus]\nidle_block_interval_ms = 0\n"),
              HasSubstr("[consensus] idle_block_interval_ms"));
  EXPECT_THAT(ErrorOf("[consensus]\nidle_block_interval_ms = 500\n"),
              HasSubstr("[consensus] idle_block_interval_ms: must be > 0 and < base_timeout_ms / 2 "
                        "(500)"));
  // The default idle interval (400 ms) with a base that no longer leaves room for it.
  EXPECT_THAT(ErrorOf("[consensus]\nbase_timeout_ms = 800\n"),
              HasSubstr("[consensus] idle_block_interval_ms"));
  EXPECT_THAT(ErrorOf("[consensus]\nbatch_delay_ms = 500\n"),
              HasSubstr("[consensus] batch_delay_ms"));
  EXPECT_EQ(ParseOk("[consensus]\nidle_block_interval_ms = 499\n").idle_block_interval_ms, 499u);
}

TEST(ConfigErrors, PeersAreChecked) {
  const std::string good = EncodeAddress(Peer(2));
  std::string bad = good;
  bad.back() = bad.back() == 'q' ? 'p' : 'q';
  EXPECT_THAT(ErrorOf("[[p2p.peers]]\nkey = \"" + bad + "\"\nhost = \"h\"\nport = 1\n"),
              HasSubstr("[[p2p.peers]] #1 key: not a valid address"));
  EXPECT_THAT(ErrorOf("[[p2p.peers]]\nkey = \"" + good + "\"\nhost = \"h\"\nport = 1\n" +
                      "[[p2p.peers]]\nkey = \"" + good + "\"\nhost = \"g\"\nport = 2\n"),
              HasSubstr("[[p2p.peers]] #2 key: peer " + good + " is listed twice"));
  EXPECT_THAT(ErrorOf("[[p2p.peers]]\nkey = \"" + good + "\"\nhost = \"h\"\n"),
              HasSubstr("[[p2p.peers]] #1: missing key \"port\""));
  EXPECT_THAT(ErrorOf("[[p2p.peers]]\nhost = \"h\"\nport = 1\n"),
              HasSubstr("[[p2p.peers]] #1: missing key \"key\""));
  EXPECT_EQ(ErrorOf("[[p2p.peers]]\nkey = \"" + good + "\"\nhost = \"h\"\nport = 1\nprot = 2\n"),
            "config.toml: unknown key [[p2p.peers]] prot");
  EXPECT_THAT(ErrorOf("[[p2p.peers]]\nkey = \"" + good + "\"\nhost = \"h\"\nport = 0\n"),
              HasSubstr("[[p2p.peers]] #1 port: expected an integer in 1..65535"));
  EXPECT_THAT(ErrorOf("[p2p]\npeers = 3\n"), HasSubstr("[p2p] peers: expected an array"));
}

TEST(ConfigFile, MissingFileSaysHowToMakeOne) {
  test::TempDir dir;
  Result<NodeConfig> loaded = LoadConfigFile(dir.path() / "config.toml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(loaded.status().message(), "no config file at " +
                                           (dir.path() / "config.toml").string() +
                                           " (run `cityd init --home DIR` first)");
}

TEST(ConfigFile, LoadsAndNamesThePathInErrors) {
  test::TempDir dir;
  const auto path = dir.path() / "config.toml";
  std::ofstream(path) << RenderConfigToml(EveryOptionChanged());
  Result<NodeConfig> loaded = LoadConfigFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(*loaded, EveryOptionChanged());

  const auto broken = dir.path() / "broken.toml";
  std::ofstream(broken) << "[api]\nprot = 1\n";
  EXPECT_EQ(LoadConfigFile(broken).status().message(),
            broken.string() + ": unknown key [api] prot");
}

TEST(ConfigFile, OversizedFileIsRefused) {
  test::TempDir dir;
  const auto path = dir.path() / "config.toml";
  std::ofstream(path) << std::string(kMaxConfigFileBytes + 1, '#');
  Result<NodeConfig> loaded = LoadConfigFile(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), ErrorCode::kTooLarge);
}

TEST(ConfigFile, DirectoryIsRefused) {
  test::TempDir dir;
  Result<NodeConfig> loaded = LoadConfigFile(dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace city::node
