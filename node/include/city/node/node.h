// A validator node: everything `cityd start` runs in one process. Opens the home directory
// (config, genesis, validator key, data), then runs the ledger store, the signature pipeline,
// the mempool, the consensus driver with block sync, the validator links and the client API
// on one io_context until Stop().
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "city/node/config.h"
#include "city/node/genesis.h"
#include "city/node/outbound_policy.h"
#include "city/status.h"

namespace city::node {

inline constexpr std::string_view kNodeVersion = "0.1.0";

struct NodeStartInfo {
  std::string chain_id;
  std::string node_address;  // city1... of the validator key
  std::string api_url;       // http://127.0.0.1:8080
  std::string p2p_address;   // 127.0.0.1:26656
  uint64_t height = 0;       // committed height at start
};

struct StartOptions {
  // The validator lost its consensus safety state (validator_state.bin): it rebuilds it from
  // its peers' rounds and signs nothing before (consensus::Config::recover_safety). Without
  // this, a home with no safety state is refused.
  bool recover_safety = false;
  // A validator joining a running chain: its key is in no set its store knows yet. It syncs,
  // follows the chain, and takes part once a set-validators change naming it starts.
  bool join = false;
  // Tests only: what the consensus core sends goes through this first (outbound_policy.h).
  std::shared_ptr<OutboundPolicy> outbound_policy;
};

class Node {
 public:
  // Opens everything and starts serving. Errors are one clear sentence: a missing or bad
  // config, genesis or key file; "genesis mismatch"; a port in use; "home ... is locked by
  // another cityd (pid N)"; a damaged data directory; a missing safety state.
  static Result<std::unique_ptr<Node>> Start(const std::filesystem::path& home,
                                             StartOptions options = {});
  ~Node();  // stops

  const NodeStartInfo& info() const;
  // Blocks until Stop() is called or the node fails; returns why it stopped (ok for Stop).
  Status Wait();
  // Thread-safe and async-signal-unsafe (call from a normal thread); idempotent.
  void Stop();

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace city::node
