// The consensus simulation: processes, a hostile network, Byzantine behaviours, invariants.
#include "simulation.h"

#include <algorithm>
#include <cassert>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "city/consensus/block_sync.h"
#include "city/consensus/core.h"
#include "city/consensus/next_epoch.h"
#include "city/ledger/chain_rules.h"
#include "mutations.h"

namespace city::sim {
namespace {

using consensus::Actions;
using consensus::CommittedTip;
using consensus::Core;
using consensus::Message;
using consensus::Outgoing;
using consensus::Proposal;
using consensus::SafetyState;
using consensus::TimeMs;

constexpr std::string_view kChain = "city-sim";

// Deterministic across runs of one build: no std:: distributions (they vary by library).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t Next() { return engine_(); }
  uint64_t Below(uint64_t bound) { return bound == 0 ? 0 : engine_() % bound; }
  uint64_t Between(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  bool Chance(uint64_t percent) { return Below(100) < percent; }

 private:
  std::mt19937_64 engine_;
};

// Byzantine kinds: twin (a second process with the same key, both running honest code),
// equivocator (two different proposals per round, split between validators), withholder
// (hides its proposals), garbage (also sends noise, altered and replayed messages), silent
// (never runs), forker (shows some proposals, and the QCs they carry, to one validator only,
// which can leave a block committed at just that validator; after a TC it proposes on a QC
// two or more rounds below the TC's highest, i.e. conflicting with that block), flooder
// (with each proposal, sends every validator kFloodPerRound other distinct, correctly
// signed proposals for the same round: the attack that once filled the block tree for good),
// junk (its proposals carry an oversized payload with a transaction no host accepts), liar
// (votes and proposes honestly, but as a block sync peer announces heights far above its own
// and answers every sync request with a lie: altered blocks, forged certificates, blocks that
// do not chain, or nothing), misreporter (its proposals claim a state root no execution of
// the chain yields), epoch-faker (votes and proposes honestly, but each second sends every
// other validator an unsigned timeout of the next epoch: only a node that trusts a message's
// epoch before checking its signature is moved by it; never drawn at random, --byzantine only).
enum class Kind {
  kHonest,
  kTwin,
  kEquivocator,
  kWithholder,
  kGarbage,
  kSilent,
  kForker,
  kFlooder,
  kJunk,
  kLiar,
  kMisreporter,
  kEpochFaker
};
constexpr uint64_t kByzantineKinds = 10;  // drawn at random: all but the epoch-faker
constexpr uint64_t kFloodPerRound = 40;
constexpr uint32_t kSyncBatch = 16;  // blocks per sync request
// --reconfigure: spare keys beyond the genesis validators, changes per schedule, and the
// blocks between one epoch's root and its last block.
constexpr size_t kSpareKeys = 3;
constexpr uint64_t kFewestChanges = 3;
constexpr uint64_t kMostChanges = 4;
constexpr uint64_t kFewestBlocksPerEpoch = 20;
constexpr uint64_t kMostBlocksPerEpoch = 60;
// The node's: epoch end proofs kept (messages of the next epoch: consensus::NextEpochWatch).
constexpr size_t kKeptEpochProofs = 4;
// The deadline's allowance per block GST left before the last epoch: this many rounds of two
// message delays and one block's execution.
constexpr uint64_t kRoundsPerBlockAllowed = 4;

const char* KindName(Kind kind) {
  static constexpr const char* kNames[] = {"honest",  "twin",   "equivocator", "withholder",
                                           "garbage", "silent", "forker",      "flooder",
                                           "junk",    "liar",   "misreporter", "epoch-faker"};
  return kNames[static_cast<int>(kind)];
}

// The validator-set changes of a --reconfigure schedule (ScheduleParams::reconfigure).
//
// What the sim models of epochs: the heights and sets are fixed from the seed before the run
// (equivalent to drawing each change once the one before has committed: a change always lies
// 20-60 blocks above the last, and only one is pending at a time); every proposer names the
// scheduled set exactly at its epoch's last height and every voter refuses a header that does
// not (the node's CompleteHeader and CheckPayload). What it does not model: the set-validators
// governance proposal that schedules a change and the execution that learns it (the node's
// kEpochChangeMargin of 128 blocks exists for execution only), nor links that follow the sets
// (every process can reach every other; each listens only to its own epoch's validators).
struct EpochSchedule {
  std::vector<std::vector<size_t>> sets;     // sets[k]: key indexes of epoch k, in leader order
  std::vector<std::vector<PublicKey>> keys;  // the same, as keys
  std::vector<uint64_t> ends;                // ends[k]: epoch k's last height (all but the last)

  // What a header of `epoch` at `height` names as the next set: the scheduled one exactly at the
  // epoch's last height, nothing elsewhere.
  std::vector<PublicKey> NextValidatorsAt(uint64_t epoch, uint64_t height) const {
    if (epoch < ends.size() && ends[epoch] == height) return keys[epoch + 1];
    return {};
  }
  // The epoch a committed block at `height` belongs to: after E_k every block is of epoch k+1.
  uint64_t EpochAt(uint64_t height) const {
    return static_cast<uint64_t>(std::lower_bound(ends.begin(), ends.end(), height) - ends.begin());
  }
};

struct Process;

// Storage of one process: survives its crashes, like a data directory.
class SimHost final : public consensus::Host, public consensus::SyncHost {
 public:
  SimHost(Process& process) : process_(process) {}
  Status PersistSafety(const SafetyState& state) override;
  Status PersistBlock(const ledger::Block& block) override;
  std::vector<ledger::Transaction> TakePayload(size_t max) override;
  // What a real host checks before storing: here, one "mark" transaction at most.
  Status CheckContent(const ledger::Block& block) override {
    if (block.transactions.size() > 1) return Status(ErrorCode::kTooLarge, "payload too large");
    for (const ledger::Transaction& tx : block.transactions) {
      if (tx.method != "mark") return Status(ErrorCode::kInvalidArgument, "unknown method");
    }
    return Status::Ok();
  }
  // The execution fields, checked as the node checks them: execution this validator has
  // done too, with the state root it computed.
  Status CheckPayload(const ledger::Block& block) override;
  void CompleteHeader(ledger::BlockHeader& header) override;
  // Like the node's backpressure: a leader whose execution lags slows its proposals.
  TimeMs ProposalDelay(TimeMs waited) override;
  // Block sync's transaction checks: the same content rule, and every signature.
  Status CheckTransactions(const std::vector<const ledger::Block*>& blocks) override {
    for (const ledger::Block* block : blocks) {
      if (Status content = CheckContent(*block); !content.ok()) return content;
      for (const ledger::Transaction& tx : block->transactions) {
        if (!tx.VerifySignature()) return Status(ErrorCode::kBadSignature, "bad transaction");
      }
    }
    return Status::Ok();
  }

 private:
  Process& process_;
};

struct Process {
  size_t id = 0;
  size_t key_index = 0;  // whose key it runs, in the simulation's pool (twins share one)
  Kind kind = Kind::kHonest;
  const KeyPair* key = nullptr;
  const EpochSchedule* schedule = nullptr;
  const KeyPair* client = nullptr;
  SimHost host{*this};
  std::unique_ptr<consensus::ProtocolRules> rules;  // its own, if it runs other rules
  std::unique_ptr<Core> core;                       // none while block sync runs
  std::unique_ptr<consensus::BlockSync> sync;
  bool crashed = false;
  TimeMs next_tick = 0;
  TimeMs next_status = 0;  // its next height announcement and sync tick
  uint64_t payload_counter = 0;
  // The "data directory".
  SafetyState disk_safety;
  CommittedTip disk_tip;
  std::vector<Hash256> chain;                // committed block hashes by height - 1
  std::vector<ledger::QuorumCert> certs;     // the certificate of each, by height - 1
  std::map<Hash256, ledger::Block> store;    // committed blocks
  std::map<Hash256, ledger::Block> pending;  // uncommitted blocks, via PersistBlock
  // The epoch of the block after its committed tip, as the node derives it from its chain
  // (ledger::Epoch::After). Its validator indexes are the ones its core and sync speak.
  ledger::Epoch epoch;
  // In memory only, like the node's: set when its core committed the epoch's last block,
  // switched to once that call's actions are carried out.
  std::optional<ledger::Epoch> entering;
  std::map<uint64_t, consensus::EpochEndProof> epoch_proofs;  // by E's height, the last few
  // Messages of the next epoch that came before it committed the end of its own, and when to
  // catch up instead (the node's, consensus/next_epoch.h).
  consensus::NextEpochWatch next_epoch;
  // Distinct blocks ever stored per (epoch, round, proposer), and the most for any one: the
  // first proposal seen, plus at most the certified one fetched when its proposer equivocated.
  std::map<std::tuple<uint64_t, uint64_t, PublicKey>, std::set<Hash256>> stored_per_slot;
  size_t most_stored_per_slot = 0;
  bool stored_invalid = false;  // a block its own CheckContent refuses reached the disk
  // Execution: each committed block takes exec_ms of virtual time after the one before;
  // executed_at[h - 1] is when block h is executed (one per block of `chain`). `clock` is the
  // simulation's time.
  const TimeMs* clock = nullptr;
  TimeMs exec_ms = 0;
  std::vector<TimeMs> executed_at;
  uint64_t ExecutedHeight() const {
    return static_cast<uint64_t>(std::upper_bound(executed_at.begin(), executed_at.end(), *clock) -
                                 executed_at.begin());
  }
  // What executing the chain through `height` yields: a function of those blocks alone.
  Hash256 StateRootAt(uint64_t height) const {
    if (height == 0) return TaggedHash("city.sim.state", {});
    return TaggedHash("city.sim.state", chain[height - 1].span());
  }
  // A disk that refuses this percentage of writes, until GST (then it is replaced).
  uint64_t flaky_disk_percent = 0;
  Rng disk_rng{1};  // its own stream, seeded from the schedule's

  bool DiskFails() { return flaky_disk_percent > 0 && disk_rng.Chance(flaky_disk_percent); }

  bool honest() const { return kind == Kind::kHonest; }
};

Status SimHost::PersistSafety(const SafetyState& state) {
  if (process_.DiskFails()) return Status(ErrorCode::kIoError, "the disk refused the write");
  process_.disk_safety = state;
  return Status::Ok();
}

Status SimHost::PersistBlock(const ledger::Block& block) {
  if (process_.DiskFails()) return Status(ErrorCode::kIoError, "the disk refused the write");
  if (!CheckContent(block).ok()) process_.stored_invalid = true;
  const Hash256 hash = block.Hash();
  process_.pending.emplace(hash, block);
  auto& slot =
      process_.stored_per_slot[{block.header.epoch, block.header.round, block.header.proposer}];
  slot.insert(hash);
  process_.most_stored_per_slot = std::max(process_.most_stored_per_slot, slot.size());
  return Status::Ok();
}

Status SimHost::CheckPayload(const ledger::Block& block) {
  const ledger::BlockHeader& h = block.header;
  // The node's rule: the scheduled set exactly at the epoch's last height, none elsewhere.
  if (h.next_validators != process_.schedule->NextValidatorsAt(process_.epoch.number, h.height)) {
    return Status(ErrorCode::kInvalidArgument,
                  h.next_validators.empty() ? "ends the epoch but does not name the scheduled set"
                                            : "names a validator set not scheduled after it");
  }
  if (h.exec_height >= h.height) {
    return Status(ErrorCode::kInvalidArgument, "execution at or above the block itself");
  }
  if (h.exec_height > process_.ExecutedHeight()) {
    return Status(ErrorCode::kInvalidArgument, "execution this validator has not done yet");
  }
  if (h.state_root != process_.StateRootAt(h.exec_height)) {
    return Status(ErrorCode::kInvalidArgument, "state root differs from this validator's");
  }
  return Status::Ok();
}

void SimHost::CompleteHeader(ledger::BlockHeader& header) {
  // Two blocks behind its own execution, as the node proposes, so followers that committed a
  // little later have executed it too.
  constexpr uint64_t kExecutionSlack = 2;
  const uint64_t executed = process_.ExecutedHeight();
  header.exec_height =
      std::min(executed > kExecutionSlack ? executed - kExecutionSlack : 0, header.height - 1);
  header.state_root = process_.StateRootAt(header.exec_height);
  header.next_validators =
      process_.schedule->NextValidatorsAt(process_.epoch.number, header.height);
}

TimeMs SimHost::ProposalDelay(TimeMs waited) {
  constexpr uint64_t kSlowDownBacklog = 4;
  const uint64_t backlog = process_.executed_at.size() - process_.ExecutedHeight();
  if (backlog <= kSlowDownBacklog) return 0;
  const TimeMs delay = std::min<TimeMs>(10 * (backlog - kSlowDownBacklog), 400);
  return delay > waited ? delay - waited : 0;
}

std::vector<ledger::Transaction> SimHost::TakePayload(size_t max) {
  if (max == 0) return {};
  // One transaction naming the process: twins and equivocators propose different blocks.
  ledger::Transaction tx;
  tx.chain_id = std::string(kChain);
  tx.nonce = process_.payload_counter++;
  // Proposed at most a few heights above the committed tip, the block rule's horizon ahead.
  tx.expiry_height = process_.chain.size() + ledger::kMaxExpiryHorizon / 2;
  tx.contract = "sim";
  tx.method = "mark";
  tx.args = {static_cast<uint8_t>(process_.id), static_cast<uint8_t>(tx.nonce)};
  tx.Sign(*process_.client);
  return {tx};
}

// Block sync's messages travel as objects (the node's wire codec is not in this library).
using SyncMessage = std::variant<consensus::SyncRequest, consensus::SyncReply,
                                 uint64_t /* an announced committed height */>;

struct Event {
  enum class Type { kDeliver, kTick, kStatus, kCrash, kRestart, kPartition, kHeal };
  TimeMs time = 0;
  uint64_t seq = 0;
  Type type = Type::kDeliver;
  size_t process = 0;
  size_t from_key = 0;                      // the sender's key, in the simulation's pool
  std::shared_ptr<const Bytes> bytes;       // kDeliver: a consensus message
  std::shared_ptr<const SyncMessage> sync;  // kDeliver: or a block sync one
  std::vector<int> groups;                  // kPartition: group of each process

  static Event At(TimeMs time, Type type, size_t process = 0) {
    Event event;
    event.time = time;
    event.type = type;
    event.process = process;
    return event;
  }

  bool operator>(const Event& other) const {
    return std::tie(time, seq) > std::tie(other.time, other.seq);
  }
};

class Simulation {
 public:
  explicit Simulation(const ScheduleParams& params)
      : params_(params),
        rng_(params.seed),
        verifier_(1 << 18),
        client_(MakeKey(0xc1)),
        mutation_(MakeMutation(params.mutation)),
        wrong_epoch_certs_(params.mutation == kWrongEpochCerts) {
    // The pool: the genesis validators, then the spares a --reconfigure schedule may add.
    const size_t pool = params.validators + (params.reconfigure && !params.twins ? kSpareKeys : 0);
    for (size_t i = 0; i < pool; ++i) {
      keys_.push_back(MakeKey(i + 1));
      key_index_.emplace(keys_.back().public_key(), i);
    }
    std::vector<PublicKey> members;
    for (size_t i = 0; i < params.validators; ++i) members.push_back(keys_[i].public_key());
    config_.chain_id = std::string(kChain);
    config_.validators = ledger::ValidatorSet(members);
    config_.genesis_hash = TaggedHash("city.sim.genesis", {});
    config_.base_timeout_ms = 1000;
    config_.max_timeout_ms = 8000;
    config_.max_block_transactions = 1;
    config_.fetch_retry_ms = 400;
    sync_config_.chain_id = config_.chain_id;
    sync_config_.epoch = ledger::Epoch::Genesis(config_.validators, config_.genesis_hash);
    sync_config_.max_blocks = kSyncBatch;
    // Gaps scaled to the short chains of a schedule, so that syncs happen.
    sync_config_.join_gap = 2;
    sync_config_.fall_behind_gap = 6;
    sync_config_.behind_ticks = 2;
    genesis_ = ledger::Epoch::Genesis(config_.validators, config_.genesis_hash);
  }

  ScheduleResult Run() {
    SetUpProcesses();
    SetUpFaultsAndNetwork();
    for (auto& p : processes_) {
      if (p->kind != Kind::kSilent) Boot(*p, rng_.Below(50));
    }
    while (!queue_.empty() && !result_.safety_violation) {
      Event event = queue_.top();
      queue_.pop();
      now_ = event.time;
      if (now_ > Deadline()) break;
      Handle(event);
      if (now_ >= gst_ && LivenessReached()) {
        result_.gst_to_liveness_ms = now_ - gst_;
        break;
      }
    }
    Finish();
    return result_;
  }

 private:
  static KeyPair MakeKey(size_t fill) {
    std::array<uint8_t, kSeedSize> seed{};
    seed.fill(static_cast<uint8_t>(fill));
    seed[0] = 0x5a;  // apart from the unit tests' keys
    return KeyPair::FromSeed(seed);
  }

  void SetUpProcesses() {
    if (params_.twins) {
      const size_t twin = *params_.twins % params_.validators;
      for (size_t v = 0; v < params_.validators; ++v) {
        AddProcess(v, v == twin ? Kind::kTwin : Kind::kHonest);
        if (v == twin) AddProcess(v, Kind::kTwin);
      }
      summary_ << "twins: v" << twin << " twice; partitions";
      PlanEpochs({});
      return;
    }
    std::vector<size_t> order(params_.validators);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.Below(i)]);
    std::vector<Kind> kinds(params_.validators, Kind::kHonest);
    for (size_t i = 0; i < params_.faulty && i < order.size(); ++i) {
      kinds[order[i]] = static_cast<Kind>(1 + rng_.Below(kByzantineKinds));
      for (uint64_t k = 1; k <= static_cast<uint64_t>(Kind::kEpochFaker); ++k) {
        if (params_.byzantine == KindName(static_cast<Kind>(k)))
          kinds[order[i]] = static_cast<Kind>(k);
      }
    }
    std::set<size_t> faulty;
    for (size_t v = 0; v < params_.validators; ++v) {
      AddProcess(v, kinds[v]);
      if (kinds[v] == Kind::kTwin) AddProcess(v, Kind::kTwin);
      if (kinds[v] != Kind::kHonest) summary_ << "v" << v << "=" << KindName(kinds[v]) << " ";
      if (kinds[v] != Kind::kHonest) faulty.insert(v);
    }
    // The spares: honest, observers until an epoch names them.
    for (size_t k = params_.validators; k < keys_.size(); ++k) AddProcess(k, Kind::kHonest);
    PlanEpochs(faulty);
  }

  // The validator-set changes (EpochSchedule), from their own stream of the seed so that a
  // schedule without --reconfigure draws exactly what it drew before epochs existed.
  //
  // The Byzantine validators (`faulty`) are members of every set and never removed, and no
  // set has fewer than 3 * |faulty| + 1 members: every epoch tolerates its faulty members, so
  // the safety invariants hold in every epoch as they do in one. Honest members are removed
  // and rotated out, spares added; a removed key returns to the spares and may come back.
  void PlanEpochs(const std::set<size_t>& faulty) {
    std::vector<size_t> set(params_.validators);
    for (size_t i = 0; i < set.size(); ++i) set[i] = i;
    schedule_.sets.push_back(set);
    if (params_.reconfigure && !params_.twins) {
      Rng rng(rng_.Next());
      const size_t fewest = std::max(ledger::kMinValidatorsAfterChange, 3 * faulty.size() + 1);
      const uint64_t changes = rng.Between(kFewestChanges, kMostChanges);
      uint64_t height = 0;
      summary_ << "epochs:";
      for (uint64_t c = 0; c < changes; ++c) {
        std::vector<size_t> spares;
        for (size_t k = 0; k < keys_.size(); ++k) {
          if (std::find(set.begin(), set.end(), k) == set.end()) spares.push_back(k);
        }
        std::vector<size_t> honest;  // positions in `set`
        for (size_t i = 0; i < set.size(); ++i) {
          if (!faulty.contains(set[i])) honest.push_back(i);
        }
        enum { kAdd, kRemove, kRotate };
        std::vector<int> options;
        if (!spares.empty()) options.push_back(kAdd);
        if (set.size() > fewest && !honest.empty()) options.push_back(kRemove);
        if (!spares.empty() && !honest.empty()) options.push_back(kRotate);
        if (options.empty()) break;
        height += rng.Between(kFewestBlocksPerEpoch, kMostBlocksPerEpoch);
        summary_ << " @" << height;
        switch (options[rng.Below(options.size())]) {
          case kAdd: {
            const size_t spare = spares[rng.Below(spares.size())];
            set.insert(set.begin() + static_cast<ptrdiff_t>(rng.Below(set.size() + 1)), spare);
            summary_ << "+k" << spare;
            break;
          }
          case kRemove: {
            const size_t at = honest[rng.Below(honest.size())];
            summary_ << "-k" << set[at];
            set.erase(set.begin() + static_cast<ptrdiff_t>(at));
            break;
          }
          default: {
            const size_t at = honest[rng.Below(honest.size())];
            const size_t spare = spares[rng.Below(spares.size())];
            summary_ << "k" << set[at] << ">k" << spare;
            set[at] = spare;
          }
        }
        schedule_.ends.push_back(height);
        schedule_.sets.push_back(set);
      }
      summary_ << " ";
    }
    for (const std::vector<size_t>& members : schedule_.sets) {
      std::vector<PublicKey> keys;
      for (size_t k : members) keys.push_back(keys_[k].public_key());
      // A programmer's bug if not: the schedule must name sets the chain accepts.
      assert(schedule_.keys.empty() || !ledger::ValidatorChangeProblem(keys));
      schedule_.keys.push_back(std::move(keys));
    }
  }

  void AddProcess(size_t key_index, Kind kind) {
    auto p = std::make_unique<Process>();
    p->id = processes_.size();
    p->key_index = key_index;
    p->kind = kind;
    p->key = &keys_[key_index];
    p->schedule = &schedule_;
    p->epoch = genesis_;
    p->client = &client_;
    p->clock = &now_;
    p->disk_safety.high_qc = ledger::QuorumCert::Genesis(config_.genesis_hash);
    p->disk_tip = {config_.genesis_hash, 0, 0};
    processes_.push_back(std::move(p));
  }

  // Twins: the scenario's partitions, phase by phase, then the network heals for good.
  void SetUpTwinsNetwork() {
    const uint64_t masks = uint64_t{1} << params_.validators;  // process 0 stays in group 0
    uint64_t rest = *params_.twins / params_.validators;
    gst_ = params_.twins_phases * params_.twins_phase_ms;
    max_delay_ms_ = post_gst_max_delay_ms_ = rng_.Between(5, 100);
    for (size_t phase = 0; phase < params_.twins_phases; ++phase) {
      const uint64_t mask = rest % masks;
      rest /= masks;
      Event e = Event::At(phase * params_.twins_phase_ms, Event::Type::kPartition);
      summary_ << " ";
      for (size_t i = 0; i < processes_.size(); ++i) {
        const int group = i == 0 ? 0 : static_cast<int>((mask >> (i - 1)) & 1);
        e.groups.push_back(group);
        summary_ << group;
      }
      Push(std::move(e));
    }
    Push(Event::At(gst_, Event::Type::kHeal));
    summary_ << " gst=" << gst_ << " delay<=" << max_delay_ms_ << "ms";
  }

  void SetUpFaultsAndNetwork() {
    if (params_.twins) return SetUpTwinsNetwork();
    gst_ = rng_.Between(2'000, 20'000);
    loss_percent_ = rng_.Below(25);
    duplicate_percent_ = rng_.Below(10);
    // Some schedules are slow: messages take longer than the base round timeout, before GST
    // and after it, so only timeouts that adapt (backoff, measured rounds) bring progress.
    const bool slow = rng_.Chance(15);
    max_delay_ms_ = slow ? rng_.Between(1'000, 3'000) : rng_.Between(5, 600);
    post_gst_max_delay_ms_ = slow ? rng_.Between(1'000, 1'500) : 100;
    // Partitions before GST: a few episodes of a random split, each healed or replaced.
    for (TimeMs t = rng_.Below(3'000); t < gst_; t += rng_.Between(500, 6'000)) {
      if (rng_.Chance(50)) {
        Event e = Event::At(t, Event::Type::kPartition);
        for (size_t i = 0; i < processes_.size(); ++i) e.groups.push_back(rng_.Chance(50));
        Push(std::move(e));
      } else {
        Push(Event::At(t, Event::Type::kHeal));
      }
    }
    Push(Event::At(gst_, Event::Type::kHeal));
    // Honest crashes before GST, each restarted from its data directory by GST.
    if (params_.crashes) {
      for (auto& p : processes_) {
        if (p->kind == Kind::kSilent || !rng_.Chance(30)) continue;
        // Mostly quick restarts (a supervisor bringing the process back), some long outages.
        const TimeMs crash = rng_.Below(gst_);
        const TimeMs restart = std::min<TimeMs>(
            gst_, crash + (rng_.Chance(70) ? rng_.Between(1, 2'500) : rng_.Between(1, gst_)));
        Push(Event::At(crash, Event::Type::kCrash, p->id));
        Push(Event::At(restart, Event::Type::kRestart, p->id));
      }
      // A flaky disk before GST: the core must send nothing a failed write should guard.
      if (rng_.Chance(20)) {
        Process& p = *processes_[rng_.Below(processes_.size())];
        p.flaky_disk_percent = rng_.Between(5, 30);
        p.disk_rng = Rng(rng_.Next());
        summary_ << "flaky-disk=p" << p.id << "@" << p.flaky_disk_percent << "% ";
      }
      // One crash after GST, restarted quickly (a supervisor): the network must ride it out
      // within the liveness window.
      if (rng_.Chance(30)) {
        const Process& p = *processes_[rng_.Below(processes_.size())];
        if (p.kind != Kind::kSilent) {
          const TimeMs crash = gst_ + rng_.Below(10'000);
          Push(Event::At(crash, Event::Type::kCrash, p.id));
          Push(Event::At(crash + rng_.Between(1, 2'500), Event::Type::kRestart, p.id));
          summary_ << "crash-after-gst=p" << p.id << " ";
        }
      }
    }
    // Execution time per block, alike on every validator (the same machines): none, some,
    // or slow, above a round's length, so the backlog and the leader's backpressure matter.
    const uint64_t speed = rng_.Below(100);
    const TimeMs exec_ms = speed < 30   ? 0
                           : speed < 85 ? rng_.Between(1, 50)
                                        : rng_.Between(100, 300);
    for (auto& p : processes_) p->exec_ms = exec_ms;
    summary_ << "exec=" << exec_ms << "ms ";
    summary_ << "gst=" << gst_ << " loss=" << loss_percent_ << "% dup=" << duplicate_percent_
             << "% delay<=" << max_delay_ms_ << "ms (after GST " << post_gst_max_delay_ms_ << ")";
  }

  void Push(Event event) {
    event.seq = next_seq_++;
    queue_.push(std::move(event));
  }

  // A process starts as a node does: in block sync, announcing its height each second; it
  // creates its core when sync says it is close enough to join.
  void Boot(Process& p, TimeMs at) {
    p.crashed = false;
    p.core.reset();
    p.entering.reset();  // memory: gone in a crash
    p.epoch_proofs.clear();
    p.next_epoch.Reset();
    now_ = std::max(now_, at);
    consensus::SyncConfig config = sync_config_;
    config.epoch = p.epoch;
    p.sync = std::make_unique<consensus::BlockSync>(
        config, p.epoch.validators.IndexOf(p.key->public_key()), verifier_, p.host);
    p.sync->Start(now_);
    p.next_status = now_;
    Push(Event::At(now_, Event::Type::kStatus, p.id));
  }

  // The core of the process's epoch, as the node's StartCore makes it: a member's, or an
  // observer's (a key outside the set only follows).
  void StartCore(Process& p) {
    const ledger::Epoch& epoch = p.epoch;
    const uint64_t signed_epoch = p.disk_safety.high_qc.data.epoch;
    if (signed_epoch > epoch.number) {
      // It signed in an epoch its chain has not reached: never sign below it. Sync goes on.
      p.sync->Leave(now_);
      return;
    }
    if (signed_epoch < epoch.number) {
      // Rounds restart in a new epoch, and no signature of an older one counts in it.
      p.disk_safety = SafetyState{};
      p.disk_safety.high_qc = epoch.RootCert();
    }
    // Blocks of an ended epoch past its last one are never committed.
    std::erase_if(p.pending, [&](const auto& e) { return e.second.header.epoch < epoch.number; });
    std::vector<ledger::Block> stored;
    for (const auto& [hash, block] : p.pending) stored.push_back(block);
    // The forker's own core proposes the forks (mutations.h); every other core runs the
    // schedule's rules: the standard ones, or one broken on purpose (--mutation).
    consensus::Config config = config_;
    config.SetEpoch(epoch);
    if (p.kind == Kind::kForker) {
      p.rules = MakeForkingAdversary(p.key->public_key());
      config.rules = p.rules.get();
    } else {
      config.rules = mutation_.get();
    }
    // The epoch's root is its round 0, whatever round ended the epoch before.
    CommittedTip tip = p.disk_tip;
    if (tip.height <= epoch.root_height) tip.round = 0;
    p.core = std::make_unique<Core>(config, *p.key, p.host, verifier_, p.disk_safety, tip,
                                    std::move(stored));
    Apply(p, p.core->Start(now_));
  }

  // The process's committed tip entered `next` (its last block, E, committed through its core
  // or sync): like the node's EnterEpoch, sync follows the new set and a running core is
  // replaced by the new epoch's.
  void EnterEpoch(Process& p, ledger::Epoch next) {
    // The mutation: the process keeps the old set, so its core and sync check the new epoch's
    // certificates (and number its validators) as the epoch before's.
    if (wrong_epoch_certs_ && p.kind != Kind::kForker) next.validators = p.epoch.validators;
    p.epoch = std::move(next);
    if (p.sync) p.sync->SetEpoch(p.epoch, p.epoch.validators.IndexOf(p.key->public_key()));
    if (p.core) {
      p.core.reset();
      StartCore(p);
    }
    for (auto& [sender, message] : p.next_epoch.Enter()) {
      if (consensus::EpochOf(message) == p.epoch.number) {
        HandleConsensus(p, key_index_.at(sender), message);
      }
    }
  }

  // Keys of the peers a process's messages reach: its epoch's validators, then those of the
  // next scheduled set (the node links the current and the next set).
  std::vector<size_t> Peers(const Process& p) const {
    std::vector<size_t> peers;
    for (const PublicKey& key : p.epoch.validators.members()) {
      if (const size_t k = key_index_.at(key); k != p.key_index) peers.push_back(k);
    }
    if (p.epoch.number + 1 < schedule_.sets.size()) {
      for (size_t k : schedule_.sets[p.epoch.number + 1]) {
        if (k != p.key_index && std::find(peers.begin(), peers.end(), k) == peers.end()) {
          peers.push_back(k);
        }
      }
    }
    return peers;
  }

  // The key of validator `index` of the process's epoch.
  size_t KeyOf(const Process& p, size_t index) const {
    return key_index_.at(p.epoch.validators.members()[index]);
  }

  void StatusTick(Process& p) {
    // A liar claims far more than it has, to draw every syncing node to itself.
    if (p.kind == Kind::kEpochFaker) {
      // A timeout of the next epoch, well signed with its own key: what any member of the next
      // set can send at will, whether the epoch has ended or not.
      const uint64_t next = p.epoch.number + 1;
      const ledger::Timeout fake = ledger::Timeout::Create(
          {next, 1, 0}, ledger::QuorumCert::Root(next, 0, Hash256{}), config_.chain_id, *p.key);
      auto bytes = std::make_shared<const Bytes>(consensus::EncodeMessage(fake));
      for (size_t k = 0; k < keys_.size(); ++k) {
        if (k != p.key_index) Transmit(p, k, bytes);
      }
    }
    const uint64_t claimed = p.chain.size() + (p.kind == Kind::kLiar ? 1000 : 0);
    for (size_t k = 0; k < keys_.size(); ++k) {
      if (k != p.key_index) SendSync(p, k, SyncMessage{claimed});
    }
    ApplySync(p, p.sync->OnTick(now_, p.chain.size()));
    p.next_status = now_ + sync_config_.announce_interval_ms;
    Push(Event::At(p.next_status, Event::Type::kStatus, p.id));
  }

  // The node's KeepEpochProof: how an epoch's last block was committed, the last few.
  static void KeepEpochProof(Process& p, const consensus::CommittedBlock& commit) {
    if (!commit.epoch_end) return;
    p.epoch_proofs[commit.block.header.height] = *commit.epoch_end;
    while (p.epoch_proofs.size() > kKeptEpochProofs) p.epoch_proofs.erase(p.epoch_proofs.begin());
  }

  void ApplySync(Process& p, consensus::SyncActions actions) {
    if (params_.trace && (!actions.note.empty() || actions.faulty_peer || actions.leave)) {
      std::cerr << "t=" << now_ << " p" << p.id << " sync epoch=" << p.epoch.number
                << " height=" << p.chain.size() << " commits=" << actions.commits.size() << " "
                << actions.note << (actions.faulty_peer ? " fault: " + actions.fault : "")
                << (actions.leave ? " leave: " + *actions.leave : "")
                << (actions.join ? " join" : "") << "\n";
    }
    // The indexes are those of the epoch the reply was checked in, even if its commits end it.
    const std::vector<PublicKey> members = p.epoch.validators.members();
    if (actions.faulty_peer) ++sync_faults_;
    for (const consensus::CommittedBlock& commit : actions.commits) {
      KeepEpochProof(p, commit);
      Record(p, commit);
      ++synced_blocks_;
      if (p.entering) EnterEpoch(p, *std::exchange(p.entering, std::nullopt));
    }
    if (actions.leave) p.core.reset();  // its safety state and blocks stay on "disk"
    if (actions.request) {
      SendSync(p, key_index_.at(members[actions.request->first]),
               SyncMessage{actions.request->second});
    }
    if (actions.join) StartCore(p);
  }

  // `from`: the sender's index in this process's epoch, none for a key outside it (whose
  // announcements and replies it ignores; anyone may ask it for blocks).
  void DeliverSync(Process& p, size_t from_key, std::optional<size_t> from,
                   const SyncMessage& message) {
    if (const auto* height = std::get_if<uint64_t>(&message)) {
      if (!from) return;
      p.sync->OnStatus(now_, *from, *height);
      ApplySync(p, p.sync->AskIfBehind(now_, p.chain.size()));
    } else if (const auto* request = std::get_if<consensus::SyncRequest>(&message)) {
      SendSync(p, from_key,
               SyncMessage{p.kind == Kind::kLiar ? Lie(p, *request) : Serve(p, *request)});
    } else if (from) {
      const auto& reply = std::get<consensus::SyncReply>(message);
      ApplySync(p, p.sync->OnReply(now_, *from, p.disk_tip, reply));
    }
  }

  consensus::SyncReply Serve(const Process& p, const consensus::SyncRequest& request) const {
    consensus::SyncReply reply;
    reply.committed_height = p.chain.size();
    for (uint64_t h = std::max<uint64_t>(request.from_height, 1);
         h <= p.chain.size() && reply.blocks.size() < request.max_blocks; ++h) {
      reply.blocks.push_back({p.store.at(p.chain[h - 1]), p.certs[h - 1]});
    }
    // A reply ending at an epoch's last block carries the proof it was committed, if this
    // process's core committed it (the node's ServeSync): the requester may have no other way.
    if (!reply.blocks.empty() && !reply.blocks.back().block.header.next_validators.empty()) {
      auto proof = p.epoch_proofs.find(reply.blocks.back().block.header.height);
      if (proof != p.epoch_proofs.end()) {
        const std::vector<ledger::Block>& suffix = proof->second.suffix;
        for (size_t i = 0; i < suffix.size(); ++i) {
          reply.blocks.push_back({suffix[i], i + 1 < suffix.size() ? suffix[i + 1].header.justify
                                                                   : proof->second.certified_by});
        }
      }
    }
    return reply;
  }

  // What the liar answers: its real blocks, made worthless in one of four ways.
  consensus::SyncReply Lie(Process& p, const consensus::SyncRequest& request) {
    consensus::SyncReply reply = Serve(p, request);
    reply.committed_height = p.chain.size() + 1000;
    if (reply.blocks.empty()) return reply;
    consensus::CertifiedBlock& victim = reply.blocks[rng_.Below(reply.blocks.size())];
    switch (rng_.Below(4)) {
      case 0:  // altered after signing
        victim.block.header.timestamp_ms += 1;
        break;
      case 1:  // every certificate forged: the liar's own vote, a quorum of times
        for (consensus::CertifiedBlock& cb : reply.blocks) {
          const ledger::BlockHeader& h = cb.block.header;
          const ledger::Vote vote = ledger::Vote::Create(
              {h.epoch, h.term, h.round, h.height, cb.block.Hash()}, config_.chain_id, *p.key);
          cb.certificate = ledger::QuorumCert::FromVotes(
              vote.data, std::vector<ledger::Vote>(p.epoch.validators.quorum(), vote));
        }
        break;
      case 2:  // re-signed by the liar, with a transaction of its own: not the leader's block
        victim.block.transactions = p.host.TakePayload(1);
        victim.block.Sign(*p.key);
        break;
      default:  // nothing at all: only a stall
        reply.blocks.clear();
    }
    return reply;
  }

  void Handle(const Event& event) {
    switch (event.type) {
      case Event::Type::kDeliver:
        return Deliver(event);
      case Event::Type::kTick: {
        Process& p = *processes_[event.process];
        if (p.crashed || !p.core || event.time != p.next_tick) return;  // superseded timer
        Actions actions = p.core->OnTick(now_);
        Trace(p, "tick", actions);
        Apply(p, std::move(actions));
        return;
      }
      case Event::Type::kStatus: {
        Process& p = *processes_[event.process];
        if (p.crashed || !p.sync || event.time != p.next_status) return;  // superseded
        StatusTick(p);
        return;
      }
      case Event::Type::kCrash: {
        Process& p = *processes_[event.process];
        p.crashed = true;
        p.core.reset();  // everything in memory is gone; the data directory stays
        p.sync.reset();
        return;
      }
      case Event::Type::kRestart:
        return Boot(*processes_[event.process], now_);
      case Event::Type::kPartition:
        groups_ = event.groups;
        return;
      case Event::Type::kHeal:
        groups_.clear();
        if (event.time == gst_) OnGst();
        return;
    }
  }

  void OnGst() {
    for (auto& p : processes_) p->flaky_disk_percent = 0;  // replaced by GST
    for (auto& p : processes_) {
      if (p->honest() && p->crashed) Boot(*p, now_);
      if (p->honest()) gst_height_ = std::max<uint64_t>(gst_height_, p->chain.size());
    }
  }

  void Deliver(const Event& event) {
    Process& p = *processes_[event.process];
    if (p.crashed || !p.sync) return;  // down, or never started (silent)
    ++result_.messages;
    // Who sent it is a question of this process's epoch: the index its core and sync know the
    // sender by, none for a key outside its set (HandleConsensus asks again, as the epoch may
    // have changed by the time a kept message is handled).
    const std::optional<size_t> from =
        p.epoch.validators.IndexOf(keys_[event.from_key].public_key());
    if (event.sync) return DeliverSync(p, event.from_key, from, *event.sync);
    Result<Message> message = consensus::DecodeMessage(*event.bytes);
    if (!message.ok()) return;  // what a node's link layer would drop and score
    HandleConsensus(p, event.from_key, *message);
  }

  // The node's HandleConsensus.
  void HandleConsensus(Process& p, size_t from_key, const Message& message) {
    if (const std::optional<uint64_t> epoch = consensus::EpochOf(message);
        epoch && *epoch > p.epoch.number) {
      return OnLaterEpoch(p, from_key, *epoch, message);
    }
    const std::optional<size_t> from = p.epoch.validators.IndexOf(keys_[from_key].public_key());
    if (!from) return;  // a validator of another epoch
    if (const auto* request = std::get_if<consensus::BlockRequest>(&message)) {
      // Storage answers for committed blocks, the core for the rest (as the node will).
      if (auto it = p.store.find(request->hash); it != p.store.end()) {
        Send(p, from_key, consensus::BlockResponse{it->second});
        return;
      }
    }
    if (!p.core) return;  // syncing: consensus messages wait until it has caught up
    Actions actions = p.core->OnMessage(now_, *from, message);
    if (params_.trace) {
      Trace(
          p,
          (std::string(consensus::MessageKindName(message)) + " from k" + std::to_string(from_key))
              .c_str(),
          actions);
    }
    Apply(p, std::move(actions));
  }

  // The node's OnLaterEpoch: messages of the next epoch, signed by members of the scheduled
  // next set, are kept; f + 1 such members past the end make it catch up from one of them.
  void OnLaterEpoch(Process& p, size_t from_key, uint64_t epoch, const Message& message) {
    if (epoch != p.epoch.number + 1 || epoch >= schedule_.keys.size()) return;
    const ledger::ValidatorSet next(schedule_.keys[epoch]);
    const PublicKey& sender = keys_[from_key].public_key();
    if (!consensus::SignedByMember(sender, next, epoch, config_.chain_id, &verifier_, message)) {
      return;
    }
    const std::optional<std::vector<PublicKey>> past_the_end =
        p.next_epoch.Observe(now_, sender, next, message);
    if (!past_the_end) return;
    std::vector<size_t> askable;
    for (const PublicKey& key : *past_the_end) {
      if (const std::optional<size_t> index = p.epoch.validators.IndexOf(key)) {
        askable.push_back(*index);
      }
    }
    if (askable.empty()) return;
    const size_t peer = askable[p.next_epoch.attempts() % askable.size()];
    p.core.reset();
    if (params_.trace) {
      std::cerr << "t=" << now_ << " p" << p.id << " catches up from v" << peer << " (epoch "
                << epoch << ", own " << p.epoch.number << ")\n";
    }
    ApplySync(p, p.sync->CatchUp(now_, peer, p.chain.size() + 1));
  }

  void Trace(const Process& p, const char* what, const Actions& actions) {
    if (!params_.trace) return;
    std::cerr << "t=" << now_ << " p" << p.id << " " << what << " epoch=" << p.epoch.number;
    if (p.core) {
      std::cerr << " round=" << p.core->round() << " term=" << p.core->term()
                << " voted=" << p.core->safety().last_voted_round
                << " high_qc=" << p.core->safety().high_qc.data.round
                << " height=" << p.chain.size();
    }
    std::cerr << " sends=" << actions.messages.size() << " commits=" << actions.commits.size()
              << " verdict=" << consensus::VerdictName(actions.verdict) << " " << actions.reason
              << " timer=" << (actions.timer ? std::to_string(*actions.timer) : "-") << "\n";
  }

  void Apply(Process& p, Actions actions) {
    for (Outgoing& out : actions.messages) {
      if (const auto* vote = std::get_if<ledger::Vote>(&out.message); vote && p.honest()) {
        CheckSingleVote(p, *vote);
      }
      if (const auto* proposal = std::get_if<Proposal>(&out.message); proposal && p.honest()) {
        CheckSingleProposal(p, proposal->block);
      }
      if (const auto* timeout = std::get_if<ledger::Timeout>(&out.message); timeout && p.honest()) {
        uint64_t& highest = timed_out_[{p.key_index, timeout->data.epoch}];
        highest = std::max(highest, timeout->data.round);
      }
      if (out.to == Outgoing::kBroadcast) {
        Broadcast(p, out.message);
      } else if (out.to < p.epoch.validators.size()) {
        Send(p, KeyOf(p, out.to), out.message);
      }
    }
    for (consensus::CommittedBlock& commit : actions.commits) {
      KeepEpochProof(p, commit);
      Record(p, commit);
    }
    if (p.honest() && p.core && p.core->held_blocks() > config_.max_pending_blocks) {
      Violation("process " + std::to_string(p.id) + " holds " +
                std::to_string(p.core->held_blocks()) + " uncommitted blocks");
    }
    if (p.honest() && p.stored_invalid) {
      Violation("process " + std::to_string(p.id) + " stored a block with an invalid payload");
    }
    if (p.honest() && p.most_stored_per_slot > 2) {
      Violation("process " + std::to_string(p.id) + " stored " +
                std::to_string(p.most_stored_per_slot) + " blocks of one (epoch, round, proposer)");
    }
    if (actions.timer) {
      p.next_tick = std::max(*actions.timer, now_ + 1);
      Push(Event::At(p.next_tick, Event::Type::kTick, p.id));
    }
    // Its core committed the epoch's last block, and is done: the next epoch's takes over.
    if (p.entering) EnterEpoch(p, *std::exchange(p.entering, std::nullopt));
  }

  // The rule every restart must keep: an honest validator signs one vote per round, and none
  // in a round it has timed out of.
  // (Rounds restart in each epoch: these rules hold per epoch.)
  void CheckSingleVote(const Process& p, const ledger::Vote& vote) {
    if (auto t = timed_out_.find({p.key_index, vote.data.epoch});
        t != timed_out_.end() && vote.data.round <= t->second) {
      Violation("honest validator k" + std::to_string(p.key_index) + " voted in round " +
                std::to_string(vote.data.round) + " after timing out of round " +
                std::to_string(t->second) + " (epoch " + std::to_string(vote.data.epoch) + ")");
    }
    auto [it, inserted] = votes_signed_.emplace(
        std::make_tuple(p.key_index, vote.data.epoch, vote.data.round), vote.data.block_hash);
    if (!inserted && it->second != vote.data.block_hash) {
      Violation("honest validator k" + std::to_string(p.key_index) + " signed two votes in round " +
                std::to_string(vote.data.round) + " (epoch " + std::to_string(vote.data.epoch) +
                ")");
    }
  }

  // Neither may a restart make it sign two proposals for one round.
  void CheckSingleProposal(const Process& p, const ledger::Block& block) {
    auto [it, inserted] = proposals_signed_.emplace(
        std::make_tuple(p.key_index, block.header.epoch, block.header.round), block.Hash());
    if (!inserted && it->second != block.Hash()) {
      Violation("honest validator k" + std::to_string(p.key_index) +
                " signed two proposals in round " + std::to_string(block.header.round) +
                " (epoch " + std::to_string(block.header.epoch) + ")");
    }
  }

  void Broadcast(Process& p, const Message& message) {
    const auto* proposal = std::get_if<Proposal>(&message);
    if (proposal && p.kind == Kind::kForker) {
      // An adversary votes for its own proposal whatever its core decides.
      const ledger::BlockHeader& h = proposal->block.header;
      const ledger::Vote vote = ledger::Vote::Create(
          {h.epoch, h.term, h.round, h.height, proposal->block.Hash()}, config_.chain_id, *p.key);
      Event event = Event::At(now_ + 1, Event::Type::kDeliver, p.id);
      event.from_key = p.key_index;
      event.bytes = std::make_shared<const Bytes>(consensus::EncodeMessage(vote));
      Push(std::move(event));
    }
    const size_t n = p.epoch.validators.size();
    const size_t me = p.epoch.validators.IndexOf(p.key->public_key()).value_or(0);
    const std::vector<size_t> peers = Peers(p);
    if (proposal && p.kind == Kind::kForker && !proposal->block.header.timeout_cert) {
      if (rng_.Chance(30)) {  // one validator learns the QC this proposal carries; then silence
        Send(p, KeyOf(p, (me + 1 + rng_.Below(n - 1)) % n), message);
        return;
      }
    }
    if (proposal && p.kind == Kind::kWithholder) {
      if (rng_.Chance(50)) return;  // withhold entirely, or show it to one validator only
      Send(p, KeyOf(p, rng_.Below(n)), message);
      return;
    }
    if (proposal && p.kind == Kind::kMisreporter) {
      ledger::Block forged = proposal->block;
      forged.header.state_root = TaggedHash("city.sim.forged", forged.header.state_root.span());
      forged.Sign(*p.key);
      for (size_t k : peers) Send(p, k, Proposal{forged});
      return;
    }
    if (proposal && p.kind == Kind::kJunk) {
      ledger::Block junk = proposal->block;
      ledger::Transaction bad =
          junk.transactions.empty() ? p.host.TakePayload(1).front() : junk.transactions.front();
      bad.method = "junk";
      bad.Sign(*p.client);
      junk.transactions.push_back(bad);  // too many, and one no host accepts
      junk.Sign(*p.key);
      for (size_t k : peers) Send(p, k, Proposal{junk});
      return;
    }
    if (proposal && p.kind == Kind::kFlooder) {
      for (uint64_t k = 0; k < kFloodPerRound; ++k) {
        ledger::Block junk = proposal->block;
        junk.header.timestamp_ms += 1 + k;  // distinct, each correctly signed
        junk.Sign(*p.key);
        for (size_t k : peers) Send(p, k, Proposal{junk});
      }
    }
    std::optional<Message> variant;
    if (proposal && p.kind == Kind::kEquivocator) {
      ledger::Block other = proposal->block;
      other.transactions = p.host.TakePayload(1);
      other.Sign(*p.key);
      variant = Proposal{other};
    }
    for (size_t k : peers) Send(p, k, variant && rng_.Chance(50) ? *variant : message);
  }

  void Send(Process& from, size_t to_key, const Message& message) {
    auto bytes = std::make_shared<const Bytes>(consensus::EncodeMessage(message));
    recent_.push_back(bytes);
    if (recent_.size() > 64) recent_.erase(recent_.begin());
    Transmit(from, to_key, bytes);
    if (from.kind == Kind::kGarbage && rng_.Chance(30)) SendGarbage(from);
  }

  void SendGarbage(Process& from) {
    Bytes junk;
    switch (rng_.Below(3)) {
      case 0:  // noise
        junk.resize(rng_.Below(300));
        for (uint8_t& b : junk) b = static_cast<uint8_t>(rng_.Next());
        break;
      case 1:  // a real message with one byte changed
        junk = *recent_[rng_.Below(recent_.size())];
        if (!junk.empty())
          junk[rng_.Below(junk.size())] ^= static_cast<uint8_t>(1 + rng_.Below(255));
        break;
      default:  // a stale message replayed
        junk = *recent_[rng_.Below(recent_.size())];
    }
    Transmit(from, rng_.Below(keys_.size()), std::make_shared<const Bytes>(std::move(junk)));
  }

  void SendSync(Process& from, size_t to_key, SyncMessage message) {
    Transmit(from, to_key, nullptr, std::make_shared<const SyncMessage>(std::move(message)));
  }

  // To every process running key `to_key` (twins share one).
  void Transmit(Process& from, size_t to_key, std::shared_ptr<const Bytes> bytes,
                std::shared_ptr<const SyncMessage> sync = nullptr) {
    const bool before_gst = now_ < gst_;
    for (auto& q : processes_) {
      if (q->key_index != to_key || q.get() == &from) continue;
      if (before_gst) {
        if (!groups_.empty() && groups_[from.id] != groups_[q->id]) continue;
        if (rng_.Chance(loss_percent_)) continue;
      }
      const uint64_t copies = rng_.Chance(duplicate_percent_) ? 2 : 1;
      for (uint64_t c = 0; c < copies; ++c) {
        const TimeMs delay = rng_.Between(1, before_gst ? max_delay_ms_ : post_gst_max_delay_ms_);
        Event event = Event::At(now_ + delay, Event::Type::kDeliver, q->id);
        event.from_key = from.key_index;
        event.bytes = bytes;
        event.sync = sync;
        Push(std::move(event));
      }
    }
  }

  void Record(Process& p, const consensus::CommittedBlock& commit) {
    const ledger::Block& block = commit.block;
    const Hash256 hash = block.Hash();
    const Hash256 parent = p.chain.empty() ? config_.genesis_hash : p.chain.back();
    if (p.honest() && block.header.height == p.chain.size() + 1 &&
        block.header.parent_hash != parent) {
      Violation("process " + std::to_string(p.id) + " committed height " +
                std::to_string(block.header.height) + " whose parent is not its block " +
                std::to_string(p.chain.size()));
    }
    if (block.header.height != p.chain.size() + 1) {
      if (p.honest()) {
        Violation("process " + std::to_string(p.id) + " committed height " +
                  std::to_string(block.header.height) + " after height " +
                  std::to_string(p.chain.size()) + " (out of order or twice)");
      }
      return;
    }
    p.chain.push_back(hash);
    p.certs.push_back(commit.certified_by);
    // Execution takes time: each committed block (by consensus or sync) exec_ms after the
    // one before it.
    const TimeMs previous = p.executed_at.empty() ? 0 : p.executed_at.back();
    p.executed_at.push_back(std::max(previous, now_) + p.exec_ms);
    p.store.emplace(hash, block);
    std::erase_if(p.pending,
                  [&](const auto& e) { return e.second.header.height <= block.header.height; });
    p.disk_tip = {hash, block.header.height, block.header.round};
    // The epoch's last block: the process enters the next once this commit is carried out.
    if (!block.header.next_validators.empty()) p.entering = p.epoch.Next(block.header, hash);
    if (!p.honest()) return;
    CheckEpochOf(p, commit);
    if (block.header.state_root != p.StateRootAt(block.header.exec_height)) {
      Violation("process " + std::to_string(p.id) + " committed height " +
                std::to_string(block.header.height) + " whose state root is not that of height " +
                std::to_string(block.header.exec_height));
    }
    auto [it, inserted] = committed_.emplace(block.header.height, hash);
    if (!inserted && it->second != hash) {
      Violation("two blocks committed at height " + std::to_string(block.header.height) + ": " +
                it->second.ToHex().substr(0, 12) + " and " + hash.ToHex().substr(0, 12) +
                " (process " + std::to_string(p.id) + ")");
    }
  }

  // The epoch invariants, against the schedule rather than the process's own view: a block is
  // of the epoch its height falls in (none is committed above its epoch's last block, in that
  // epoch), names the next set exactly at its epoch's end, and its certificate verifies
  // against its own epoch's validators.
  void CheckEpochOf(const Process& p, const consensus::CommittedBlock& commit) {
    const ledger::BlockHeader& h = commit.block.header;
    const uint64_t epoch = schedule_.EpochAt(h.height);
    const std::string what =
        "process " + std::to_string(p.id) + " committed height " + std::to_string(h.height);
    if (h.epoch != epoch) {
      Violation(what + " of epoch " + std::to_string(h.epoch) + ", but that height is in epoch " +
                std::to_string(epoch) + (h.epoch < epoch ? " (above its epoch's last block)" : ""));
      return;
    }
    if (h.next_validators != schedule_.NextValidatorsAt(epoch, h.height)) {
      Violation(what + ", which does not name the scheduled set exactly at its epoch's end");
    }
    ledger::Epoch truth{epoch, ledger::ValidatorSet(schedule_.keys[epoch]), config_.genesis_hash,
                        0};
    if (epoch > 0) {
      truth.root_height = schedule_.ends[epoch - 1];
      truth.root_hash = p.chain[truth.root_height - 1];
    }
    const ledger::QuorumCert& qc = commit.certified_by;
    if (qc.data.block_hash != commit.block.Hash() ||
        !qc.Verify(truth.Context(config_.chain_id, &verifier_)).ok()) {
      Violation(what + ", whose certificate does not verify against epoch " +
                std::to_string(epoch) + "'s validators");
    }
  }

  void Violation(const std::string& what) {
    result_.safety_violation = true;
    result_.detail = "SAFETY: " + what;
  }

  // The processes liveness is asked of: the honest members of the last scheduled epoch (all
  // honest ones without --reconfigure). Removed validators keep following, unasked.
  bool MustStayLive(const Process& p) const {
    const std::vector<size_t>& last = schedule_.sets.back();
    return p.honest() && std::find(last.begin(), last.end(), p.key_index) != last.end();
  }

  // The height every live process must reach: target_new_commits past GST's height, and past
  // the last epoch's root.
  uint64_t LivenessHeight() const {
    const uint64_t last_root = schedule_.ends.empty() ? 0 : schedule_.ends.back();
    return std::max(gst_height_, last_root) + params_.target_new_commits;
  }

  // The liveness window, plus (with --reconfigure) time for the blocks up to the last epoch
  // that GST left to commit, at a bound per block well above what a healthy network needs.
  TimeMs Deadline() const {
    const uint64_t last_root = schedule_.ends.empty() ? 0 : schedule_.ends.back();
    const uint64_t blocks = last_root > gst_height_ ? last_root - gst_height_ : 0;
    return gst_ + params_.liveness_window_ms + blocks * MsPerBlockAfterGst();
  }
  TimeMs MsPerBlockAfterGst() const {
    return kRoundsPerBlockAllowed * (2 * post_gst_max_delay_ms_ + processes_.front()->exec_ms);
  }

  bool LivenessReached() const {
    const uint64_t needed = LivenessHeight();
    for (const auto& p : processes_) {
      if (MustStayLive(*p) && p->chain.size() < needed) return false;
    }
    return true;
  }

  void Finish() {
    uint64_t lowest = UINT64_MAX;
    uint64_t epochs = UINT64_MAX;
    for (const auto& p : processes_) {
      if (!MustStayLive(*p)) continue;
      lowest = std::min<uint64_t>(lowest, p->chain.size());
      epochs = std::min<uint64_t>(epochs, p->epoch.number);
    }
    result_.committed_height = lowest == UINT64_MAX ? 0 : lowest;
    result_.epochs = epochs == UINT64_MAX ? 0 : epochs;
    result_.virtual_ms = now_;
    result_.synced_blocks = synced_blocks_;
    result_.sync_faults = sync_faults_;
    if (!result_.safety_violation && !LivenessReached()) {
      result_.liveness_failure = true;
      result_.detail = "LIVENESS: lowest honest height " + std::to_string(lowest) + ", needed " +
                       std::to_string(LivenessHeight()) + " within " +
                       std::to_string(Deadline() - gst_) + " ms of GST";
      for (const auto& p : processes_) {
        if (!MustStayLive(*p)) continue;
        if (!p->core) {
          result_.detail += "; p" + std::to_string(p->id) + "(epoch " +
                            std::to_string(p->epoch.number) + " syncing height " +
                            std::to_string(p->chain.size()) + ")";
          continue;
        }
        const SafetyState& st = p->core->safety();
        result_.detail += "; p" + std::to_string(p->id) + "(epoch " +
                          std::to_string(p->epoch.number) + " round " + std::to_string(st.round) +
                          " term " + std::to_string(st.term) + " voted " +
                          std::to_string(st.last_voted_round) + " high_qc " +
                          std::to_string(st.high_qc.data.round) + " height " +
                          std::to_string(p->chain.size()) + ")";
      }
    }
    result_.detail += (result_.detail.empty() ? "" : "; ") + summary_.str();
  }

  ScheduleParams params_;
  Rng rng_;
  CachingVerifier verifier_;
  KeyPair client_;
  std::unique_ptr<consensus::ProtocolRules> mutation_;  // nullptr: the standard rules
  bool wrong_epoch_certs_ = false;                      // the host-side mutation (mutations.h)
  std::vector<KeyPair> keys_;                           // the pool: genesis validators, then spares
  std::map<PublicKey, size_t> key_index_;
  EpochSchedule schedule_;
  ledger::Epoch genesis_;
  consensus::Config config_;
  consensus::SyncConfig sync_config_;
  std::vector<std::unique_ptr<Process>> processes_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  uint64_t next_seq_ = 0;
  TimeMs now_ = 0;
  TimeMs gst_ = 0;
  uint64_t loss_percent_ = 0;
  uint64_t duplicate_percent_ = 0;
  TimeMs max_delay_ms_ = 100;
  TimeMs post_gst_max_delay_ms_ = 100;
  std::vector<int> groups_;  // empty: no partition
  std::vector<std::shared_ptr<const Bytes>> recent_;
  std::map<uint64_t, Hash256> committed_;  // height -> block, over all honest processes
  // (key, epoch, round) -> block
  std::map<std::tuple<size_t, uint64_t, uint64_t>, Hash256> votes_signed_;
  std::map<std::tuple<size_t, uint64_t, uint64_t>, Hash256> proposals_signed_;
  // (key, epoch) -> the highest round it sent a timeout for
  std::map<std::pair<size_t, uint64_t>, uint64_t> timed_out_;
  uint64_t gst_height_ = 0;
  uint64_t synced_blocks_ = 0;  // committed through block sync, by all processes
  uint64_t sync_faults_ = 0;    // sync replies refused as lies
  std::ostringstream summary_;
  ScheduleResult result_;
};

}  // namespace

ScheduleResult RunSchedule(const ScheduleParams& params) { return Simulation(params).Run(); }

uint64_t TwinsScenarioCount(size_t validators, size_t phases) {
  uint64_t count = validators;
  for (size_t phase = 0; phase < phases; ++phase) count <<= validators;
  return count;
}

}  // namespace city::sim
