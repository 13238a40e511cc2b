// deploy/cityd.service: systemd accepts it without a warning (an unknown or misspelt key is
// only a warning to systemd, and would silently drop a hardening line), and its offline
// security review rates it "OK" (exposure at most 2.0 of 10). Skips without systemd-analyze.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "localnet.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

constexpr char kAnalyze[] = "/usr/bin/systemd-analyze";

class DeployUnit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kAnalyze)) GTEST_SKIP() << "no " << kAnalyze << "; skipped";
  }

  // The unit with ExecStart pointing at the cityd under test (verify checks that it runs).
  fs::path WriteUnit(const std::string& extra_line = "") {
    std::string text = test::ReadFileText(fs::path(CITY_SOURCE_DIR) / "deploy" / "cityd.service");
    const std::string installed = "ExecStart=/usr/local/bin/cityd";
    const size_t at = text.find(installed);
    EXPECT_NE(at, std::string::npos) << "ExecStart names " << installed;
    if (at != std::string::npos) {
      text.replace(at, installed.size(), "ExecStart=" + CitydPath().string());
    }
    if (!extra_line.empty()) text.replace(text.find("[Service]\n") + 10, 0, extra_line + "\n");
    const fs::path unit = dir_.path() / "cityd.service";
    std::ofstream(unit, std::ios::trunc) << text;
    return unit;
  }

  test::ProcessResult Analyze(std::vector<std::string> args) {
    args.insert(args.begin(), kAnalyze);
    return test::RunProcess(args, dir_.path() / "out", dir_.path() / "err");
  }

  test::TempDir dir_;
};

TEST_F(DeployUnit, SystemdAcceptsTheUnitWithoutAWarning) {
  const test::ProcessResult verify = Analyze({"verify", WriteUnit().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(verify.err, "") << "every line of the unit is understood where it stands";

  // The check can fail: a misspelt key is only a warning to systemd, and it is seen.
  const test::ProcessResult misplaced =
      Analyze({"verify", WriteUnit("ProtectSystm=strict").string()});
  EXPECT_NE(misplaced.err.find("Unknown key"), std::string::npos) << misplaced.err;
}

TEST_F(DeployUnit, RunsAsItsOwnUserHardenedToAnOkExposure) {
  const std::string text =
      test::ReadFileText(fs::path(CITY_SOURCE_DIR) / "deploy" / "cityd.service");
  for (const char* line : {"\nUser=cityd\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n",
                           "\nRestart=on-failure\n", "\nCapabilityBoundingSet=\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  const test::ProcessResult review =
      Analyze({"security", "--offline=yes", "--no-pager", WriteUnit().string()});
  const std::string marker = "Overall exposure level for cityd.service: ";
  const size_t at = review.out.find(marker);
  ASSERT_NE(at, std::string::npos) << review.out << review.err;
  const double exposure = std::stod(review.out.substr(at + marker.size()));
  EXPECT_LE(exposure, 2.0) << review.out;
}

}  // namespace
}  // namespace city::testnet
