// The genesis ceremony across hosts: four network namespaces on a bridge stand for four
// machines, each with its own address. Each "host" runs `cityd init --join` inside its
// namespace, the coordinator assembles the genesis from their records with `cityd genesis`,
// each host installs it (checking the announced hash), and the four validators commit across
// the bridge. One host's link is then cut (link down): the other three keep committing and the
// cut host catches up once its link is back. Needs root and `ip netns`; skips otherwise.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "city/crypto/address.h"
#include "city/net/http_client.h"
#include "localnet.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

constexpr int kHosts = 4;
constexpr uint16_t kP2pPort = 26656;
constexpr uint16_t kApiPort = 8080;

fs::path IpCommand() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (fs::exists(path)) return path;
  }
  return {};
}

// prefix + number, appended (GCC 12 at -O3 reports a false -Wrestrict on "x" + to_string).
std::string Numbered(std::string_view prefix, long number) {
  return std::string(prefix).append(std::to_string(number));
}

class CeremonyAcrossHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    ip_ = IpCommand();
    if (::geteuid() != 0 || ip_.empty()) {
      GTEST_SKIP() << "needs root and the ip command (network namespaces); skipped";
    }
    // Names unique to this process: interface names are at most 15 characters.
    const long id = ::getpid() % 100000;
    subnet_ = Numbered("10.213.", id % 250).append(".");
    bridge_ = Numbered("cbr", id);
    if (!Ip({"link", "add", bridge_, "type", "bridge"})) {
      GTEST_SKIP() << "cannot create a bridge here (no network namespaces?); skipped";
    }
    made_bridge_ = true;
    ASSERT_TRUE(Ip({"addr", "add", subnet_ + "254/24", "dev", bridge_}));
    ASSERT_TRUE(Ip({"link", "set", bridge_, "up"}));
    for (int i = 0; i < kHosts; ++i) {
      const std::string ns = Namespace(i);
      const std::string outside = Numbered("cvh", id).append(std::to_string(i));
      const std::string inside = Numbered("cvn", id).append(std::to_string(i));
      ASSERT_TRUE(Ip({"netns", "add", ns}));
      namespaces_.push_back(ns);
      veths_.push_back(outside);
      ASSERT_TRUE(Ip({"link", "add", outside, "type", "veth", "peer", "name", inside}));
      ASSERT_TRUE(Ip({"link", "set", inside, "netns", ns}));
      ASSERT_TRUE(Ip({"link", "set", outside, "master", bridge_}));
      ASSERT_TRUE(Ip({"link", "set", outside, "up"}));
      ASSERT_TRUE(Ip({"-n", ns, "addr", "add", Address(i) + "/24", "dev", inside}));
      ASSERT_TRUE(Ip({"-n", ns, "link", "set", inside, "up"}));
      ASSERT_TRUE(Ip({"-n", ns, "link", "set", "lo", "up"}));
    }
  }

  // Always undone, whatever failed: the processes, the namespaces (their veth ends go with
  // them) and the bridge.
  void TearDown() override {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (const std::string& ns : namespaces_) Ip({"netns", "delete", ns});
    for (const std::string& veth : veths_) Ip({"link", "delete", veth});
    if (made_bridge_) Ip({"link", "delete", bridge_});
  }

  std::string Namespace(int i) const { return bridge_ + "-h" + std::to_string(i); }
  std::string Address(int i) const { return subnet_ + std::to_string(i + 1); }
  fs::path Home(int i) const { return dir_.path() / Numbered("host", i); }

  bool Ip(std::vector<std::string> args) {
    args.insert(args.begin(), ip_.string());
    const test::ProcessResult run =
        test::RunProcess(args, dir_.path() / "ip.out", dir_.path() / "ip.err");
    if (run.exit_code != 0) last_error_ = run.err;
    return run.exit_code == 0;
  }

  // cityd with `args`, inside host i's namespace (or on the coordinator's, i < 0).
  test::ProcessResult Cityd(int i, std::vector<std::string> args) {
    args.insert(args.begin(), CitydPath().string());
    if (i >= 0) args.insert(args.begin(), {ip_.string(), "netns", "exec", Namespace(i)});
    return test::RunProcess(args, dir_.path() / "cityd.out", dir_.path() / "cityd.err");
  }

  void StartHost(int i) {
    test::ProcessOptions options;
    options.append = true;
    const fs::path log = dir_.path() / Numbered("host", i).append(".log");
    pids_.push_back(test::StartProcess({ip_.string(), "netns", "exec", Namespace(i),
                                        CitydPath().string(), "start", "--home", Home(i).string()},
                                       log, log, options));
  }

  net::HttpClient Client(int i) const {
    net::HttpClientOptions options;
    options.timeout = std::chrono::milliseconds(1500);
    return net::HttpClient(net::HttpUrl{Address(i), kApiPort, "", false}, options);
  }

  // Host i's /v1/status across the bridge; null when unreachable.
  Json Status(int i) const {
    Result<net::HttpReply> reply = Client(i).Get("/v1/status");
    if (!reply.ok() || reply->status != 200) return nullptr;
    return Json::parse(reply->body, nullptr, false);
  }

  // Host i's committed height; nullopt when unreachable.
  std::optional<uint64_t> Height(int i) const {
    const Json status = Status(i);
    if (!status.is_object() || !status.contains("height")) return std::nullopt;
    return status["height"].get<uint64_t>();
  }

  // Waits until host i's height reaches `height`.
  bool WaitForHeight(int i, uint64_t height, Millis timeout) {
    return LocalNet::WaitFor([&] { return Height(i).value_or(0) >= height; }, timeout, 200ms);
  }

  test::TempDir dir_;
  fs::path ip_;
  std::string subnet_;
  std::string bridge_;
  bool made_bridge_ = false;
  std::vector<std::string> namespaces_;
  std::vector<std::string> veths_;
  std::vector<pid_t> pids_;
  std::string last_error_;
};

TEST_F(CeremonyAcrossHosts, FourHostsAssembleOneGenesisCommitAcrossTheBridgeAndACutHostRejoins) {
  // 1. Each operator, on their own host.
  for (int i = 0; i < kHosts; ++i) {
    const test::ProcessResult init =
        Cityd(i, {"init", "--join", "--home", Home(i).string(), "--name", Numbered("v", i),
                  "--p2p-address", Address(i) + ":" + std::to_string(kP2pPort), "--api-port",
                  std::to_string(kApiPort)});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    ASSERT_TRUE(fs::exists(Home(i) / "validator-record.json"));
  }
  const test::ProcessResult early = Cityd(0, {"start", "--home", Home(0).string()});
  EXPECT_NE(early.exit_code, 0) << "a home without its genesis does not start";

  // 2. The coordinator.
  const fs::path draft = dir_.path() / "draft.json";
  const KeyPair council = KeyPair::Generate();
  const std::string council_address = EncodeAddress(council.public_key());
  std::vector<std::vector<std::string>> steps = {
      {"genesis", "new", "--draft", draft.string(), "--chain-id", "city-hosts"}};
  for (int i = 0; i < kHosts; ++i) {
    steps.push_back({"genesis", "add-validator", "--draft", draft.string(), "--record",
                     (Home(i) / "validator-record.json").string()});
  }
  steps.push_back({"genesis", "add-council", "--draft", draft.string(), "--member", council_address,
                   "--threshold", "1"});
  steps.push_back({"genesis", "add-role", "--draft", draft.string(), "--role", "registrar",
                   "--account", council_address});
  for (const auto& step : steps) {
    const test::ProcessResult run = Cityd(-1, step);
    ASSERT_EQ(run.exit_code, 0) << step[1] << ": " << run.err;
  }
  const test::ProcessResult repeat =
      Cityd(-1, {"genesis", "add-validator", "--draft", draft.string(), "--record",
                 (Home(1) / "validator-record.json").string()});
  EXPECT_NE(repeat.exit_code, 0) << "a validator added twice is refused";
  const fs::path out = dir_.path() / "final";
  const test::ProcessResult final =
      Cityd(-1, {"genesis", "finalize", "--draft", draft.string(), "--out", out.string()});
  ASSERT_EQ(final.exit_code, 0) << final.err;
  const size_t at = final.out.find("genesis hash: ");
  ASSERT_NE(at, std::string::npos) << final.out;
  const std::string hash = final.out.substr(at + 14, 64);
  ASSERT_EQ(hash.size(), 64u) << final.out;

  // 3. Each operator installs it, checking the hash they were told.
  const test::ProcessResult wrong =
      Cityd(0, {"genesis", "install", "--home", Home(0).string(), "--genesis",
                (out / "genesis.json").string(), "--peers", (out / "peers.json").string(),
                "--expect-hash", std::string(64, '0')});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("not the expected"), std::string::npos) << wrong.err;
  for (int i = 0; i < kHosts; ++i) {
    const test::ProcessResult install =
        Cityd(i, {"genesis", "install", "--home", Home(i).string(), "--genesis",
                  (out / "genesis.json").string(), "--peers", (out / "peers.json").string(),
                  "--expect-hash", hash});
    ASSERT_EQ(install.exit_code, 0) << install.err;
  }

  // 4. The chain commits across the bridge, on one genesis.
  for (int i = 0; i < kHosts; ++i) StartHost(i);
  for (int i = 0; i < kHosts; ++i) {
    ASSERT_TRUE(WaitForHeight(i, 3, 60s))
        << "host " << i << " did not commit; see " << dir_.path().string() << "/hostN.log";
    EXPECT_EQ(Status(i).value("genesis_hash", ""), hash) << "host " << i;
  }

  // 5. Host 3 is cut off: the other three go on; it catches up when its link is back.
  ASSERT_TRUE(Ip({"link", "set", veths_[3], "down"})) << last_error_;
  const uint64_t at_cut = Height(0).value_or(0);
  EXPECT_TRUE(WaitForHeight(0, at_cut + 5, 60s)) << "three of four keep committing";
  EXPECT_FALSE(Height(3).has_value()) << "the cut host is unreachable";
  ASSERT_TRUE(Ip({"link", "set", veths_[3], "up"})) << last_error_;
  const uint64_t target = Height(0).value_or(0);
  EXPECT_TRUE(WaitForHeight(3, target, 90s))
      << "the cut host rejoined at " << Height(3).value_or(0) << ", the others at " << target;
}

}  // namespace
}  // namespace city::testnet
