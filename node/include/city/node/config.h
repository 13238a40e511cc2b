// The node's configuration file (config.toml in the node's home): where it listens, who its
// peers are, and the tunables of consensus, the mempool, the API and storage. Every option
// has a default; the file `cityd init` writes lists them all, each with a comment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/ledger/limits.h"
#include "city/status.h"

namespace city::node {

inline constexpr size_t kMaxConfigFileBytes = 1 << 20;
// The fewest blocks (and state versions) a pruning node keeps ([storage] retain_blocks and
// retain_versions).
// More than the execution may lag the commits (kMaxExecutionLag, 72): a proposal names the
// state and results of a height that far back, which a restarted validator reads from the store.
inline constexpr uint64_t kMinRetainBlocks = 128;

struct PeerAddress {
  PublicKey key;  // written as a city1... address
  std::string host;
  uint16_t port = 0;
  friend bool operator==(const PeerAddress&, const PeerAddress&) = default;
};

struct NodeConfig {
  std::string moniker = "validator";  // [node] a name for logs and status

  // [p2p]
  std::string p2p_listen_host = "127.0.0.1";
  uint16_t p2p_port = 26656;
  std::vector<PeerAddress> peers;  // [[p2p.peers]]: every other validator (own entry ignored)

  // [api]
  std::string api_listen_host = "127.0.0.1";
  uint16_t api_port = 8080;
  size_t api_max_connections = 512;
  size_t api_max_connections_per_ip = 64;
  // Host names the API answers for, comma-separated, besides listen_host (DNS-rebinding
  // defence); "*" answers for any.
  std::string api_allowed_hosts = "localhost,127.0.0.1,::1";
  uint64_t api_requests_per_second_per_ip = 200;  // bursts to twice it; 0: no limit
  // Client addresses the request rate does not apply to (the operator's own machine).
  std::string api_rate_limit_exempt = "127.0.0.1,::1";
  size_t api_max_long_polls_per_ip = 64;  // waiting at once from one address; 0: no cap
  // [api.tls]: the client API speaks TLS with this certificate chain and key (PEM, the key
  // 0600). Both or neither; empty: plain HTTP, for an API on loopback.
  std::string api_tls_certificate_chain;
  std::string api_tls_private_key;
  size_t api_max_body_bytes = 8 * 1024 * 1024;  // a batch of transactions

  // [consensus]
  uint64_t base_timeout_ms = 1'000;
  uint64_t max_timeout_ms = 30'000;
  size_t max_block_transactions = 2'000;
  size_t max_block_bytes = 4 * 1024 * 1024;
  size_t max_block_cost = 4'000;          // ledger::ExecutionCost units
  uint64_t batch_delay_ms = 5;            // wait this long for a fuller block unless it is full
  uint64_t idle_block_interval_ms = 400;  // an empty block this often (< base_timeout_ms / 2)

  // [mempool]
  size_t mempool_max_transactions = 50'000;
  size_t mempool_max_bytes = 64 * 1024 * 1024;
  size_t mempool_max_per_sender = 1'000;
  size_t mempool_max_per_client = 20'000;  // pending from one client IP
  // Runnable transactions pending (any origin) above which clients are told to retry: about
  // four blocks of work, so the validators never accept minutes more than they can commit.
  size_t mempool_max_client_backlog = 8'000;  // 0: no limit
  uint64_t mempool_max_nonce_ahead = 256;     // above the sender's committed next nonce
  uint64_t mempool_max_expiry_horizon = ledger::kMaxExpiryHorizon;  // heights above the next one
  uint64_t mempool_gap_eviction_heights = 30;  // a transaction behind a nonce gap waits this long
  size_t verify_threads = 0;                   // 0: one per hardware thread
  size_t verify_batch = 64;
  size_t verify_cache_entries = 1 << 18;

  // [storage]
  uint64_t retain_versions = 0;  // 0: keep every state version (archive); else >= kMinRetainBlocks
  uint64_t retain_blocks = 0;    // 0: keep every block (archive); else >= kMinRetainBlocks
  uint64_t snapshot_interval = 1000;  // executed heights between state snapshots; 0: none
  uint64_t snapshot_keep = 2;         // the newest snapshots kept in <home>/snapshots

  // [log]
  std::string log_level = "info";  // trace, debug, info, warn, error

  friend bool operator==(const NodeConfig&, const NodeConfig&) = default;
};

// Parses and checks a whole file. kInvalidArgument naming the key and the problem, e.g.
// "config.toml: [p2p] port: expected an integer in 1..65535" or "unknown key [api] prot".
// Unknown keys and tables are errors (a typo must not silently fall back to a default).
Result<NodeConfig> ParseConfigToml(std::string_view text,
                                   std::string_view file_name = "config.toml");
// kNotFound "no config file at <path> (run `cityd init --home DIR` first)".
Result<NodeConfig> LoadConfigFile(const std::filesystem::path& path);
// Every option, each preceded by a comment saying what it does and its default; parses back
// to `config` exactly.
std::string RenderConfigToml(const NodeConfig& config);

}  // namespace city::node
