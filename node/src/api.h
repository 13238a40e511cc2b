// The client API: JSON over HTTP (docs/node.md, "Client API", lists every route).
#pragma once

#include <memory>
#include <string>

#include "chain.h"
#include "city/net/http_server.h"
#include "city/net/metrics.h"
#include "city/node/backup.h"
#include "city/node/genesis.h"
#include "city/node/mempool.h"
#include "driver.h"
#include "feed.h"
#include "read_auth.h"
#include "read_policy.h"
#include "tx_intake.h"

namespace city::node {

struct ApiContext {
  const Chain* chain = nullptr;
  const Mempool* mempool = nullptr;
  TxIntake* intake = nullptr;
  const Driver* driver = nullptr;
  BackupRunner* backups = nullptr;     // POST and GET /v1/admin/backup; none: 404
  SnapshotTaker* snapshots = nullptr;  // POST and GET /v1/admin/snapshot; none: 404
  CommitFeed* feed = nullptr;
  std::shared_ptr<net::MetricsRegistry> metrics;
  GenesisDoc genesis;
  PublicKey node_key;
  // The address the API listens on: a request from it comes from this host (Admin routes).
  std::string api_listen_host;
  std::string moniker;
  // Connected-peer count, read when asked (the network is created after the router).
  std::function<size_t()> connected_peers;
  // Signed requests and the read policy (read_auth.h, read_policy.h); MakeApiRouter makes
  // them when unset, with the system clock.
  std::shared_ptr<RequestAuthenticator> authenticator;
  std::shared_ptr<const ReadPolicy> read_policy;
  ReadAuthOptions read_auth;
};

// Longest a long-poll waits (the HTTP server gives handlers 60 s).
inline constexpr uint64_t kMaxLongPollMs = 30'000;
inline constexpr size_t kMaxBatchTransactions = 1'000;
// A page of events stops after the block that takes it past this many bytes (roughly: the
// data in hex plus kEventOverheadBytes an event), so `next_after` may be below the tip.
inline constexpr size_t kMaxPageBytes = 1024 * 1024;
inline constexpr size_t kEventOverheadBytes = 160;

net::Router MakeApiRouter(std::shared_ptr<ApiContext> context);

}  // namespace city::node
