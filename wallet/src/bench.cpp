// The load generator (bench.h).
#include "city/wallet/bench.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "city/contracts/accounts.h"
#include "city/contracts/ubi.h"
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
constexpr uint64_t kExpiryBlocks = 15'000;  // within the nodes' default horizon (20,000)

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

ledger::Transaction Signed(const std::string& chain_id, const KeyPair& from,
                           std::string_view contract, std::string_view method, Bytes args,
                           uint64_t nonce, uint64_t expiry) {
  ledger::Transaction tx;
  tx.chain_id = chain_id;
  tx.nonce = nonce;
  tx.expiry_height = expiry;
  tx.contract = std::string(contract);
  tx.method = std::string(method);
  tx.args = std::move(args);
  tx.Sign(from);
  return tx;
}

ledger::Transaction Transfer(const std::string& chain_id, const KeyPair& from, const PublicKey& to,
                             uint64_t amount, uint64_t nonce, uint64_t expiry) {
  return Signed(chain_id, from, contracts::kUbi, "transfer",
                contracts::EncodeArgs(contracts::UbiTransferArgs{to, amount}), nonce, expiry);
}

// Notes the time each transaction id is first seen committed, from a thread that follows
// the node's blocks.
class CommitWatcher {
 public:
  CommitWatcher(std::unique_ptr<NodeClient> node, uint64_t after)
      : node_(std::move(node)), after_(after) {
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
  size_t Count() const {
    std::lock_guard lock(mutex_);
    return commits_.size();
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
    while (!stop_) {
      Result<Json> page =
          node_->Get("/v1/subscribe/blocks?wait_ms=1000&after=" + std::to_string(after_), 6000ms);
      if (!page.ok()) {
        Fail(page.status().message());
        std::this_thread::sleep_for(100ms);
        continue;
      }
      const Clock::time_point seen = Clock::now();
      for (const Json& block : page->value("blocks", Json::array())) {
        const uint64_t height = block.value("height", uint64_t{0});
        Result<Json> full = node_->Get("/v1/blocks/" + std::to_string(height));
        if (!full.ok()) {
          Fail(full.status().message());
          break;
        }
        std::lock_guard lock(mutex_);
        for (const Json& tx : (*full)["block"].value("transactions", Json::array())) {
          commits_.emplace(tx.value("id", ""), seen);
        }
        after_ = height;
      }
    }
  }
  void Fail(const std::string& message) {
    std::lock_guard lock(mutex_);
    error_ = message;
  }

  std::unique_ptr<NodeClient> node_;
  uint64_t after_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> commits_;  // guarded by mutex_
  std::string error_;                                           // guarded by mutex_
};

struct Submitted {
  size_t accepted = 0;
  std::map<std::string, size_t> rejected;  // by code
};

// POST /v1/txs of `txs[first, last)`; accepted ones get their send time.
Status SubmitBatch(NodeClient& node, const std::vector<ledger::Transaction>& txs, size_t first,
                   size_t last, std::vector<Clock::time_point>& sent, Submitted& out) {
  Json list = Json::array();
  for (size_t i = first; i < last; ++i) list.push_back(ToHex(ledger::Encode(txs[i])));
  const Clock::time_point at = Clock::now();
  Result<Json> answer = node.Post("/v1/txs", Json{{"txs", std::move(list)}});
  if (!answer.ok()) return answer.status();
  const Json results = answer->value("results", Json::array());
  if (results.size() != last - first) {
    return Status(ErrorCode::kMalformed, "the node answered a batch of " +
                                             std::to_string(last - first) + " with " +
                                             std::to_string(results.size()) + " results");
  }
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].value("accepted", false)) {
      ++out.accepted;
      sent[first + i] = at;
    } else {
      ++out.rejected[results[i].value("error", Json::object()).value("code", "unknown")];
    }
  }
  return Status::Ok();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, size_t(std::ceil(p * values.size())) - 1);
  return values[index];
}

// Waits until `account` has committed `nonce` transactions, or `timeout` passes.
Status WaitNonce(NodeClient& node, const PublicKey& account, uint64_t nonce,
                 std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    Result<Json> state = node.Get("/v1/accounts/" + EncodeAddress(account));
    if (!state.ok()) return state.status();
    if (state->value("next_nonce", uint64_t{0}) >= nonce) return Status::Ok();
    if (Clock::now() > deadline) {
      return Status(ErrorCode::kIoError, "the funding transfers did not commit within " +
                                             std::to_string(timeout.count() / 1000) + " s");
    }
    std::this_thread::sleep_for(100ms);
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

Result<Json> RunBench(const BenchOptions& options, const KeyPair& funder,
                      const std::function<void(const std::string&)>& progress) {
  if (options.rate <= 0 || options.duration_s <= 0 || options.accounts < 2 ||
      options.max_batch == 0 || options.max_batch > 1000) {
    return Status(ErrorCode::kInvalidArgument,
                  "bench needs --rate > 0, --duration > 0, --accounts >= 2 and a batch of 1..1000");
  }
  const size_t total = size_t(std::ceil(options.rate * options.duration_s));
  Result<std::unique_ptr<NodeClient>> connected =
      NodeClient::Connect(options.node_url, options.request_timeout);
  if (!connected.ok()) return connected.status();
  NodeClient& node = **connected;
  Result<Json> status = node.Get("/v1/status");
  if (!status.ok()) return status.status();
  const std::string chain_id = status->value("chain_id", "");
  if (!options.chain_id.empty() && chain_id != options.chain_id) {
    return Status(ErrorCode::kInvalidArgument, "the node serves chain " + chain_id + ", not " +
                                                   options.chain_id + " (--chain-id)");
  }
  // The funder reads as itself: the enrolment of the accounts it enrols is the registrar's
  // to read (docs/node.md, "Signed reads: who may read what").
  node.SignAs(std::make_shared<const KeyPair>(KeyPair::FromSeed(funder.seed())), chain_id);
  const uint64_t start_height = status->value("height", uint64_t{0});
  const uint64_t expiry = start_height + kExpiryBlocks;

  const double raw_verify = RawVerifyPerSecond(1.0);

  // Fund fresh accounts: each sends one token per transaction it will send.
  std::vector<KeyPair> accounts;
  for (size_t a = 0; a < options.accounts; ++a) accounts.push_back(KeyPair::Generate());
  const uint64_t per_account = total / options.accounts + 2;
  Result<Json> funder_state = node.Get("/v1/accounts/" + EncodeAddress(funder.public_key()));
  if (!funder_state.ok()) return funder_state.status();
  const uint64_t funder_nonce = funder_state->value("pending_next_nonce", uint64_t{0});
  // The ledger is permissioned: the funder (a registrar in dev and testnet) enrols the fresh
  // accounts before it funds them.
  std::vector<ledger::Transaction> funding;
  for (size_t a = 0; a < accounts.size(); ++a) {
    funding.push_back(Signed(chain_id, funder, contracts::kAccounts, "enrol",
                             contracts::EncodeArgs(contracts::EnrolArgs{accounts[a].public_key()}),
                             funder_nonce + a, expiry));
  }
  for (size_t a = 0; a < accounts.size(); ++a) {
    funding.push_back(Transfer(chain_id, funder, accounts[a].public_key(), per_account,
                               funder_nonce + accounts.size() + a, expiry));
  }
  progress("enrolling and funding " + std::to_string(accounts.size()) + " accounts from " +
           EncodeAddress(funder.public_key()));
  std::vector<Clock::time_point> funding_sent(funding.size());
  Submitted funded;
  for (size_t first = 0; first < funding.size(); first += options.max_batch) {
    const size_t last = std::min(funding.size(), first + options.max_batch);
    if (Status s = SubmitBatch(node, funding, first, last, funding_sent, funded); !s.ok()) return s;
  }
  if (funded.accepted != funding.size()) {
    const std::string why =
        funded.rejected.empty() ? "" : " (" + funded.rejected.begin()->first + ")";
    return Status(ErrorCode::kInvalidArgument,
                  "the node refused " + std::to_string(funding.size() - funded.accepted) +
                      " funding transfers" + why + "; does the funding key hold enough ubi?");
  }
  if (Status s = WaitNonce(node, funder.public_key(), funder_nonce + funding.size(),
                           options.drain_timeout);
      !s.ok()) {
    return s;
  }
  Result<Json> enrolled = node.Get("/v1/accounts/" + EncodeAddress(accounts[0].public_key()));
  if (!enrolled.ok()) return enrolled.status();
  if (!(*enrolled)["enrolled"].is_string() || (*enrolled)["enrolled"] == "none") {
    return Status(ErrorCode::kPermissionDenied,
                  "the funding key " + EncodeAddress(funder.public_key()) +
                      " could not enrol the bench's accounts: it must hold the registrar or "
                      "admin role");
  }

  // Transaction k: account k mod n sends 1 token to the next account, its nonces in order.
  progress("signing " + std::to_string(total) + " transfers");
  std::vector<ledger::Transaction> txs;
  txs.reserve(total);
  for (size_t k = 0; k < total; ++k) {
    const size_t a = k % accounts.size();
    txs.push_back(Transfer(chain_id, accounts[a], accounts[(a + 1) % accounts.size()].public_key(),
                           1, k / accounts.size(), expiry));
  }
  Result<Json> now = node.Get("/v1/status");
  if (!now.ok()) return now.status();
  Result<std::unique_ptr<NodeClient>> watcher_node =
      NodeClient::Connect(options.node_url, options.request_timeout);
  if (!watcher_node.ok()) return watcher_node.status();
  CommitWatcher watcher(std::move(*watcher_node), now->value("height", uint64_t{0}));

  char offering[96];
  std::snprintf(offering, sizeof(offering), "offering %g tx/s for %g s", options.rate,
                options.duration_s);
  progress(offering);
  std::vector<Clock::time_point> sent(total);
  Submitted submitted;
  const Clock::time_point started = Clock::now();
  size_t next = 0;
  while (next < total) {
    const size_t due = std::min(total, size_t(options.rate * Seconds(Clock::now() - started)));
    if (due <= next) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    const size_t last = std::min(due, next + options.max_batch);
    if (Status s = SubmitBatch(node, txs, next, last, sent, submitted); !s.ok()) return s;
    next = last;
  }
  const Clock::time_point offered = Clock::now();
  const Clock::time_point drain_deadline = offered + options.drain_timeout;
  while (watcher.Count() < submitted.accepted && Clock::now() < drain_deadline) {
    std::this_thread::sleep_for(50ms);
  }
  watcher.Stop();

  const auto commits = watcher.Commits();
  std::vector<double> latencies;
  Clock::time_point last_commit = started;
  for (size_t k = 0; k < total; ++k) {
    if (sent[k] == Clock::time_point{}) continue;
    const auto found = commits.find(txs[k].Id().ToHex());
    if (found == commits.end()) continue;
    latencies.push_back(std::chrono::duration<double, std::milli>(found->second - sent[k]).count());
    last_commit = std::max(last_commit, found->second);
  }
  const double window = std::max(Seconds(last_commit - started), 1e-9);
  const double committed_per_s = latencies.size() / window;
  Json rejected = Json::object();
  for (const auto& [code, count] : submitted.rejected) rejected[code] = count;
  return Json{{"node", options.node_url},
              {"contract", "ubi"},
              {"rate", options.rate},
              {"duration_s", options.duration_s},
              {"accounts", options.accounts},
              {"submitted", total},
              {"accepted", submitted.accepted},
              {"rejected", rejected},
              {"committed", latencies.size()},
              {"lost", submitted.accepted - std::min(submitted.accepted, latencies.size())},
              {"committed_tx_per_s", committed_per_s},
              {"commit_window_s", window},
              {"latency_ms",
               {{"p50", Percentile(latencies, 0.50)},
                {"p90", Percentile(latencies, 0.90)},
                {"p99", Percentile(latencies, 0.99)},
                {"max", Percentile(latencies, 1.0)}}},
              {"raw_verify_per_s", raw_verify},
              {"committed_vs_raw_verify", raw_verify > 0 ? committed_per_s / raw_verify : 0},
              {"watcher_error", watcher.error().empty() ? Json(nullptr) : Json(watcher.error())}};
}

}  // namespace city::wallet
