// Runs the cityctl binary (CITY_CITYCTL_PATH) as a child process for the wallet tests: its own
// home, an environment set here and nowhere else, no terminal (a new session, stdin from
// /dev/null), stdout and stderr captured, killed after a timeout. Also what the key store and
// process tests share: a loopback port that refuses connections (an unreachable node without
// racing another process for a port), and key files that are cheap to open.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "city/crypto/keyfile.h"
#include "support/ledger_fixtures.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace city::test {

// libsodium's least Argon2id cost: a key file that opens in microseconds, where the default
// (interactive) cost takes a good part of a second, too slow for many files under ASan.
inline constexpr KdfParams kCheapKdf{1, 8192};

// Writes TestKey(fill) to DIR/NAME.key the way the key store does (mode 0600), at kCheapKdf.
inline KeyPair WriteTestKey(const std::filesystem::path& dir, const std::string& name, uint8_t fill,
                            const std::string& passphrase) {
  std::filesystem::create_directories(dir);
  KeyPair key = TestKey(fill);
  const Status written = WriteKeyFile(dir / (name + ".key"), key, passphrase, kCheapKdf);
  if (!written.ok()) throw std::runtime_error(written.ToString());
  return key;
}

// The permission bits of a file or directory (0600, 0700, ...).
inline unsigned ModeOf(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return info.st_mode & 07777;
}

// A socket bound to 127.0.0.1 that never listens: connecting to its port is refused at once,
// and no other process can take the port while it lives.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot bind a loopback socket");
    }
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// exit_code (-1 when killed), timed_out, out, err.
using CliRun = ProcessResult;

// For failure messages: everything a run said.
inline std::string Describe(const CliRun& run) {
  return "exit " + std::to_string(run.exit_code) + (run.timed_out ? " (timed out)" : "") +
         "\n--- stdout ---\n" + run.out + "--- stderr ---\n" + run.err;
}

// One cityctl user: a fresh --home (also $HOME), and the environment every run gets:
// CITYCTL_HOME, CITYCTL_NODE (a refusing port unless changed) and, when set, CITYCTL_PASSPHRASE.
// The sanitizers' options pass through so that CI's settings reach the child.
class CliSandbox {
 public:
  CliSandbox() { std::filesystem::create_directories(runs_dir()); }

  const std::filesystem::path& home() const { return dir_.path(); }
  std::filesystem::path keys_dir() const { return home() / "keys"; }
  std::filesystem::path scratch(const std::string& name) const { return runs_dir() / name; }
  const RefusingPort& refusing() const { return refusing_; }

  // Set or (with nullopt) remove a variable of the children's environment.
  void SetEnv(const std::string& name, std::optional<std::string> value) {
    if (value) {
      env_[name] = *value;
    } else {
      env_.erase(name);
    }
  }
  void SetPassphrase(std::optional<std::string> passphrase) {
    SetEnv("CITYCTL_PASSPHRASE", std::move(passphrase));
  }

  CliRun Run(const std::vector<std::string>& args,
             std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const int n = runs_++;
    std::vector<std::string> argv = {CITY_CITYCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env;
    for (const auto& [name, value] : Environment()) env.push_back(name + "=" + value);
    // A session of its own: no terminal, so /dev/tty cannot be opened and no prompt waits.
    return RunProcess(
        std::move(argv), runs_dir() / ("run" + std::to_string(n) + ".out"),
        runs_dir() / ("run" + std::to_string(n) + ".err"),
        {.timeout = timeout, .env = std::move(env), .new_session = true, .append = false});
  }

 private:
  std::filesystem::path runs_dir() const { return dir_.path() / "runs"; }

  std::map<std::string, std::string> Environment() const {
    std::map<std::string, std::string> env = {{"HOME", home().string()},
                                              {"CITYCTL_HOME", home().string()},
                                              {"CITYCTL_NODE", refusing_.url()},
                                              {"PATH", "/usr/bin:/bin"}};
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
      if (const char* value = std::getenv(name); value != nullptr) env[name] = value;
    }
    for (const auto& [name, value] : env_) env[name] = value;
    return env;
  }

  TempDir dir_;
  RefusingPort refusing_;
  std::map<std::string, std::string> env_;
  int runs_ = 0;
};

}  // namespace city::test
