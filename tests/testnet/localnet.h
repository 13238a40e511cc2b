// LocalNet: a real multi-process CityLedger network on 127.0.0.1 for tests and benchmarks.
// It runs `cityd testnet` into a fresh temporary directory, starts each validator as its own
// `cityd start` process (output in DIR/nodeI.log), and talks to the nodes through the client
// API only, like any client would. Also: a load generator (steady UBI transfers) and
// RunCityd for one-shot commands whose exit code and output a test checks.
//
// Processes are started with fork/exec from the calling thread and die with it
// (PR_SET_PDEATHSIG), so start and stop nodes from the test's main thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "city/contracts/contract.h"
#include "city/crypto/ed25519.h"
#include "city/crypto/hash.h"
#include "city/ledger/types.h"
#include "support/process.h"

namespace city::net {
class HttpClient;
}

namespace city::testnet {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using namespace std::chrono_literals;

// The path of the cityd binary under test (CITY_CITYD_PATH, set by CMake).
std::filesystem::path CitydPath();
// The equivocating, flooding validator of byzantine_cityd.cpp.
std::filesystem::path ByzantineCitydPath();

// ---- one-shot commands ----

// exit_code (-1 when killed: a signal or the timeout), timed_out, elapsed, out, err.
using RunResult = test::ProcessResult;

// Runs cityd with `args` to completion (killed after `timeout`), capturing stdout and stderr
// through files in `scratch_dir`.
RunResult RunCityd(const std::vector<std::string>& args, const std::filesystem::path& scratch_dir,
                   Millis timeout = 20s);

// Lines of `text` starting with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& text, std::string_view prefix);

// ---- API replies ----

struct ApiReply {
  int status = 0;         // HTTP status; 0 when the request failed (transport)
  Json body;              // parsed body, or null
  std::string transport;  // the transport error, when status == 0
  std::string raw;        // the body as received
  bool ok() const { return status >= 200 && status < 300; }
  // "HTTP 409 {...}" or "transport: ...", for failure messages.
  std::string Describe() const;
};

// The body's error code ("" when there is none).
std::string ErrorCodeOf(const ApiReply& reply);

// ---- the network ----

struct LocalNetOptions {
  size_t validators = 4;
  std::string chain_id = "city-testnet";
  bool start = true;  // start every node (and wait until they commit) in the constructor
  // The seed for port choice and the tests' random choices; 0 means CITY_TESTNET_SEED from
  // the environment, or else a random one. Always printed.
  uint64_t seed = 0;
  std::string label;  // shown in messages; defaults to the running test's name
};

class LocalNet {
 public:
  explicit LocalNet(LocalNetOptions options = {});
  // Kills every node. Keeps the directory (and prints the log paths) when the current test
  // failed, KeepFiles() was called or CITY_TESTNET_KEEP is set; otherwise removes it.
  ~LocalNet();
  LocalNet(const LocalNet&) = delete;
  LocalNet& operator=(const LocalNet&) = delete;

  size_t size() const { return homes_.size(); }
  uint64_t seed() const { return seed_; }
  std::mt19937_64& rng() { return rng_; }
  const std::string& chain_id() const { return options_.chain_id; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path home(size_t i) const { return homes_.at(i); }
  std::filesystem::path log_path(size_t i) const;
  uint16_t p2p_port(size_t i) const { return static_cast<uint16_t>(base_port_ + 2 * i); }
  uint16_t api_port(size_t i) const { return static_cast<uint16_t>(base_port_ + 2 * i + 1); }
  void KeepFiles() { keep_ = true; }

  // ---- processes ----
  // `cityd start --home HOME`, then `extra_args` (e.g. --recover-safety).
  void Start(size_t i, const std::vector<std::string>& extra_args = {});
  // `cityd-byzantine --home HOME`, then `extra_args` (e.g. --flood 500).
  void StartByzantine(size_t i, const std::vector<std::string>& extra_args = {});
  void StartAll();
  // SIGKILL, then reaps the process.
  void Kill(size_t i);
  // SIGTERM, then waits up to `timeout` for it to exit (SIGKILL after that). Returns the exit
  // code, or -1 if it died of a signal or did not stop in time.
  int Stop(size_t i, Millis timeout = 20s);
  bool running(size_t i) const;
  pid_t pid(size_t i) const;
  std::vector<size_t> RunningNodes() const;
  std::vector<size_t> AllNodes() const;
  // True if the process of node i exited by itself (and reaps it): a crash.
  bool Exited(size_t i, int* exit_code = nullptr);

  // ---- client API (thread-safe) ----
  ApiReply Get(size_t i, const std::string& target, Millis timeout = 10s);
  ApiReply Post(size_t i, const std::string& target, const Json& body, Millis timeout = 10s);
  // GET signed by the testnet key `reader` (Key(reader)): a read of private data.
  ApiReply GetAs(const std::string& reader, size_t i, const std::string& target,
                 Millis timeout = 10s);
  // GET /v1/status; null when the node does not answer.
  Json Status(size_t i);
  std::optional<uint64_t> Height(size_t i);
  // The lowest / highest height among `nodes` (nullopt if one does not answer).
  std::optional<uint64_t> MinHeight(const std::vector<size_t>& nodes);
  std::optional<uint64_t> MaxHeight(const std::vector<size_t>& nodes);
  // GET|POST /v1/query/{contract}/{query}: the "result" member, or null (with the reply in
  // *reply when given).
  Json Query(size_t i, std::string_view contract, std::string_view query, const Json& params,
             ApiReply* reply = nullptr, const std::string& reader = "");
  // GET /metrics, as name (with labels) -> value.
  std::map<std::string, double> Metrics(size_t i);

  // ---- waiting ----
  // Polls `predicate` every `poll` until it holds or `timeout` passes; true if it held.
  static bool WaitFor(const std::function<bool()>& predicate, Millis timeout, Millis poll = 100ms);
  // Every node in `nodes` answers, is not syncing and has a height >= `height`.
  bool WaitHeight(const std::vector<size_t>& nodes, uint64_t height, Millis timeout);
  // Every node in `nodes` rises by at least `blocks` from its height now.
  bool WaitProgress(const std::vector<size_t>& nodes, uint64_t blocks, Millis timeout);

  // ---- no-fork check ----
  // Fetches /v1/headers 0..min common height from each node and compares header hash and
  // state root at every height (and the parent links). Empty when the chains agree (or a
  // node does not answer: then it says so); otherwise the first difference.
  std::string CompareChains(const std::vector<size_t>& nodes, uint64_t* compared_height = nullptr);
  // EXPECTs CompareChains to be empty and at least `min_height` heights compared.
  bool ExpectSameChain(const std::vector<size_t>& nodes, uint64_t min_height = 1);

  // ---- keys and transactions ----
  // The testnet's client keys: council, admin, registrar, clinician, emergency, custodian,
  // auditor, citizen, patient, shipper, receiver.
  static const std::vector<std::string>& KeyNames();
  const KeyPair& Key(const std::string& name);
  std::string Address(const std::string& name);
  // Loads every client key (Argon2 makes each read cost a moment; do it once, up front).
  void LoadKeys();

  // The next nonce of `key` as this harness tracks it (first read from a node's
  // pending_next_nonce), and taken: the next call returns one more.
  uint64_t TakeNonce(const KeyPair& key);
  // Forget the tracked nonce (read it again from a node next time).
  void ForgetNonce(const KeyPair& key);
  // Tip height of any running node + 1000.
  uint64_t DefaultExpiry();
  // GET /v1/accounts/{address}: next_nonce (committed) or nullopt.
  std::optional<uint64_t> CommittedNonce(size_t node, const PublicKey& key);

  // A signed transaction. Nonce: TakeNonce unless given; expiry: DefaultExpiry unless given.
  ledger::Transaction SignedTx(const KeyPair& key, std::string_view contract,
                               std::string_view method, Bytes args,
                               std::optional<uint64_t> nonce = std::nullopt,
                               std::optional<uint64_t> expiry = std::nullopt,
                               std::optional<std::string> chain_id = std::nullopt);
  template <typename Args>
  ledger::Transaction Tx(const KeyPair& key, std::string_view contract, std::string_view method,
                         const Args& args) {
    return SignedTx(key, contract, method, contracts::EncodeArgs(args));
  }

  // POST /v1/tx.
  ApiReply Submit(size_t node, const ledger::Transaction& tx);
  // POST /v1/txs.
  ApiReply SubmitBatch(size_t node, const std::vector<ledger::Transaction>& txs,
                       Millis timeout = 30s);
  // Long-polls GET /v1/tx/{id}?wait_ms until it is committed or rejected or `timeout`
  // passes; returns the last body (null if the node never answered). Without `reader` (a
  // testnet key name) a private transaction's body and events are redacted.
  Json WaitTx(size_t node, const Hash256& id, Millis timeout = 20s, const std::string& reader = "");
  // The testnet key name whose public key is `key` ("" when none is).
  std::string KeyNameOf(const PublicKey& key);

  // The label and where things are, for failure messages.
  std::string Describe() const;

 private:
  void Launch(size_t i, const std::vector<std::string>& args);
  struct NodeProc {
    pid_t pid = -1;
    int starts = 0;
  };

  void PickPorts();
  void CreateTestnet();
  void SetPid(size_t i, pid_t pid);
  // `reader`: the named testnet key signs the request (a fresh client, not pooled).
  ApiReply Request(size_t i, std::string_view method, const std::string& target,
                   const std::string& body, Millis timeout, const std::string& reader = "");

  LocalNetOptions options_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::filesystem::path dir_;
  uint16_t base_port_ = 0;
  std::vector<std::filesystem::path> homes_;
  // Changed by the thread that starts and stops nodes; read by any (the load thread).
  mutable std::mutex procs_mutex_;
  std::vector<NodeProc> procs_;  // guarded by procs_mutex_
  bool keep_ = false;

  mutable std::mutex mutex_;  // guards clients_, timeouts_, keys_, nonces_
  std::vector<std::vector<std::unique_ptr<net::HttpClient>>> clients_;  // idle, per node
  std::map<const net::HttpClient*, Millis> timeouts_;                   // of every client
  std::map<std::string, std::unique_ptr<KeyPair>> keys_;
  std::map<PublicKey, uint64_t> nonces_;
};

// ---- load ----

// A thread that submits UBI transfers of 1 token at a steady rate, round-robin to `targets`,
// from the given senders to each other, tracking what was accepted.
class Load {
 public:
  struct Stats {
    size_t submitted = 0;
    size_t accepted = 0;
    std::map<std::string, size_t> rejected;  // by error code (or "transport")
  };

  Load(LocalNet& net, std::vector<std::string> senders, double per_second);
  ~Load();  // stops
  void Start(std::vector<size_t> targets);
  void SetTargets(std::vector<size_t> targets);
  void Stop();
  Stats stats() const;
  // Every accepted transaction committed with an ok result (checked on `node`), and each
  // sender's committed nonce advanced by exactly its accepted count: nothing lost, nothing
  // applied twice. Empty when so; otherwise what is wrong.
  std::string VerifyCommitted(size_t node, Millis timeout);

 private:
  void Run();

  LocalNet& net_;
  std::vector<std::string> senders_;
  double per_second_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;  // guards targets_, stats_, accepted_, start_nonce_
  std::vector<size_t> targets_;
  Stats stats_;
  std::vector<Hash256> accepted_;
  std::map<std::string, uint64_t> start_nonce_;
  std::map<std::string, uint64_t> accepted_per_sender_;
};

}  // namespace city::testnet
