// cityctl bench: load a running network and report committed tx/s and commit latency.
#include <iostream>

#include "city/wallet/bench.h"
#include "cli.h"

namespace city::cityctl {

void AddBenchCommand(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<wallet::BenchOptions>();
  auto funder = std::make_shared<std::string>("registrar");
  auto contract = std::make_shared<std::string>("ubi");
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Offer pre-signed UBI transfers at a steady rate; report committed tx/s and commit latency "
      "as JSON. For test networks: --from enrols fresh accounts whose keys it does not keep and "
      "moves tokens to them");
  bench->add_option("--rate", options->rate, "Transactions offered per second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench->add_option("--duration", options->duration_s, "Seconds of offering")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench->add_option("--accounts", options->accounts, "Fresh sender accounts")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  bench->add_option("--batch", options->max_batch, "Transactions per request")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bench->add_option("--contract", *contract, "The load's contract (ubi transfers)")
      ->check(CLI::IsMember({"ubi"}))
      ->capture_default_str();
  bench
      ->add_option("--from", *funder,
                   "A registrar or admin key holding ubi tokens: it enrols and funds the accounts")
      ->capture_default_str();
  cli.OnRun(bench, [&cli, options, funder]() -> CommandResult {
    Result<KeyPair> key = cli.LoadKey(*funder);
    if (!key.ok()) return key.status();
    options->node_url = cli.globals().node;
    options->chain_id = cli.globals().chain_id;
    options->request_timeout = std::chrono::milliseconds(cli.globals().timeout_ms);
    Result<Json> report = wallet::RunBench(*options, *key, [](const std::string& line) {
      std::cerr << "cityctl bench: " << line << "\n";
    });
    if (!report.ok()) return report.status();
    // The report is JSON whatever --output says: it is for scripts and docs/benchmarks.md.
    return Output{*report, Dump(*report, 2)};
  });
}

}  // namespace city::cityctl
