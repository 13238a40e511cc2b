// The load generator behind `cityctl bench`: pre-signs a load among fresh accounts (enrolled
// and funded first from a registrar that holds tokens): UBI transfers, or every contract at
// once (bench_workload.h). It submits them to one node in batches at a steady rate, moving to
// the next node given when one stops answering. Like a careful client it tries again what was
// refused for now (a full pool, a nonce gap) and what was accepted but did not commit (a node
// that died with it). It watches blocks commit, and reports what was submitted, accepted and
// committed, committed tx/s and commit latency percentiles, beside raw Ed25519 verifications/s
// measured in the same run (the baseline docs/benchmarks.md compares against).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/status.h"

namespace city::wallet {

struct BenchOptions {
  std::string node_url;
  std::vector<std::string> other_nodes;  // used in turn when the node stops answering
  std::string mix = "ubi";               // "ubi" (transfers) or "all" (every contract)
  std::string committed_ids_path;        // when set: the ids seen committed, one per line
  std::string chain_id;                  // when set, a node serving another chain is refused
  double rate = 100;                     // transactions offered per second
  double duration_s = 10;                // of offering
  size_t accounts = 16;                  // senders (each also a receiver)
  size_t max_batch = 500;                // transactions per POST /v1/txs
  std::chrono::milliseconds drain_timeout{30'000};  // for the accepted ones to commit
  std::chrono::milliseconds request_timeout{10'000};
  // Accepted transactions not seen committed this long after are offered again, and ones
  // refused for now a second after (0: neither).
  std::chrono::milliseconds resubmit_after{5'000};
};

// The report (JSON): options, submitted, accepted, unacknowledged (no node answered),
// rejected (by code), committed, lost, by kind, committed_tx_per_s, latency_ms
// {p50,p90,p99,max}, raw_verify_per_s and the ratio. The "all" mix needs `council`.
// `progress` gets a line now and then (for a terminal). kInvalidArgument for bad options.
Result<nlohmann::json> RunBench(const BenchOptions& options, const KeyPair& funder,
                                const KeyPair* council,
                                const std::function<void(const std::string&)>& progress);

// Raw libsodium Ed25519 verifications per second on one core for about `seconds`.
double RawVerifyPerSecond(double seconds);

}  // namespace city::wallet
