// Pruning ([storage] retain_blocks) on real validators under load: three of four prune, one
// keeps every block. The pruned ones hold the configured depth and no more, answer 410 pruned
// with their lowest height below it, agree with the archive node on everything they hold, and
// `cityctl audit verify-chain` against one checks the range it holds, tied to the genesis by
// the epochs' last headers. A pruned validator stopped for longer than its peers retain cannot
// catch up from them: they tell it they prune (they are not taken for liars) and it says why it
// waits; once the archive node is back it catches up from it, and keeps pruning.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cityctl_runner.h"
#include "test_util.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kRetain = 128;  // the least a node may keep (kMinRetainBlocks)
constexpr std::string_view kTestnetPassphrase = "citydev";

// Sets [storage] retain_blocks in a home's config.toml (cityd testnet writes every option).
void SetRetainBlocks(const fs::path& home, uint64_t blocks) {
  const fs::path file = home / "config.toml";
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  const std::string key = "retain_blocks = 0";
  const size_t at = config.find(key);
  ASSERT_NE(at, std::string::npos) << file;
  config.replace(at, key.size(), "retain_blocks = " + std::to_string(blocks));
  std::ofstream(file, std::ios::trunc) << config;
}

uint64_t LowestOf(LocalNet& net, size_t node) {
  return net.Status(node).value("lowest_height", uint64_t{0});
}

uint64_t DiskBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

TEST(PruneTest, PrunedValidatorsKeepTheirDepthAgreeWithArchivesAndAreAuditable) {
  LocalNetOptions options;
  options.start = false;
  LocalNet net(options);
  const std::vector<size_t> pruned = {1, 2, 3};
  for (size_t node : pruned) SetRetainBlocks(net.home(node), kRetain);
  net.StartAll();
  Load load(net, {"citizen", "patient", "clinician"}, 60);
  load.Start(net.AllNodes());
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), 3 * kRetain, 120s)) << net.Describe();

  // A transaction committed early, which the pruned nodes no longer hold.
  std::string early_tx;
  for (uint64_t h = 1; h < kRetain && early_tx.empty(); ++h) {
    const ApiReply block = net.Get(0, "/v1/blocks/" + std::to_string(h));
    ASSERT_TRUE(block.ok()) << block.Describe();
    const Json txs = block.body["block"].value("transactions", Json::array());
    if (!txs.empty()) early_tx = txs[0].value("id", "");
  }
  ASSERT_EQ(early_tx.size(), 64u) << "no transaction in the first blocks";
  // Each pruned node holds about kRetain blocks (pruning runs in the commit, so exactly that
  // many at its own tip); the archives hold everything.
  for (size_t node : pruned) {
    const Json status = net.Status(node);
    const uint64_t tip = status.value("height", uint64_t{0});
    const uint64_t lowest = status.value("lowest_height", uint64_t{0});
    // The status's height (the driver's, published after commits) may lag the store's lowest
    // height, read after it: never more than kRetain held, and not much fewer.
    EXPECT_LE(tip + 1 - lowest, kRetain) << status.dump();
    EXPECT_GE(tip + 1 - lowest, kRetain - 16) << status.dump();
    const ApiReply gone = net.Get(node, "/v1/blocks/1");
    EXPECT_EQ(gone.status, 410) << gone.Describe();
    EXPECT_EQ(ErrorCodeOf(gone), "pruned") << gone.Describe();
    EXPECT_GE(gone.body["error"].value("lowest_height", uint64_t{0}), lowest) << gone.Describe();
    const ApiReply headers = net.Get(node, "/v1/headers?from=0&to=5");
    EXPECT_EQ(headers.status, 410) << headers.Describe();
    // A transaction of a pruned block: its id is still known (the once-only rule), its body
    // is not, and the node says so rather than "unknown".
    const ApiReply gone_tx = net.Get(node, "/v1/tx/" + early_tx);
    EXPECT_EQ(gone_tx.status, 410) << gone_tx.Describe();
    EXPECT_EQ(ErrorCodeOf(gone_tx), "pruned") << gone_tx.Describe();
    EXPECT_TRUE(net.Get(0, "/v1/tx/" + early_tx).ok());
    // Far enough above the lowest that the blocks committed meanwhile do not prune it.
    const ApiReply held = net.Get(node, "/v1/blocks/" + std::to_string(lowest + kRetain / 2));
    EXPECT_TRUE(held.ok()) << held.Describe();
  }
  EXPECT_EQ(LowestOf(net, 0), 0u);
  EXPECT_TRUE(net.Get(0, "/v1/blocks/1").ok());

  // What a pruned node holds is the archives' chain, header for header.
  // Well above the lowest height, which moves on while we read.
  const uint64_t lowest = LowestOf(net, 1);
  const uint64_t compared = lowest + kRetain / 2;
  const ApiReply from_pruned = net.Get(
      1, "/v1/headers?from=" + std::to_string(compared) + "&to=" + std::to_string(compared + 20));
  const ApiReply from_archive = net.Get(
      0, "/v1/headers?from=" + std::to_string(compared) + "&to=" + std::to_string(compared + 20));
  ASSERT_TRUE(from_pruned.ok()) << from_pruned.Describe();
  ASSERT_TRUE(from_archive.ok()) << from_archive.Describe();
  ASSERT_EQ(from_pruned.body["headers"].size(), 21u);
  for (size_t i = 0; i < 21; ++i) {
    EXPECT_EQ(from_pruned.body["headers"][i]["encoded_header"],
              from_archive.body["headers"][i]["encoded_header"])
        << "height " << compared + i;
  }

  // The auditor's check against a pruned node covers what it holds, and says where it starts.
  const fs::path scratch = net.dir() / "cityctl";
  fs::create_directories(scratch);
  Cityctl ctl(LocalUrl(net.api_port(1)), net.dir() / "net", scratch);
  ctl.Set("CITYCTL_PASSPHRASE", std::string(kTestnetPassphrase));
  const std::string genesis = (net.home(0) / "genesis.json").string();
  const CtlRun audit =
      ctl.RunJson({"--as", "auditor", "audit", "verify-chain", "--blocks", "--genesis", genesis});
  ASSERT_TRUE(Succeeded(audit)) << audit.Describe();
  const uint64_t audited_from = audit.json.value("from", uint64_t{0});
  EXPECT_GE(audited_from, lowest) << audit.json.dump(2);
  EXPECT_EQ(audit.json.value("requested_from", uint64_t{99}), 0u) << audit.json.dump(2);
  EXPECT_EQ(audit.json.value("lowest_height", uint64_t{0}), audited_from) << audit.json.dump(2);
  EXPECT_EQ(audit.json.value("blocks", uint64_t{0}),
            audit.json.value("to", uint64_t{0}) - audited_from + 1)
      << audit.json.dump(2);
  const CtlRun too_low =
      ctl.RunJson({"audit", "verify-chain", "--genesis", genesis, "--from", "1", "--to", "3"});
  EXPECT_TRUE(FailedCleanly(too_low)) << too_low.Describe();
  EXPECT_NE(too_low.json.dump().find("pruned"), std::string::npos) << too_low.Describe();

  // Node 2 is down while the others go 2 * kRetain further; then the archive node stops too
  // (the chain halts: two of four are up), and node 2 starts with only pruned peers.
  ASSERT_EQ(net.Stop(2), 0) << "see " << net.log_path(2);
  const uint64_t stopped_at = net.Height(0).value_or(0);
  ASSERT_TRUE(net.WaitHeight({0, 1, 3}, stopped_at + 2 * kRetain, 120s)) << net.Describe();
  load.Stop();
  ASSERT_EQ(net.Stop(0), 0) << "see " << net.log_path(0);
  for (size_t node : {1, 3}) {
    EXPECT_GT(LowestOf(net, node), stopped_at + 1) << "node " << node << " holds what 2 needs";
  }
  net.Start(2);
  const std::string stuck = "every validator ahead has pruned the blocks after it";
  auto log_of_2 = [&] {
    std::ifstream in(net.log_path(2));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  EXPECT_TRUE(LocalNet::WaitFor([&] { return log_of_2().find(stuck) != std::string::npos; }, 30s))
      << "node 2 says why it cannot catch up; see " << net.log_path(2);
  EXPECT_EQ(log_of_2().find("sent a faulty reply"), std::string::npos)
      << "a pruned peer is no liar; see " << net.log_path(2);
  EXPECT_LE(net.Height(2).value_or(0), stopped_at + 1) << "it cannot have caught up";
  net.Start(0);  // the archive node: node 2 catches up from it
  const uint64_t target = net.Height(1).value_or(0);
  ASSERT_TRUE(net.WaitHeight({2}, target, 120s)) << net.Describe();
  const Json caught_up = net.Status(2);
  const uint64_t held =
      caught_up.value("height", uint64_t{0}) + 1 - caught_up.value("lowest_height", uint64_t{0});
  EXPECT_LE(held, kRetain) << caught_up.dump();
  EXPECT_GE(held, kRetain - 16) << caught_up.dump();

  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 3, 60s)) << "the chain goes on with all four";
  EXPECT_EQ(load.VerifyCommitted(0, 60s), "") << "nothing lost (checked on an archive node)";
  const uint64_t archive_bytes = DiskBytes(net.home(0) / "data");
  const uint64_t pruned_bytes = DiskBytes(net.home(1) / "data");
  std::fprintf(
      stderr, "[prune] at height %llu: archive data %llu bytes, pruned (%llu blocks) %llu\n",
      static_cast<unsigned long long>(net.Height(0).value_or(0)),
      static_cast<unsigned long long>(archive_bytes), static_cast<unsigned long long>(kRetain),
      static_cast<unsigned long long>(pruned_bytes));
}

}  // namespace
}  // namespace city::testnet
