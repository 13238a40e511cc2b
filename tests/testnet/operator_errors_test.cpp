// Operator mistakes make `cityd start` fail fast: a non-zero exit within seconds and one line
// "cityd: ..." on stderr that names the problem (the path, the key, the port, the pid).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "city/crypto/keyfile.h"
#include "support/process.h"
#include "test_util.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

LocalNetOptions OneValidator(bool start, std::string chain_id = "city-testnet") {
  LocalNetOptions options;
  options.validators = 1;
  options.start = start;
  options.chain_id = std::move(chain_id);
  return options;
}

RunResult StartOnce(LocalNet& net, const fs::path& home) {
  return RunCityd({"start", "--home", home.string()}, net.dir(), 30s);
}

// Exit 1 within 5 s; exactly one "cityd: " line, the last one on stderr, naming every word in
// `names`.
void ExpectOperatorError(const RunResult& run, const std::vector<std::string>& names) {
  EXPECT_FALSE(run.timed_out) << "cityd kept running: " << run.err;
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_LT(run.elapsed, 5s);
  const std::vector<std::string> lines = LinesStartingWith(run.err, "cityd: ");
  ASSERT_EQ(lines.size(), 1u) << "stderr:\n" << run.err;
  std::string last = run.err;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  EXPECT_EQ(last, lines[0]) << "the message is not the last line of stderr:\n" << run.err;
  for (const std::string& name : names) {
    EXPECT_NE(lines[0].find(name), std::string::npos) << "'" << name << "' not in: " << lines[0];
  }
  std::fprintf(stderr, "  exit %d after %lld ms: %s\n", run.exit_code,
               static_cast<long long>(run.elapsed.count()), lines[0].c_str());
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST(OperatorErrorTest, MissingHome) {
  LocalNet net(OneValidator(false));
  const fs::path home = net.dir() / "no-such-home";
  ExpectOperatorError(StartOnce(net, home), {home.string()});
}

TEST(OperatorErrorTest, HomeWithoutConfig) {
  LocalNet net(OneValidator(false));
  const fs::path home = net.dir() / "empty-home";
  fs::create_directories(home);
  ExpectOperatorError(StartOnce(net, home), {"config.toml"});
}

TEST(OperatorErrorTest, ConfigWithMisspelledKey) {
  LocalNet net(OneValidator(false));
  const fs::path config = net.home(0) / "config.toml";
  std::string text = test::ReadFileText(config);
  const size_t at = text.find("\nmax_connections = ");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, std::string("\nmax_connections").size(), "\nmax_conections");
  WriteText(config, text);
  ExpectOperatorError(StartOnce(net, net.home(0)), {"max_conections"});
}

TEST(OperatorErrorTest, DataFromAnotherGenesis) {
  // Data written by a node of one network, under the genesis of another (same chain id, so
  // only the genesis itself differs).
  LocalNet first(OneValidator(true));
  ASSERT_TRUE(first.WaitHeight({0}, 3, 20s)) << first.Describe();
  ASSERT_EQ(first.Stop(0), 0);
  LocalNet second(OneValidator(false));
  fs::copy(first.home(0) / "data", second.home(0) / "data", fs::copy_options::recursive);
  ExpectOperatorError(StartOnce(second, second.home(0)), {"genesis"});
}

TEST(OperatorErrorTest, ApiPortInUse) {
  LocalNet net(OneValidator(false));
  const uint16_t port = net.api_port(0);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ExpectOperatorError(StartOnce(net, net.home(0)), {std::to_string(port)});
  ::close(fd);
}

TEST(OperatorErrorTest, SecondNodeOnALockedHome) {
  LocalNet net(OneValidator(true));
  ExpectOperatorError(StartOnce(net, net.home(0)), {"locked", "pid " + std::to_string(net.pid(0))});
  // The first one is unharmed and still stops cleanly.
  EXPECT_TRUE(net.WaitProgress({0}, 1, 10s));
  EXPECT_EQ(net.Stop(0), 0);
}

// The operator key of `cityd init` is a new chain's council: it is encrypted with a passphrase
// the operator gives (a file, or the terminal), never the public dev one, and without one
// nothing is written.
TEST(OperatorErrorTest, InitNeedsTheOperatorsOwnPassphrase) {
  LocalNet net(OneValidator(false));
  const fs::path home = net.dir() / "new-home";
  // No terminal (the process has a session of its own) and no file.
  ExpectOperatorError(RunCityd({"init", "--home", home.string()}, net.dir()),
                      {"--passphrase-file"});
  EXPECT_FALSE(fs::exists(home));
  const fs::path weak = net.dir() / "weak.txt";
  WriteText(weak, "citydev\n");
  ExpectOperatorError(
      RunCityd({"init", "--home", home.string(), "--passphrase-file", weak.string()}, net.dir()),
      {"dev passphrase"});
  EXPECT_FALSE(fs::exists(home));
  ExpectOperatorError(RunCityd({"init", "--home", home.string(), "--passphrase-file",
                                (net.dir() / "absent.txt").string()},
                               net.dir()),
                      {"absent.txt"});
  EXPECT_FALSE(fs::exists(home));

  const fs::path good = net.dir() / "good.txt";
  WriteText(good, "correct horse battery staple\n");
  const RunResult made =
      RunCityd({"init", "--home", home.string(), "--passphrase-file", good.string()}, net.dir());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const fs::path key_file = home / "keys" / "operator.key";
  EXPECT_EQ(fs::status(key_file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(ReadKeyFile(key_file, "correct horse battery staple").ok())
      << "the line, without its newline";
  EXPECT_FALSE(ReadKeyFile(key_file, "citydev").ok());
}

// A validator without its safety state could have voted in any round before it lost it: no
// guess is safe, so it refuses to start, and says how to recover.
TEST(OperatorErrorTest, HomeWithoutSafetyState) {
  LocalNet net(OneValidator(false));
  const fs::path safety = net.home(0) / "validator_state.bin";
  ASSERT_TRUE(fs::exists(safety)) << "cityd testnet writes a fresh safety state";
  fs::remove(safety);
  ExpectOperatorError(StartOnce(net, net.home(0)), {safety.string(), "--recover-safety"});
  // A lone validator has nobody to recover from.
  ExpectOperatorError(
      RunCityd({"start", "--home", net.home(0).string(), "--recover-safety"}, net.dir(), 30s),
      {"lone validator"});
  EXPECT_FALSE(fs::exists(safety));
}

// With --recover-safety it rejoins: it signs nothing until its peers have shown their rounds,
// then abstains past them, writes its safety state again, and the chain goes on without a fork.
// A validator of a running network, stopped after a few blocks: its index and safety file.
std::pair<size_t, fs::path> StopOneAfterAFewBlocks(LocalNet& net) {
  const size_t victim = net.rng()() % net.size();
  EXPECT_TRUE(net.WaitProgress(net.AllNodes(), 3, 30s));
  EXPECT_EQ(net.Stop(victim), 0);
  return {victim, net.home(victim) / "validator_state.bin"};
}

TEST(SafetyRecoveryTest, ValidatorThatLostItsSafetyStateRejoinsThroughItsPeers) {
  LocalNet net;
  const auto [victim, safety] = StopOneAfterAFewBlocks(net);
  ASSERT_TRUE(fs::exists(safety));
  fs::remove(safety);
  ExpectOperatorError(StartOnce(net, net.home(victim)), {"--recover-safety"});

  net.Start(victim, {"--recover-safety"});
  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 5, 60s)) << "the network or the victim stalled";
  EXPECT_TRUE(LocalNet::WaitFor([&] { return fs::exists(safety); }, 30s))
      << "the recovered safety state was never written";
  EXPECT_NE(test::ReadFileText(net.log_path(victim)).find("recovering the safety state"),
            std::string::npos);
  net.ExpectSameChain(net.AllNodes(), 5);
  // Once written, a plain start works again.
  ASSERT_EQ(net.Stop(victim), 0);
  net.Start(victim);
  EXPECT_TRUE(net.WaitProgress(net.AllNodes(), 2, 60s));
}

// The safety state is saved in place, one of two slots at a time (ledger/safety_file.h). A
// damaged slot beside a whole one may be a save torn by a crash, or the disk altering the
// newest state, so the whole one may be a save old: the validator signs nothing until its
// peers have shown their rounds, then goes on, and the chain does not fork.
TEST(SafetyRecoveryTest, ADamagedSlotOfTheSafetyStateMakesTheValidatorRecoverItsRounds) {
  LocalNet net;
  const auto [victim, safety] = StopOneAfterAFewBlocks(net);
  std::string bytes = test::ReadFileText(safety);
  ASSERT_EQ(bytes.size() % 8192, 0u);
  const size_t slot = bytes.size() / 2;
  auto sequence = [&](size_t begin) {
    uint64_t value = 0;
    for (size_t i = 8; i-- > 0;) value = (value << 8) | uint8_t(bytes[begin + 8 + i]);
    return value;
  };
  ASSERT_EQ(bytes.substr(0, 8), "CITYSAF2");
  ASSERT_EQ(bytes.substr(slot, 8), "CITYSAF2") << "a validator that ran saves in both slots";
  const size_t newest = sequence(slot) > sequence(0) ? slot : 0;
  bytes[newest + 30] = char(bytes[newest + 30] ^ 0x40);
  {
    std::fstream out(safety, std::ios::in | std::ios::out | std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  net.Start(victim);
  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 5, 60s)) << "the network or the victim stalled";
  EXPECT_NE(test::ReadFileText(net.log_path(victim)).find("is damaged; abstaining"),
            std::string::npos);
  net.ExpectSameChain(net.AllNodes(), 5);
}

}  // namespace
}  // namespace city::testnet

namespace city::testnet {
namespace {

// The genesis ceremony's commands fail the same way on an operator's mistake: one line that
// names the file or the missing part, and nothing written.
TEST(OperatorErrorTest, CeremonyMistakes) {
  LocalNet net(OneValidator(false));
  const fs::path dir = net.dir();
  const fs::path home = dir / "joining";
  ExpectOperatorError(RunCityd({"init", "--join", "--home", home.string()}, dir),
                      {"--name", "--p2p-address"});
  EXPECT_FALSE(fs::exists(home / "validator.key"));
  const RunResult chain_id = RunCityd({"init", "--join", "--home", home.string(), "--name", "v",
                                       "--p2p-address", "10.0.0.1:26656", "--chain-id", "x"},
                                      dir);
  EXPECT_EQ(chain_id.exit_code, 2) << "a bad argument: --chain-id comes with the genesis";
  EXPECT_NE(chain_id.err.find("--chain-id excludes --join"), std::string::npos) << chain_id.err;
  ExpectOperatorError(RunCityd({"init", "--join", "--home", home.string(), "--name", "v",
                                "--p2p-address", "10.0.0.1"},
                               dir),
                      {"HOST:PORT"});
  ASSERT_EQ(RunCityd({"init", "--join", "--home", home.string(), "--name", "v", "--p2p-address",
                      "10.0.0.1:26656"},
                     dir)
                .exit_code,
            0);
  ExpectOperatorError(StartOnce(net, home), {"genesis install"});

  const fs::path draft = dir / "draft.json";
  ExpectOperatorError(RunCityd({"genesis", "add-validator", "--draft", draft.string(), "--record",
                                (home / "validator-record.json").string()},
                               dir),
                      {draft.string()});
  ASSERT_EQ(RunCityd({"genesis", "new", "--draft", draft.string(), "--chain-id", "city-x"}, dir)
                .exit_code,
            0);
  ExpectOperatorError(RunCityd({"genesis", "add-validator", "--draft", draft.string(), "--record",
                                (dir / "missing.json").string()},
                               dir),
                      {"missing.json"});
  ExpectOperatorError(
      RunCityd({"genesis", "add-council", "--draft", draft.string(), "--member", "city1nope"}, dir),
      {"city1nope"});
  ExpectOperatorError(
      RunCityd({"genesis", "finalize", "--draft", draft.string(), "--out", (dir / "out").string()},
               dir),
      {"validator"});
  EXPECT_FALSE(fs::exists(dir / "out" / "genesis.json"));
}

}  // namespace
}  // namespace city::testnet
