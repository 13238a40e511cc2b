// The Raft-BFT consensus protocol (docs/consensus.md) as a deterministic state machine.
//
// Inputs are calls that carry the current time; outputs are the Actions they return. Nothing
// in here reads a clock, opens a socket, touches a disk, starts a thread or draws a random
// number: the node drives it from one strand, the simulator from a virtual clock. The one
// side effect is Host::PersistSafety, which must be durable before it returns, because the
// vote or timeout it guards is released right after.
#pragma once

#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "city/consensus/messages.h"
#include "city/crypto/verifier.h"
#include "city/ledger/chain_rules.h"
#include "city/ledger/types.h"

namespace city::consensus {

class ProtocolRules;  // city/consensus/rules.h

using TimeMs = uint64_t;  // the caller's clock, in milliseconds

// What must survive a crash so a validator never votes twice in a round and never reports
// a lower QC than one it voted on top of. Persisted before every vote and timeout.
struct SafetyState {
  static constexpr size_t kMaxEncodedSize =
      ledger::kMaxCertificateBytes + ledger::TimeoutCert::kMaxEncodedSize + 256;

  uint64_t term = 0;
  uint64_t round = 1;             // the round this validator is in
  uint64_t last_voted_round = 0;  // no vote or timeout at or below this round, ever again
  // No proposal at or below this round, ever again: a leader that restarts mid-round must
  // not sign a second, different block for it.
  uint64_t last_proposed_round = 0;
  ledger::QuorumCert high_qc;  // highest-round QC seen
  // The TC that ended round - 1, if that is how this validator got here. Persisted so that
  // after a restart it can still prove its round to validators that missed the TC.
  std::optional<ledger::TimeoutCert> last_tc;

  // last_proposed_round is encoded last; a state written before it existed decodes with
  // last_proposed_round = round (that leader may have proposed in the round it was in).
  void EncodeTo(ledger::Encoder& encoder) const;
  static SafetyState DecodeFrom(ledger::Decoder& decoder);
  friend bool operator==(const SafetyState&, const SafetyState&) = default;
};

// How many distinct other validators must report their round (with the certificates that
// prove it) before a validator that lost its safety state may sign again; 0 when no number
// of peers suffices (a lone validator). See Config::recover_safety.
size_t RecoveryReportsNeeded(const ledger::ValidatorSet& validators);

// The last committed block, from storage (the genesis block on a fresh chain).
struct CommittedTip {
  Hash256 hash;
  uint64_t height = 0;
  uint64_t round = 0;
};

struct Config {
  std::string chain_id;
  uint64_t epoch = 0;
  ledger::ValidatorSet validators;  // genesis order: leader(term) = members[term mod n]
  // The epoch's root, always committed: the genesis block in epoch 0, else the last block of
  // the epoch before (docs/consensus.md, "Epochs"); certified by ledger::QuorumCert::Root.
  Hash256 genesis_hash;
  uint64_t root_height = 0;
  // Sets the four fields above from `epoch`.
  void SetEpoch(const ledger::Epoch& e) {
    epoch = e.number;
    validators = e.validators;
    genesis_hash = e.root_hash;
    root_height = e.root_height;
  }
  TimeMs base_timeout_ms = 1000;  // timeout(round) = base * 2^k for k failed rounds in a row
  TimeMs max_timeout_ms = 30'000;
  size_t max_block_transactions = 1000;
  // Uncommitted blocks held (with parked ones). Only one proposal per (round, proposer) is
  // kept, and blocks that can no longer matter are dropped, so honest traffic stays far
  // below it; beyond it new blocks are refused until commits or new rounds free room.
  size_t max_pending_blocks = 4096;
  TimeMs fetch_retry_ms = 500;
  // The validator lost its safety state (DESIGN: a data directory restored without it). It
  // signs nothing (no vote, timeout or proposal) until RecoveryReportsNeeded(validators)
  // other validators have sent the certificates of the round they are in; then it abstains
  // through the highest of those rounds plus one, which covers any round it may have signed
  // in before it lost its state, and persists that before signing anything.
  bool recover_safety = false;
  // The protocol's decision points; nullptr for the standard rules (ProtocolRules::Standard).
  // Only the simulator passes others, to break a rule on purpose. Must outlive the core.
  ProtocolRules* rules = nullptr;
};

// What the core needs from the process around it. Calls are synchronous.
class Host {
 public:
  virtual ~Host() = default;
  // Durable (fsync'd) before returning ok. On an error the core releases nothing it guards
  // (fail-stop) and reports the error in Actions::persist_error.
  virtual Status PersistSafety(const SafetyState& state) = 0;
  // Stores an uncommitted block durably before the core votes on it; the host hands the
  // stored blocks back at restart. A host may finish the write after returning, so long as
  // no message of this step or a later one leaves before it is durable, and none at all if
  // it failed. Without this, a block every validator voted on and then
  // lost in a crash would leave its QC pointing at nothing, and no proposal could extend it.
  // The host may drop blocks at or below the committed height.
  virtual Status PersistBlock(const ledger::Block& block) = 0;
  // Transactions for the next proposal, at most `max`.
  virtual std::vector<ledger::Transaction> TakePayload(size_t max) = 0;
  // The checks that need no chain state (transaction encoding and signatures, duplicates
  // within the block, size), run on every proposal and fetched block before it is stored:
  // what fails here is never persisted, whoever signed it.
  virtual Status CheckContent(const ledger::Block& /*block*/) { return Status::Ok(); }
  // Checks a proposal's transactions and execution fields against this node's chain before
  // this validator votes.
  virtual Status CheckPayload(const ledger::Block& block) = 0;
  // The core dropped an uncommitted block it had stored (PersistBlock): a branch that can no
  // longer commit, or an uncertified block of a past round. The host may delete it.
  virtual void ForgetBlock(const ledger::Block& /*block*/) {}
  // How much longer the leader should wait before proposing in the round it entered
  // `waited` ms ago (0: now). Lets the host batch transactions and slow down empty blocks;
  // the core asks again when the delay has passed, or at the next OnTick. Must stay well
  // below the round timeout, or the leader times its own round out.
  virtual TimeMs ProposalDelay(TimeMs /*waited*/) { return 0; }
  // Fills what the host knows of a proposal about to be signed: the execution fields
  // (exec_height, state_root, result_root) and, if the parent's timestamp is ahead of the
  // core's `now`, a later timestamp.
  virtual void CompleteHeader(ledger::BlockHeader& /*header*/) {}
  // A block just committed (also listed in Actions::commits), called at once and in height
  // order, so that a host which executes it here has done so before the same call goes on
  // to check or build a proposal whose execution fields cover it.
  virtual void OnCommit(const ledger::Block& /*block*/,
                        const ledger::QuorumCert& /*certified_by*/) {}
};

// One message for a peer (by validator index) or for every other validator.
struct Outgoing {
  static constexpr size_t kBroadcast = SIZE_MAX;
  size_t to = kBroadcast;
  Message message;
};

// How an epoch's last block E was committed (docs/consensus.md, "Epochs"): the blocks after E
// in its epoch up to B, whose certificate completes the two-chain that committed E (B's
// parent, certified by B's justify, is E or a block after it, in the round before B's).
// Nothing in the suffix is committed. A validator of the next epoch that missed the end of
// this one can be proven E committed with it before the next epoch has committed anything.
struct EpochEndProof {
  std::vector<ledger::Block> suffix;  // E's child first, B last
  ledger::QuorumCert certified_by;    // certifies B
};

// A committed block and the QC certifying it (the commit rule also needs its child's QC of
// the next round; the child's justify is exactly that QC).
struct CommittedBlock {
  ledger::Block block;
  ledger::QuorumCert certified_by;
  std::optional<EpochEndProof> epoch_end;  // on the epoch's last block, when this core committed it
};

// Two signed statements by one validator that no honest validator makes: proof of fault.
struct Evidence {
  enum class Kind { kDoubleVote, kDoubleProposal };
  Kind kind;
  PublicKey offender;
  Message first;
  Message second;
};

// Why a message was not accepted. kStale and kDuplicate are normal under a real network;
// the others mean the sender is faulty (or the message was altered), and the node scores it.
enum class Verdict {
  kAccepted,
  kDuplicate,
  kStale,         // for a round or height this validator is past
  kMalformed,     // undecodable, or breaks a structural rule
  kBadSignature,  // a signature or certificate that does not verify
  kNotValidator,  // signed by a key outside the validator set
  kWrongLeader,   // a proposal from someone who is not the leader of its term
  kUnsafe,        // a proposal that breaks the protocol's rules (round, term, certificates)
  kBadPayload,    // the host refused the transactions
  kOverloaded,    // too many pending blocks or future messages
};
const char* VerdictName(Verdict verdict);
inline bool IsFault(Verdict v) {
  return v != Verdict::kAccepted && v != Verdict::kDuplicate && v != Verdict::kStale &&
         v != Verdict::kOverloaded;
}

struct Actions {
  std::vector<Outgoing> messages;       // send in order
  std::vector<CommittedBlock> commits;  // in height order, each height exactly once
  std::vector<Evidence> evidence;
  std::optional<TimeMs> timer;           // call OnTick at (or after) this time
  Verdict verdict = Verdict::kAccepted;  // for the input message, if there was one
  std::string reason;                    // a sentence for the log when not accepted
  // The host could not persist what a vote, timeout or proposal needed: it was not sent.
  std::optional<Status> persist_error;
};

class Core {
 public:
  // `key` must be one of config.validators (or the core only observes). `verifier` and
  // `host` must outlive the core. `state`, `tip` and `stored_blocks` (what PersistBlock
  // stored) come from storage; a fresh validator passes SafetyState{} with high_qc =
  // QuorumCert::Root of the epoch, the root as tip (round 0) and no blocks.
  //
  // An epoch ends at the block naming the next set (BlockHeader::next_validators): nothing
  // above it is committed by this core, and blocks built on it carry no transactions (they
  // only serve to commit it).
  Core(Config config, const KeyPair& key, Host& host, SignatureVerifier& verifier,
       SafetyState state, CommittedTip tip, std::vector<ledger::Block> stored_blocks = {});
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Arms the timer and, if this validator leads the current round, proposes.
  Actions Start(TimeMs now);
  // A message from validator `from` (the index the link authenticated).
  Actions OnMessage(TimeMs now, size_t from, const Message& message);
  Actions OnTick(TimeMs now);

  const SafetyState& safety() const;
  const CommittedTip& committed() const;
  uint64_t round() const;
  uint64_t term() const;
  std::optional<size_t> my_index() const;
  // Uncommitted blocks this core holds (to answer peers' fetches); committed ones are the
  // host's storage.
  const ledger::Block* FindBlock(const Hash256& hash) const;
  // True while this validator leads the current round but has not proposed because the host
  // asked it to wait (Host::ProposalDelay); OnTick proposes once the host is ready.
  bool proposal_waiting() const;
  // Uncommitted blocks held, stored and parked: bounded by Config::max_pending_blocks.
  size_t held_blocks() const;
  // True while a validator started with Config::recover_safety still abstains.
  bool recovering() const;
  // The current round timeout (base, adapted to measured rounds, doubled per failed round).
  TimeMs timeout_ms() const;
  // The measured length of rounds that end in a QC (a moving average; 0 until one did).
  TimeMs round_length_ms() const;
  size_t LeaderOf(uint64_t term) const;
  // The epoch's last block (one naming the next validator set) is committed: this core is
  // done, and answers nothing more. The host starts the next epoch's core from that block.
  bool epoch_ended() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace city::consensus
