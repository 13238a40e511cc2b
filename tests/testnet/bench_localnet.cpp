// city-bench-localnet: committed transactions/s and commit latency of a local 4-validator
// network (real cityd processes on 127.0.0.1), against raw libsodium verifications/s measured
// in this process first, on the same machine.
//
// Setup funds --accounts fresh accounts from the testnet's client keys and pre-signs UBI
// transfers between them (account a sends 1 token to a+1, nonces 0, 1, ...). Then one thread
// per node submits batches of --batch transactions (POST /v1/txs) for --duration seconds at
// full speed, each thread to its own node and for its own accounts (so one sender's nonces
// reach one node in order); refusals for a full pool or a nonce too far ahead are retried.
// When the window ends, only gaps are filled, then everything accepted must commit.
//
// Commit times: a thread long-polls /v1/subscribe/blocks on node 0 and notes when each height
// arrives; a transaction's commit time is the arrival of its block. Latency is measured on a
// sample (every 50th transaction): from the start of the POST that was accepted to the arrival
// of the block holding it. Results: one JSON object on stdout.
//
// With --sample-every S, each validator's resident memory (anonymous, and file-backed: LevelDB
// maps its table files, so that part grows with the chain and is page cache, not heap) and the
// term are sampled every S seconds, for soak runs ("RSS flat over 10 minutes at saturation").
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "city/contracts/accounts.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/wallet/bench.h"
#include "localnet.h"

namespace city::testnet {
namespace {

using contracts::EncodeArgs;
using contracts::UbiTransferArgs;

struct Flags {
  double duration_s = 20;
  size_t accounts = 64;
  size_t batch = 200;
  size_t txs = 0;  // pre-signed in total (0: 5000 per second of --duration); ends the run early
                   // if they run out
  size_t validators = 4;
  double rate = 0;  // transactions/s offered in all; 0: as fast as the nodes take them
  size_t sample_every = 50;
  double resource_every_s = 0;  // --sample-every: RSS and term samples; 0 for start and end only
};

[[noreturn]] void Usage(const char* problem) {
  std::fprintf(stderr,
               "city-bench-localnet: %s\n"
               "usage: city-bench-localnet [--duration SECONDS] [--accounts K] [--batch B]\n"
               "                           [--txs M] [--validators N] [--rate R]\n"
               "                           [--sample-every SECONDS]\n"
               "  --rate: offer R transactions/s in all instead of full speed (latency below\n"
               "          saturation)\n"
               "  --txs: transfers pre-signed in all (default 5000 per second of --duration)\n"
               "  --sample-every: each validator's RSS and the term every SECONDS (soak runs)\n",
               problem);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (name == "--help" || name == "-h") Usage("help");
    if (i + 1 >= argc) Usage(("missing value for " + name).c_str());
    const char* value = argv[++i];
    char* end = nullptr;
    const double number = std::strtod(value, &end);
    if (end == value || *end != '\0' || number < 0) Usage(("bad value for " + name).c_str());
    if (name == "--duration") {
      flags.duration_s = number;
    } else if (name == "--accounts") {
      flags.accounts = size_t(number);
    } else if (name == "--batch") {
      flags.batch = std::min<size_t>(size_t(number), 1000);
    } else if (name == "--txs") {
      flags.txs = size_t(number);
    } else if (name == "--validators") {
      flags.validators = size_t(number);
    } else if (name == "--rate") {
      flags.rate = number;
    } else if (name == "--sample-every") {
      flags.resource_every_s = number;
    } else {
      Usage(("unknown flag " + name).c_str());
    }
  }
  if (flags.accounts < 2) Usage("--accounts must be at least 2");
  if (flags.duration_s <= 0 || flags.batch == 0 || flags.validators == 0) {
    Usage("--duration, --batch and --validators must be above 0");
  }
  if (flags.txs == 0) flags.txs = size_t(flags.duration_s * 5000);
  return flags;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Account {
  std::unique_ptr<KeyPair> key;
  std::vector<ledger::Transaction> txs;  // nonce order
  std::vector<std::string> hex;          // the same, encoded for the API
  std::vector<uint8_t> accepted;
  size_t cursor = 0;                           // the next index that may be sent
  std::vector<Clock::time_point> sample_sent;  // per index, for sampled ones
};

// Heights of node 0 as they arrive, with the time each was seen.
class BlockWatcher {
 public:
  BlockWatcher(LocalNet& net, uint64_t after) : net_(net), after_(after) {
    thread_ = std::thread([this] { Run(); });
  }
  ~BlockWatcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::optional<Clock::time_point> Arrival(uint64_t height) const {
    std::lock_guard lock(mutex_);
    auto it = arrivals_.find(height);
    if (it == arrivals_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void Run() {
    uint64_t after = after_;
    while (!stop_) {
      ApiReply reply =
          net_.Get(0, "/v1/subscribe/blocks?after=" + std::to_string(after) + "&wait_ms=1000", 6s);
      const auto now = Clock::now();
      if (!reply.ok() || !reply.body.is_object()) {
        std::this_thread::sleep_for(50ms);
        continue;
      }
      std::lock_guard lock(mutex_);
      for (const Json& block : reply.body.value("blocks", Json::array())) {
        const uint64_t h = block.at("height").get<uint64_t>();
        arrivals_.emplace(h, now);
        after = std::max(after, h);
      }
    }
  }

  LocalNet& net_;
  uint64_t after_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::map<uint64_t, Clock::time_point> arrivals_;  // guarded by mutex_
};

// Resident memory of one process from /proc/PID/status, in MiB: anonymous (heap, stacks) and
// file-backed (mapped files). Zeros when the process is gone.
struct Rss {
  double anon_mib = 0;
  double file_mib = 0;
};

Rss ReadRss(pid_t pid) {
  Rss rss;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    auto field = [&](std::string_view name, double& out) {
      if (line.starts_with(name)) out = std::strtod(line.c_str() + name.size(), nullptr) / 1024;
    };
    field("RssAnon:", rss.anon_mib);
    field("RssFile:", rss.file_mib);
  }
  return rss;
}

// Every `every` (and once at the start and at Stop), each node's RSS and node 0's term and
// height, as a JSON series.
class ResourceSampler {
 public:
  ResourceSampler(LocalNet& net, Clock::duration every) : net_(net), every_(every) {
    started_ = Clock::now();
    Sample();
    if (every_ > Clock::duration::zero()) thread_ = std::thread([this] { Run(); });
  }
  ~ResourceSampler() { Stop(); }
  Json Stop() {
    if (!stopped_.exchange(true)) {
      if (thread_.joinable()) thread_.join();
      Sample();
    }
    std::lock_guard lock(mutex_);
    return samples_;
  }

 private:
  void Run() {
    auto next = started_ + every_;
    while (!stopped_) {
      std::this_thread::sleep_for(100ms);
      if (Clock::now() < next) continue;
      next += every_;
      Sample();
    }
  }
  void Sample() {
    Json nodes = Json::array();
    for (size_t n : net_.AllNodes()) {
      const Rss rss = net_.running(n) ? ReadRss(net_.pid(n)) : Rss{};
      nodes.push_back({{"rss_anon_mib", rss.anon_mib}, {"rss_file_mib", rss.file_mib}});
    }
    const Json status = net_.Status(0);
    std::lock_guard lock(mutex_);
    samples_.push_back({{"t_s", Seconds(Clock::now() - started_)},
                        {"term", status.value("term", uint64_t(0))},
                        {"height", status.value("height", uint64_t(0))},
                        {"nodes", nodes}});
  }

  LocalNet& net_;
  Clock::duration every_;
  Clock::time_point started_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  Json samples_ = Json::array();  // guarded by mutex_
};

struct SubmitStats {
  size_t attempts = 0;                         // transactions sent, retries included
  size_t accepted = 0;                         // distinct transactions the node took
  std::map<std::string, size_t> backpressure;  // refusals retried later, by code
  std::map<std::string, size_t> failed;        // refusals that are not back-pressure, by code
};

bool IsBackpressure(const std::string& code) {
  return code == "mempool_full" || code == "sender_full" || code == "nonce_gap" ||
         code == "overloaded";
}

// Sends the accounts' transactions to `node` in batches until `until` (at most `rate` per
// second when rate > 0), then only fills gaps (refused transactions below an account's cursor)
// until none is left or `give_up`.
void Submit(LocalNet& net, size_t node, std::vector<Account*> accounts, size_t batch_size,
            double rate, size_t sample_every, Clock::time_point until, Clock::time_point give_up,
            SubmitStats& stats) {
  size_t rr = 0;
  const auto started = Clock::now();
  while (true) {
    if (rate > 0) {
      std::this_thread::sleep_until(
          started + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(double(stats.attempts) / rate)));
    }
    const auto now = Clock::now();
    const bool window = now < until;
    if (now > give_up) return;
    std::vector<std::pair<Account*, size_t>> picked;
    std::vector<std::string> hex;
    size_t idle_rounds = 0;
    while (picked.size() < batch_size && idle_rounds < accounts.size()) {
      Account& a = *accounts[rr++ % accounts.size()];
      while (a.cursor < a.txs.size() && a.accepted[a.cursor]) ++a.cursor;
      // Outside the window, only gaps: an index below the highest accepted one.
      size_t candidate = a.cursor;
      if (candidate >= a.txs.size()) {
        ++idle_rounds;
        continue;
      }
      if (!window) {
        const auto last = std::find(a.accepted.rbegin(), a.accepted.rend(), 1);
        const size_t highest = last == a.accepted.rend() ? 0 : a.accepted.rend() - last;
        if (candidate >= highest) {
          ++idle_rounds;
          continue;
        }
      }
      idle_rounds = 0;
      picked.emplace_back(&a, candidate);
      hex.push_back(a.hex[candidate]);
      ++a.cursor;
    }
    if (picked.empty()) return;  // every pre-signed transaction is out, or no gap is left
    Json body = {{"txs", hex}};
    const auto sent = Clock::now();
    ApiReply reply = net.Post(node, "/v1/txs", body, 30s);
    stats.attempts += picked.size();
    if (!reply.ok()) {
      for (auto& [a, i] : picked) a->cursor = std::min(a->cursor, i);
      ++stats.failed[reply.status == 0 ? "transport" : "http " + std::to_string(reply.status)];
      std::this_thread::sleep_for(50ms);
      continue;
    }
    const Json& results = reply.body["results"];
    bool pushed_back = false;
    for (size_t k = 0; k < picked.size() && k < results.size(); ++k) {
      auto [a, i] = picked[k];
      if (results[k].value("accepted", false)) {
        if (!a->accepted[i]) {
          a->accepted[i] = 1;
          ++stats.accepted;
          if ((i + 1) % sample_every == 0) a->sample_sent[i] = sent;
        }
        continue;
      }
      const std::string code = results[k]["error"].value("code", "");
      a->cursor = std::min(a->cursor, i);
      if (IsBackpressure(code)) {
        ++stats.backpressure[code];
        pushed_back = true;
      } else {
        ++stats.failed[code];
      }
    }
    if (pushed_back) std::this_thread::sleep_for(20ms);
  }
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, size_t(p * double(values.size() - 1) + 0.5));
  return values[index];
}

int Run(const Flags& flags) {
  std::fprintf(stderr, "raw verify: measuring for 2 s...\n");
  const double raw_verify = wallet::RawVerifyPerSecond(2.0);
  if (raw_verify <= 0) throw std::runtime_error("a raw verification failed");
  std::fprintf(stderr, "raw verify: %.0f/s on one core\n", raw_verify);

  LocalNetOptions options;
  options.validators = flags.validators;
  options.label = "city-bench-localnet";
  LocalNet net(options);
  try {
    net.LoadKeys();

    // Accounts, funded so that each can pay all its transfers before receiving any.
    const size_t k = flags.accounts;
    const size_t per_account = std::max<size_t>(1, flags.txs / k);
    std::vector<Account> accounts(k);
    for (Account& a : accounts) a.key = std::make_unique<KeyPair>(KeyPair::Generate());
    const uint64_t funding = per_account + 10;
    std::vector<Hash256> funding_ids;
    const std::vector<std::string>& funders = LocalNet::KeyNames();
    std::map<std::string, std::vector<ledger::Transaction>> by_funder;
    // A permissioned ledger: the registrar enrols the fresh accounts so they may send.
    for (const Account& a : accounts) {
      by_funder["registrar"].push_back(net.Tx(net.Key("registrar"), contracts::kAccounts, "enrol",
                                              contracts::EnrolArgs{a.key->public_key()}));
    }
    for (size_t i = 0; i < k; ++i) {
      const std::string& funder = funders[i % funders.size()];
      by_funder[funder].push_back(net.Tx(net.Key(funder), contracts::kUbi, "transfer",
                                         UbiTransferArgs{accounts[i].key->public_key(), funding}));
    }
    // In chunks that stay inside the pool's nonce window ([mempool] max_nonce_ahead, 256),
    // each committed before the next is sent.
    constexpr size_t kFundingChunk = 200;
    for (auto& [funder, txs] : by_funder) {
      for (size_t from = 0; from < txs.size(); from += kFundingChunk) {
        const std::vector<ledger::Transaction> chunk(
            txs.begin() + from, txs.begin() + std::min(txs.size(), from + kFundingChunk));
        ApiReply reply = net.SubmitBatch(0, chunk);
        if (reply.status != 202 || reply.body.value("accepted", 0) != int(chunk.size())) {
          throw std::runtime_error("funding from " + funder + " refused: " + reply.Describe());
        }
        for (const ledger::Transaction& tx : chunk) funding_ids.push_back(tx.Id());
        if (from + kFundingChunk < txs.size()) net.WaitTx(0, chunk.back().Id(), 60s);
      }
    }
    for (const Hash256& id : funding_ids) {
      const Json tx = net.WaitTx(0, id, 60s);
      if (tx.value("status", "") != "committed" || !tx["result"].value("ok", false)) {
        throw std::runtime_error("funding transaction did not commit ok: " + tx.dump());
      }
    }
    std::fprintf(stderr, "funded %zu accounts with %llu tokens each\n", k,
                 static_cast<unsigned long long>(funding));

    // Pre-signed transfers.
    const auto signing = Clock::now();
    // Within the chain's expiry horizon (ledger::kMaxExpiryHorizon) from the tip.
    const uint64_t expiry = net.DefaultExpiry() + 8'000;
    for (size_t i = 0; i < k; ++i) {
      Account& a = accounts[i];
      const PublicKey to = accounts[(i + 1) % k].key->public_key();
      a.txs.reserve(per_account);
      for (size_t n = 0; n < per_account; ++n) {
        a.txs.push_back(net.SignedTx(*a.key, contracts::kUbi, "transfer",
                                     EncodeArgs(UbiTransferArgs{to, 1}), n, expiry));
        a.hex.push_back(ToHex(ledger::Encode(a.txs.back())));
      }
      a.accepted.assign(per_account, 0);
      a.sample_sent.assign(per_account, Clock::time_point{});
    }
    std::fprintf(stderr, "pre-signed %zu transfers in %.1f s\n", k * per_account,
                 Seconds(Clock::now() - signing));

    // The run.
    const uint64_t start_height = net.MaxHeight(net.AllNodes()).value_or(0);
    const uint64_t start_term = net.Status(0).value("term", uint64_t(0));
    BlockWatcher watcher(net, start_height);
    ResourceSampler resources(net, std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(flags.resource_every_s)));
    const size_t nodes = net.size();
    std::vector<SubmitStats> stats(nodes);
    const auto first_submit = Clock::now();
    const auto until = first_submit + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(flags.duration_s));
    const auto give_up = until + 60s;
    std::vector<std::thread> submitters;
    for (size_t n = 0; n < nodes; ++n) {
      std::vector<Account*> mine;
      for (size_t i = n; i < k; i += nodes) mine.push_back(&accounts[i]);
      submitters.emplace_back([&, n, mine] {
        Submit(net, n, mine, flags.batch, flags.rate / double(nodes), flags.sample_every, until,
               give_up, stats[n]);
      });
    }
    // At the end of the window, the leader's pool: how much of it a block could take now
    // (each account's run of consecutive nonces) and how much waits behind a nonce gap.
    std::this_thread::sleep_until(until);
    Json pool_at_window_end = nullptr;
    const Json status = net.Status(0);
    if (status.is_object() && status["leader"].is_object()) {
      const size_t leader = status["leader"]["index"].get<size_t>();
      uint64_t runs = 0;
      for (const Account& a : accounts) {
        ApiReply account = net.Get(leader, "/v1/accounts/" + EncodeAddress(a.key->public_key()));
        if (!account.ok()) continue;
        runs += account.body.value("pending_next_nonce", uint64_t(0)) -
                account.body.value("next_nonce", uint64_t(0));
      }
      const uint64_t pooled = net.Status(leader).value("mempool_transactions", uint64_t(0));
      pool_at_window_end = {{"leader", leader},
                            {"mempool_transactions", pooled},
                            {"ready", runs},
                            {"behind_a_nonce_gap", pooled > runs ? pooled - runs : 0}};
    }
    for (std::thread& t : submitters) t.join();
    const auto submit_end = Clock::now();
    size_t accepted = 0;
    for (const SubmitStats& s : stats) accepted += s.accepted;
    std::fprintf(stderr, "submitted for %.1f s: %zu accepted; waiting for commits...\n",
                 Seconds(submit_end - first_submit), accepted);

    // Everything accepted is a nonce prefix of each account: wait for each to commit.
    size_t committed = 0;
    uint64_t last_height = 0;
    const auto commit_deadline = Clock::now() + 120s;
    for (Account& a : accounts) {
      const size_t want = size_t(std::count(a.accepted.begin(), a.accepted.end(), 1));
      if (want == 0) continue;
      std::optional<uint64_t> got;
      LocalNet::WaitFor(
          [&] {
            got = net.CommittedNonce(0, a.key->public_key());
            return got && *got >= want;
          },
          std::chrono::duration_cast<Millis>(
              std::max(commit_deadline - Clock::now(), Clock::duration(0))),
          50ms);
      committed += std::min<size_t>(got.value_or(0), want);
      const Json last = net.WaitTx(0, a.txs[want - 1].Id(), 1s);
      if (last.value("status", "") == "committed") {
        last_height = std::max(last_height, last.value("height", uint64_t(0)));
      }
    }
    const Json tip = net.Status(0);
    std::optional<Clock::time_point> last_commit = watcher.Arrival(last_height);
    LocalNet::WaitFor([&] { return (last_commit = watcher.Arrival(last_height)).has_value(); }, 5s,
                      20ms);
    watcher.Stop();
    const Json resource_samples = resources.Stop();
    const double window = Seconds(last_commit.value_or(Clock::now()) - first_submit);

    // Latency of the sampled transactions.
    std::vector<double> latencies;
    for (Account& a : accounts) {
      for (size_t i = 0; i < a.txs.size(); ++i) {
        if (a.sample_sent[i] == Clock::time_point{}) continue;
        ApiReply tx = net.Get(0, "/v1/tx/" + a.txs[i].Id().ToHex());
        if (!tx.ok() || tx.body.value("status", "") != "committed") continue;
        std::optional<Clock::time_point> at = watcher.Arrival(tx.body.value("height", uint64_t(0)));
        if (at) latencies.push_back(Seconds(*at - a.sample_sent[i]) * 1000);
      }
    }

    // Verify-once cache, per node.
    Json cache = Json::array();
    double hits_total = 0, verified_total = 0;
    for (size_t n = 0; n < nodes; ++n) {
      std::map<std::string, double> metrics = net.Metrics(n);
      const double hits = metrics["city_verify_cache_hits"];
      const double verified = metrics["city_verify_signatures"];
      hits_total += hits;
      verified_total += verified;
      cache.push_back({{"node", n},
                       {"cache_hits", hits},
                       {"signatures_verified", verified},
                       {"hit_rate", hits + verified > 0 ? hits / (hits + verified) : 0.0}});
    }

    SubmitStats total;
    for (const SubmitStats& s : stats) {
      total.attempts += s.attempts;
      for (const auto& [code, count] : s.backpressure) total.backpressure[code] += count;
      for (const auto& [code, count] : s.failed) total.failed[code] += count;
    }
    const double tps = window > 0 ? double(committed) / window : 0;
    Json result = {
        {"validators", nodes},
        {"duration_s", flags.duration_s},
        {"accounts", k},
        {"batch", flags.batch},
        {"offered_rate", flags.rate > 0 ? Json(flags.rate) : Json("full speed")},
        {"presigned", k * per_account},
        {"presigned_exhausted", accepted == k * per_account},
        {"submitted", accepted},
        {"submit_attempts", total.attempts},
        {"backpressure_refusals", total.backpressure},
        {"other_refusals", total.failed},
        {"committed", committed},
        {"window_s", window},
        {"committed_tx_per_s", tps},
        {"blocks", tip.value("height", start_height) - start_height},
        {"term_changes", tip.value("term", start_term) - start_term},
        {"latency_ms",
         {{"samples", latencies.size()},
          {"p50", Percentile(latencies, 0.50)},
          {"p90", Percentile(latencies, 0.90)},
          {"p99", Percentile(latencies, 0.99)}}},
        {"leader_pool_at_window_end", pool_at_window_end},
        {"raw_verify_per_s", raw_verify},
        {"committed_tx_per_s_over_raw_verify_per_s", raw_verify > 0 ? tps / raw_verify : 0.0},
        {"verify_cache",
         {{"nodes", cache},
          {"hit_rate",
           hits_total + verified_total > 0 ? hits_total / (hits_total + verified_total) : 0.0}}},
        {"resources", resource_samples},
        {"hardware_threads", std::thread::hardware_concurrency()},
        {"seed", net.seed()}};
    std::cout << result.dump(2) << std::endl;
    if (committed != accepted) {
      std::fprintf(stderr, "not every accepted transaction committed (%zu of %zu)\n", committed,
                   accepted);
      net.KeepFiles();
      return 1;
    }
    return 0;
  } catch (...) {
    net.KeepFiles();
    throw;
  }
}

}  // namespace
}  // namespace city::testnet

int main(int argc, char** argv) {
  const city::testnet::Flags flags = city::testnet::ParseFlags(argc, argv);
  city::EnsureSodiumInitialized();
  try {
    return city::testnet::Run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "city-bench-localnet: %s\n", e.what());
    return 1;
  }
}
