// cityctl bench: load a running network and report committed tx/s and commit latency.
#include <iostream>

#include "city/wallet/bench.h"
#include "cli.h"

namespace city::cityctl {

void AddBenchCommand(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<wallet::BenchOptions>();
  auto funder = std::make_shared<std::string>("registrar");
  auto council = std::make_shared<std::string>();
  auto nodes = std::make_shared<std::vector<std::string>>();
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Offer pre-signed transactions at a steady rate; report committed tx/s and commit latency "
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
  bench
      ->add_option("--load,--contract", options->mix,
                   "ubi: transfers; all: every contract (citizens transfer and claim, patients "
                   "consent, clinicians anchor and read, custodians commission and observe, the "
                   "council passes proposals; needs --council)")
      ->check(CLI::IsMember({"ubi", "all"}))
      ->capture_default_str();
  bench->add_option("--council", *council, "A council member's key (the 'all' load grants roles)");
  bench
      ->add_option("--also-node", *nodes,
                   "Another node's API URL, used in turn when the node stops answering "
                   "(repeatable)")
      ->delimiter(',');
  bench
      ->add_option("--committed-ids", options->committed_ids_path,
                   "Write the ids of the transactions seen committed here, one per line")
      ->check(CLI::NonexistentPath | CLI::ExistingFile);
  auto drain_s = std::make_shared<double>(30);
  bench
      ->add_option("--drain", *drain_s,
                   "After offering, seconds to wait for the accepted ones to commit")
      ->check(CLI::Range(0.0, 86'400.0))
      ->capture_default_str();
  bench
      ->add_option("--from", *funder,
                   "A registrar or admin key holding ubi tokens: it enrols and funds the accounts")
      ->capture_default_str();
  cli.OnRun(bench, [&cli, options, funder, council, nodes, drain_s]() -> CommandResult {
    options->drain_timeout = std::chrono::milliseconds(int64_t(*drain_s * 1000));
    Result<KeyPair> key = cli.LoadKey(*funder);
    if (!key.ok()) return key.status();
    std::optional<KeyPair> council_key;
    if (!council->empty()) {
      Result<KeyPair> loaded = cli.LoadKey(*council);
      if (!loaded.ok()) return loaded.status();
      council_key = std::move(*loaded);
    }
    options->node_url = cli.globals().node;
    options->other_nodes = *nodes;
    options->chain_id = cli.globals().chain_id;
    options->request_timeout = std::chrono::milliseconds(cli.globals().timeout_ms);
    Result<Json> report = wallet::RunBench(
        *options, *key, council_key ? &*council_key : nullptr,
        [](const std::string& line) { std::cerr << "cityctl bench: " << line << "\n"; });
    if (!report.ok()) return report.status();
    // The report is JSON whatever --output says: it is for scripts and docs/benchmarks.md.
    return Output{*report, Dump(*report, 2)};
  });
}

}  // namespace city::cityctl
