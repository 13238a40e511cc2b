// A validator whose client API speaks TLS ([api.tls]): cityd refuses a key file others may
// read, serves https only, and cityctl (and cityd backup) trust it only with the right CA.
#include <gtest/gtest.h>

#include <fstream>

#include "cityctl_runner.h"
#include "localnet.h"
#include "support/tls_fixtures.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

TEST(ApiTlsTest, ANodeWithACertificateServesHttpsOnlyAndCityctlChecksIt) {
  LocalNetOptions options;
  options.validators = 1;
  options.start = false;
  LocalNet net(options);
  std::string error;
  const net::TlsServerFiles files =
      test::MakeSelfSignedCertificate(net.dir(), "api", "localhost", "127.0.0.1", &error);
  ASSERT_FALSE(files.certificate_chain.empty()) << error;
  {
    std::ofstream config(net.home(0) / "config.toml", std::ios::app);
    config << "\n[api.tls]\ncertificate_chain = \"" << files.certificate_chain.string()
           << "\"\nprivate_key = \"" << files.private_key.string() << "\"\n";
  }

  // A private key others may read is refused before the node starts.
  fs::permissions(files.private_key, fs::perms::others_read, fs::perm_options::add);
  const RunResult exposed = RunCityd({"start", "--home", net.home(0).string()}, net.dir(), 30s);
  EXPECT_EQ(exposed.exit_code, 1) << exposed.err;
  EXPECT_NE(exposed.err.find("chmod 600"), std::string::npos) << exposed.err;
  fs::permissions(files.private_key, fs::perms::others_read, fs::perm_options::remove);

  net.Start(0);
  const std::string https = "https://127.0.0.1:" + std::to_string(net.api_port(0));
  Cityctl ctl(https, net.dir() / "ctl-home", net.dir());
  ctl.Set("CITYCTL_CA_FILE", files.certificate_chain.string());
  CtlRun status;
  ASSERT_TRUE(LocalNet::WaitFor(
      [&] {
        status = ctl.RunJson({"query", "status"});
        return status.exit_code() == 0;
      },
      30s))
      << status.Describe();
  EXPECT_EQ(status.json.value("chain_id", ""), net.chain_id()) << status.Describe();

  // Without the node's certificate among its authorities, cityctl does not trust it.
  Cityctl untrusting(https, net.dir() / "ctl-home", net.dir());
  const CtlRun refused = untrusting.RunJson({"query", "status"});
  EXPECT_EQ(refused.exit_code(), 1) << refused.Describe();
  EXPECT_NE(refused.err().find("not trusted"), std::string::npos) << refused.Describe();
  // Plain HTTP gets no answer from a TLS port; the node carries on.
  EXPECT_EQ(net.Get(0, "/v1/status", 3s).status, 0);
  EXPECT_EQ(ctl.RunJson({"query", "status"}).exit_code(), 0);

  // The operator's backup goes over TLS too: the address from config.toml is not enough (a
  // certificate names hosts), --api with a name it holds and --ca are.
  const fs::path backup = net.dir() / "backup";
  const RunResult no_api =
      RunCityd({"backup", "--home", net.home(0).string(), "--out", backup.string()}, net.dir());
  EXPECT_EQ(no_api.exit_code, 1) << no_api.err;
  EXPECT_NE(no_api.err.find("uses TLS"), std::string::npos) << no_api.err;
  const std::string by_name = "https://localhost:" + std::to_string(net.api_port(0));
  const RunResult untrusted = RunCityd(
      {"backup", "--home", net.home(0).string(), "--out", backup.string(), "--api", by_name},
      net.dir());
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.err;
  EXPECT_FALSE(fs::exists(backup));
  const RunResult made =
      RunCityd({"backup", "--home", net.home(0).string(), "--out", backup.string(), "--api",
                by_name, "--ca", files.certificate_chain.string()},
               net.dir(), 60s);
  EXPECT_EQ(made.exit_code, 0) << made.out << made.err;
  EXPECT_TRUE(fs::exists(backup / "manifest.json"));
  EXPECT_EQ(net.Stop(0), 0);
}

}  // namespace
}  // namespace city::testnet
