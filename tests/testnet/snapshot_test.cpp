// State snapshots on real validators (docs/operators.md, "Snapshots"): every validator writes
// one at the same executed heights while the network runs under load; `cityd snapshot export`
// copies one out of a running node, and `cityd snapshot import` makes a wiped validator's
// ledger from it, checked against the genesis. The validator then syncs only the blocks after
// the snapshot and agrees with the others header for header and root for root. An import
// refuses, changing nothing, a running node, a home with a ledger (without --replace), a
// snapshot vouched for by fewer than f+1 validators (until one more co-signs it) and a
// tampered chunk; after a refusal it resumes where it stopped.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kInterval = 20;

void SetOption(const fs::path& home, const std::string& from, const std::string& to) {
  const fs::path file = home / "config.toml";
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  const size_t at = config.find(from);
  ASSERT_NE(at, std::string::npos) << file;
  config.replace(at, from.size(), to);
  std::ofstream(file, std::ios::trunc) << config;
}

// The heights of the finished snapshots `cityd snapshot list` shows, newest first.
std::vector<uint64_t> ListedHeights(const fs::path& home, const fs::path& scratch) {
  const RunResult listed = RunCityd({"snapshot", "list", "--home", home.string()}, scratch);
  std::vector<uint64_t> heights;
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("height ")) heights.push_back(std::stoull(line.substr(7)));
  }
  return heights;
}

void FlipByte(const fs::path& file, std::streamoff at) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(at);
  const char c = static_cast<char>(f.get());
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x40));
}

TEST(SnapshotTest, AWipedValidatorStartsFromASnapshotAndSyncsOnlyTheRest) {
  LocalNetOptions options;
  options.start = false;
  LocalNet net(options);
  for (size_t node : net.AllNodes()) {
    SetOption(net.home(node), "snapshot_interval = 1000",
              "snapshot_interval = " + std::to_string(kInterval));
    // Kept long enough for the test to export one while more are taken.
    SetOption(net.home(node), "snapshot_keep = 2", "snapshot_keep = 16");
  }
  net.StartAll();
  const fs::path scratch = net.dir() / "snapshot-scratch";
  fs::create_directories(scratch);
  Load load(net, {"citizen", "patient", "clinician"}, 40);
  load.Start(net.AllNodes());
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), 4 * kInterval, 90s)) << net.Describe();

  // Every validator snapshots the same heights.
  std::vector<uint64_t> heights;
  ASSERT_TRUE(LocalNet::WaitFor(
      [&] {
        heights = ListedHeights(net.home(0), scratch);
        return heights.size() >= 2 && heights[0] >= 2 * kInterval;
      },
      60s))
      << "node 0 lists " << heights.size() << " snapshots";
  const uint64_t snapshot_height = heights[0];
  ASSERT_TRUE(LocalNet::WaitFor(
      [&] {
        const std::vector<uint64_t> on_1 = ListedHeights(net.home(1), scratch);
        return std::find(on_1.begin(), on_1.end(), snapshot_height) != on_1.end();
      },
      30s))
      << "node 1 has no snapshot at " << snapshot_height;

  // One taken on demand by a running node, at its newest anchored height.
  const RunResult created =
      RunCityd({"snapshot", "create", "--home", net.home(2).string()}, scratch, 60s);
  ASSERT_EQ(created.exit_code, 0) << "out: " << created.out << " err: " << created.err;
  const size_t at = created.out.find("at height ");
  ASSERT_NE(at, std::string::npos) << created.out;
  const uint64_t created_height = std::stoull(created.out.substr(at + 10));
  EXPECT_GE(created_height, snapshot_height);
  const std::vector<uint64_t> on_2 = ListedHeights(net.home(2), scratch);
  EXPECT_NE(std::find(on_2.begin(), on_2.end(), created_height), on_2.end()) << created.out;

  // A height no committed header names executed (here: far above the tip) is refused.
  const RunResult unanchored = RunCityd(
      {"snapshot", "create", "--home", net.home(2).string(), "--height", "999999999"}, scratch);
  EXPECT_NE(unanchored.exit_code, 0) << unanchored.out;
  EXPECT_NE(unanchored.err.find("HTTP 400"), std::string::npos) << unanchored.err;

  // Exported from a running node.
  const fs::path exported = net.dir() / "exported";
  const RunResult exported_run =
      RunCityd({"snapshot", "export", "--home", net.home(0).string(), "--height",
                std::to_string(snapshot_height), "--out", exported.string()},
               scratch, 60s);
  ASSERT_EQ(exported_run.exit_code, 0) << exported_run.out << exported_run.err;

  const size_t victim = 3;
  const fs::path home = net.home(victim);
  // Refused while the node runs.
  const RunResult while_running = RunCityd(
      {"snapshot", "import", "--home", home.string(), "--from", exported.string(), "--replace"},
      scratch);
  EXPECT_NE(while_running.exit_code, 0) << while_running.out;
  EXPECT_NE(while_running.err.find("stop the node"), std::string::npos) << while_running.err;
  // Clients go to the others from here: a node far behind takes a transaction whose nonce its
  // stale state sees behind a gap, and may evict it before it catches up (as documented).
  load.SetTargets({0, 1, 2});
  ASSERT_EQ(net.Stop(victim), 0) << "see " << net.log_path(victim);
  const uint64_t stopped_at = net.Height(0).value_or(0);

  // Vouched for by node 0 alone, which is neither this home's validator nor f+1 of them: the
  // transaction ids it carries are not taken on one other validator's word.
  const RunResult unvouched = RunCityd(
      {"snapshot", "import", "--home", home.string(), "--from", exported.string(), "--replace"},
      scratch, 60s);
  EXPECT_NE(unvouched.exit_code, 0) << unvouched.out;
  EXPECT_NE(unvouched.err.find("vouched for by 1 validator(s) of its epoch; it needs 2"),
            std::string::npos)
      << unvouched.err;
  // Node 1 co-signs: its own snapshot of that height has the same manifest.
  const RunResult cosigned = RunCityd(
      {"snapshot", "cosign", "--home", net.home(1).string(), "--snapshot", exported.string()},
      scratch, 30s);
  ASSERT_EQ(cosigned.exit_code, 0) << cosigned.out << cosigned.err;
  EXPECT_NE(cosigned.out.find("vouched for by 2 key(s)"), std::string::npos) << cosigned.out;

  // Refused without --replace: the home has a ledger.
  const RunResult no_replace = RunCityd(
      {"snapshot", "import", "--home", home.string(), "--from", exported.string()}, scratch);
  EXPECT_NE(no_replace.exit_code, 0);
  EXPECT_NE(no_replace.err.find("--replace"), std::string::npos) << no_replace.err;

  // A tampered chunk stops the import there; nothing in the home moves.
  const fs::path tampered = net.dir() / "tampered";
  fs::copy(exported, tampered);
  FlipByte(tampered / "chunk-00000.bin", 200);
  const RunResult refused = RunCityd(
      {"snapshot", "import", "--home", home.string(), "--from", tampered.string(), "--replace"},
      scratch, 60s);
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.err.find("not the part the manifest names"), std::string::npos) << refused.err;
  EXPECT_TRUE(fs::exists(home / "data" / "CURRENT")) << "the old ledger is still in place";

  // The real import resumes the refused one (the same manifest) and finishes it.
  const RunResult imported = RunCityd(
      {"snapshot", "import", "--home", home.string(), "--from", exported.string(), "--replace"},
      scratch, 120s);
  ASSERT_EQ(imported.exit_code, 0) << imported.out << imported.err;
  EXPECT_NE(imported.out.find("resumed"), std::string::npos) << imported.out;
  EXPECT_FALSE(fs::exists(home / "data.importing"));
  std::fprintf(stderr, "[snapshot] height %llu exported from node 0 at height %llu: %s",
               static_cast<unsigned long long>(snapshot_height),
               static_cast<unsigned long long>(stopped_at), imported.out.c_str());

  net.Start(victim);
  ASSERT_TRUE(net.WaitHeight({victim}, stopped_at + 5, 90s))
      << "node " << victim << " did not catch up from the snapshot: " << net.Status(victim).dump();
  EXPECT_TRUE(net.WaitProgress({victim}, 3, 30s)) << "it does not keep committing";
  load.Stop();
  // It holds the chain from the snapshot on, the same as the others.
  const Json status = net.Status(victim);
  EXPECT_EQ(status.value("lowest_height", uint64_t{0}), snapshot_height) << status.dump();
  EXPECT_EQ(net.Get(victim, "/v1/blocks/1").status, 410);
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), net.MaxHeight(net.AllNodes()).value_or(0), 30s));
  const uint64_t top = net.MinHeight(net.AllNodes()).value_or(0);
  const std::string range =
      "/v1/headers?from=" + std::to_string(snapshot_height) + "&to=" + std::to_string(top);
  const ApiReply from_victim = net.Get(victim, range);
  const ApiReply from_0 = net.Get(0, range);
  ASSERT_TRUE(from_victim.ok()) << from_victim.Describe();
  ASSERT_TRUE(from_0.ok()) << from_0.Describe();
  ASSERT_EQ(from_victim.body["headers"].size(), from_0.body["headers"].size());
  EXPECT_GE(from_victim.body["headers"].size(), top - snapshot_height);
  for (size_t i = 0; i < from_0.body["headers"].size(); ++i) {
    EXPECT_EQ(from_victim.body["headers"][i]["encoded_header"],
              from_0.body["headers"][i]["encoded_header"])
        << "height " << snapshot_height + i;
  }
  EXPECT_EQ(load.VerifyCommitted(0, 60s), "") << "nothing lost";
}

}  // namespace
}  // namespace city::testnet
