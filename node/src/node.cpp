// Wiring and lifecycle of a validator node (node.h).
#include "city/node/node.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <condition_variable>
#include <optional>
#include <thread>

#include "api.h"
#include "chain.h"
#include "city/consensus/core.h"
#include "city/crypto/address.h"
#include "city/crypto/private_file.h"
#include "city/net/http_server.h"
#include "city/net/peer_network.h"
#include "city/node/home.h"
#include "city/node/snapshots.h"
#include "driver.h"
#include "epochs.h"
#include "feed.h"
#include "heap.h"
#include "tx_intake.h"

namespace city::node {
namespace {

constexpr size_t kMaxLongPollsWaiting = 4096;

// An io thread's loop: a handler that throws is logged and the thread goes on serving (Asio
// leaves the io_context usable), so no input can end the process through std::terminate.
void RunGuarded(boost::asio::io_context& io) {
  while (true) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("io thread: a handler failed: {}; carrying on", e.what());
    } catch (...) {
      spdlog::error("io thread: a handler failed; carrying on");
    }
  }
}

// A comma-separated list from the config: items trimmed and lower-cased, empty ones dropped.
std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    std::string name(item);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!name.empty()) items.push_back(std::move(name));
  }
  return items;
}

// The Host names the client API answers for: the listen address and the configured ones;
// empty (any) when the configuration says "*".
std::vector<std::string> AllowedApiHosts(const NodeConfig& config) {
  std::vector<std::string> hosts = {config.api_listen_host};
  for (std::string& name : SplitList(config.api_allowed_hosts)) {
    if (name == "*") return {};
    hosts.push_back(std::move(name));
  }
  return hosts;
}

spdlog::level::level_enum LogLevel(const std::string& name) {
  return spdlog::level::from_str(name);
}

}  // namespace

struct Node::Impl {
  HomePaths paths;
  NodeConfig config;
  GenesisDoc genesis_doc;
  GenesisChain genesis;
  std::shared_ptr<const KeyPair> key;
  int lock_fd = -1;
  NodeStartInfo info;

  // Two planes, each with its own threads: consensus (the driver and the validator links)
  // and the client API (HTTP, long polls). However slow or many the API's requests, a vote
  // never waits behind one.
  struct IoPlane {
    boost::asio::io_context io;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;

    void Run(size_t count) {
      work.emplace(io.get_executor());
      for (size_t i = 0; i < count; ++i) threads.emplace_back([this] { RunGuarded(io); });
    }
    bool running() const { return !threads.empty(); }
    void Stop() {
      work.reset();
      io.stop();
      for (std::thread& t : threads) t.join();
      threads.clear();
    }
  };
  IoPlane consensus_plane;
  IoPlane api_plane;
  std::shared_ptr<net::MetricsRegistry> metrics = std::make_shared<net::MetricsRegistry>();

  std::unique_ptr<Chain> chain;
  std::unique_ptr<BackupRunner> backups;     // reads the chain's store: goes before it
  std::unique_ptr<SnapshotTaker> snapshots;  // the same
  ledger::Epoch epoch;                       // of the block after the store's tip, at start
  std::unique_ptr<Mempool> mempool;
  std::unique_ptr<TxVerifier> verifier;
  std::unique_ptr<CommitFeed> feed;
  std::unique_ptr<TxIntake> intake;
  std::unique_ptr<Driver> driver;
  std::unique_ptr<net::PeerNetwork> network;
  std::unique_ptr<net::HttpServer> http;
  std::vector<net::MetricsRegistry::Registration> gauges;
  std::optional<boost::asio::steady_timer> housekeeping;  // on the API plane
  std::atomic<uint64_t> heap_trims{0};

  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stop_requested = false;  // guarded by mutex
  bool shut_down = false;       // guarded by mutex
  Status stop_reason;           // guarded by mutex

  ~Impl() { Shutdown(); }

  void RequestStop(Status why) {
    std::lock_guard lock(mutex);
    if (stop_requested) return;
    stop_requested = true;
    stop_reason = std::move(why);
    stopped_cv.notify_all();
  }

  Status Open(const std::filesystem::path& home, const StartOptions& options);
  bool recover_safety = false;
  std::shared_ptr<OutboundPolicy> outbound_policy;
  Status StartServices();
  void Housekeep();
  void Shutdown();
};

// Every kHousekeepingMs, the heap's free part beyond kTrimAboveFreeBytes goes back to the
// system (heap.h): resident memory follows the live heap instead of the worst burst.
constexpr auto kHousekeepingMs = std::chrono::milliseconds(5'000);
constexpr size_t kTrimAboveFreeBytes = size_t{16} << 20;

void Node::Impl::Housekeep() {
  if (ReadHeapStats().free_bytes > kTrimAboveFreeBytes) {
    TrimHeap();
    ++heap_trims;
  }
  housekeeping->expires_after(kHousekeepingMs);
  housekeeping->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Housekeep();
  });
}

Status Node::Impl::Open(const std::filesystem::path& home, const StartOptions& options) {
  paths.root = home;
  if (!std::filesystem::is_directory(home)) {
    return Status(ErrorCode::kNotFound, "no node home at " + home.string() +
                                            " (create one with `cityd init --home DIR`)");
  }
  Result<NodeConfig> loaded = LoadConfigFile(paths.config());
  if (!loaded.ok()) return loaded.status();
  config = std::move(*loaded);
  spdlog::set_level(LogLevel(config.log_level));
  Result<GenesisDoc> doc = LoadGenesisFile(paths.genesis());
  if (!doc.ok()) {
    return doc.status().code() == ErrorCode::kNotFound ? MissingGenesis(paths) : doc.status();
  }
  genesis_doc = std::move(*doc);
  Result<KeyPair> validator_key = ReadValidatorKey(paths.validator_key());
  if (!validator_key.ok()) return validator_key.status();
  key = std::make_shared<const KeyPair>(std::move(*validator_key));
  Result<GenesisChain> built = BuildGenesisChain(genesis_doc);
  if (!built.ok()) return built.status();
  genesis = std::move(*built);
  std::error_code error;
  if (!std::filesystem::exists(paths.safety(), error)) {
    if (!options.recover_safety) {
      return MissingSafetyState(paths.safety());
    }
    if (consensus::RecoveryReportsNeeded(genesis.validators) == 0) {
      return Status(ErrorCode::kInvalidArgument,
                    "--recover-safety: no peers can vouch for the rounds of a lone validator; "
                    "its safety state " +
                        paths.safety().string() + " cannot be rebuilt");
    }
    recover_safety = true;
  }
  outbound_policy = options.outbound_policy;

  Result<int> fd = LockHome(paths);
  if (!fd.ok()) return fd.status();
  lock_fd = *fd;

  // A fresh home's chain knows only the genesis: its config is checked before the store is
  // created, so a refused start leaves nothing behind. A chain that exists may know later sets.
  std::error_code no_data;
  const bool fresh = !std::filesystem::exists(paths.data(), no_data) ||
                     std::filesystem::is_empty(paths.data(), no_data);
  if (fresh) {
    if (Status s = CheckConfigAgainstGenesis(paths, config, genesis_doc, key->public_key(), {},
                                             options.join);
        !s.ok()) {
      return s;
    }
  }
  ledger::StoreOptions store_options;
  store_options.retain_versions = config.retain_versions;
  store_options.retain_blocks = config.retain_blocks;
  // Without data/ the chain starts from the genesis; a snapshot import that was not installed
  // (killed between its renames) would then be replayed over instead of used.
  if (!std::filesystem::exists(paths.data(), error) &&
      std::filesystem::exists(paths.data().string() + ".importing", error)) {
    return Status(ErrorCode::kAlreadyExists,
                  paths.data().string() +
                      ".importing holds a snapshot import that is not "
                      "installed: run cityd snapshot import again (it resumes "
                      "or installs it), or delete it to sync from the genesis");
  }
  Result<std::unique_ptr<Chain>> opened = Chain::Open(paths.data(), genesis, store_options);
  if (!opened.ok()) return opened.status();
  chain = std::move(*opened);
  Result<ledger::Epoch> at_tip = EpochAfterTip(*chain);
  if (!at_tip.ok()) return at_tip.status();
  epoch = std::move(*at_tip);
  ChainValidators known{epoch.validators.members(), {}};
  const contracts::StoreStateReader state(chain->store());
  for (uint64_t k = 1;; ++k) {
    std::optional<contracts::ScheduledValidators> change =
        contracts::ScheduledValidatorsIn(state, k);
    if (!change) break;
    known.later.insert(known.later.end(), change->validators.begin(), change->validators.end());
  }
  if (!fresh) {
    if (Status s = CheckConfigAgainstGenesis(paths, config, genesis_doc, key->public_key(), known,
                                             options.join);
        !s.ok()) {
      return s;
    }
  }
  if (!epoch.validators.Contains(key->public_key())) {
    spdlog::warn(
        "this node's key is not a validator of epoch {} (the epoch its chain is in): it follows "
        "the chain and takes part once a validator set naming it starts",
        epoch.number);
  }
  return Status::Ok();
}

Status Node::Impl::StartServices() {
  mempool = std::make_unique<Mempool>(
      MempoolOptions{.max_transactions = config.mempool_max_transactions,
                     .max_bytes = config.mempool_max_bytes,
                     .max_per_sender = config.mempool_max_per_sender,
                     .max_per_client = config.mempool_max_per_client,
                     .max_nonce_gap = config.mempool_max_nonce_ahead,
                     .max_expiry_horizon = config.mempool_max_expiry_horizon,
                     .gap_eviction_heights = config.mempool_gap_eviction_heights});
  verifier = std::make_unique<TxVerifier>(
      TxVerifierOptions{config.verify_threads, config.verify_batch, config.verify_cache_entries});
  feed = std::make_unique<CommitFeed>(api_plane.io, kMaxLongPollsWaiting,
                                      config.api_max_long_polls_per_ip);
  intake = std::make_unique<TxIntake>(
      *chain, *mempool, *verifier,
      [this](const std::vector<ledger::Transaction>& txs) {
        if (!network) return;
        for (size_t i = 0; i < txs.size(); i += kMaxGossipTransactions) {
          TxGossip gossip;
          const size_t end = std::min(txs.size(), i + kMaxGossipTransactions);
          gossip.transactions.assign(txs.begin() + static_cast<ptrdiff_t>(i),
                                     txs.begin() + static_cast<ptrdiff_t>(end));
          network->Broadcast(EncodeNodeMessage(gossip));
        }
      },
      [this] {
        if (driver) driver->NudgeProposal();
      },
      config.mempool_max_client_backlog);

  DriverOptions options;
  options.consensus.chain_id = genesis_doc.chain_id;
  options.consensus.epoch = 0;
  options.consensus.validators = genesis.validators;
  options.consensus.genesis_hash = genesis.block_hash;
  options.epoch = epoch;
  for (const PeerAddress& peer : config.peers) {
    options.peer_addresses.push_back({peer.key, peer.host, peer.port});
  }
  options.consensus.base_timeout_ms = config.base_timeout_ms;
  options.consensus.max_timeout_ms = config.max_timeout_ms;
  options.consensus.max_block_transactions = config.max_block_transactions;
  options.max_block_bytes = config.max_block_bytes;
  options.max_block_cost = config.max_block_cost;
  options.batch_delay_ms = config.batch_delay_ms;
  options.idle_block_interval_ms = config.idle_block_interval_ms;
  options.safety_path = paths.safety();
  options.consensus.recover_safety = recover_safety;
  options.outbound_policy = outbound_policy;
  const std::vector<net::ValidatorPeer> driver_peer_addresses = options.peer_addresses;
  driver = std::make_unique<Driver>(consensus_plane.io, std::move(options), key, *chain, *mempool,
                                    *verifier, *intake, *feed, metrics, [this](const Status& why) {
                                      spdlog::critical("stopping: {}", why.ToString());
                                      RequestStop(why);
                                    });

  net::PeerNetwork::Config net_config;
  net_config.identity = key;
  // The genesis hash is part of the network id: nodes with different genesis files refuse
  // each other at the handshake instead of disagreeing about every block.
  net_config.chain_id = genesis_doc.chain_id + "/" + genesis.block_hash.ToHex();
  // The current epoch's validators and the next one's, if a change has passed (epochs.h).
  net_config.validators = LinkPeers(epoch, NextChange(*chain, epoch), driver_peer_addresses);
  net_config.options.listen_host = config.p2p_listen_host;
  net_config.options.listen_port = config.p2p_port;
  net_config.on_message = [this](const PublicKey& from, Bytes message) {
    driver->OnPeerMessage(from, std::move(message));
  };
  net_config.on_link = [this](const PublicKey& peer, bool up) { driver->OnLink(peer, up); };
  net_config.metrics = metrics;
  Result<std::unique_ptr<net::PeerNetwork>> started =
      net::PeerNetwork::Start(consensus_plane.io, std::move(net_config));
  if (!started.ok()) {
    return Status(started.status().code(), "validator links: " + started.status().message());
  }
  network = std::move(*started);
  driver->AttachNetwork(network.get());
  snapshots = std::make_unique<SnapshotTaker>(
      chain->store(), key,
      ledger::Epoch::Genesis(chain->genesis().validators, chain->genesis().block_hash),
      SnapshotsDir(paths), config.snapshot_interval, config.snapshot_keep);
  driver->AttachSnapshots(snapshots.get());

  auto api = std::make_shared<ApiContext>();
  api->chain = chain.get();
  api->mempool = mempool.get();
  api->intake = intake.get();
  api->driver = driver.get();
  backups = std::make_unique<BackupRunner>(chain->store(), key);
  api->backups = backups.get();
  api->snapshots = snapshots.get();
  api->feed = feed.get();
  api->metrics = metrics;
  api->genesis = genesis_doc;
  api->node_key = key->public_key();
  api->api_listen_host = config.api_listen_host;
  api->moniker = config.moniker;
  api->connected_peers = [this] { return network ? network->connected_peers() : 0; };
  net::HttpServerOptions http_options;
  http_options.bind_address = config.api_listen_host;
  http_options.port = config.api_port;
  http_options.max_connections = config.api_max_connections;
  http_options.max_connections_per_ip = config.api_max_connections_per_ip;
  http_options.allowed_hosts = AllowedApiHosts(config);
  http_options.requests_per_second_per_ip =
      static_cast<double>(config.api_requests_per_second_per_ip);
  http_options.rate_limit_exempt = SplitList(config.api_rate_limit_exempt);
  if (!config.api_tls_certificate_chain.empty()) {
    http_options.tls =
        net::TlsServerFiles{config.api_tls_certificate_chain, config.api_tls_private_key};
  }
  http_options.require_json_body = true;
  http_options.max_body_bytes = config.api_max_body_bytes;
  Result<std::unique_ptr<net::HttpServer>> server =
      net::HttpServer::Start(api_plane.io, http_options, MakeApiRouter(api), metrics);
  if (!server.ok())
    return Status(server.status().code(), "client API: " + server.status().message());
  http = std::move(*server);

  auto gauge = [this](std::string_view name, std::string_view help, std::function<double()> read) {
    gauges.push_back(metrics->AddGaugeCallback(name, help, {}, std::move(read)));
  };
  gauge("city_height", "Committed height", [this] { return double(driver->Snapshot().height); });
  gauge("city_term", "Consensus term", [this] { return double(driver->Snapshot().term); });
  gauge("city_round", "Consensus round", [this] { return double(driver->Snapshot().round); });
  gauge("city_consensus_held_blocks",
        "Uncommitted blocks the consensus core holds (bounded: one proposal per round and "
        "proposer)",
        [this] { return double(driver->Snapshot().held_blocks); });
  gauge("city_consensus_timeout_ms", "The current round timeout (adapts to measured rounds)",
        [this] { return double(driver->Snapshot().timeout_ms); });
  gauge("city_consensus_round_ms",
        "The measured length of rounds that ended in a QC (moving average over eight)",
        [this] { return double(driver->Snapshot().round_length_ms); });
  gauge("city_syncing", "1 while the node syncs blocks instead of running consensus",
        [this] { return driver->Snapshot().syncing ? 1.0 : 0.0; });
  gauge("city_transactions_per_second", "Committed transactions per second, last 10 s",
        [this] { return driver->Snapshot().transactions_per_second; });
  gauge("city_mempool_transactions", "Transactions waiting in the mempool",
        [this] { return double(mempool->size()); });
  gauge("city_mempool_bytes", "Bytes of transactions waiting in the mempool",
        [this] { return double(mempool->Stats().bytes); });
  gauge("city_mempool_gapped", "Transactions in the mempool behind a nonce gap (cannot run yet)",
        [this] { return double(mempool->Stats().gapped); });
  gauge("city_mempool_evicted",
        "Transactions evicted from the mempool since start: behind a "
        "nonce gap too long, or to make room for ones that can run",
        [this] { return double(mempool->Stats().evicted); });
  gauge("city_verify_queue", "Transactions waiting for signature verification",
        [this] { return double(verifier->Stats().queue_depth); });
  gauge("city_verify_cache_hits", "Signatures answered from the verify-once cache",
        [this] { return double(verifier->Stats().cache_hits); });
  gauge("city_verify_signatures", "Signatures verified with libsodium (passed)",
        [this] { return double(verifier->Stats().verified); });
  gauge("city_verify_failures", "Signatures that failed verification",
        [this] { return double(verifier->Stats().failed); });
  gauge("city_peers_connected", "Validator links up",
        [this] { return double(network->connected_peers()); });
  gauge("city_transactions_rejected", "Transactions refused by the intake",
        [this] { return double(intake->rejected_total()); });
  gauge("city_long_polls_waiting", "API long-polls waiting for a commit",
        [this] { return double(feed->waiting()); });
  gauge("city_heap_in_use_bytes", "Heap memory allocated and not freed",
        [] { return double(ReadHeapStats().in_use_bytes); });
  gauge("city_heap_free_bytes", "Heap memory freed but still held by the allocator",
        [] { return double(ReadHeapStats().free_bytes); });
  gauge("city_heap_trims", "Times free heap memory was given back to the system",
        [this] { return double(heap_trims.load()); });

  // Consensus: the driver's strand, and the links and store reads beside it.
  consensus_plane.Run(2);
  api_plane.Run(std::max<size_t>(2, std::min<size_t>(4, std::thread::hardware_concurrency())));
  driver->Start();
  housekeeping.emplace(api_plane.io);
  boost::asio::post(api_plane.io, [this] { Housekeep(); });

  info.chain_id = genesis_doc.chain_id;
  info.node_address = EncodeAddress(key->public_key());
  info.api_url = "http://" + http->address();
  info.p2p_address = config.p2p_listen_host + ":" + std::to_string(network->listen_port());
  info.height = chain->tip().height;
  return Status::Ok();
}

void Node::Impl::Shutdown() {
  {
    std::lock_guard lock(mutex);
    if (shut_down) return;
    shut_down = true;
  }
  // Nothing new comes in; the driver drops its core (its safety state is on disk already).
  if (http) http->Stop();
  if (network) network->Stop();
  if (driver && consensus_plane.running()) driver->Stop();
  if (feed) feed->CancelAll();
  gauges.clear();
  api_plane.Stop();
  consensus_plane.Stop();
  // The verifier finishes queued work, whose callbacks use the intake and mempool: it goes
  // first, while they exist.
  verifier.reset();
  http.reset();
  network.reset();
  driver.reset();
  intake.reset();
  feed.reset();
  mempool.reset();
  backups.reset();    // waits for a backup in progress: it reads the store
  snapshots.reset();  // stops a snapshot in progress, which leaves nothing
  chain.reset();      // closes the store: everything committed is already synced
  if (lock_fd >= 0) {
    ::close(lock_fd);
    lock_fd = -1;
  }
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() = default;

Result<std::unique_ptr<Node>> Node::Start(const std::filesystem::path& home, StartOptions options) {
  auto impl = std::make_unique<Impl>();
  if (Status s = impl->Open(home, options); !s.ok()) return s;
  if (Status s = impl->StartServices(); !s.ok()) return s;
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

const NodeStartInfo& Node::info() const { return impl_->info; }

Status Node::Wait() {
  {
    std::unique_lock lock(impl_->mutex);
    impl_->stopped_cv.wait(lock, [&] { return impl_->stop_requested; });
  }
  impl_->Shutdown();
  std::lock_guard lock(impl_->mutex);
  return impl_->stop_reason;
}

void Node::Stop() { impl_->RequestStop(Status::Ok()); }

}  // namespace city::node
