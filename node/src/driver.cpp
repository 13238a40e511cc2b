// The consensus driver and block sync (driver.h).
#include "driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <set>

#include "city/crypto/address.h"
#include "city/ledger/chain_rules.h"
#include "city/node/home.h"
#include "city/node/snapshots.h"

namespace city::node {
namespace {

using consensus::TimeMs;

constexpr TimeMs kStatusIntervalMs = 1'000;
// A sync that cannot go on says so now and then, not at every tick.
constexpr TimeMs kSyncWarningEveryMs = 30'000;
constexpr TimeMs kMaxClockDriftMs = 10'000;
constexpr TimeMs kRateWindowMs = 10'000;
constexpr int kMaxServes = 2;
constexpr size_t kMaxInboundBytes = 256 * 1024 * 1024;
// Proposals stay under half a frame, so a sync reply can always carry two blocks (a block
// and the child that proves it committed).
constexpr size_t kMaxProposalBytes = (ledger::kMaxFrameBytes - 256 * 1024) / 2;
// Transactions pending this long are gossiped again every kRegossipTicks announcements (up to
// kMaxGossipTransactions each time): a validator that missed the first gossip (its link was
// down, its pool or verifier was full) must not keep a client's transaction from the leader
// for long. Every second: at one in five, a backlog of 8,000 took 40 s to reach the leader
// (docs/benchmarks.md, the ten-minute soak).
constexpr uint64_t kRegossipTicks = 1;
constexpr auto kRegossipAge = std::chrono::seconds(3);
// Execution runs behind consensus (executor.h). At most this many committed blocks wait for
// it; the leader slows its proposals from kSlowDownBacklog on, so the cap (which stalls
// consensus itself) is only a last resort.
constexpr size_t kMaxExecutionBacklog = 64;
constexpr size_t kSlowDownBacklog = 4;
constexpr TimeMs kBackpressureStepMs = 10;  // per block of backlog beyond kSlowDownBacklog
constexpr TimeMs kMaxBackpressureDelayMs = 400;
// The leader waits batch_delay_ms for a fuller block only if that brings this many more
// transactions at the current arrival rate, measured over windows of kRateSampleMs.
constexpr uint64_t kMinBatchGain = 16;
constexpr TimeMs kRateSampleMs = 200;
// Proposals name execution this many blocks behind the proposer's own (CompleteHeader).
constexpr uint64_t kExecutionSlack = 2;
// Epoch end proofs kept for validators that missed an epoch's end; a validator further behind
// syncs through the later epochs' own commits.
constexpr size_t kKeptEpochProofs = 4;

// A proposal may name execution this far behind itself, no further: a leader whose
// execution stalled is voted out rather than followed.
constexpr uint64_t kMaxExecutionLag = kMaxExecutionBacklog + 8;
// How long a validator waits for its own executor to reach a proposal's exec_height before
// it gives up on voting for it (well below the round timeout).
constexpr auto kMaxExecutionWait = std::chrono::milliseconds(300);

std::string Short(const PublicKey& key) { return EncodeAddress(key).substr(0, 14); }

consensus::SyncConfig SyncConfigFor(const DriverOptions& options) {
  consensus::SyncConfig config;
  config.chain_id = options.consensus.chain_id;
  config.epoch = options.epoch;
  config.max_blocks = kMaxSyncBlocks;
  config.announce_interval_ms = kStatusIntervalMs;
  return config;
}

}  // namespace

// Transactions in blocks that are not in the store yet: uncommitted ones and committed ones
// still waiting for execution.
struct Driver::Ancestry : QueuedTransactions {};

Driver::Driver(boost::asio::io_context& io, DriverOptions options,
               std::shared_ptr<const KeyPair> key, Chain& chain, Mempool& mempool,
               TxVerifier& verifier, TxIntake& intake, CommitFeed& feed,
               std::shared_ptr<net::MetricsRegistry> metrics, Fatal fatal)
    : io_(io),
      strand_(boost::asio::make_strand(io)),
      options_(std::move(options)),
      key_(std::move(key)),
      chain_(chain),
      mempool_(mempool),
      verifier_(verifier),
      intake_(intake),
      feed_(feed),
      metrics_(std::move(metrics)),
      fatal_(std::move(fatal)),
      safety_file_(options_.safety_path),
      epoch_(options_.epoch),
      core_timer_(strand_),
      status_timer_(strand_),
      sync_(SyncConfigFor(options_), options_.epoch.validators.IndexOf(key_->public_key()),
            cert_verifier_, *this),
      commits_(metrics_->GetCounter("city_commits_total", "Blocks committed by this node")),
      committed_txs_(metrics_->GetCounter("city_committed_transactions_total",
                                          "Transactions in blocks committed by this node")),
      evidence_(metrics_->GetCounter("city_consensus_evidence_total",
                                     "Proofs of a validator signing two conflicting messages")),
      synced_blocks_(
          metrics_->GetCounter("city_sync_blocks_total", "Blocks committed through block sync")),
      sync_faults_(metrics_->GetCounter(
          "city_sync_faulty_replies_total",
          "Block sync replies that broke a chain rule (a lying or faulty peer)")),
      undecodable_(metrics_->GetCounter("city_peer_undecodable_messages_total",
                                        "Peer messages that did not decode")),
      persist_failures_(metrics_->GetCounter(
          "city_consensus_persist_failures_total",
          "Votes, timeouts and proposals not sent because their safety state or block could not "
          "be stored")),
      dropped_inbound_(metrics_->GetCounter(
          "city_peer_messages_dropped_total",
          "Peer messages dropped because too many bytes waited for the consensus strand")),
      commit_latency_(
          metrics_->GetHistogram("city_commit_latency_seconds",
                                 "From a transaction's acceptance by this node to its commit",
                                 net::LatencyBucketsSeconds())),
      pending_writer_(std::make_unique<PendingBlockWriter>(chain_)),
      executor_(std::make_unique<BlockExecutor>(
          chain_, kMaxExecutionBacklog,
          [this](Result<CommittedBlockInfo> executed) { OnExecuted(std::move(executed)); })) {
  const ledger::StoreTip tip = chain_.tip();
  status_.height = tip.height;
  status_.block_hash = tip.block_hash;
  status_.state_root = tip.state_root;
}

Driver::~Driver() = default;

void Driver::AttachNetwork(net::PeerNetwork* network) { network_ = network; }

// The core's clock: monotonic, so a wall-clock step cannot stall or rush timeouts.
TimeMs Driver::NowMs() {
  return static_cast<TimeMs>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

// Block timestamps: the wall clock (contracts see it as block time).
TimeMs Driver::WallMs() {
  return static_cast<TimeMs>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

void Driver::OnStrand(std::function<void()> work) {
  boost::asio::post(strand_, [this, work = std::move(work)] {
    if (stopped_ || failed_) return;
    work();
  });
}

void Driver::Start() {
  OnStrand([this] {
    sync_.Start(NowMs());
    spdlog::info("consensus: starting in sync mode at height {}", chain_.tip().height);
    StatusTick();
  });
}

void Driver::Stop() {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  boost::asio::post(strand_, [this, done] {
    stopped_ = true;
    core_timer_.cancel();
    status_timer_.cancel();
    core_.reset();
    done->set_value();
  });
  // Only wait while something runs the io_context; otherwise the handler can never run.
  if (!io_.stopped()) finished.wait_for(std::chrono::seconds(5));
  (void)pending_writer_->WaitAll();  // a failure was reported to the step that wrote
  executor_->WaitIdle();  // what consensus committed is in the store before the node stops
}

std::optional<size_t> Driver::IndexOf(const PublicKey& key) const {
  return epoch_.validators.IndexOf(key);
}

// ---- the network side ----

void Driver::OnPeerMessage(const PublicKey& from, Bytes message) {
  if (IsNodeMessage(message)) {
    Result<NodeMessage> decoded = DecodeNodeMessage(message);
    if (!decoded.ok()) {
      WarnUndecodable(from, decoded.status());
      return;
    }
    if (auto* gossip = std::get_if<TxGossip>(&*decoded)) {
      // Straight to the intake: verification runs on the pool, not on any strand.
      intake_.Submit(
          std::move(gossip->transactions), /*from_client=*/false,
          [this, from](std::vector<SubmitOutcome> outcomes) {
            for (const SubmitOutcome& o : outcomes) {
              if (!o.accepted && IsPeerFault(o.reason)) {
                metrics_
                    ->GetCounter(
                        "city_peer_bad_transactions_total",
                        "Gossiped transactions no honest validator sends (bad signature or format)",
                        {{"peer", EncodeAddress(from)}})
                    .Increment();
              }
            }
          });
      return;
    }
    if (auto* request = std::get_if<SyncRequest>(&*decoded)) {
      // Reading up to a few MB of blocks is store work; any io thread may do it, but only a
      // couple at a time: a peer asking in a loop must not take every thread.
      ServeOffStrand([this, from, request = *request] { ServeSync(from, request); });
      return;
    }
    PostBounded(message.size(), [this, from, m = std::move(*decoded)]() mutable {
      HandleNodeMessage(from, std::move(m));
    });
    return;
  }
  Result<consensus::Message> decoded = consensus::DecodeMessage(message);
  if (!decoded.ok()) {
    WarnUndecodable(from, decoded.status());
    return;
  }
  // Who is a validator is the epoch's question, answered on the strand.
  PostBounded(message.size(), [this, from, m = std::move(*decoded)]() mutable {
    HandleConsensus(from, std::move(m));
  });
}

void Driver::PostBounded(size_t size, std::function<void()> work) {
  // The network hands messages over as fast as peers send them; the strand may be slower.
  // What waits for it is bounded in bytes, and the rest dropped (consensus and sync both
  // recover lost messages).
  if (inbound_bytes_.fetch_add(size) + size > kMaxInboundBytes) {
    inbound_bytes_ -= size;
    dropped_inbound_.Increment();
    return;
  }
  boost::asio::post(strand_, [this, size, work = std::move(work)] {
    inbound_bytes_ -= size;
    if (!stopped_ && !failed_) work();
  });
}

void Driver::WarnUndecodable(const PublicKey& from, const city::Status& why) {
  undecodable_.Increment();
  // At most one line a second: a faulty peer must not fill the disk with logs.
  const TimeMs now = NowMs();
  TimeMs last = last_undecodable_warn_.load();
  if (now - last < 1'000 || !last_undecodable_warn_.compare_exchange_strong(last, now)) return;
  spdlog::warn("peer {}: undecodable message: {}", Short(from), why.ToString());
}

void Driver::OnLink(const PublicKey& peer, bool up) {
  spdlog::info("peer {} {}", Short(peer), up ? "connected" : "disconnected");
  if (up && network_) {
    // Tell it where we are right away, so a restarted peer decides about sync quickly.
    network_->Send(peer, EncodeNodeMessage(ChainStatus{chain_.tip().height}));
    // And, if our core runs, ask where it is in consensus: what it said before this link was
    // up is lost to us. Without a core its answer would be dropped, and would use up the
    // answer our core's own request at its start is owed (one per fetch_retry_ms).
    OnStrand([this, peer] {
      if (core_ && network_) {
        network_->Send(peer, consensus::EncodeMessage(consensus::CertsRequest{}));
      }
    });
  }
}

void Driver::NudgeProposal() {
  if (nudge_pending_.exchange(true)) return;
  OnStrand([this] {
    nudge_pending_ = false;
    if (core_ && core_->proposal_waiting()) Apply(core_->OnTick(NowMs()));
  });
}

void Driver::HandleConsensus(const PublicKey& sender, consensus::Message message) {
  if (const std::optional<uint64_t> epoch = consensus::EpochOf(message);
      epoch && *epoch > epoch_.number) {
    return OnLaterEpoch(sender, *epoch, std::move(message));
  }
  const std::optional<size_t> index = IndexOf(sender);
  if (!index) return;  // a validator of another epoch
  const size_t from = *index;
  if (auto* request = std::get_if<consensus::BlockRequest>(&message)) {
    // The core answers for blocks it holds; committed ones come from the store, so a peer
    // that missed a few blocks catches up through consensus alone.
    if (!core_ || core_->FindBlock(request->hash) == nullptr) {
      // Store reads run off the strand, a couple at a time.
      ServeOffStrand([this, to = sender, hash = request->hash] {
        Result<uint64_t> height = chain_.store().HeightOf(hash);
        if (!height.ok() || !network_) return;
        Result<ledger::Block> block = chain_.store().GetBlock(*height);
        if (block.ok()) {
          network_->Send(to, consensus::EncodeMessage(consensus::BlockResponse{std::move(*block)}));
        }
      });
      return;
    }
  }
  if (!core_) return;  // syncing: consensus messages wait until the node has caught up
  Apply(core_->OnMessage(NowMs(), from, message));
}

void Driver::HandleNodeMessage(const PublicKey& from, NodeMessage message) {
  const std::optional<size_t> index = IndexOf(from);
  if (!index) return;
  if (auto* status = std::get_if<ChainStatus>(&message)) {
    const TimeMs now = NowMs();
    sync_.OnStatus(now, *index, status->committed_height);
    if (sync_.syncing()) ApplySync(sync_.AskIfBehind(now, chain_.tip().height));
    return;
  }
  if (auto* reply = std::get_if<SyncReply>(&message)) HandleSyncReply(*index, *reply);
}

void Driver::ServeOffStrand(std::function<void()> work) {
  if (serves_in_flight_.fetch_add(1) >= kMaxServes) {
    --serves_in_flight_;  // dropped: the peer asks again; consensus and sync both recover
    return;
  }
  boost::asio::post(io_, [this, work = std::move(work)] {
    work();
    --serves_in_flight_;
  });
}

void Driver::ServeSync(const PublicKey& to, const SyncRequest& request) {
  SyncReply reply;
  const ledger::StoreTip tip = chain_.tip();
  reply.committed_height = tip.height;
  size_t bytes = 0;
  for (uint64_t h = request.from_height;
       h <= tip.height && h > 0 && reply.blocks.size() < request.max_blocks &&
       bytes < kSyncReplyBudgetBytes;
       ++h) {
    Result<ledger::Block> block = chain_.store().GetBlock(h);
    Result<ledger::QuorumCert> cert = chain_.store().GetCertificate(h);
    if (!block.ok() || !cert.ok()) break;
    bytes += ledger::Encode(*block).size();
    if (bytes > kSyncReplyBudgetBytes && reply.blocks.size() >= 2) break;
    reply.blocks.push_back({std::move(*block), std::move(*cert)});
  }
  // Read after the blocks: a prune between would otherwise make an empty reply look like a
  // stall (lowest at or below the height asked) and get this node reported.
  reply.lowest_height = chain_.store().lowest_height();
  // A reply that ends at an epoch's last block carries the proof that it was committed: the
  // requester may not be able to get that from the next epoch yet (it may be needed there).
  if (!reply.blocks.empty() && !reply.blocks.back().block.header.next_validators.empty()) {
    std::lock_guard lock(epoch_proofs_mutex_);
    auto proof = epoch_proofs_.find(reply.blocks.back().block.header.height);
    const size_t room = std::min<size_t>(request.max_blocks, kMaxSyncBlocks);
    if (proof != epoch_proofs_.end() && reply.blocks.size() + proof->second.suffix.size() > room) {
      // No room for the proof: end the reply before the epoch's last block, so the next
      // request starts close enough to carry both.
      reply.blocks.pop_back();
    } else if (proof != epoch_proofs_.end()) {
      const std::vector<ledger::Block>& suffix = proof->second.suffix;
      for (size_t i = 0; i < suffix.size(); ++i) {
        reply.blocks.push_back({suffix[i], i + 1 < suffix.size() ? suffix[i + 1].header.justify
                                                                 : proof->second.certified_by});
      }
    }
  }
  if (network_) network_->Send(to, EncodeNodeMessage(reply));
}

// ---- sync ----

void Driver::StatusTick() {
  const uint64_t height = chain_.tip().height;
  if (network_) network_->Broadcast(EncodeNodeMessage(ChainStatus{height}));
  UpdateLinks();
  ApplySync(sync_.OnTick(NowMs(), height));
  if (++status_ticks_ % kRegossipTicks == 0) RegossipStale();
  PublishStatus();
  status_timer_.expires_after(std::chrono::milliseconds(kStatusIntervalMs));
  status_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_ && !failed_) StatusTick();
  });
}

void Driver::RegossipStale() {
  if (!network_ || mempool_.size() == 0) return;
  const ledger::StoreTip tip = chain_.tip();
  std::vector<ledger::Transaction> ready =
      mempool_.Select(kMaxGossipTransactions, kSyncReplyBudgetBytes, tip.height + 1,
                      [this](const PublicKey& sender) { return chain_.NextNonce(sender); }, {});
  const auto cutoff = std::chrono::steady_clock::now() - kRegossipAge;
  std::erase_if(ready, [&](const ledger::Transaction& tx) {
    const auto accepted = intake_.AcceptTime(tx.Id());
    return accepted && *accepted > cutoff;  // young: the first gossip is still on its way
  });
  if (ready.empty()) return;
  spdlog::debug("gossiping {} transactions pending for a while again", ready.size());
  network_->Broadcast(EncodeNodeMessage(TxGossip{std::move(ready)}));
}

void Driver::HandleSyncReply(size_t from, const SyncReply& reply) {
  if (core_) return;
  executor_->WaitIdle();  // StopCore waited already; the store's tip is the whole chain
  const ledger::StoreTip tip = chain_.tip();
  Result<ledger::BlockHeader> tip_header = chain_.store().GetHeader(tip.height);
  const consensus::CommittedTip committed{tip.block_hash, tip.height,
                                          tip_header.ok() ? tip_header->round : 0};
  ApplySync(sync_.OnReply(NowMs(), from, committed, reply));
}

Status Driver::CheckTransactions(const std::vector<const ledger::Block*>& blocks) {
  std::vector<ledger::Transaction> txs;
  for (const ledger::Block* block : blocks) {
    for (const auto& tx : block->transactions) txs.push_back(tx);
  }
  const std::vector<bool> valid = verifier_.VerifyNow(txs);
  if (std::find(valid.begin(), valid.end(), false) != valid.end()) {
    return Status(ErrorCode::kBadSignature, "a transaction signature does not verify");
  }
  return Status::Ok();
}

void Driver::ApplySync(consensus::SyncActions actions) {
  // The indices are those of the epoch the reply was checked in, even if its commits end it.
  const std::vector<PublicKey> members = epoch_.validators.members();
  if (actions.faulty_peer) {
    sync_faults_.Increment();
    spdlog::warn("sync: peer {} sent a faulty reply: {}", Short(members[*actions.faulty_peer]),
                 actions.fault);
  }
  for (consensus::CommittedBlock& commit : actions.commits) {
    KeepEpochProof(commit);
    CommitBlock(commit.block, commit.certified_by);
    if (failed_) return;
    synced_blocks_.Increment();
  }
  if (!actions.note.empty() && (actions.request || !actions.commits.empty() || actions.join)) {
    spdlog::info("sync: {}", actions.note);
  }
  if (!actions.warning.empty()) {
    const TimeMs now = NowMs();
    if (actions.warning != last_sync_warning_ ||
        now - last_sync_warning_at_ >= kSyncWarningEveryMs) {
      spdlog::warn("sync: {}", actions.warning);
      last_sync_warning_ = actions.warning;
      last_sync_warning_at_ = now;
    }
  }
  if (actions.leave) StopCore(*actions.leave);
  if (actions.request && network_) {
    network_->Send(members[actions.request->first], EncodeNodeMessage(actions.request->second));
  }
  if (actions.join) StartCore();
  if (!actions.commits.empty()) PublishStatus();
}

void Driver::StartCore() {
  executor_->WaitIdle();  // the core starts from the store's tip
  bool damaged_slot = false;
  Result<std::optional<Bytes>> stored = safety_file_.Load(&damaged_slot);
  if (!stored.ok()) {
    failed_ = true;
    fatal_(Status(stored.status().code(), "consensus safety state " + safety_file_.path().string() +
                                              ": " + stored.status().message()));
    return;
  }
  const ledger::StoreTip tip = chain_.tip();
  Result<ledger::BlockHeader> tip_header = chain_.store().GetHeader(tip.height);
  // The epoch's root is its round 0, whatever round ended the epoch before.
  const uint64_t tip_round =
      tip_header.ok() && tip.height > epoch_.root_height ? tip_header->round : 0;
  consensus::Config config = options_.consensus;
  config.SetEpoch(epoch_);
  consensus::SafetyState safety;
  safety.high_qc = epoch_.RootCert();
  std::optional<consensus::SafetyState> loaded;
  if (stored->has_value()) {
    Result<consensus::SafetyState> decoded = ledger::Decode<consensus::SafetyState>(**stored);
    if (!decoded.ok()) {
      failed_ = true;
      fatal_(Status(ErrorCode::kCorruption, "consensus safety state " +
                                                safety_file_.path().string() +
                                                " does not decode: " + decoded.status().message()));
      return;
    }
    loaded = std::move(*decoded);
  }
  const uint64_t signed_epoch = loaded ? loaded->high_qc.data.epoch : 0;
  if (signed_epoch > epoch_.number) {
    // It signed in a later epoch than its store reached (execution lost in a crash): never
    // sign in an epoch below that one. Sync brings the store there.
    spdlog::warn("consensus: the safety state is of epoch {}, the chain here at epoch {}; syncing",
                 signed_epoch, epoch_.number);
    sync_.Leave(NowMs());
    return;
  }
  if (loaded && signed_epoch < epoch_.number) {
    // Rounds restart in a new epoch, and no signature of an older one counts in it: the state
    // starts fresh, saved before anything is signed.
    spdlog::info("consensus: epoch {} starts a fresh safety state (the last was epoch {})",
                 epoch_.number, signed_epoch);
    if (Status saved = PersistSafety(safety); !saved.ok()) {
      failed_ = true;
      fatal_(saved);
      return;
    }
    config.recover_safety = false;
  } else if (loaded) {
    safety = std::move(*loaded);
    const bool can_recover = consensus::RecoveryReportsNeeded(config.validators) > 0;
    if (damaged_slot && can_recover) {
      // A save torn by a crash, or a disk that altered the newest state: the state loaded may
      // be one save old. Sign nothing until the peers have shown their rounds.
      spdlog::warn(
          "consensus: one slot of the safety state {} is damaged; abstaining until {} "
          "validators show their rounds",
          safety_file_.path().string(), consensus::RecoveryReportsNeeded(config.validators));
      config.recover_safety = true;
    } else {
      if (damaged_slot) {
        spdlog::warn(
            "consensus: one slot of the safety state {} is damaged; a lone validator "
            "goes on from the other",
            safety_file_.path().string());
      } else if (config.recover_safety) {
        spdlog::info("consensus: the safety state is there; --recover-safety has nothing to do");
      }
      config.recover_safety = false;
    }
  } else if (!config.recover_safety) {
    // No guess is safe: the validator may have voted in any round before it lost the file.
    failed_ = true;
    fatal_(MissingSafetyState(safety_file_.path()));
    return;
  } else {
    Result<ledger::QuorumCert> tip_qc = chain_.store().GetCertificate(tip.height);
    if (tip.height > epoch_.root_height && tip_qc.ok()) safety.high_qc = *tip_qc;
    spdlog::warn(
        "consensus: recovering the safety state: abstaining until {} validators show "
        "their rounds",
        consensus::RecoveryReportsNeeded(config.validators));
  }
  std::vector<ledger::Block> pending;
  (void)pending_writer_->WaitAll();  // the store holds every block the last core stored
  if (Result<std::vector<ledger::Block>> blocks = chain_.store().PendingBlocks(); blocks.ok()) {
    for (ledger::Block& block : *blocks) {
      // Blocks of an ended epoch past its last one are never committed.
      if (block.header.epoch == epoch_.number) {
        pending.push_back(std::move(block));
      } else if (block.header.epoch < epoch_.number) {
        ForgetBlock(block);
      }
    }
  }
  core_ = std::make_unique<consensus::Core>(
      config, *key_, *this, cert_verifier_, std::move(safety),
      consensus::CommittedTip{tip.block_hash, tip.height, tip_round}, std::move(pending));
  spdlog::info("consensus: joined at height {}, round {}, term {}", tip.height, core_->round(),
               core_->term());
  Apply(core_->Start(NowMs()));
}

void Driver::StopCore(std::string_view why) {
  spdlog::warn("consensus: leaving to sync: {}", why);
  core_.reset();
  executor_->WaitIdle();  // sync goes on from the store's tip
  ++timer_generation_;
  core_timer_.cancel();
  sync_.Leave(NowMs());
}

// ---- carrying out the core's actions ----

void Driver::Send(const consensus::Outgoing& out) {
  Bytes bytes = consensus::EncodeMessage(out.message);
  if (out.to == consensus::Outgoing::kBroadcast) {
    network_->Broadcast(std::move(bytes));
  } else if (out.to < epoch_.validators.size()) {
    network_->Send(epoch_.validators.members()[out.to], std::move(bytes));
  }
}

void Driver::Apply(consensus::Actions actions) {
  // Every vote, proposal and timeout of this step may rest on a block stored in it or before:
  // none leaves before those writes are durable, and none at all once one failed (fail-stop:
  // the store takes no more writes until the node restarts).
  if (Status stored = pending_writer_->WaitAll(); !stored.ok()) {
    actions.messages.clear();
    if (!actions.persist_error) actions.persist_error = std::move(stored);
  }
  for (const consensus::Outgoing& out : actions.messages) {
    if (!network_) break;
    if (!options_.outbound_policy) {
      Send(out);
      continue;
    }
    const size_t n = epoch_.validators.size();
    const size_t self = IndexOf(key_->public_key()).value_or(n);
    for (const consensus::Outgoing& rewritten :
         options_.outbound_policy->Rewrite(out, *key_, self, n)) {
      Send(rewritten);
    }
  }
  // actions.commits were executed and committed already, in OnCommit.
  if (failed_) return;
  for (consensus::CommittedBlock& commit : actions.commits) KeepEpochProof(commit);
  for (const consensus::Evidence& e : actions.evidence) {
    evidence_.Increment();
    spdlog::warn(
        "consensus: evidence of {} by validator {}",
        e.kind == consensus::Evidence::Kind::kDoubleVote ? "a double vote" : "a double proposal",
        Short(e.offender));
  }
  if (actions.verdict != consensus::Verdict::kAccepted && consensus::IsFault(actions.verdict)) {
    metrics_
        ->GetCounter("city_consensus_refused_total", "Peer messages refused, by reason",
                     {{"verdict", consensus::VerdictName(actions.verdict)}})
        .Increment();
    spdlog::debug("consensus: refused a message ({}): {}", consensus::VerdictName(actions.verdict),
                  actions.reason);
  }
  if (actions.persist_error) {
    // Fail-stop: what it guarded was not sent. Counted and logged, at most once a second.
    persist_failures_.Increment();
    const TimeMs now = NowMs();
    if (now - last_persist_warn_ >= 1'000) {
      last_persist_warn_ = now;
      spdlog::error("consensus: {}; nothing it guards was sent", actions.persist_error->ToString());
    }
  }
  if (actions.timer) ArmTimer(*actions.timer);
  if (entering_) {
    const ledger::Epoch next = *std::exchange(entering_, std::nullopt);
    EnterEpoch(next);
    return;
  }
  PublishStatus();
}

void Driver::EnterEpoch(const ledger::Epoch& epoch) {
  const std::optional<size_t> me = epoch.validators.IndexOf(key_->public_key());
  spdlog::info("epoch {}: {} validators{}, after block {}", epoch.number, epoch.validators.size(),
               me ? ", this one among them" : ", this node not among them", epoch.root_height);
  epoch_ = epoch;
  sync_.SetEpoch(epoch_, me);
  UpdateLinks();
  if (core_) {
    core_.reset();
    ++timer_generation_;
    core_timer_.cancel();
    StartCore();  // from the epoch's last block, once it is executed
  }
  for (auto& [sender, message] : next_epoch_.Enter()) {
    if (consensus::EpochOf(message) == epoch_.number) HandleConsensus(sender, std::move(message));
  }
  PublishStatus();
}

// The validators moved on to the next epoch, or claim to (consensus/next_epoch.h).
void Driver::OnLaterEpoch(const PublicKey& sender, uint64_t epoch, consensus::Message message) {
  const std::optional<contracts::ScheduledValidators> next = ScheduledChange();
  if (epoch != epoch_.number + 1 || !next) return;  // further ahead: block sync's business
  const ledger::ValidatorSet next_set(next->validators);
  if (!consensus::SignedByMember(sender, next_set, epoch, options_.consensus.chain_id,
                                 &cert_verifier_, message)) {
    return;
  }
  const TimeMs now = NowMs();
  const std::optional<std::vector<PublicKey>> past_the_end =
      next_epoch_.Observe(now, sender, next_set, std::move(message));
  if (!past_the_end) return;
  // Sync asks by index in this node's epoch: a sender that is a member of both, in turn.
  std::vector<size_t> askable;
  for (const PublicKey& key : *past_the_end) {
    if (const std::optional<size_t> index = IndexOf(key)) askable.push_back(*index);
  }
  if (askable.empty()) return;
  if (core_) {
    StopCore(std::to_string(past_the_end->size()) + " validators are in epoch " +
             std::to_string(epoch));
  }
  const size_t peer = askable[next_epoch_.attempts() % askable.size()];
  ApplySync(sync_.CatchUp(now, peer, chain_.tip().height + 1));
}

void Driver::KeepEpochProof(consensus::CommittedBlock& commit) {
  if (!commit.epoch_end) return;
  std::lock_guard lock(epoch_proofs_mutex_);
  epoch_proofs_[commit.block.header.height] = std::move(*commit.epoch_end);
  while (epoch_proofs_.size() > kKeptEpochProofs) epoch_proofs_.erase(epoch_proofs_.begin());
}

std::optional<contracts::ScheduledValidators> Driver::ScheduledChange() const {
  return node::NextChange(chain_, epoch_);
}

void Driver::UpdateLinks() {
  if (!network_) return;
  std::vector<net::ValidatorPeer> peers =
      LinkPeers(epoch_, ScheduledChange(), options_.peer_addresses);
  std::vector<PublicKey> keys;
  for (const net::ValidatorPeer& peer : peers) keys.push_back(peer.key);
  if (keys == link_keys_) return;
  link_keys_ = std::move(keys);
  network_->SetValidators(std::move(peers));
}

void Driver::ArmTimer(TimeMs wake) {
  const TimeMs now = NowMs();
  const uint64_t generation = ++timer_generation_;
  core_timer_.expires_after(std::chrono::milliseconds(wake > now ? wake - now : 0));
  core_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
    if (ec || stopped_ || failed_ || generation != timer_generation_ || !core_) return;
    Apply(core_->OnTick(NowMs()));
  });
}

void Driver::CommitBlock(const ledger::Block& block, const ledger::QuorumCert& certificate) {
  if (block.header.height <= chain_.tip().height) return;  // sync got there first
  Result<CommittedBlockInfo> committed = chain_.ExecuteAndCommit(block, certificate);
  if (!committed.ok()) {
    failed_ = true;
    fatal_(Status(committed.status().code(), "committing block " +
                                                 std::to_string(block.header.height) + ": " +
                                                 committed.status().message()));
    return;
  }
  AfterCommit(block);
  if (!block.header.next_validators.empty()) EnterEpoch(epoch_.Next(block.header, block.Hash()));
  PublishStatus();
}

void Driver::OnExecuted(Result<CommittedBlockInfo> executed) {
  // On the executor thread: only what is thread-safe here, the rest on the strand.
  if (!executed.ok()) {
    fatal_(Status(executed.status().code(),
                  "executing a committed block: " + executed.status().message()));
    OnStrand([this] { failed_ = true; });
    return;
  }
  AfterCommit(executed->block);
  OnStrand([this] { PublishStatus(); });
}

void Driver::AfterCommit(const ledger::Block& block) {
  const auto now = std::chrono::steady_clock::now();
  for (const auto& tx : block.transactions) {
    if (auto accepted = intake_.TakeAcceptTime(tx.Id())) {
      commit_latency_.Observe(std::chrono::duration<double>(now - *accepted).count());
    }
  }
  mempool_.RemoveCommitted(block.transactions,
                           [this](const PublicKey& sender) { return chain_.NextNonce(sender); });
  mempool_.Expire(block.header.height + 1);
  commits_.Increment();
  committed_txs_.Increment(block.transactions.size());
  const TimeMs now_ms = NowMs();
  {
    std::lock_guard lock(status_mutex_);
    commit_window_.emplace_back(now_ms, block.transactions.size());
    while (!commit_window_.empty() && now_ms - commit_window_.front().first > kRateWindowMs) {
      commit_window_.pop_front();
    }
  }
  spdlog::debug("committed block {} ({} transactions)", block.header.height,
                block.transactions.size());
  if (snapshots_ != nullptr) snapshots_->OnCommitted(block.header);
  feed_.Notify();
}

void Driver::PublishStatus() {
  const ledger::StoreTip tip = chain_.tip();
  std::lock_guard lock(status_mutex_);
  uint64_t window_txs = 0;
  for (const auto& [at, count] : commit_window_) window_txs += count;
  status_.syncing = core_ == nullptr;
  status_.epoch = epoch_.number;
  status_.validators = epoch_.validators.members();
  status_.height = tip.height;
  status_.block_hash = tip.block_hash;
  status_.state_root = tip.state_root;
  if (core_) {
    status_.term = core_->term();
    status_.round = core_->round();
    status_.leader = core_->LeaderOf(core_->term());
    status_.held_blocks = core_->held_blocks();
    status_.timeout_ms = core_->timeout_ms();
    status_.round_length_ms = core_->round_length_ms();
  }
  status_.peers.clear();
  const auto& members = epoch_.validators.members();
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] != key_->public_key())
      status_.peers.push_back({members[i], sync_.PeerHeight(i)});
  }
  status_.commits = commits_.value();
  status_.committed_transactions = committed_txs_.value();
  status_.transactions_per_second =
      static_cast<double>(window_txs) / (static_cast<double>(kRateWindowMs) / 1000.0);
}

DriverStatus Driver::Snapshot() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

// ---- consensus::Host ----

Status Driver::PersistSafety(const consensus::SafetyState& state) {
  if (Status saved = safety_file_.Save(ledger::Encode(state)); !saved.ok()) {
    return Status(saved.code(), "cannot save the safety state: " + saved.message());
  }
  return Status::Ok();
}

// Queued: Apply sends nothing of this step before the write is durable (the Host contract
// allows the write to finish later, so long as nothing it guards leaves first).
Status Driver::PersistBlock(const ledger::Block& block) {
  pending_writer_->Put(block);
  return Status::Ok();
}

const ledger::BlockHeader* Driver::FindHeader(const Hash256& hash,
                                              ledger::BlockHeader& scratch) const {
  if (core_) {
    if (const ledger::Block* block = core_->FindBlock(hash)) return &block->header;
  }
  if (hash == chain_.genesis().block_hash) return &chain_.genesis().header;
  if (std::optional<ledger::BlockHeader> queued = executor_->FindHeader(hash)) {
    scratch = std::move(*queued);
    return &scratch;
  }
  Result<uint64_t> height = chain_.store().HeightOf(hash);
  if (!height.ok()) return nullptr;
  Result<ledger::BlockHeader> header = chain_.store().GetHeader(*height);
  if (!header.ok()) return nullptr;
  scratch = std::move(*header);
  return &scratch;
}

Driver::Ancestry Driver::UncommittedAncestry(const Hash256& from) const {
  Ancestry ancestry;
  if (!core_) return ancestry;
  for (const ledger::Block* block = core_->FindBlock(from); block != nullptr;
       block = core_->FindBlock(block->header.parent_hash)) {
    for (const ledger::Transaction& tx : block->transactions) {
      ancestry.ids.insert(tx.Id());
      ++ancestry.per_sender[tx.sender];
    }
  }
  // Looked at after the core's blocks and before the store (executor.h).
  executor_->AddQueued(ancestry);
  return ancestry;
}

std::vector<ledger::Transaction> Driver::TakePayload(size_t max) {
  if (!core_) return {};
  const ledger::QuorumCert& parent = core_->safety().high_qc;
  // The queue and the store read as one (executor.h): a block counted twice here would make
  // the proposal skip a nonce.
  std::vector<ledger::Transaction> txs = executor_->Consistent([&] {
    const Ancestry ancestry = UncommittedAncestry(parent.data.block_hash);
    auto next_nonce = [&](const PublicKey& sender) {
      auto it = ancestry.per_sender.find(sender);
      return chain_.NextNonce(sender) + (it == ancestry.per_sender.end() ? 0 : it->second);
    };
    std::vector<ledger::Transaction> selected =
        mempool_.Select(max, std::min(options_.max_block_bytes, kMaxProposalBytes),
                        parent.data.height + 1, next_nonce, ancestry.ids);
    // One that committed while a late copy reached the pool must not be proposed again.
    std::erase_if(selected,
                  [this](const ledger::Transaction& tx) { return chain_.IsCommitted(tx.Id()); });
    // The execution the block asks of every validator is capped too. A prefix of the
    // selection keeps each sender's nonces in order.
    uint64_t cost = 0;
    auto over = std::find_if(selected.begin(), selected.end(), [&](const ledger::Transaction& tx) {
      cost += ledger::ExecutionCost(tx);
      return cost > options_.max_block_cost;
    });
    selected.erase(over, selected.end());
    return selected;
  });
  payload_added_mark_ = txs.empty() ? mempool_.Stats().added : UINT64_MAX;
  return txs;
}

uint64_t Driver::ArrivalRatePerSecond() {
  const TimeMs now = NowMs();
  const uint64_t added = mempool_.Stats().added;
  if (now >= rate_sample_at_ + kRateSampleMs) {
    arrival_rate_ = (added - rate_sample_added_) * 1000 / (now - rate_sample_at_);
    rate_sample_at_ = now;
    rate_sample_added_ = added;
  }
  return arrival_rate_;
}

TimeMs Driver::ProposalDelay(TimeMs waited) {
  // Only transactions that can run count: thousands behind a nonce gap must not make the
  // leader propose empty blocks back to back.
  const size_t max = options_.consensus.max_block_transactions;
  const size_t runnable = mempool_.RunnableCount(max);
  const bool last_take_found_some = payload_added_mark_ == UINT64_MAX;
  if (runnable >= max && last_take_found_some && executor_->Backlog() < kSlowDownBacklog) {
    return 0;
  }
  // Transactions wait in the pool (and are new since a proposal last found none usable), or
  // sit in uncommitted blocks that need two more blocks to commit: a short batching delay.
  const bool fresh = runnable > 0 && mempool_.Stats().added != payload_added_mark_;
  // Only whether any uncommitted ancestor holds a transaction: asked on every round and tick,
  // so no hashing here.
  bool in_flight = false;
  for (const ledger::Block* block =
           core_ ? core_->FindBlock(core_->safety().high_qc.data.block_hash) : nullptr;
       block != nullptr && !in_flight; block = core_->FindBlock(block->header.parent_hash)) {
    in_flight = !block->transactions.empty();
  }
  const size_t backlog = executor_->Backlog();
  // Batching pays only when it fills a block noticeably: at the rate transactions arrive, the
  // delay must bring kMinBatchGain more, or execution must be behind. Otherwise (a lightly
  // loaded chain) the leader proposes at once and a commit takes only the rounds it needs.
  const uint64_t arriving = ArrivalRatePerSecond();
  const bool batching_pays =
      backlog > 0 || arriving * options_.batch_delay_ms >= kMinBatchGain * 1000;
  const TimeMs batch_delay = batching_pays ? options_.batch_delay_ms : 0;
  TimeMs wait = fresh || in_flight ? batch_delay : options_.idle_block_interval_ms;
  // Execution falling behind: propose less often, so the backlog drains instead of growing
  // to the cap that would stall consensus.
  if (backlog >= kSlowDownBacklog) {
    wait = std::max<TimeMs>(
        wait, std::min<TimeMs>(kMaxBackpressureDelayMs,
                               kBackpressureStepMs * (backlog - kSlowDownBacklog + 1)));
  }
  return waited >= wait ? 0 : wait - waited;
}

void Driver::OnCommit(const ledger::Block& block, const ledger::QuorumCert& certified_by) {
  if (!failed_) executor_->Submit(block, certified_by);
  // The epoch's last block: the core is done once this call returns (Apply).
  if (!block.header.next_validators.empty()) entering_ = epoch_.Next(block.header, block.Hash());
}

void Driver::CompleteHeader(ledger::BlockHeader& header) {
  ExecutionRoots roots = chain_.LatestExecution();
  ledger::BlockHeader scratch;
  const ledger::BlockHeader* parent = FindHeader(header.parent_hash, scratch);
  // A few blocks behind our own execution, so followers that execute a little slower can
  // vote without waiting; never below the parent's.
  const uint64_t floor = parent ? parent->exec_height : 0;
  const uint64_t slack = roots.height > kExecutionSlack ? roots.height - kExecutionSlack : 0;
  if (const uint64_t target = std::max(floor, slack); target < roots.height) {
    if (Result<ExecutionRoots> older = chain_.ExecutionAt(target); older.ok()) roots = *older;
  }
  header.exec_height = roots.height;
  header.state_root = roots.state_root;
  header.result_root = roots.result_root;
  header.timestamp_ms = parent ? std::max(WallMs(), parent->timestamp_ms + 1) : WallMs();
  header.next_validators = NextValidatorsAt(ScheduledChange(), header.height);
}

city::Status Driver::CheckContent(const ledger::Block& block) {
  const std::string& chain_id = options_.consensus.chain_id;
  if (block.transactions.size() > options_.consensus.max_block_transactions) {
    return Status(ErrorCode::kTooLarge,
                  "block has " + std::to_string(block.transactions.size()) +
                      " transactions, more than " +
                      std::to_string(options_.consensus.max_block_transactions));
  }
  std::set<Hash256> ids;
  size_t bytes = 0;
  for (const ledger::Transaction& tx : block.transactions) {
    if (Status s = tx.CheckStateless(chain_id); !s.ok()) return s;
    if (!ids.insert(tx.Id()).second) {
      return Status(ErrorCode::kInvalidArgument, "a transaction appears twice in the block");
    }
    bytes += ledger::Encode(tx).size();
    if (bytes > kMaxProposalBytes) return Status(ErrorCode::kTooLarge, "block too large");
  }
  const std::vector<bool> valid = verifier_.VerifyNow(block.transactions);
  for (size_t i = 0; i < valid.size(); ++i) {
    if (!valid[i]) {
      return Status(ErrorCode::kBadSignature,
                    "transaction " + std::to_string(i) + " has a bad signature");
    }
  }
  return Status::Ok();
}

// After the block's own write, whenever that is (one queue, in order).
void Driver::ForgetBlock(const ledger::Block& block) { pending_writer_->Delete(block); }

city::Status Driver::CheckPayload(const ledger::Block& block) {
  const ledger::BlockHeader& h = block.header;
  // A transaction is in the chain once: the store refuses a block that repeats one, so a
  // certified block with a repeat would halt every validator at its commit. Queue and store
  // read as one (executor.h), so a block moving between them is not missed.
  const std::optional<Hash256> repeated = executor_->Consistent([&]() -> std::optional<Hash256> {
    const Ancestry ancestry = UncommittedAncestry(h.parent_hash);
    for (const ledger::Transaction& tx : block.transactions) {
      const Hash256 id = tx.Id();
      if (ancestry.ids.contains(id) || chain_.IsCommitted(id)) return id;
    }
    return std::nullopt;
  });
  if (repeated) {
    return Status(ErrorCode::kInvalidArgument,
                  "transaction " + repeated->ToHex().substr(0, 16) + " is already in the chain");
  }
  ledger::BlockHeader scratch;
  const ledger::BlockHeader* parent = FindHeader(h.parent_hash, scratch);
  if (parent == nullptr) return Status(ErrorCode::kNotFound, "parent block unknown");
  if (h.timestamp_ms <= parent->timestamp_ms) {
    return Status(ErrorCode::kInvalidArgument, "timestamp not after the parent's");
  }
  if (h.timestamp_ms > WallMs() + kMaxClockDriftMs) {
    return Status(ErrorCode::kInvalidArgument, "timestamp too far in the future");
  }
  if (h.exec_height < parent->exec_height) {
    return Status(ErrorCode::kInvalidArgument, "exec_height below the parent's");
  }
  if (h.height - h.exec_height > kMaxExecutionLag) {
    return Status(ErrorCode::kInvalidArgument, "execution at height " +
                                                   std::to_string(h.exec_height) + " lags block " +
                                                   std::to_string(h.height) + " by more than " +
                                                   std::to_string(kMaxExecutionLag));
  }
  if (h.exec_height > chain_.tip().height) {
    // Committed here too but still executing: worth a short wait. Beyond what this node has
    // committed, the proposer claims what it cannot have.
    if (h.exec_height > executor_->SubmittedHeight() ||
        !executor_->WaitExecuted(h.exec_height, kMaxExecutionWait)) {
      return Status(ErrorCode::kNotFound, "execution at height " + std::to_string(h.exec_height) +
                                              " is ahead of this node");
    }
  }
  // The execution lag bound above means this validator has executed the block that passed
  // any change ending the epoch here (ledger::kEpochChangeMargin is larger).
  if (h.next_validators != NextValidatorsAt(ScheduledChange(), h.height)) {
    return Status(ErrorCode::kInvalidArgument,
                  h.next_validators.empty()
                      ? "block " + std::to_string(h.height) +
                            " ends the epoch but does not name the scheduled validator set"
                      : "block " + std::to_string(h.height) +
                            " names a validator set that is not scheduled to start after it");
  }
  Result<ExecutionRoots> roots = chain_.ExecutionAt(h.exec_height);
  if (!roots.ok()) return roots.status();
  if (roots->state_root != h.state_root || roots->result_root != h.result_root) {
    return Status(
        ErrorCode::kInvalidArgument,
        "execution roots at height " + std::to_string(h.exec_height) + " differ from this node's");
  }
  return Status::Ok();
}

}  // namespace city::node
