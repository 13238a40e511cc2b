// `cityd backup` and `cityd restore` against real validators (docs/operators.md, "Backups and
// restores"): a backup taken while the network runs under load restores into a stopped
// validator, which catches up and agrees with the others block for block; the restore keeps
// the validator's safety state byte for byte, and refuses, changing nothing, a running node, a
// home with a ledger (without --replace), a backup of another chain, a manifest changed after
// it was signed, a store that does not match its manifest, and any backup of a chain's only
// validator.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The names in `dir` that start with `prefix`.
std::vector<std::string> EntriesStartingWith(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix)) names.push_back(name);
  }
  return names;
}

// A refusal: a non-zero exit, `what` in the message, and the home's ledger left as it was.
void ExpectRefused(const RunResult& run, const std::string& what, const fs::path& home) {
  EXPECT_NE(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.err.find(what), std::string::npos) << "expected '" << what << "' in: " << run.err;
  EXPECT_TRUE(EntriesStartingWith(home, "data.").empty()) << "nothing moved in " << home;
}

TEST(BackupTest, ABackupTakenUnderLoadRestoresAndTheValidatorCatchesUp) {
  LocalNet net;
  const fs::path scratch = net.dir() / "backup-scratch";
  fs::create_directories(scratch);
  Load load(net, {"citizen", "patient", "clinician"}, 40);
  load.Start(net.AllNodes());
  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 10, 30s)) << net.Describe();

  const size_t victim = 2;
  const fs::path home = net.home(victim);
  const fs::path backup = net.dir() / "backup-of-2";
  const RunResult made =
      RunCityd({"backup", "--home", home.string(), "--out", backup.string()}, scratch, 120s);
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  const Json manifest = Json::parse(ReadAll(backup / "manifest.json"), nullptr, false);
  ASSERT_TRUE(manifest.is_object()) << made.out;
  EXPECT_EQ(manifest["chain_id"], net.chain_id());
  const uint64_t backed_up = manifest.value("height", uint64_t{0});
  EXPECT_GE(backed_up, 10u);
  std::fprintf(stderr, "[backup] node %zu backed up at height %llu under load\n", victim,
               static_cast<unsigned long long>(backed_up));

  // Refusals while it runs: bad arguments, the same place again, a restore into a running
  // node.
  EXPECT_EQ(RunCityd({"backup", "--home", home.string()}, scratch).exit_code, 2) << "no --out";
  ExpectRefused(RunCityd({"restore", "--home", home.string(), "--from",
                          (net.dir() / "no-such-backup").string(), "--replace"},
                         scratch),
                "locked", home);
  ExpectRefused(RunCityd({"backup", "--home", (net.dir() / "no-home").string(), "--out",
                          (net.dir() / "x").string()},
                         scratch),
                "no config file", home);
  ExpectRefused(RunCityd({"backup", "--home", home.string(), "--out", backup.string()}, scratch),
                "exists", home);
  ExpectRefused(
      RunCityd({"restore", "--home", home.string(), "--from", backup.string(), "--replace"},
               scratch),
      "locked", home);

  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 5, 30s)) << "the chain moves past the backup";
  const fs::path later = net.dir() / "later-backup-of-2";
  ASSERT_EQ(RunCityd({"backup", "--home", home.string(), "--out", later.string()}, scratch, 120s)
                .exit_code,
            0);
  ASSERT_EQ(net.Stop(victim), 0) << "see " << net.log_path(victim);
  const std::string safety = ReadAll(home / "validator_state.bin");
  ASSERT_FALSE(safety.empty());
  const uint64_t stopped_at = net.Height(0).value_or(0);

  ExpectRefused(RunCityd({"restore", "--home", home.string(), "--from", backup.string()}, scratch),
                "holds a ledger", home);
  // A manifest changed after it was signed; a signed manifest beside another store (a later
  // backup's); a home of another chain.
  const fs::path tampered = net.dir() / "tampered";
  fs::copy(backup, tampered, fs::copy_options::recursive);
  Json lie = manifest;
  std::string content = lie["content_hash"].get<std::string>();
  content[0] = content[0] == '0' ? '1' : '0';
  lie["content_hash"] = content;
  fs::remove(tampered / "manifest.json");
  std::ofstream(tampered / "manifest.json") << lie.dump(2);
  ExpectRefused(
      RunCityd({"restore", "--home", home.string(), "--from", tampered.string(), "--replace"},
               scratch),
      "not signed by its signer", home);
  const fs::path swapped = net.dir() / "swapped";
  fs::create_directories(swapped);
  fs::copy(backup / "manifest.json", swapped / "manifest.json");
  fs::copy(later / "data", swapped / "data", fs::copy_options::recursive);
  ExpectRefused(
      RunCityd({"restore", "--home", home.string(), "--from", swapped.string(), "--replace"},
               scratch),
      "does not match its manifest", home);
  const fs::path other = net.dir() / "other-chain";
  ASSERT_EQ(RunCityd({"testnet", "--validators", "1", "--out", other.string(), "--chain-id",
                      "city-other", "--base-port", "28990"},
                     scratch)
                .exit_code,
            0);
  ExpectRefused(RunCityd({"restore", "--home", (other / "node0").string(), "--from",
                          backup.string(), "--replace"},
                         scratch),
                "a backup of another chain", other / "node0");

  const RunResult restored = RunCityd(
      {"restore", "--home", home.string(), "--from", backup.string(), "--replace"}, scratch, 120s);
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_EQ(ReadAll(home / "validator_state.bin"), safety) << "the safety state is untouched";
  EXPECT_EQ(EntriesStartingWith(home, "data.before-restore-").size(), 1u)
      << "the old ledger is moved aside, not deleted";
  EXPECT_TRUE(fs::exists(backup / "data" / "CURRENT")) << "the backup stays as it was";

  net.Start(victim);
  EXPECT_TRUE(net.WaitHeight({victim}, stopped_at + 3, 60s))
      << "node " << victim << " did not catch up from the backup: " << net.Status(victim).dump();
  EXPECT_TRUE(net.WaitProgress({victim}, 3, 30s)) << "it does not keep committing";
  load.Stop();
  EXPECT_EQ(load.VerifyCommitted(victim, 60s), "");
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), net.MaxHeight(net.AllNodes()).value_or(0), 30s));
  net.ExpectSameChain(net.AllNodes());
}

TEST(BackupTest, AChainsOnlyValidatorIsNotRestored) {
  LocalNetOptions options;
  options.validators = 1;
  LocalNet net(options);
  const fs::path scratch = net.dir() / "backup-scratch";
  fs::create_directories(scratch);
  ASSERT_TRUE(net.WaitProgress({0}, 3, 30s)) << net.Describe();
  const fs::path backup = net.dir() / "backup";
  const RunResult made =
      RunCityd({"backup", "--home", net.home(0).string(), "--out", backup.string()}, scratch, 60s);
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  ASSERT_TRUE(net.WaitProgress({0}, 3, 30s));
  ASSERT_EQ(net.Stop(0), 0);
  // Its latest certified block is in its current ledger only: it could not go on without it.
  ExpectRefused(
      RunCityd({"restore", "--home", net.home(0).string(), "--from", backup.string(), "--replace"},
               scratch),
      "its chain's only one", net.home(0));
  net.Start(0);
  EXPECT_TRUE(net.WaitProgress({0}, 2, 30s)) << "the refused restore changed nothing";
}

}  // namespace
}  // namespace city::testnet
