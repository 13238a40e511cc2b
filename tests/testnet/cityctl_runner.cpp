// cityctl as a child process (cityctl_runner.h), through support/process.h, with a clean
// environment.
#include "cityctl_runner.h"

#include <atomic>
#include <cstdlib>

#ifndef CITY_CITYCTL_PATH
#error "CITY_CITYCTL_PATH must name the cityctl binary (tests/testnet/CMakeLists.txt sets it)"
#endif

extern char** environ;

namespace city::testnet {

namespace fs = std::filesystem;

namespace {

// The test's environment without any CITYCTL_* variable, plus `extra`.
std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!std::string_view(*entry).starts_with("CITYCTL_")) env.emplace_back(*entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

}  // namespace

fs::path CityctlPath() {
  const char* value = std::getenv("CITY_CITYCTL");
  return value != nullptr && *value != '\0' ? fs::path(value) : fs::path(CITY_CITYCTL_PATH);
}

std::string LocalUrl(uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string CtlRun::Describe() const {
  std::string line = "cityctl";
  for (const std::string& arg : args) line += " " + arg;
  std::string text = line + "\n  -> exit " + std::to_string(result.exit_code);
  if (result.timed_out) text += " (timed out)";
  text += "\n  stdout: " + result.out.substr(0, 4000) + "\n  stderr: " + result.err.substr(0, 2000);
  return text;
}

Cityctl::Cityctl(std::string node_url, fs::path home, fs::path scratch_dir)
    : node_url_(std::move(node_url)),
      home_(std::move(home)),
      scratch_dir_(std::move(scratch_dir)) {}

Cityctl Cityctl::WithNode(std::string node_url) const {
  Cityctl copy = *this;
  copy.node_url_ = std::move(node_url);
  return copy;
}

Cityctl Cityctl::WithHome(fs::path home) const {
  Cityctl copy = *this;
  copy.home_ = std::move(home);
  return copy;
}

CtlRun Cityctl::RunJson(const std::vector<std::string>& args, Millis timeout) const {
  std::vector<std::string> all = {"--output", "json"};
  all.insert(all.end(), args.begin(), args.end());
  CtlRun run = Run(std::move(all), true, timeout);
  run.json = Json::parse(run.result.out, nullptr, false);
  if (run.json.is_discarded()) run.json = nullptr;
  return run;
}

CtlRun Cityctl::RunText(const std::vector<std::string>& args, Millis timeout) const {
  return Run(args, false, timeout);
}

CtlRun Cityctl::Run(std::vector<std::string> args, bool json_output, Millis timeout) const {
  static std::atomic<int> counter{0};
  const int n = counter++;
  const fs::path out = scratch_dir_ / ("cityctl" + std::to_string(n) + ".out");
  const fs::path err = scratch_dir_ / ("cityctl" + std::to_string(n) + ".err");
  args.insert(args.begin(), {"--node", node_url_, "--home", home_.string()});
  std::vector<std::string> argv = {CityctlPath().string()};
  argv.insert(argv.end(), args.begin(), args.end());

  CtlRun run;
  run.args = std::move(args);
  run.json_output = json_output;
  run.result = test::RunProcess(
      std::move(argv), out, err,
      {.timeout = timeout, .env = ChildEnvironment(env_), .new_session = false, .append = false});
  return run;
}

::testing::AssertionResult Succeeded(const CtlRun& run) {
  if (run.exit_code() != 0) return ::testing::AssertionFailure() << run.Describe();
  if (run.err().find("cityctl: error") != std::string::npos) {
    return ::testing::AssertionFailure() << "exit 0 but an error on stderr: " << run.Describe();
  }
  if (run.json_output && !run.json.is_object()) {
    return ::testing::AssertionFailure() << "no JSON object on stdout: " << run.Describe();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult FailedCleanly(const CtlRun& run) {
  if (run.exit_code() != 1) {
    return ::testing::AssertionFailure() << "expected exit 1: " << run.Describe();
  }
  if (!run.err().starts_with("cityctl: error: ") || run.err().find('\n') != run.err().size() - 1) {
    return ::testing::AssertionFailure()
           << "expected one line 'cityctl: error: ...' on stderr: " << run.Describe();
  }
  if (run.json_output) {
    const Json error = run.json.is_object() ? run.json.value("error", Json()) : Json();
    if (!error.is_object() || !error.value("code", Json()).is_string() ||
        !error.value("message", Json()).is_string()) {
      return ::testing::AssertionFailure()
             << "expected {\"error\":{\"code\",\"message\"}} on stdout: " << run.Describe();
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace city::testnet
