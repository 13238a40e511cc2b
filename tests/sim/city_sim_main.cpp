// city-sim: runs many seeded schedules of the consensus simulation and reports invariant
// violations. Every failing schedule prints its seed; `--seed S --schedules 1` replays it.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "mutations.h"
#include "simulation.h"

int main(int argc, char** argv) {
  CLI::App app{"Simulates CityLedger consensus under a hostile network with Byzantine validators"};
  size_t validators = 4;
  size_t faulty = 1;
  uint64_t schedules = 1000;
  uint64_t seed = 1;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string mutation_name = "none";
  bool no_crashes = false;
  bool verbose = false;
  bool trace = false;
  bool twins = false;
  size_t twins_phases = 3;
  bool reconfigure = false;
  std::string byzantine;
  app.add_option("--validators", validators, "Validators (n)")->check(CLI::Range(1, 64));
  app.add_option("--faulty", faulty, "Byzantine validators, each of a random kind");
  CLI::Option* schedules_option =
      app.add_option("--schedules", schedules, "Schedules to run (seeds seed..seed+schedules-1)");
  CLI::Option* seed_option = app.add_option("--seed", seed, "First seed");
  app.add_option("--threads", threads, "Worker threads")->check(CLI::Range(1, 64));
  app.add_option(
         "--mutation", mutation_name,
         "Break one safety rule and expect a violation: none, no-round-check, "
         "commit-one-chain, no-tc-qc-check, no-persist, keep-every-proposal (with --byzantine "
         "flooder), vote-after-timeout, skip-content-check (with --byzantine junk), "
         "skip-payload-check (with --byzantine misreporter), wrong-epoch-certs (with "
         "--reconfigure)")
      ->check(CLI::IsMember(city::sim::MutationNames()));
  app.add_flag("--no-crashes", no_crashes, "No crashes of honest validators");
  app.add_option("--byzantine", byzantine, "Give every faulty validator this kind")
      ->check(CLI::IsMember({"twin", "equivocator", "withholder", "garbage", "silent", "forker",
                             "flooder", "junk", "liar", "misreporter", "epoch-faker"}));
  app.add_flag("--twins", twins,
               "Enumerate the Twins scenarios instead of drawing random ones: one validator "
               "twice, two partitions per phase; --seed is the first scenario, --schedules "
               "defaults to all the rest");
  app.add_option("--twins-phases", twins_phases, "Partitioned phases per Twins scenario")
      ->check(CLI::Range(1, 6));
  app.add_flag("--reconfigure", reconfigure,
               "Change the validator set a few times per schedule (epochs): each change adds a "
               "spare key, removes an honest validator or rotates one key, 20-60 blocks after "
               "the one before, over a pool of n + 3 keys; the Byzantine validators stay in every "
               "set. Liveness then asks every honest validator of the last epoch to commit past "
               "its start. Needs --validators >= 4, not with --twins");
  app.add_flag("--verbose", verbose, "One line per schedule");
  app.add_flag("--trace", trace, "Every event of every schedule on stderr (use with one seed)");
  CLI11_PARSE(app, argc, argv);
  if (faulty > (validators - 1) / 3) {
    std::cerr << "city-sim: --faulty " << faulty
              << " exceeds f = (n-1)/3 = " << (validators - 1) / 3 << " for n = " << validators
              << ": no BFT protocol can be safe and live there\n";
    return 2;
  }
  if (reconfigure && (twins || validators < 4)) {
    std::cerr << "city-sim: --reconfigure needs --validators >= 4 and no --twins\n";
    return 2;
  }
  const bool mutated = mutation_name != "none";
  if (twins) {
    const uint64_t count = city::sim::TwinsScenarioCount(validators, twins_phases);
    if (validators < 4 || seed >= count) {
      std::cerr << "city-sim: --twins needs --validators >= 4 and --seed below " << count << "\n";
      return 2;
    }
    if (seed_option->count() == 0) seed = 0;
    if (schedules_option->count() == 0 || seed + schedules > count) schedules = count - seed;
  }

  std::atomic<uint64_t> next{0}, safety{0}, liveness{0}, blocks{0}, messages{0}, synced{0},
      sync_faults{0}, epochs{0};
  std::atomic<bool> stop{false};
  std::mutex out_mutex;
  std::vector<std::pair<uint64_t, std::string>> failures;
  std::vector<uint64_t> liveness_ms;  // GST to the liveness target, per live schedule
  const auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (uint64_t i = next++; i < schedules && !stop; i = next++) {
      city::sim::ScheduleParams params;
      params.seed = seed + i;
      params.validators = validators;
      params.faulty = faulty;
      params.crashes = !no_crashes;
      params.trace = trace;
      params.byzantine = byzantine;
      params.mutation = mutation_name;
      params.reconfigure = reconfigure;
      if (twins) {
        params.twins = params.seed;
        params.twins_phases = twins_phases;
      }
      const city::sim::ScheduleResult r = city::sim::RunSchedule(params);
      safety += r.safety_violation;
      liveness += r.liveness_failure;
      blocks += r.committed_height;
      messages += r.messages;
      synced += r.synced_blocks;
      sync_faults += r.sync_faults;
      epochs += r.epochs;
      std::lock_guard lock(out_mutex);
      if (verbose) {
        std::cout << "seed=" << params.seed << " height=" << r.committed_height
                  << " messages=" << r.messages << " virtual_ms=" << r.virtual_ms
                  << (reconfigure ? " epochs=" + std::to_string(r.epochs) : "") << " " << r.detail
                  << "\n";
      }
      if (r.safety_violation || r.liveness_failure) failures.emplace_back(params.seed, r.detail);
      if (r.gst_to_liveness_ms > 0) liveness_ms.push_back(r.gst_to_liveness_ms);
      // A mutation run only needs its first safety violation.
      if (mutated && r.safety_violation) stop = true;
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t ran = std::min<uint64_t>(next, schedules);

  std::sort(failures.begin(), failures.end());
  for (const auto& [failed_seed, detail] : failures) {
    std::cout << "FAILED seed=" << failed_seed << " (replay: city-sim --validators " << validators
              << " --faulty " << faulty << " --seed " << failed_seed << " --schedules 1"
              << (mutation_name != "none" ? " --mutation " + mutation_name : "")
              << (byzantine.empty() ? "" : " --byzantine " + byzantine)
              << (no_crashes ? " --no-crashes" : "") << (reconfigure ? " --reconfigure" : "")
              << (twins ? " --twins --twins-phases " + std::to_string(twins_phases) : "") << ") "
              << detail << "\n";
    if (mutated) break;
  }
  std::cout << "schedules=" << ran << " validators=" << validators << " faulty=" << faulty
            << " mutation=" << mutation_name << " seconds=" << seconds
            << " schedules_per_s=" << (seconds > 0 ? ran / seconds : 0)
            << " committed_blocks=" << blocks << " messages=" << messages
            << " synced_blocks=" << synced << " sync_lies_refused=" << sync_faults
            << (reconfigure ? " epochs_reached=" + std::to_string(epochs) : "")
            << " safety_violations=" << safety << " liveness_failures=" << liveness;
  if (!liveness_ms.empty()) {
    // The measured liveness bound: virtual time from GST until every honest validator added
    // the target number of blocks.
    std::sort(liveness_ms.begin(), liveness_ms.end());
    auto at = [&](double q) {
      return liveness_ms[std::min(
          liveness_ms.size() - 1,
          static_cast<size_t>(q * static_cast<double>(liveness_ms.size())))];
    };
    std::cout << " gst_to_liveness_ms_p50=" << at(0.5) << " p99=" << at(0.99)
              << " max=" << liveness_ms.back();
  }
  std::cout << "\n";
  if (mutated) {
    // The broken rule must be caught: a safety violation is the expected outcome.
    std::cout << (safety > 0 ? "mutation caught\n" : "MUTATION NOT CAUGHT\n");
    return safety > 0 ? 0 : 1;
  }
  return safety == 0 && liveness == 0 ? 0 : 1;
}
