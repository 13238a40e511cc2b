// The multi-process test network (localnet.h): processes, the API client pool, the no-fork
// check, keys and nonces, and the load generator.
#include "localnet.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/crypto/keyfile.h"
#include "city/ledger/codec.h"
#include "city/net/http_client.h"
#include "city/net/signed_request.h"

#ifndef CITY_CITYD_PATH
#error "CITY_CITYD_PATH must name the cityd binary (tests/testnet/CMakeLists.txt sets it)"
#endif

namespace city::testnet {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKeyPassphrase = "citydev";
// Ports come from below Linux's ephemeral range (32768..60999), where the nodes' outgoing
// connections get theirs.
constexpr uint16_t kLowestPort = 20'000;
constexpr uint16_t kHighestPort = 32'000;

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

std::string NowText() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<Millis>(now.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", local.tm_year + 1900,
                local.tm_mon + 1, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec,
                static_cast<int>(ms));
  return buffer;
}

void AppendLine(const fs::path& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
}

// Starts `args` (args[0] is the program) with stdout and stderr appended to the given files
// (one file when the paths are equal). The child dies with the calling thread.
pid_t Spawn(const std::vector<std::string>& args, const fs::path& out_path,
            const fs::path& err_path) {
  return test::StartProcess(
      args, out_path, err_path,
      {.timeout = {}, .env = std::nullopt, .new_session = false, .append = true});
}

// Waits up to `timeout` for `pid` to exit. The exit code, -1 for a signal; nullopt on timeout.
std::optional<int> WaitExit(pid_t pid, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

bool PortFree(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

std::string CurrentTestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "localnet";
  return std::string(info->test_suite_name()) + "." + info->name();
}

std::string Short(const std::string& hex) { return hex.substr(0, 16); }

}  // namespace

fs::path CitydPath() { return EnvOr("CITY_CITYD", CITY_CITYD_PATH); }
fs::path ByzantineCitydPath() { return EnvOr("CITY_CITYD_BYZANTINE", CITY_CITYD_BYZANTINE_PATH); }

RunResult RunCityd(const std::vector<std::string>& args, const fs::path& scratch_dir,
                   Millis timeout) {
  static std::atomic<int> counter{0};
  const std::string run = "run" + std::to_string(counter++);
  std::vector<std::string> argv = {CitydPath().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::RunProcess(
      std::move(argv), scratch_dir / (run + ".out"), scratch_dir / (run + ".err"),
      {.timeout = timeout, .env = std::nullopt, .new_session = true, .append = false});
}

std::vector<std::string> LinesStartingWith(const std::string& text, std::string_view prefix) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) lines.push_back(line);
  }
  return lines;
}

std::string ApiReply::Describe() const {
  if (status == 0) return "transport: " + transport;
  return "HTTP " + std::to_string(status) + " " + raw.substr(0, 600);
}

std::string ErrorCodeOf(const ApiReply& reply) {
  if (!reply.body.is_object() || !reply.body.contains("error")) return "";
  const Json& error = reply.body["error"];
  if (!error.is_object() || !error.contains("code") || !error["code"].is_string()) return "";
  return error["code"].get<std::string>();
}

// ---- LocalNet ----

LocalNet::LocalNet(LocalNetOptions options) : options_(std::move(options)) {
  seed_ = options_.seed;
  if (seed_ == 0) seed_ = std::strtoull(EnvOr("CITY_TESTNET_SEED", "0").c_str(), nullptr, 10);
  if (seed_ == 0) seed_ = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
  rng_.seed(seed_);
  if (options_.label.empty()) options_.label = CurrentTestName();

  std::string pattern = (fs::temp_directory_path() / "city-testnet-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  PickPorts();
  CreateTestnet();
  procs_.resize(size());
  clients_.resize(size());
  std::fprintf(stderr,
               "[localnet] %s: %zu validator(s), seed %llu (CITY_TESTNET_SEED), ports %u..%u, %s\n",
               options_.label.c_str(), size(), static_cast<unsigned long long>(seed_),
               unsigned(base_port_), unsigned(base_port_ + 2 * size() - 1), dir_.c_str());
  if (options_.start) {
    StartAll();
    if (!WaitHeight(AllNodes(), 1, 30s)) {
      KeepFiles();
      throw std::runtime_error("the network did not commit a block within 30 s: " + Describe());
    }
  }
}

LocalNet::~LocalNet() {
  const bool in_test = ::testing::UnitTest::GetInstance()->current_test_info() != nullptr;
  for (size_t i = 0; i < size(); ++i) {
    if (!running(i)) continue;
    int code = 0;
    if (Exited(i, &code)) {
      std::fprintf(stderr, "[localnet] node %zu had exited by itself (exit %d): see %s\n", i, code,
                   log_path(i).c_str());
      if (in_test) ADD_FAILURE() << "node " << i << " exited by itself (exit " << code << ")";
      keep_ = true;
      continue;
    }
    ::kill(pid(i), SIGKILL);
    (void)WaitExit(pid(i), 10s);
    SetPid(i, -1);
  }
  const bool failed = in_test && ::testing::Test::HasFailure();
  if (keep_ || failed || !EnvOr("CITY_TESTNET_KEEP", "").empty()) {
    std::fprintf(stderr, "[localnet] %s: kept %s (seed %llu); node logs:\n", options_.label.c_str(),
                 dir_.c_str(), static_cast<unsigned long long>(seed_));
    for (size_t i = 0; i < size(); ++i) std::fprintf(stderr, "  %s\n", log_path(i).c_str());
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

fs::path LocalNet::log_path(size_t i) const { return dir_ / ("node" + std::to_string(i) + ".log"); }

std::string LocalNet::Describe() const {
  return options_.label + " (seed " + std::to_string(seed_) + ", ports " +
         std::to_string(base_port_) + ".." + std::to_string(base_port_ + 2 * size() - 1) +
         ", dir " + dir_.string() + ")";
}

void LocalNet::PickPorts() {
  const size_t count = 2 * options_.validators;
  std::uniform_int_distribution<uint32_t> pick(kLowestPort / 2, (kHighestPort - count) / 2);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto base = static_cast<uint16_t>(2 * pick(rng_));
    bool free = true;
    for (size_t k = 0; k < count && free; ++k) free = PortFree(static_cast<uint16_t>(base + k));
    if (free) {
      base_port_ = base;
      return;
    }
  }
  throw std::runtime_error("no range of " + std::to_string(count) + " free ports found");
}

void LocalNet::CreateTestnet() {
  const fs::path out = dir_ / "net";
  RunResult run = RunCityd(
      {"testnet", "--validators", std::to_string(options_.validators), "--out", out.string(),
       "--base-port", std::to_string(base_port_), "--chain-id", options_.chain_id},
      dir_, 60s);
  if (run.exit_code != 0) {
    keep_ = true;
    throw std::runtime_error("cityd testnet failed (exit " + std::to_string(run.exit_code) +
                             "): " + run.err + run.out);
  }
  for (size_t i = 0; i < options_.validators; ++i) {
    homes_.push_back(out / ("node" + std::to_string(i)));
    if (!fs::exists(homes_.back() / "config.toml")) {
      keep_ = true;
      throw std::runtime_error("cityd testnet made no " + (homes_.back() / "config.toml").string());
    }
  }
}

// ---- processes ----

void LocalNet::SetPid(size_t i, pid_t pid) {
  std::lock_guard lock(procs_mutex_);
  procs_.at(i).pid = pid;
}

void LocalNet::Start(size_t i, const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {CitydPath().string(), "start", "--home", home(i).string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  Launch(i, args);
}

void LocalNet::StartByzantine(size_t i, const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {ByzantineCitydPath().string(), "--home", home(i).string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  Launch(i, args);
}

void LocalNet::Launch(size_t i, const std::vector<std::string>& args) {
  if (running(i)) throw std::logic_error("node " + std::to_string(i) + " is running");
  int starts = 0;
  {
    std::lock_guard lock(procs_mutex_);
    starts = ++procs_.at(i).starts;
  }
  AppendLine(log_path(i), "=== localnet " + NowText() + ": start #" + std::to_string(starts) +
                              " of node" + std::to_string(i));
  SetPid(i, Spawn(args, log_path(i), log_path(i)));
}

void LocalNet::StartAll() {
  for (size_t i = 0; i < size(); ++i) {
    if (!running(i)) Start(i);
  }
}

void LocalNet::Kill(size_t i) {
  const pid_t p = pid(i);
  if (p <= 0) throw std::logic_error("node " + std::to_string(i) + " is not running");
  ::kill(p, SIGKILL);
  (void)WaitExit(p, 10s);
  SetPid(i, -1);
  AppendLine(log_path(i), "=== localnet " + NowText() + ": killed with SIGKILL");
}

int LocalNet::Stop(size_t i, Millis timeout) {
  const pid_t p = pid(i);
  if (p <= 0) throw std::logic_error("node " + std::to_string(i) + " is not running");
  ::kill(p, SIGTERM);
  std::optional<int> code = WaitExit(p, timeout);
  if (!code) {
    ::kill(p, SIGKILL);
    (void)WaitExit(p, 10s);
    code = -1;
    AppendLine(log_path(i), "=== localnet " + NowText() + ": did not stop within " +
                                std::to_string(timeout.count()) + " ms of SIGTERM; killed");
  } else {
    AppendLine(log_path(i),
               "=== localnet " + NowText() + ": stopped by SIGTERM, exit " + std::to_string(*code));
  }
  SetPid(i, -1);
  return *code;
}

bool LocalNet::running(size_t i) const { return pid(i) > 0; }

pid_t LocalNet::pid(size_t i) const {
  std::lock_guard lock(procs_mutex_);
  return procs_.at(i).pid;
}

bool LocalNet::Exited(size_t i, int* exit_code) {
  const pid_t p = pid(i);
  if (p <= 0) return false;
  int status = 0;
  if (::waitpid(p, &status, WNOHANG) != p) return false;
  if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  SetPid(i, -1);
  return true;
}

std::vector<size_t> LocalNet::RunningNodes() const {
  std::vector<size_t> nodes;
  for (size_t i = 0; i < size(); ++i) {
    if (running(i)) nodes.push_back(i);
  }
  return nodes;
}

std::vector<size_t> LocalNet::AllNodes() const {
  std::vector<size_t> nodes;
  for (size_t i = 0; i < size(); ++i) nodes.push_back(i);
  return nodes;
}

// ---- client API ----

namespace {

ApiReply ReplyOf(Result<net::HttpReply> got) {
  ApiReply reply;
  if (!got.ok()) {
    reply.transport = got.status().ToString();
    return reply;
  }
  reply.status = got->status;
  reply.raw = std::move(got->body);
  reply.body = Json::parse(reply.raw, nullptr, false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

}  // namespace

ApiReply LocalNet::Request(size_t i, std::string_view method, const std::string& target,
                           const std::string& body, Millis timeout, const std::string& reader) {
  if (!reader.empty()) {
    net::HttpClientOptions signed_options;
    signed_options.timeout = timeout;
    // The key lives as long as this LocalNet: an alias with no owner.
    signed_options.signer = net::MakeRequestSigner(
        std::shared_ptr<const KeyPair>(std::shared_ptr<void>(), &Key(reader)), chain_id());
    net::HttpClient signed_client(net::HttpUrl{"127.0.0.1", api_port(i), ""}, signed_options);
    return ReplyOf(signed_client.Request(method, target, body, "application/json"));
  }
  // Idle clients per node and timeout, so a long-poll client is not reused with a short
  // deadline; a client that saw a transport error is dropped.
  std::unique_ptr<net::HttpClient> client;
  {
    std::lock_guard lock(mutex_);
    auto& idle = clients_.at(i);
    for (auto it = idle.begin(); it != idle.end(); ++it) {
      if (timeouts_.at(it->get()) == timeout) {
        client = std::move(*it);
        idle.erase(it);
        break;
      }
    }
  }
  if (!client) {
    net::HttpClientOptions client_options;
    client_options.timeout = timeout;
    client = std::make_unique<net::HttpClient>(net::HttpUrl{"127.0.0.1", api_port(i), ""},
                                               client_options);
    std::lock_guard lock(mutex_);
    timeouts_[client.get()] = timeout;
  }
  ApiReply reply = ReplyOf(client->Request(method, target, body, "application/json"));
  std::lock_guard lock(mutex_);
  if (!reply.transport.empty()) {
    timeouts_.erase(client.get());
    return reply;
  }
  clients_.at(i).push_back(std::move(client));
  return reply;
}

ApiReply LocalNet::Get(size_t i, const std::string& target, Millis timeout) {
  return Request(i, "GET", target, "", timeout);
}

ApiReply LocalNet::GetAs(const std::string& reader, size_t i, const std::string& target,
                         Millis timeout) {
  return Request(i, "GET", target, "", timeout, reader);
}

ApiReply LocalNet::Post(size_t i, const std::string& target, const Json& body, Millis timeout) {
  return Request(i, "POST", target, body.dump(), timeout);
}

Json LocalNet::Status(size_t i) {
  ApiReply reply = Get(i, "/v1/status", 3s);
  if (!reply.ok() || !reply.body.is_object()) return nullptr;
  return reply.body;
}

std::optional<uint64_t> LocalNet::Height(size_t i) {
  Json status = Status(i);
  if (!status.is_object() || !status.contains("height")) return std::nullopt;
  return status["height"].get<uint64_t>();
}

std::optional<uint64_t> LocalNet::MinHeight(const std::vector<size_t>& nodes) {
  std::optional<uint64_t> lowest;
  for (size_t n : nodes) {
    std::optional<uint64_t> h = Height(n);
    if (!h) return std::nullopt;
    lowest = lowest ? std::min(*lowest, *h) : *h;
  }
  return lowest;
}

std::optional<uint64_t> LocalNet::MaxHeight(const std::vector<size_t>& nodes) {
  std::optional<uint64_t> highest;
  for (size_t n : nodes) {
    std::optional<uint64_t> h = Height(n);
    if (!h) return std::nullopt;
    highest = highest ? std::max(*highest, *h) : *h;
  }
  return highest;
}

Json LocalNet::Query(size_t i, std::string_view contract, std::string_view query,
                     const Json& params, ApiReply* reply_out, const std::string& reader) {
  ApiReply reply =
      Request(i, "POST", "/v1/query/" + std::string(contract) + "/" + std::string(query),
              params.dump(), 10s, reader);
  Json result = reply.ok() && reply.body.is_object() && reply.body.contains("result")
                    ? reply.body["result"]
                    : Json(nullptr);
  if (reply_out != nullptr) *reply_out = std::move(reply);
  return result;
}

std::map<std::string, double> LocalNet::Metrics(size_t i) {
  std::map<std::string, double> values;
  ApiReply reply = Get(i, "/metrics", 5s);
  if (!reply.ok()) return values;
  std::istringstream in(reply.raw);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    values[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return values;
}

// ---- waiting ----

bool LocalNet::WaitFor(const std::function<bool()>& predicate, Millis timeout, Millis poll) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

bool LocalNet::WaitHeight(const std::vector<size_t>& nodes, uint64_t height, Millis timeout) {
  return WaitFor(
      [&] {
        for (size_t n : nodes) {
          Json status = Status(n);
          if (!status.is_object() || status.value("syncing", true) ||
              status.value("height", uint64_t(0)) < height) {
            return false;
          }
        }
        return true;
      },
      timeout);
}

bool LocalNet::WaitProgress(const std::vector<size_t>& nodes, uint64_t blocks, Millis timeout) {
  std::vector<uint64_t> from;
  for (size_t n : nodes) from.push_back(Height(n).value_or(0));
  return WaitFor(
      [&] {
        for (size_t k = 0; k < nodes.size(); ++k) {
          if (Height(nodes[k]).value_or(0) < from[k] + blocks) return false;
        }
        return true;
      },
      timeout);
}

// ---- no-fork check ----

std::string LocalNet::CompareChains(const std::vector<size_t>& nodes, uint64_t* compared_height) {
  struct Entry {
    std::string hash, state_root, parent_hash;
  };
  if (nodes.empty()) return "no nodes to compare";
  std::optional<uint64_t> common = MinHeight(nodes);
  if (!common) return "a node does not answer /v1/status";
  if (compared_height != nullptr) *compared_height = *common;
  std::vector<std::vector<Entry>> chains;
  for (size_t n : nodes) {
    std::vector<Entry> chain;
    uint64_t from = 0;
    while (from <= *common) {
      ApiReply reply = Get(
          n, "/v1/headers?from=" + std::to_string(from) + "&to=" + std::to_string(*common), 30s);
      if (!reply.ok() || !reply.body.is_object() || !reply.body["headers"].is_array()) {
        return "node " + std::to_string(n) + ": GET /v1/headers?from=" + std::to_string(from) +
               ": " + reply.Describe();
      }
      const Json& headers = reply.body["headers"];
      if (headers.empty()) {
        return "node " + std::to_string(n) + ": no headers from height " + std::to_string(from);
      }
      for (const Json& item : headers) {
        const uint64_t h = item.at("height").get<uint64_t>();
        if (h != chain.size()) {
          return "node " + std::to_string(n) + ": header for height " + std::to_string(h) +
                 " where " + std::to_string(chain.size()) + " was expected";
        }
        const Json& header = item.at("header");
        chain.push_back({header.at("hash").get<std::string>(),
                         header.at("state_root").get<std::string>(),
                         header.at("parent_hash").get<std::string>()});
      }
      from = chain.size();
    }
    for (size_t h = 1; h < chain.size(); ++h) {
      if (chain[h].parent_hash != chain[h - 1].hash) {
        return "node " + std::to_string(n) + ": the header at height " + std::to_string(h) +
               " names parent " + Short(chain[h].parent_hash) + " but height " +
               std::to_string(h - 1) + " is " + Short(chain[h - 1].hash);
      }
    }
    chains.push_back(std::move(chain));
  }
  for (size_t k = 1; k < nodes.size(); ++k) {
    for (size_t h = 0; h <= *common; ++h) {
      const Entry& a = chains[0][h];
      const Entry& b = chains[k][h];
      if (a.hash != b.hash || a.state_root != b.state_root) {
        return "fork at height " + std::to_string(h) + ": node " + std::to_string(nodes[0]) +
               " has block " + a.hash + " state_root " + a.state_root + ", node " +
               std::to_string(nodes[k]) + " has block " + b.hash + " state_root " + b.state_root;
      }
    }
  }
  return "";
}

bool LocalNet::ExpectSameChain(const std::vector<size_t>& nodes, uint64_t min_height) {
  uint64_t compared = 0;
  const std::string difference = CompareChains(nodes, &compared);
  EXPECT_EQ(difference, "") << Describe();
  EXPECT_GE(compared, min_height) << "too few heights in common to compare: " << Describe();
  std::fprintf(stderr, "[localnet] same chain on %zu nodes up to height %llu: %s\n", nodes.size(),
               static_cast<unsigned long long>(compared), difference.empty() ? "yes" : "NO");
  return difference.empty() && compared >= min_height;
}

// ---- keys and transactions ----

const std::vector<std::string>& LocalNet::KeyNames() {
  static const std::vector<std::string> names = {"council",   "admin",     "registrar", "clinician",
                                                 "emergency", "custodian", "auditor",   "citizen",
                                                 "patient",   "shipper",   "receiver"};
  return names;
}

std::string LocalNet::KeyNameOf(const PublicKey& key) {
  for (const std::string& name : KeyNames()) {
    if (Key(name).public_key() == key) return name;
  }
  return "";
}

const KeyPair& LocalNet::Key(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    auto it = keys_.find(name);
    if (it != keys_.end()) return *it->second;
  }
  const fs::path file = dir_ / "net" / "keys" / (name + ".key");
  Result<KeyPair> key = ReadKeyFile(file, kKeyPassphrase);
  if (!key.ok()) {
    throw std::runtime_error("cannot read client key " + file.string() + ": " +
                             key.status().ToString());
  }
  std::lock_guard lock(mutex_);
  // Entries are never removed, so the reference stays valid.
  return *keys_.try_emplace(name, std::make_unique<KeyPair>(std::move(*key))).first->second;
}

std::string LocalNet::Address(const std::string& name) {
  return EncodeAddress(Key(name).public_key());
}

void LocalNet::LoadKeys() {
  // Two at a time: each read runs Argon2id with 64 MiB.
  const std::vector<std::string>& names = KeyNames();
  std::thread other([&] {
    for (size_t k = 1; k < names.size(); k += 2) (void)Key(names[k]);
  });
  for (size_t k = 0; k < names.size(); k += 2) (void)Key(names[k]);
  other.join();
}

std::optional<uint64_t> LocalNet::CommittedNonce(size_t node, const PublicKey& key) {
  ApiReply reply = Get(node, "/v1/accounts/" + EncodeAddress(key), 5s);
  if (!reply.ok() || !reply.body.is_object()) return std::nullopt;
  return reply.body.at("next_nonce").get<uint64_t>();
}

uint64_t LocalNet::TakeNonce(const KeyPair& key) {
  {
    std::lock_guard lock(mutex_);
    auto it = nonces_.find(key.public_key());
    if (it != nonces_.end()) return it->second++;
  }
  // The highest view among the nodes: a node that just restarted may still be behind.
  std::optional<uint64_t> pending;
  for (size_t n : RunningNodes()) {
    ApiReply reply = Get(n, "/v1/accounts/" + EncodeAddress(key.public_key()), 5s);
    if (reply.ok() && reply.body.is_object()) {
      const uint64_t seen = reply.body.at("pending_next_nonce").get<uint64_t>();
      pending = std::max(pending.value_or(0), seen);
    }
  }
  if (!pending) throw std::runtime_error("no running node answers GET /v1/accounts");
  std::lock_guard lock(mutex_);
  auto [it, inserted] = nonces_.emplace(key.public_key(), *pending);
  return it->second++;
}

void LocalNet::ForgetNonce(const KeyPair& key) {
  std::lock_guard lock(mutex_);
  nonces_.erase(key.public_key());
}

uint64_t LocalNet::DefaultExpiry() {
  for (size_t n : RunningNodes()) {
    if (std::optional<uint64_t> h = Height(n)) return *h + 1000;
  }
  return 1000;
}

ledger::Transaction LocalNet::SignedTx(const KeyPair& key, std::string_view contract,
                                       std::string_view method, Bytes args,
                                       std::optional<uint64_t> nonce,
                                       std::optional<uint64_t> expiry,
                                       std::optional<std::string> chain_id) {
  ledger::Transaction tx;
  tx.chain_id = chain_id.value_or(options_.chain_id);
  tx.nonce = nonce ? *nonce : TakeNonce(key);
  tx.expiry_height = expiry ? *expiry : DefaultExpiry();
  tx.contract = std::string(contract);
  tx.method = std::string(method);
  tx.args = std::move(args);
  tx.Sign(key);
  return tx;
}

ApiReply LocalNet::Submit(size_t node, const ledger::Transaction& tx) {
  return Post(node, "/v1/tx", Json{{"tx", ToHex(ledger::Encode(tx))}});
}

ApiReply LocalNet::SubmitBatch(size_t node, const std::vector<ledger::Transaction>& txs,
                               Millis timeout) {
  Json list = Json::array();
  for (const ledger::Transaction& tx : txs) list.push_back(ToHex(ledger::Encode(tx)));
  return Post(node, "/v1/txs", Json{{"txs", std::move(list)}}, timeout);
}

Json LocalNet::WaitTx(size_t node, const Hash256& id, Millis timeout, const std::string& reader) {
  const auto deadline = Clock::now() + timeout;
  Json last = nullptr;
  while (true) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    const Millis wait = std::clamp(left, 0ms, Millis(10'000));
    ApiReply reply =
        Request(node, "GET", "/v1/tx/" + id.ToHex() + "?wait_ms=" + std::to_string(wait.count()),
                "", wait + 5s, reader);
    if (reply.ok() && reply.body.is_object()) {
      last = reply.body;
      const std::string status = last.value("status", "");
      if (status == "committed" || status == "rejected") return last;
    } else {
      std::this_thread::sleep_for(100ms);  // the node is down or restarting
    }
    if (Clock::now() >= deadline) return last;
  }
}

// ---- Load ----

Load::Load(LocalNet& net, std::vector<std::string> senders, double per_second)
    : net_(net), senders_(std::move(senders)), per_second_(per_second) {}

Load::~Load() { Stop(); }

void Load::Start(std::vector<size_t> targets) {
  for (const std::string& sender : senders_) {
    const KeyPair& key = net_.Key(sender);
    net_.ForgetNonce(key);
    std::optional<uint64_t> start;
    for (size_t n : targets) {
      if ((start = net_.CommittedNonce(n, key.public_key()))) break;
    }
    if (!start) throw std::runtime_error("load: no target answers GET /v1/accounts");
    std::lock_guard lock(mutex_);
    start_nonce_[sender] = *start;
  }
  SetTargets(std::move(targets));
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Load::SetTargets(std::vector<size_t> targets) {
  std::lock_guard lock(mutex_);
  targets_ = std::move(targets);
}

void Load::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Load::Stats Load::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Load::Run() {
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_second_));
  auto next = Clock::now();
  auto expiry_read = Clock::now() - 1h;
  uint64_t expiry = 0;
  size_t k = 0;
  while (!stop_) {
    std::this_thread::sleep_until(next);
    next += interval;
    if (Clock::now() - expiry_read > 1s) {
      expiry = net_.DefaultExpiry();
      expiry_read = Clock::now();
    }
    const std::string& sender = senders_[k % senders_.size()];
    const std::string& receiver = senders_[(k + 1) % senders_.size()];
    const KeyPair& key = net_.Key(sender);
    const ledger::Transaction tx = net_.SignedTx(
        key, contracts::kUbi, "transfer",
        contracts::EncodeArgs(contracts::UbiTransferArgs{net_.Key(receiver).public_key(), 1}),
        std::nullopt, expiry);
    std::vector<size_t> targets;
    {
      std::lock_guard lock(mutex_);
      targets = targets_;
    }
    // A transport error leaves open whether the node took it: the same transaction goes to
    // the next target (a duplicate is harmless: same id).
    ApiReply reply;
    for (size_t attempt = 0; attempt < 3 && !targets.empty(); ++attempt) {
      reply = net_.Submit(targets[(k + attempt) % targets.size()], tx);
      if (reply.status != 0) break;
    }
    ++k;
    std::lock_guard lock(mutex_);
    ++stats_.submitted;
    if (reply.status == 202) {
      ++stats_.accepted;
      accepted_.push_back(tx.Id());
      ++accepted_per_sender_[sender];
    } else {
      const std::string code = reply.status == 0 ? "transport" : ErrorCodeOf(reply);
      ++stats_.rejected[code.empty() ? "http " + std::to_string(reply.status) : code];
      net_.ForgetNonce(key);  // the nonce was not used: read it again
    }
  }
}

std::string Load::VerifyCommitted(size_t node, Millis timeout) {
  std::vector<Hash256> accepted;
  std::map<std::string, uint64_t> expected;
  {
    std::lock_guard lock(mutex_);
    accepted = accepted_;
    for (const auto& [sender, start] : start_nonce_) {
      expected[sender] = start + accepted_per_sender_[sender];
    }
  }
  const auto deadline = Clock::now() + timeout;
  for (const auto& [sender, want] : expected) {
    const PublicKey& key = net_.Key(sender).public_key();
    std::optional<uint64_t> got;
    LocalNet::WaitFor(
        [&] {
          got = net_.CommittedNonce(node, key);
          return got && *got >= want;
        },
        std::chrono::duration_cast<Millis>(std::max(deadline - Clock::now(), Clock::duration(0))));
    if (!got || *got != want) {
      return "sender " + sender + ": committed next nonce " +
             (got ? std::to_string(*got) : std::string("unknown")) + ", expected " +
             std::to_string(want) + " (start nonce plus accepted transactions)";
    }
  }
  for (const Hash256& id : accepted) {
    ApiReply reply = net_.Get(node, "/v1/tx/" + id.ToHex(), 5s);
    if (!reply.ok() || reply.body.value("status", "") != "committed") {
      return "accepted transaction " + id.ToHex() + " is not committed: " + reply.Describe();
    }
    if (!reply.body["result"].value("ok", false)) {
      return "accepted transaction " + id.ToHex() + " failed: " + reply.body["result"].dump();
    }
  }
  return "";
}

}  // namespace city::testnet
