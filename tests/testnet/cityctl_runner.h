// Runs the cityctl binary under test as its own process, the way a user's shell or script
// would, and parses the one JSON object it prints with --output json.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "localnet.h"

namespace city::testnet {

// The cityctl binary under test: CITY_CITYCTL from the environment, else the one CMake built
// (CITY_CITYCTL_PATH).
std::filesystem::path CityctlPath();

// One finished cityctl run.
struct CtlRun {
  std::vector<std::string> args;  // without the program
  bool json_output = false;       // run with --output json
  RunResult result;
  Json json;  // stdout parsed (with --output json), or null

  int exit_code() const { return result.exit_code; }
  const std::string& err() const { return result.err; }
  // The command line, exit code, stdout and stderr, for failure messages.
  std::string Describe() const;
};

// cityctl with fixed --node and --home, and an environment of its own: nothing CITYCTL_* of
// the test's environment leaks in, only what Set() gave.
class Cityctl {
 public:
  Cityctl(std::string node_url, std::filesystem::path home, std::filesystem::path scratch_dir);

  void Set(const std::string& env_name, const std::string& value) { env_[env_name] = value; }
  // A copy that talks to another node (or uses another key store).
  Cityctl WithNode(std::string node_url) const;
  Cityctl WithHome(std::filesystem::path home) const;
  const std::string& node_url() const { return node_url_; }
  const std::filesystem::path& home() const { return home_; }

  // `cityctl --node URL --home DIR --output json ARGS...`, stdout parsed.
  CtlRun RunJson(const std::vector<std::string>& args, Millis timeout = 120s) const;
  // The same without --output json (text output).
  CtlRun RunText(const std::vector<std::string>& args, Millis timeout = 120s) const;

 private:
  CtlRun Run(std::vector<std::string> args, bool json_output, Millis timeout) const;

  std::string node_url_;
  std::filesystem::path home_;
  std::filesystem::path scratch_dir_;
  std::map<std::string, std::string> env_;
};

// Exit 0, no "cityctl: error" on stderr, and (for a JSON run) an object on stdout.
::testing::AssertionResult Succeeded(const CtlRun& run);

// Exit 1 with the one-line "cityctl: error: ..." on stderr, and (for a JSON run) the error
// object {"error":{"code","message",...}} on stdout.
::testing::AssertionResult FailedCleanly(const CtlRun& run);

// "http://127.0.0.1:PORT"
std::string LocalUrl(uint16_t port);

}  // namespace city::testnet
