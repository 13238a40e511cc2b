// The consensus driver: feeds the Raft-BFT state machine (consensus/core.h) from the network
// and its timers on one strand, carries out what it returns (messages, commits, timers),
// and is its Host (safety state persisted before any vote leaves, proposals built from the
// mempool, proposals' transactions and execution fields checked before a vote).
//
// It also carries out block sync (consensus/block_sync.h, a state machine like the core). A
// node starts in sync mode: it announces its committed height every second, and sync decides
// whom to ask for blocks, proves what they send committed, and when to create the consensus
// core and join; a running node that falls far behind drops its core (its safety state is on
// disk) and syncs again.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "chain.h"
#include "city/consensus/block_sync.h"
#include "city/consensus/core.h"
#include "city/consensus/next_epoch.h"
#include "city/ledger/safety_file.h"
#include "city/net/metrics.h"
#include "city/net/peer_network.h"
#include "city/node/outbound_policy.h"
#include "epochs.h"
#include "executor.h"
#include "feed.h"
#include "pending_block_writer.h"
#include "tx_intake.h"
#include "wire.h"

namespace city::node {

struct DriverOptions {
  // The chain's genesis and tunables; the epoch fields are those of `epoch`.
  consensus::Config consensus;
  ledger::Epoch epoch;  // of the block after the store's tip (epochs.h)
  // Where validators are dialed (the config's peers), for validators joining in later epochs.
  std::vector<net::ValidatorPeer> peer_addresses;
  size_t max_block_bytes = 4 * 1024 * 1024;
  uint64_t max_block_cost = 4'000;  // ledger::ExecutionCost units per proposal
  uint64_t batch_delay_ms = 2;
  uint64_t idle_block_interval_ms = 400;
  std::filesystem::path safety_path;
  std::shared_ptr<OutboundPolicy> outbound_policy;  // tests only (outbound_policy.h)
};

struct PeerView {
  PublicKey key;
  std::optional<uint64_t> height;  // its last announced committed height
};

struct DriverStatus {
  bool syncing = true;
  uint64_t epoch = 0;
  std::vector<PublicKey> validators;  // of that epoch
  uint64_t height = 0;
  Hash256 block_hash;
  Hash256 state_root;
  uint64_t term = 0;
  uint64_t round = 0;
  std::optional<size_t> leader;  // validator index of the current term's leader
  size_t held_blocks = 0;        // uncommitted blocks in the consensus core
  uint64_t timeout_ms = 0;       // the core's current round timeout
  uint64_t round_length_ms = 0;  // the measured length of certified rounds
  std::vector<PeerView> peers;
  uint64_t commits = 0;
  uint64_t committed_transactions = 0;
  double transactions_per_second = 0;  // committed, over the last 10 s
};

class SnapshotTaker;  // city/node/snapshots.h

class Driver final : public consensus::Host, public consensus::SyncHost {
 public:
  using Fatal = std::function<void(const Status&)>;

  Driver(boost::asio::io_context& io, DriverOptions options, std::shared_ptr<const KeyPair> key,
         Chain& chain, Mempool& mempool, TxVerifier& verifier, TxIntake& intake, CommitFeed& feed,
         std::shared_ptr<net::MetricsRegistry> metrics, Fatal fatal);
  ~Driver() override;

  void AttachNetwork(net::PeerNetwork* network);                              // before Start
  void AttachSnapshots(SnapshotTaker* snapshots) { snapshots_ = snapshots; }  // before Start
  void Start();
  // Cancels the timers and drops the core (on the strand); waits for it.
  void Stop();

  // From the network's strand.
  void OnPeerMessage(const PublicKey& from, Bytes message);
  void OnLink(const PublicKey& peer, bool up);
  // Something entered the mempool: a leader waiting for transactions may propose now.
  void NudgeProposal();

  DriverStatus Snapshot() const;  // thread-safe

  // consensus::Host
  Status PersistSafety(const consensus::SafetyState& state) override;
  Status PersistBlock(const ledger::Block& block) override;
  std::vector<ledger::Transaction> TakePayload(size_t max) override;
  city::Status CheckContent(const ledger::Block& block) override;
  city::Status CheckPayload(const ledger::Block& block) override;
  void ForgetBlock(const ledger::Block& block) override;
  consensus::TimeMs ProposalDelay(consensus::TimeMs waited) override;
  // Transactions entering the mempool per second, over the last sample window (strand only).
  uint64_t ArrivalRatePerSecond();
  void CompleteHeader(ledger::BlockHeader& header) override;
  void OnCommit(const ledger::Block& block, const ledger::QuorumCert& certified_by) override;

  // consensus::SyncHost
  city::Status CheckTransactions(const std::vector<const ledger::Block*>& blocks) override;

 private:
  struct Ancestry;

  static consensus::TimeMs NowMs();
  static consensus::TimeMs WallMs();
  void ServeOffStrand(std::function<void()> work);
  // Runs `work` on the strand unless `size` more bytes would pass kMaxInboundBytes waiting.
  void PostBounded(size_t size, std::function<void()> work);
  void WarnUndecodable(const PublicKey& from, const city::Status& why);
  void OnStrand(std::function<void()> work);
  void Apply(consensus::Actions actions);
  void Send(const consensus::Outgoing& out);
  void ArmTimer(consensus::TimeMs wake);
  // Sync's commits, on the strand (the executor is idle then).
  void CommitBlock(const ledger::Block& block, const ledger::QuorumCert& certificate);
  // After a block is in the store, whoever committed it (any thread).
  void AfterCommit(const ledger::Block& block);
  void OnExecuted(Result<CommittedBlockInfo> executed);
  void HandleConsensus(const PublicKey& from, consensus::Message message);
  void OnLaterEpoch(const PublicKey& sender, uint64_t epoch, consensus::Message message);
  // Keeps how an epoch's last block was committed, if the commit says (to serve it).
  void KeepEpochProof(consensus::CommittedBlock& commit);
  // The committed tip entered the next epoch: new peers, sync and (if running) core.
  void EnterEpoch(const ledger::Epoch& epoch);
  // Links admit the current and the next epoch's validators; checked as changes pass.
  void UpdateLinks();
  std::optional<contracts::ScheduledValidators> ScheduledChange() const;
  void HandleNodeMessage(const PublicKey& from, NodeMessage message);
  void ServeSync(const PublicKey& to, const SyncRequest& request);
  void HandleSyncReply(size_t from, const SyncReply& reply);
  void ApplySync(consensus::SyncActions actions);
  void StatusTick();
  void RegossipStale();
  void StartCore();
  void StopCore(std::string_view why);
  void PublishStatus();
  Ancestry UncommittedAncestry(const Hash256& from) const;
  const ledger::BlockHeader* FindHeader(const Hash256& hash, ledger::BlockHeader& scratch) const;
  std::optional<size_t> IndexOf(const PublicKey& key) const;

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  DriverOptions options_;
  std::shared_ptr<const KeyPair> key_;
  Chain& chain_;
  Mempool& mempool_;
  TxVerifier& verifier_;
  TxIntake& intake_;
  CommitFeed& feed_;
  std::shared_ptr<net::MetricsRegistry> metrics_;
  Fatal fatal_;
  SnapshotTaker* snapshots_ = nullptr;
  net::PeerNetwork* network_ = nullptr;
  ledger::SafetyFile safety_file_;
  ledger::Epoch epoch_;                    // strand-only after Start
  std::optional<ledger::Epoch> entering_;  // the core committed its epoch's last block
  std::vector<PublicKey> link_keys_;       // whom the links admit now (UpdateLinks)
  consensus::NextEpochWatch next_epoch_;   // messages of the next epoch (next_epoch.h)
  // How this node's core committed the last blocks of recent epochs, by height: served after
  // that block to validators that missed the end (ServeSync runs off the strand).
  mutable std::mutex epoch_proofs_mutex_;
  std::map<uint64_t, consensus::EpochEndProof> epoch_proofs_;
  CachingVerifier cert_verifier_{1 << 16};  // votes, QCs, proposer signatures

  // Strand-only state.
  std::unique_ptr<consensus::Core> core_;
  boost::asio::steady_timer core_timer_;
  boost::asio::steady_timer status_timer_;
  uint64_t timer_generation_ = 0;
  bool stopped_ = false;
  bool failed_ = false;
  consensus::BlockSync sync_;
  uint64_t payload_added_mark_ = UINT64_MAX;
  consensus::TimeMs rate_sample_at_ = 0;
  uint64_t rate_sample_added_ = 0;
  uint64_t arrival_rate_ = 0;  // mempool "added" count at an empty TakePayload
  std::deque<std::pair<consensus::TimeMs, uint64_t>> commit_window_;  // guarded by status_mutex_
  std::atomic<bool> nudge_pending_{false};
  std::atomic<size_t> inbound_bytes_{0};  // peer messages waiting for the strand
  std::atomic<consensus::TimeMs> last_undecodable_warn_{0};
  std::atomic<int> serves_in_flight_{0};  // bounds what peers' block and sync requests cost
  uint64_t status_ticks_ = 0;
  consensus::TimeMs last_persist_warn_ = 0;
  std::string last_sync_warning_;  // on the strand, like the sync itself
  consensus::TimeMs last_sync_warning_at_ = 0;

  mutable std::mutex status_mutex_;
  DriverStatus status_;  // guarded by status_mutex_

  net::Counter& commits_;
  net::Counter& committed_txs_;
  net::Counter& evidence_;
  net::Counter& synced_blocks_;
  net::Counter& sync_faults_;
  net::Counter& undecodable_;
  net::Counter& persist_failures_;
  net::Counter& dropped_inbound_;
  net::Histogram& commit_latency_;
  // Pending blocks are stored here, off the strand; Apply waits for them before it sends.
  std::unique_ptr<PendingBlockWriter> pending_writer_;
  // Last: destroyed first, while everything its thread uses still exists.
  std::unique_ptr<BlockExecutor> executor_;
};

}  // namespace city::node
