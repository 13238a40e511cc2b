// The load generator (bench.h).
#include "city/wallet/bench.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>

#include "bench_workload.h"
#include "city/crypto/address.h"
#include "city/crypto/bytes.h"
#include "city/ledger/codec.h"
#include "city/ledger/types.h"
#include "city/wallet/node_client.h"

namespace city::wallet {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// Transactions stay valid this many blocks past the tip at the start.
// Within the chain's expiry horizon (ledger::kMaxExpiryHorizon, 20,000 heights).
constexpr uint64_t kExpiryBlocks = 9'000;
// Setup transactions offered before waiting for them to commit: below the nodes' nonce gap.
constexpr size_t kSetupWindow = 200;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The nodes the bench may use: the first, and the others in turn when one stops answering
// (a killed or partitioned validator), as a client of a real network would.
class NodePool {
 public:
  NodePool(std::vector<std::string> urls, std::chrono::milliseconds timeout)
      : urls_(std::move(urls)), timeout_(timeout) {}

  Status Open() { return Reconnect(); }
  NodeClient& node() { return *node_; }
  size_t size() const { return urls_.size(); }
  const std::string& url() const { return urls_[current_]; }
  size_t failovers() const { return failovers_; }

  void SignAs(std::shared_ptr<const KeyPair> key, std::string chain_id) {
    signer_ = std::move(key);
    chain_id_ = std::move(chain_id);
    node_->SignAs(signer_, chain_id_);
  }
  // Moves to the next node.
  Status Failover() {
    current_ = (current_ + 1) % urls_.size();
    ++failovers_;
    return Reconnect();
  }

 private:
  Status Reconnect() {
    Result<std::unique_ptr<NodeClient>> connected = NodeClient::Connect(urls_[current_], timeout_);
    if (!connected.ok()) return connected.status();
    node_ = std::move(*connected);
    if (signer_) node_->SignAs(signer_, chain_id_);
    return Status::Ok();
  }

  std::vector<std::string> urls_;
  std::chrono::milliseconds timeout_;
  size_t current_ = 0;
  size_t failovers_ = 0;
  std::unique_ptr<NodeClient> node_;
  std::shared_ptr<const KeyPair> signer_;
  std::string chain_id_;
};

// Notes the time each transaction id is first seen committed, from a thread that follows
// the blocks of one node, and of the next when that one stops answering.
class CommitWatcher {
 public:
  static constexpr std::chrono::milliseconds kPollSpacing{4};

  CommitWatcher(NodePool nodes, uint64_t after) : nodes_(std::move(nodes)), after_(after) {
    thread_ = std::thread([this] { Run(); });
  }
  ~CommitWatcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::unordered_map<std::string, Clock::time_point> Commits() const {
    std::lock_guard lock(mutex_);
    return commits_;
  }
  bool Committed(const std::string& id) const {
    std::lock_guard lock(mutex_);
    return commits_.contains(id);
  }
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  // Never lets an exception out: on a thread that would end the process.
  void Run() {
    try {
      Follow();
    } catch (const std::exception& error) {
      Fail(std::string("the node's block feed: ") + error.what());
    }
  }

  void Follow() {
    Clock::time_point last_poll;
    while (!stop_) {
      // One request per poll, at most one per kPollSpacing: a fast chain (a block every few
      // ms on one validator) would otherwise spend the node's per-address request budget.
      std::this_thread::sleep_until(last_poll + kPollSpacing);
      last_poll = Clock::now();
      Result<Json> page = nodes_.node().Get(
          "/v1/subscribe/blocks?tx_ids=true&wait_ms=1000&after=" + std::to_string(after_), 6000ms);
      if (!page.ok()) {
        Switch(page.status());
        continue;
      }
      const Clock::time_point seen = Clock::now();
      std::lock_guard lock(mutex_);
      for (const Json& block : page->value("blocks", Json::array())) {
        const uint64_t height = block.value("height", uint64_t{0});
        if (height != after_ + 1) break;  // a node that skips a height is not followed
        for (const Json& id : block.value("tx_ids", Json::array())) {
          if (id.is_string()) commits_.emplace(id.get<std::string>(), seen);
        }
        after_ = height;
      }
    }
  }
  void Switch(const Status& why) {
    Fail(nodes_.url() + ": " + why.message());
    std::this_thread::sleep_for(100ms);
    if (Status s = nodes_.Failover(); !s.ok()) Fail(s.message());
  }
  void Fail(const std::string& message) {
    std::lock_guard lock(mutex_);
    error_ = message;
  }

  NodePool nodes_;
  uint64_t after_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> commits_;  // guarded by mutex_
  std::string error_;                                           // guarded by mutex_
};

// What the bench knows of each transaction it offers.
struct Offer {
  Clock::time_point accepted_at;  // its first acceptance; zero while none
  Clock::time_point last_try;     // zero: never sent
  bool answered = false;          // some node answered about it
  bool committed = false;         // seen committed (noted as the bench looks)
  bool retry = false;             // refused for now (a full pool, a gap): a client tries again
  std::string code;               // the last refusal's code
};

// Refusals a client retries later: the node had no room, or an earlier nonce of the sender
// was not in yet.
bool IsRetryable(std::string_view code) {
  return code == "overloaded" || code == "nonce_gap" || code == "mempool_full" ||
         code == "client_full" || code == "sender_full";
}

// POST /v1/txs of the transactions at `indexes`, on the next node when one does not answer,
// noting each one's outcome in `offers`. An error when no node answered.
Status SubmitBatch(NodePool& nodes, const std::vector<bench::LoadTx>& txs,
                   std::span<const size_t> indexes, std::vector<Offer>& offers) {
  Json list = Json::array();
  for (size_t i : indexes) list.push_back(ToHex(ledger::Encode(txs[i].tx)));
  const Json body{{"txs", std::move(list)}};
  const Clock::time_point at = Clock::now();
  for (size_t i : indexes) offers[i].last_try = at;
  Status failed = Status::Ok();
  for (size_t attempt = 0; attempt < nodes.size(); ++attempt) {
    Result<Json> answer = nodes.node().Post("/v1/txs", body);
    if (!answer.ok()) {
      failed = answer.status();
      // A client error is the node's answer about this batch; anything else is a node that
      // is down, stopped or cut off, and the next may answer.
      const int http = nodes.node().last_error().http_status;
      if (http >= 400 && http < 500) return failed;
      if (Status s = nodes.Failover(); !s.ok()) return s;
      continue;
    }
    const Json results = answer->value("results", Json::array());
    if (results.size() != indexes.size()) {
      return Status(ErrorCode::kMalformed, "the node answered a batch of " +
                                               std::to_string(indexes.size()) + " with " +
                                               std::to_string(results.size()) + " results");
    }
    for (size_t i = 0; i < results.size(); ++i) {
      Offer& offer = offers[indexes[i]];
      offer.answered = true;
      if (results[i].value("accepted", false)) {
        if (offer.accepted_at == Clock::time_point{}) offer.accepted_at = Clock::now();
        offer.retry = false;
      } else if (offer.accepted_at == Clock::time_point{}) {
        offer.code = results[i].value("error", Json::object()).value("code", "unknown");
        offer.retry = IsRetryable(offer.code);
      }
    }
    return Status::Ok();
  }
  return failed;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, size_t(std::ceil(p * values.size())) - 1);
  return values[index];
}

// Waits until every account has committed the given nonces, or `timeout` passes.
Status WaitNonces(NodePool& nodes, const std::vector<bench::AwaitNonce>& await,
                  std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (const bench::AwaitNonce& account : await) {
    while (true) {
      Result<Json> state = nodes.node().Get("/v1/accounts/" + EncodeAddress(account.account));
      if (state.ok() && state->value("next_nonce", uint64_t{0}) >= account.next_nonce) break;
      if (Clock::now() > deadline) {
        return Status(ErrorCode::kIoError, "the bench's setup transactions did not commit within " +
                                               std::to_string(timeout.count() / 1000) + " s");
      }
      if (!state.ok() && nodes.node().last_error().http_status == 0) {
        if (Status s = nodes.Failover(); !s.ok()) return s;
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  return Status::Ok();
}

// A committed transaction may still have failed (a claim before its period, a read whose
// consent expired): up to 20 of each kind are read back as their sender, and the report
// says how many of those failed and why the first one did.
void SampleResults(NodePool& nodes, const bench::Workload& workload,
                   const std::vector<bench::LoadTx>& txs, const std::vector<std::string>& ids,
                   const std::unordered_map<std::string, Clock::time_point>& commits,
                   const std::string& chain_id, Json& by_kind) {
  constexpr size_t kSamples = 20;
  std::map<std::string, size_t> sampled;
  std::map<std::string, size_t> failed;
  for (size_t k = 0; k < txs.size(); ++k) {
    const bench::LoadTx& load = txs[k];
    const std::string& id = ids[k];
    if (sampled[load.kind] >= kSamples || !commits.contains(id)) continue;
    std::shared_ptr<const KeyPair> reader = workload.KeyOf(load.tx.sender);
    if (!reader) continue;
    nodes.SignAs(reader, chain_id);
    Result<Json> read = nodes.node().Get("/v1/tx/" + id);
    if (!read.ok()) continue;
    ++sampled[load.kind];
    const Json result = (*read)["result"];
    if (result.value("code", 0) == 0) continue;
    if (failed[load.kind]++ == 0) by_kind[load.kind]["first_failure"] = result.value("detail", "");
  }
  for (const auto& [kind, count] : sampled) {
    by_kind[kind]["sampled"] = count;
    by_kind[kind]["sampled_failed"] = failed[kind];
  }
}

}  // namespace

double RawVerifyPerSecond(double seconds) {
  constexpr size_t kMessages = 256;
  std::vector<KeyPair> keys;
  for (int k = 0; k < 4; ++k) keys.push_back(KeyPair::Generate());
  std::vector<std::array<uint8_t, 32>> messages(kMessages);
  std::vector<Signature> signatures;
  for (size_t i = 0; i < kMessages; ++i) {
    randombytes_buf(messages[i].data(), messages[i].size());
    signatures.push_back(keys[i % keys.size()].Sign(messages[i]));
  }
  size_t done = 0;
  size_t valid = 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < until) {
    for (size_t i = 0; i < kMessages; ++i) {
      valid += Verify(keys[i % keys.size()].public_key(), messages[i], signatures[i]) ? 1 : 0;
    }
    done += kMessages;
  }
  // A verification that fails here means the baseline measured something else.
  if (valid != done) return 0;
  return double(done) / Seconds(Clock::now() - start);
}

Result<Json> RunBench(const BenchOptions& options, const KeyPair& funder, const KeyPair* council,
                      const std::function<void(const std::string&)>& progress) {
  if (options.rate <= 0 || options.duration_s <= 0 || options.accounts < 2 ||
      options.max_batch == 0 || options.max_batch > 1000) {
    return Status(ErrorCode::kInvalidArgument,
                  "bench needs --rate > 0, --duration > 0, --accounts >= 2 and a batch of 1..1000");
  }
  Result<bench::Mix> mix = bench::ParseMix(options.mix);
  if (!mix.ok()) return mix.status();
  if (Status s = bench::CheckWorkload(*mix, council != nullptr, options.accounts); !s.ok()) {
    return s;
  }
  const size_t total = size_t(std::ceil(options.rate * options.duration_s));
  std::vector<std::string> urls{options.node_url};
  urls.insert(urls.end(), options.other_nodes.begin(), options.other_nodes.end());
  NodePool nodes(urls, options.request_timeout);
  if (Status s = nodes.Open(); !s.ok()) return s;
  Result<Json> status = nodes.node().Get("/v1/status");
  for (size_t tried = 1; !status.ok() && tried < nodes.size(); ++tried) {
    if (Status s = nodes.Failover(); !s.ok()) return s;
    status = nodes.node().Get("/v1/status");
  }
  if (!status.ok()) return status.status();
  const std::string chain_id = status->value("chain_id", "");
  if (!options.chain_id.empty() && chain_id != options.chain_id) {
    return Status(ErrorCode::kInvalidArgument, "the node serves chain " + chain_id + ", not " +
                                                   options.chain_id + " (--chain-id)");
  }
  // The funder reads as itself: the enrolment of the accounts it enrols is the registrar's
  // to read (docs/node.md, "Signed reads: who may read what").
  nodes.SignAs(std::make_shared<const KeyPair>(KeyPair::FromSeed(funder.seed())), chain_id);
  const uint64_t start_height = status->value("height", uint64_t{0});
  const uint64_t expiry = start_height + kExpiryBlocks;

  const double raw_verify = RawVerifyPerSecond(1.0);

  auto pending_nonce = [&](const KeyPair& key) -> Result<uint64_t> {
    Result<Json> state = nodes.node().Get("/v1/accounts/" + EncodeAddress(key.public_key()));
    if (!state.ok()) return state.status();
    return state->value("pending_next_nonce", uint64_t{0});
  };
  Result<uint64_t> funder_nonce = pending_nonce(funder);
  if (!funder_nonce.ok()) return funder_nonce.status();
  Result<uint64_t> council_nonce = council ? pending_nonce(*council) : Result<uint64_t>(0);
  if (!council_nonce.ok()) return council_nonce.status();
  bench::WorkloadKeys keys{KeyPair::FromSeed(funder.seed()), std::nullopt};
  if (council) keys.council = KeyPair::FromSeed(council->seed());
  Result<std::unique_ptr<bench::Workload>> made =
      bench::MakeWorkload(*mix, keys, chain_id, options.accounts, *funder_nonce, *council_nonce,
                          total / options.accounts + 2, start_height, expiry);
  if (!made.ok()) return made.status();
  bench::Workload& workload = **made;

  progress("setting up " + std::to_string(options.accounts) + " fresh accounts (enrolled by " +
           EncodeAddress(funder.public_key()) + ")");
  while (true) {
    Result<std::optional<bench::Stage>> stage = workload.NextSetupStage(nodes.node());
    if (!stage.ok()) return stage.status();
    if (!stage->has_value()) break;
    const std::vector<bench::LoadTx>& txs = (*stage)->txs;
    std::vector<Offer> setup(txs.size());
    // A node refuses a nonce more than 256 past the sender's committed one (nonce_gap), so a
    // stage of more setup transactions than that is offered in windows, each committed
    // before the next.
    for (size_t window = 0; window < txs.size(); window += kSetupWindow) {
      const size_t window_end = std::min(txs.size(), window + kSetupWindow);
      for (size_t first = window; first < window_end; first += options.max_batch) {
        std::vector<size_t> batch;
        for (size_t i = first; i < std::min(window_end, first + options.max_batch); ++i) {
          batch.push_back(i);
        }
        if (Status s = SubmitBatch(nodes, txs, batch, setup); !s.ok()) return s;
      }
      const auto refused =
          std::find_if(setup.begin() + window, setup.begin() + window_end,
                       [](const Offer& offer) { return offer.accepted_at == Clock::time_point{}; });
      if (refused != setup.begin() + window_end) {
        return Status(ErrorCode::kInvalidArgument, "the node refused a setup transaction (" +
                                                       refused->code +
                                                       "); does the funding key hold enough ubi?");
      }
      if (window_end == txs.size()) break;
      std::map<PublicKey, uint64_t> window_nonces;
      for (size_t i = window; i < window_end; ++i) {
        uint64_t& next = window_nonces[txs[i].tx.sender];
        next = std::max(next, txs[i].tx.nonce + 1);
      }
      std::vector<bench::AwaitNonce> window_await;
      for (const auto& [account, next_nonce] : window_nonces) {
        window_await.push_back({account, next_nonce});
      }
      if (Status s = WaitNonces(nodes, window_await, options.drain_timeout); !s.ok()) return s;
    }
    if (Status s = WaitNonces(nodes, (*stage)->await, options.drain_timeout); !s.ok()) return s;
    // A setup transaction that committed but failed (a funder that is no registrar, a council
    // key that is not the council's) would leave a load that fails every transaction.
    for (const bench::LoadTx& tx : txs) {
      Result<Json> committed = nodes.node().Get("/v1/tx/" + tx.tx.Id().ToHex());
      if (committed.ok() && (*committed)["result"].value("code", 0) == 0) continue;
      return Status(ErrorCode::kPermissionDenied,
                    "the bench's setup failed at " + tx.kind + ": " +
                        (committed.ok() ? (*committed)["result"].value("detail", "refused")
                                        : committed.status().message()) +
                        " (the funding key must be a registrar or admin; the 'all' load's "
                        "--council key a council member)");
    }
  }

  progress("signing " + std::to_string(total) + " transactions (" + options.mix + ")");
  std::vector<bench::LoadTx> txs;
  std::vector<std::string> ids;
  txs.reserve(total);
  ids.reserve(total);
  try {
    for (size_t k = 0; k < total; ++k) {
      txs.push_back(workload.Next(k));
      ids.push_back(txs.back().tx.Id().ToHex());
    }
  } catch (const std::logic_error& error) {
    return Status(ErrorCode::kInternal, error.what());
  }
  Result<Json> now = nodes.node().Get("/v1/status");
  if (!now.ok()) return now.status();
  NodePool watcher_nodes(urls, options.request_timeout);
  if (Status s = watcher_nodes.Open(); !s.ok()) return s;
  CommitWatcher watcher(std::move(watcher_nodes), now->value("height", uint64_t{0}));

  char offering[96];
  std::snprintf(offering, sizeof(offering), "offering %g tx/s for %g s", options.rate,
                options.duration_s);
  progress(offering);
  std::vector<Offer> offers(total);
  std::string last_submit_error;
  size_t resubmissions = 0;
  size_t pending_retries = 0;
  Clock::time_point next_resubmit = Clock::now() + 1s;
  // A client tries again what a node refused for now (a full pool, a nonce gap behind an
  // earlier refusal) and what was accepted by a node that then died without it committing:
  // otherwise one lost nonce would hold back every later transaction of its sender.
  auto resubmit = [&](size_t upto) {
    if (options.resubmit_after.count() <= 0 || Clock::now() < next_resubmit) return;
    const Clock::time_point now = Clock::now();
    next_resubmit = now + 1s;
    const Clock::time_point stale = now - options.resubmit_after;
    const size_t cap = std::max<size_t>(options.max_batch * 4, size_t(2 * options.rate));
    std::vector<size_t> due;
    pending_retries = 0;
    for (size_t k = 0; k < upto && due.size() < cap; ++k) {
      Offer& offer = offers[k];
      if (offer.committed) continue;
      const bool accepted = offer.accepted_at != Clock::time_point{};
      if (accepted && offer.last_try < stale) {
        offer.committed = watcher.Committed(ids[k]);
        if (!offer.committed) due.push_back(k);
      } else if (!accepted && (offer.retry || !offer.answered) && offer.last_try < now - 1s) {
        due.push_back(k);
        ++pending_retries;
      }
    }
    for (size_t first = 0; first < due.size(); first += options.max_batch) {
      std::span<const size_t> batch(due.data() + first,
                                    std::min(options.max_batch, due.size() - first));
      resubmissions += batch.size();
      (void)SubmitBatch(nodes, txs, batch, offers);
    }
  };
  auto acknowledged = [&] {
    return size_t(std::count_if(offers.begin(), offers.end(), [](const Offer& offer) {
      return offer.accepted_at != Clock::time_point{};
    }));
  };
  // Only the bench's own transactions count: other clients' (a council's votes during the
  // load) are in the blocks too, and must not stand in for a missing one.
  auto acknowledged_uncommitted = [&] {
    size_t waiting = 0;
    for (size_t k = 0; k < total; ++k) {
      Offer& offer = offers[k];
      if (offer.accepted_at == Clock::time_point{} || offer.committed) continue;
      offer.committed = watcher.Committed(ids[k]);
      waiting += offer.committed ? 0 : 1;
    }
    return waiting;
  };
  const Clock::time_point started = Clock::now();
  size_t next = 0;
  std::vector<size_t> batch;
  while (next < total) {
    resubmit(next);
    const size_t due = std::min(total, size_t(options.rate * Seconds(Clock::now() - started)));
    if (due <= next) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    const size_t last = std::min(due, next + options.max_batch);
    batch.clear();
    for (size_t k = next; k < last; ++k) batch.push_back(k);
    // A batch no node answered is tried again later; the load goes on, as a client's would.
    if (Status s = SubmitBatch(nodes, txs, batch, offers); !s.ok()) {
      last_submit_error = nodes.url() + ": " + s.message();
    }
    next = last;
  }
  const Clock::time_point offered = Clock::now();
  const Clock::time_point drain_deadline = offered + options.drain_timeout;
  while ((acknowledged_uncommitted() > 0 || pending_retries > 0) && Clock::now() < drain_deadline) {
    resubmit(total);
    std::this_thread::sleep_for(50ms);
  }
  watcher.Stop();

  const auto commits = watcher.Commits();
  std::vector<double> latencies;
  std::map<std::string, std::pair<size_t, size_t>> kinds;  // offered, committed
  Clock::time_point last_commit = started;
  std::string committed_ids;
  for (size_t k = 0; k < total; ++k) {
    ++kinds[txs[k].kind].first;
    const auto found = commits.find(ids[k]);
    if (found == commits.end()) continue;
    ++kinds[txs[k].kind].second;
    committed_ids += ids[k] + "\n";
    if (offers[k].accepted_at == Clock::time_point{}) continue;
    latencies.push_back(
        std::chrono::duration<double, std::milli>(found->second - offers[k].accepted_at).count());
    last_commit = std::max(last_commit, found->second);
  }
  if (!options.committed_ids_path.empty()) {
    std::ofstream out(options.committed_ids_path, std::ios::trunc);
    out << committed_ids;
    if (!out.flush()) {
      return Status(ErrorCode::kIoError, "cannot write " + options.committed_ids_path);
    }
  }
  const size_t committed = size_t(std::count(committed_ids.begin(), committed_ids.end(), '\n'));
  const double window = std::max(Seconds(last_commit - started), 1e-9);
  const double committed_per_s = latencies.size() / window;
  // The outcome of each transaction never accepted: refused (by its last code) or never
  // answered about.
  std::map<std::string, size_t> refused;
  size_t unanswered = 0;
  for (const Offer& offer : offers) {
    if (offer.accepted_at != Clock::time_point{}) continue;
    if (offer.answered) {
      ++refused[offer.code];
    } else {
      ++unanswered;
    }
  }
  Json rejected = Json::object();
  for (const auto& [code, count] : refused) rejected[code] = count;
  const size_t accepted = acknowledged();
  Json by_kind = Json::object();
  for (const auto& [kind, counts] : kinds) {
    by_kind[kind] = {{"offered", counts.first}, {"committed", counts.second}};
  }
  SampleResults(nodes, workload, txs, ids, commits, chain_id, by_kind);
  return Json{
      {"node", options.node_url},
      {"nodes", urls},
      {"mix", options.mix},
      {"contract", options.mix},
      {"rate", options.rate},
      {"duration_s", options.duration_s},
      {"accounts", options.accounts},
      {"submitted", total},
      {"accepted", accepted},
      {"unacknowledged", unanswered},
      {"rejected", rejected},
      {"resubmitted", resubmissions},
      {"failovers", nodes.failovers()},
      {"committed", committed},
      {"lost", accepted - std::min(accepted, committed)},
      {"kinds", by_kind},
      {"committed_tx_per_s", committed_per_s},
      {"commit_window_s", window},
      {"latency_ms",
       {{"p50", Percentile(latencies, 0.50)},
        {"p90", Percentile(latencies, 0.90)},
        {"p99", Percentile(latencies, 0.99)},
        {"max", Percentile(latencies, 1.0)}}},
      {"raw_verify_per_s", raw_verify},
      {"committed_vs_raw_verify", raw_verify > 0 ? committed_per_s / raw_verify : 0},
      {"watcher_error", watcher.error().empty() ? Json(nullptr) : Json(watcher.error())},
      {"submit_error", last_submit_error.empty() ? Json(nullptr) : Json(last_submit_error)}};
}

}  // namespace city::wallet
