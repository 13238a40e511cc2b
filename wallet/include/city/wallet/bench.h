// The load generator behind `cityctl bench`: pre-signs UBI transfers among fresh accounts
// (funded first from a key that holds tokens), submits them to one node in batches at a
// steady rate, watches blocks commit, and reports what was submitted, accepted and committed,
// committed tx/s and commit latency percentiles, beside raw Ed25519 verifications/s measured
// in the same run (the baseline docs/benchmarks.md compares against).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "city/crypto/ed25519.h"
#include "city/status.h"

namespace city::wallet {

struct BenchOptions {
  std::string node_url;
  std::string chain_id;    // when set, a node serving another chain is refused
  double rate = 100;       // transactions offered per second
  double duration_s = 10;  // of offering
  size_t accounts = 16;    // senders (each also a receiver)
  size_t max_batch = 500;  // transactions per POST /v1/txs
  std::chrono::milliseconds drain_timeout{30'000};  // for the accepted ones to commit
  std::chrono::milliseconds request_timeout{10'000};
};

// The report (JSON): options, submitted, accepted, rejected (by code), committed,
// committed_tx_per_s, latency_ms {p50,p90,p99,max}, raw_verify_per_s and the ratio.
// `progress` gets a line now and then (for a terminal). kInvalidArgument for bad options.
Result<nlohmann::json> RunBench(const BenchOptions& options, const KeyPair& funder,
                                const std::function<void(const std::string&)>& progress);

// Raw libsodium Ed25519 verifications per second on one core for about `seconds`.
double RawVerifyPerSecond(double seconds);

}  // namespace city::wallet
