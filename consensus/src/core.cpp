// The Raft-BFT state machine. Rules and their reasons: docs/consensus.md.
#include "city/consensus/core.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <map>
#include <set>
#include <utility>

#include "city/ledger/chain_rules.h"
#include "mutation.h"

namespace city::consensus {
namespace {

using ledger::Block;
using ledger::QuorumCert;
using ledger::Timeout;
using ledger::TimeoutCert;
using ledger::Vote;

// Votes and timeouts further ahead than this are refused: a peer cannot make us hold an
// unbounded number of future rounds.
constexpr uint64_t kMaxFutureRounds = 64;
constexpr size_t kMaxVerifiedCerts = 4096;
// A round timeout is at least this many times the measured length of a round that ended in
// a QC, so a network slowed by load does not time its healthy leader out.
constexpr TimeMs kTimeoutPerRoundLength = 4;

}  // namespace

#ifdef CITY_CONSENSUS_MUTATIONS
namespace {
Mutation g_mutation = Mutation::kNone;
}
thread_local std::optional<PublicKey> t_forking_adversary;
void SetMutation(Mutation mutation) { g_mutation = mutation; }
bool Mutated(Mutation mutation) { return g_mutation == mutation; }
void SetForkingAdversary(std::optional<PublicKey> key) { t_forking_adversary = key; }
bool IsForkingAdversary(const PublicKey& key) { return t_forking_adversary == key; }
#endif

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAccepted:
      return "accepted";
    case Verdict::kDuplicate:
      return "duplicate";
    case Verdict::kStale:
      return "stale";
    case Verdict::kMalformed:
      return "malformed";
    case Verdict::kBadSignature:
      return "bad_signature";
    case Verdict::kNotValidator:
      return "not_validator";
    case Verdict::kWrongLeader:
      return "wrong_leader";
    case Verdict::kUnsafe:
      return "unsafe";
    case Verdict::kBadPayload:
      return "bad_payload";
    case Verdict::kOverloaded:
      return "overloaded";
  }
  return "unknown";
}

void SafetyState::EncodeTo(ledger::Encoder& encoder) const {
  encoder.U64(term);
  encoder.U64(round);
  encoder.U64(last_voted_round);
  high_qc.EncodeTo(encoder);
  encoder.Optional(last_tc, "safety last_tc");
  encoder.U64(last_proposed_round);
}

SafetyState SafetyState::DecodeFrom(ledger::Decoder& decoder) {
  SafetyState state;
  decoder.U64(state.term);
  decoder.U64(state.round);
  decoder.U64(state.last_voted_round);
  decoder.Object(state.high_qc);
  decoder.Optional(state.last_tc, "safety last_tc");
  if (decoder.remaining() == 0) {
    state.last_proposed_round = state.round;  // written before the field existed
  } else {
    decoder.U64(state.last_proposed_round);
  }
  return state;
}

size_t RecoveryReportsNeeded(const ledger::ValidatorSet& validators) {
  // A vote or timeout this validator signed in round v needed a certificate of round v - 1,
  // whose signers include at least quorum - f - 1 honest others, each in round >= v - 1 ever
  // since. Reports from k others surely include one of them when k + (quorum - f - 1) > n - 1.
  const size_t n = validators.size();
  const size_t honest_signers = validators.quorum() - validators.max_faulty() - 1;
  const size_t needed = n - honest_signers;
  return needed > n - 1 ? 0 : needed;
}

struct Core::State {
  State(Config config_in, const KeyPair& key_in, Host& host_in, SignatureVerifier& verifier_in,
        SafetyState safety_in, CommittedTip tip)
      : config(std::move(config_in)),
        key(key_in),
        host(host_in),
        verifier(verifier_in),
        context{config.chain_id, config.epoch, config.validators, config.genesis_hash,
                &verifier_in},
        safety(std::move(safety_in)),
        committed(tip),
        recovering(config.recover_safety) {
    const auto& members = config.validators.members();
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i] == key.public_key()) my_index = i;
    }
  }

  // ---- helpers ----

  size_t Leader(uint64_t term) const { return term % config.validators.size(); }
  bool IsMe(size_t index) const { return my_index && *my_index == index; }
  size_t Quorum() const { return config.validators.quorum(); }

  TimeMs TimeoutLength() const {
    const uint32_t doublings = std::min<uint32_t>(failed_rounds, 20);
    const TimeMs base = std::max(config.base_timeout_ms, kTimeoutPerRoundLength * round_length_ms);
    return std::min(config.max_timeout_ms, base << doublings);
  }

  // Whether this validator may sign votes, timeouts and proposals at all.
  bool MaySign() const { return my_index.has_value() && !recovering; }

  bool KnownBlock(const Hash256& hash) const {
    return hash == committed.hash || blocks.contains(hash);
  }

  // Certificates are verified once per core; the verifier caches signatures across them.
  Status VerifyCert(const QuorumCert& qc) { return VerifyCached(qc); }
  Status VerifyCert(const TimeoutCert& tc) { return VerifyCached(tc); }
  template <typename Cert>
  Status VerifyCached(const Cert& cert) {
    const Hash256 id = Blake2b256(ledger::Encode(cert));
    if (verified_certs.contains(id)) return Status::Ok();
    Status status = cert.Verify(context);
    if (status.ok()) Remember(id);
    return status;
  }
  // For certificates built here from signatures already checked one by one.
  template <typename Cert>
  void MarkVerified(const Cert& cert) {
    Remember(Blake2b256(ledger::Encode(cert)));
  }
  // The one way into verified_certs, so its bound holds whoever adds.
  void Remember(const Hash256& id) {
    if (verified_certs.size() >= kMaxVerifiedCerts) verified_certs.clear();
    verified_certs.insert(id);
  }

  // Timeout::Verify would check the carried QC's q signatures again for every timeout of a
  // round (they mostly carry the same QC); here the QC goes through the certificate cache
  // and only the sender's own signature is new work.
  Status VerifyTimeout(const Timeout& timeout) {
    if (timeout.data.high_qc_round != timeout.high_qc.data.round) {
      return Status(ErrorCode::kInvalidArgument,
                    "timeout claims high QC round " + std::to_string(timeout.data.high_qc_round) +
                        " but carries round " + std::to_string(timeout.high_qc.data.round));
    }
    if (Status qc = VerifyCert(timeout.high_qc); !qc.ok()) return qc;
    if (!verifier.Verify(timeout.sender, timeout.data.Digest(config.chain_id).span(),
                         timeout.signature)) {
      return Status(ErrorCode::kBadSignature, "timeout signature does not verify");
    }
    return Status::Ok();
  }

  bool Persist() {
    if (Mutated(Mutation::kNoPersist)) return true;
    Status saved = host.PersistSafety(safety);
    if (saved.ok()) return true;
    persist_error = std::move(saved);
    return false;
  }

  static Verdict VerdictFor(const Status& status) {
    switch (status.code()) {
      case ErrorCode::kBadSignature:
        return Verdict::kBadSignature;
      case ErrorCode::kMalformed:
      case ErrorCode::kTooLarge:
        return Verdict::kMalformed;
      default:
        return Verdict::kUnsafe;
    }
  }

  Verdict Refuse(Actions& actions, Verdict verdict, std::string reason) {
    actions.verdict = verdict;
    actions.reason = std::move(reason);
    return verdict;
  }

  TimeMs NextWake() const {
    TimeMs wake = round_deadline;
    if (recovering && recovery_asked_at) {
      wake = std::min(wake, *recovery_asked_at + config.fetch_retry_ms);
    }
    if (propose_at) wake = std::min(wake, *propose_at);
    for (const auto& [hash, fetch] : fetching) {
      wake = std::min(wake, fetch.last_sent + config.fetch_retry_ms);
    }
    return wake;
  }

  // ---- rounds ----

  void AdvanceRound(TimeMs now, uint64_t new_round, uint64_t new_term,
                    const std::optional<TimeoutCert>& tc, Actions& actions) {
    if (new_round <= safety.round) return;
    if (!tc && new_round == safety.round + 1 && now >= round_entered) {
      // A round that ended in a QC: its length (a moving average over eight) sets how
      // patient the timeouts are, so they follow the network's real pace.
      round_length_ms = (7 * round_length_ms + (now - round_entered)) / 8;
    }
    safety.round = new_round;
    safety.term = new_term;
    safety.last_tc = tc;
    round_deadline = now + TimeoutLength();
    round_entered = now;
    propose_at.reset();
    std::erase_if(votes, [&](const auto& entry) { return entry.first < new_round; });
    std::erase_if(timeouts, [&](const auto& entry) { return entry.first < new_round; });
    PruneBlocks();
    MaybePropose(now, actions);
  }

  void ProcessQc(TimeMs now, const QuorumCert& qc, size_t from, Actions& actions) {
#ifdef CITY_CONSENSUS_MUTATIONS
    if (qc.data.round > safety.high_qc.data.round) adversary_qcs.push_back(safety.high_qc);
#endif
    if (qc.data.round > safety.high_qc.data.round) safety.high_qc = qc;
    TryCommit(now, qc, from, actions);
    if (qc.data.round + 1 > safety.round) {
      AdvanceRound(now, qc.data.round + 1, qc.data.term, std::nullopt, actions);
    }
  }

  void ProcessTc(TimeMs now, const TimeoutCert& tc, size_t from, Actions& actions) {
    ProcessQc(now, tc.high_qc, from, actions);
    if (tc.round + 1 > safety.round) {
      ++failed_rounds;  // a round that ended without a QC: the next one waits longer
      AdvanceRound(now, tc.round + 1, tc.round + 1, tc, actions);
    } else if (tc.round + 1 == safety.round && !safety.last_tc) {
      safety.last_tc = tc;  // lets the leader of term `round` propose even if it entered via a QC
      MaybePropose(now, actions);
    }
  }

  // ---- proposing and voting ----

  void MaybePropose(TimeMs now, Actions& actions) {
    propose_at.reset();  // set again below only while the host still asks to wait
    // Never a second proposal in a round, nor one in a round this validator already voted or
    // timed out in (it could not vote for its own block).
    if (!MaySign() || safety.last_proposed_round >= safety.round ||
        safety.last_voted_round >= safety.round) {
      return;
    }
    uint64_t term = 0;
    std::optional<TimeoutCert> tc;
    const QuorumCert& qc = safety.high_qc;
    if (qc.data.round + 1 == safety.round && IsMe(Leader(qc.data.term))) {
      term = qc.data.term;
    } else if (safety.last_tc && safety.last_tc->round + 1 == safety.round &&
               IsMe(Leader(safety.round))) {
      term = safety.round;
      tc = safety.last_tc;
    } else {
      return;
    }
    if (proposals_this_call > 0) {
      // One proposal per input: a lone validator certifies its own blocks at once, and
      // proposing again here would run rounds back to back without ever returning to the
      // host. The next round's proposal waits for the timer, which fires right away.
      propose_at = now;
      return;
    }
    if (const TimeMs delay = host.ProposalDelay(now - round_entered); delay > 0) {
      propose_at = now + delay;
      return;
    }
    safety.last_proposed_round = safety.round;
    if (!Persist()) return;  // fail-stop: a proposal that a restart could repeat is not sent
    ++proposals_this_call;
    const QuorumCert* justify = &qc;
#ifdef CITY_CONSENSUS_MUTATIONS
    if (tc && IsForkingAdversary(key.public_key())) {
      for (auto it = adversary_qcs.rbegin(); it != adversary_qcs.rend(); ++it) {
        if (it->data.round > 0 && it->data.round < tc->high_qc.data.round) {
          justify = &*it;
          break;
        }
      }
    }
#endif
    Block block;
    ledger::BlockHeader& header = block.header;
    header.chain_id = config.chain_id;
    header.epoch = config.epoch;
    header.height = justify->data.height + 1;
    header.term = term;
    header.round = safety.round;
    header.parent_hash = justify->data.block_hash;
    header.timestamp_ms = now;
    header.justify = *justify;
    header.timeout_cert = std::move(tc);
    block.transactions = host.TakePayload(config.max_block_transactions);
    host.CompleteHeader(header);
    block.Sign(key);
    actions.messages.push_back({Outgoing::kBroadcast, Proposal{block}});
    // Our own proposal is handled like any other, once this step is done (Drain).
    self_inbox.push_back(Proposal{block});
#ifdef CITY_CONSENSUS_MUTATIONS
    if (IsForkingAdversary(key.public_key()) && safety.last_voted_round < header.round) {
      // An adversary signs a vote for its own proposal whatever its own checks say.
      safety.last_voted_round = header.round;
      const ledger::VoteData data{config.epoch, header.term, header.round, header.height,
                                  block.Hash()};
      self_inbox.push_back(Vote::Create(data, config.chain_id, key));
    }
#endif
  }

  // Messages this validator addresses to itself (its proposal, its vote as leader) are
  // queued and handled here, one after the other, never from inside the handler that made
  // them: the stack stays flat whatever the chain of proposal, vote, QC and next round.
  void Drain(TimeMs now, Actions& actions) {
    while (!self_inbox.empty()) {
      Message message = std::move(self_inbox.front());
      self_inbox.pop_front();
      Actions own;  // the verdict on our own message is not the caller's
      if (const auto* proposal = std::get_if<Proposal>(&message)) {
        HandleProposal(now, *my_index, proposal->block, own);
      } else if (const auto* vote = std::get_if<Vote>(&message)) {
        HandleVote(now, *my_index, *vote, own);
      }
      Append(actions, std::move(own));
    }
  }

  static void Append(Actions& into, Actions&& from) {
    for (auto& m : from.messages) into.messages.push_back(std::move(m));
    for (auto& c : from.commits) into.commits.push_back(std::move(c));
    for (auto& e : from.evidence) into.evidence.push_back(std::move(e));
  }

  void MaybeVote(const Block& block, Actions& actions) {
    if (!MaySign() || block.header.round != safety.round) return;
    if (block.header.round <= safety.last_voted_round && !Mutated(Mutation::kNoRoundCheck)) {
      return;
    }
    if (Status payload = host.CheckPayload(block); !payload.ok()) {
      Refuse(actions, Verdict::kBadPayload, payload.ToString());
      return;
    }
    safety.last_voted_round = std::max(safety.last_voted_round, block.header.round);
    if (!Persist()) return;  // fail-stop: a vote that might not survive a crash is not sent
    const Hash256 hash = block.Hash();
    voted_blocks.insert(hash);
    const ledger::VoteData data{config.epoch, block.header.term, block.header.round,
                                block.header.height, hash};
    Vote vote = Vote::Create(data, config.chain_id, key);
    const size_t leader = Leader(block.header.term);
    if (IsMe(leader)) {
      self_inbox.push_back(std::move(vote));
    } else {
      actions.messages.push_back({leader, std::move(vote)});
    }
  }

  // The rules a proposal must meet beyond its signatures (ledger/chain_rules.h).
  Verdict CheckProposalRules(const Block& block, Actions& actions) {
    const ledger::BlockHeader& h = block.header;
    if (h.epoch != config.epoch) return Refuse(actions, Verdict::kStale, "other epoch");
    std::optional<ledger::HeaderRuleBroken> broken = ledger::CheckHeaderRules(h, config.validators);
    if (broken && broken->rule == ledger::HeaderRule::kJustifyAtLeastTcQc &&
        Mutated(Mutation::kNoTcQcCheck)) {
      broken.reset();  // the mutation skips this one rule; the leader rule still holds
      if (h.proposer != ledger::LeaderOf(h.term, config.validators)) {
        return Refuse(actions, Verdict::kWrongLeader, "proposer is not the leader of its term");
      }
    }
    if (!broken) return Verdict::kAccepted;
    return Refuse(actions,
                  broken->rule == ledger::HeaderRule::kProposerLeadsTerm ? Verdict::kWrongLeader
                                                                         : Verdict::kUnsafe,
                  broken->reason);
  }

  Verdict HandleProposal(TimeMs now, size_t from, const Block& block, Actions& actions) {
    const Hash256 hash = block.Hash();
    if (blocks.contains(hash) || IsParked(hash)) {
      return Refuse(actions, Verdict::kDuplicate, "proposal already known");
    }
    if (Status structure = block.CheckStructure(config.chain_id, &verifier); !structure.ok()) {
      return Refuse(actions, VerdictFor(structure), structure.ToString());
    }
    if (Verdict rules = CheckProposalRules(block, actions); rules != Verdict::kAccepted) {
      return rules;
    }
    if (Status qc = VerifyCert(block.header.justify); !qc.ok()) {
      return Refuse(actions, VerdictFor(qc), "justify: " + qc.ToString());
    }
    if (block.header.timeout_cert) {
      if (Status tc = VerifyCert(*block.header.timeout_cert); !tc.ok()) {
        return Refuse(actions, VerdictFor(tc), "timeout_cert: " + tc.ToString());
      }
    }
    // The certificates are sound whatever the block is: they may move this validator on.
    if (block.header.timeout_cert) ProcessTc(now, *block.header.timeout_cert, from, actions);
    ProcessQc(now, block.header.justify, from, actions);
    if (!RecordProposal(block, hash, actions)) {
      // One proposal per (round, proposer) is kept. A leader signing thousands in a round
      // makes evidence, not work: nothing of theirs is checked further or stored.
      return Refuse(actions, Verdict::kUnsafe, "second proposal by its proposer in this round");
    }
    if (block.header.height <= committed.height) {
      return Refuse(actions, Verdict::kStale, "proposal at or below the committed height");
    }
    if (Status content = host.CheckContent(block);
        !content.ok() && !Mutated(Mutation::kSkipContentCheck)) {
      return Refuse(actions, Verdict::kBadPayload, content.ToString());
    }
    if (!HasRoom()) return Refuse(actions, Verdict::kOverloaded, "too many uncommitted blocks");
    if (!KnownBlock(block.header.parent_hash)) {
      Park(now, from, block, hash, actions);
      return Verdict::kAccepted;
    }
    Insert(now, from, block, actions);
    return Verdict::kAccepted;
  }

  // False for a second, different proposal by the same proposer in the same round (the
  // first one, if held, and this one are evidence).
  bool RecordProposal(const Block& block, const Hash256& hash, Actions& actions) {
    const auto key_of = std::make_pair(block.header.round, block.header.proposer);
    auto [it, inserted] = proposals_seen.emplace(key_of, hash);
    if (inserted || it->second == hash || Mutated(Mutation::kKeepEveryProposal)) return true;
    if (const Block* first = HeldBlock(it->second); first && !evidence_given.contains(key_of)) {
      evidence_given.insert(key_of);
      actions.evidence.push_back({Evidence::Kind::kDoubleProposal, block.header.proposer,
                                  Proposal{*first}, Proposal{block}});
    }
    return false;
  }

  const Block* HeldBlock(const Hash256& hash) const {
    if (auto it = blocks.find(hash); it != blocks.end()) return &it->second;
    if (!IsParked(hash)) return nullptr;
    for (const auto& [parent, children] : parked) {
      for (const Block& child : children) {
        if (child.Hash() == hash) return &child;
      }
    }
    return nullptr;
  }

  bool HasRoom() {
    if (blocks.size() + parked_hashes.size() < config.max_pending_blocks) return true;
    PruneBlocks();
    return blocks.size() + parked_hashes.size() < config.max_pending_blocks;
  }

  // Drops the blocks that can no longer matter: those that do not extend the committed tip,
  // and uncertified blocks of past rounds that this validator did not vote for. A block with
  // a QC had the votes of at least f+1 honest validators, each of which keeps it (it voted),
  // so any validator that learns of the QC later can still fetch it.
  void PruneBlocks() {
    std::set<Hash256> certified = {safety.high_qc.data.block_hash};
    if (safety.last_tc) certified.insert(safety.last_tc->high_qc.data.block_hash);
    for (const auto& [hash, block] : blocks) certified.insert(block.header.justify.data.block_hash);
    for (const auto& [parent, children] : parked) certified.insert(parent);
    for (const auto& [hash, qc] : awaiting_commit) certified.insert(hash);
    std::vector<std::pair<uint64_t, Hash256>> by_height;
    for (const auto& [hash, block] : blocks) by_height.emplace_back(block.header.height, hash);
    std::sort(by_height.begin(), by_height.end());
    std::set<Hash256> live = {committed.hash};
    std::vector<Hash256> dropped;
    for (const auto& [height, hash] : by_height) {
      const Block& block = blocks.at(hash);
      const bool extends_tip = live.contains(block.header.parent_hash);
      const bool may_matter = certified.contains(hash) || voted_blocks.contains(hash) ||
                              block.header.round >= safety.round;
      if (extends_tip && may_matter) {
        live.insert(hash);
      } else {
        dropped.push_back(hash);
      }
    }
    for (const Hash256& hash : dropped) {
      auto it = blocks.find(hash);
      host.ForgetBlock(it->second);
      blocks.erase(it);
    }
    std::erase_if(voted_blocks, [&](const Hash256& hash) { return !blocks.contains(hash); });
  }

  bool IsParked(const Hash256& hash) const { return parked_hashes.contains(hash); }

  // Keeps a valid block whose parent is unknown, and asks for the parent. Parked and held
  // blocks share the max_pending_blocks bound; beyond it the block is dropped (the commit
  // walk asks for whatever is still missing).
  void Park(TimeMs now, size_t from, const Block& block, const Hash256& hash, Actions& actions) {
    RequestFetch(now, block.header.parent_hash, from, actions);
    if (IsParked(hash) || blocks.size() + parked_hashes.size() >= config.max_pending_blocks) {
      return;
    }
    parked[block.header.parent_hash].push_back(block);
    parked_hashes.insert(hash);
  }

  // Adds a block whose parent is known and everything that was waiting for it, retries the
  // commits that were waiting for missing blocks, and only then votes: the host checks a
  // proposal's execution fields against what it has committed, so the commits a fetched
  // block unlocks must be done before the vote on its child.
  void Insert(TimeMs now, size_t from, const Block& block, Actions& actions) {
    const std::vector<Hash256> inserted = InsertChain(block);
    std::vector<QuorumCert> waiting;
    for (const auto& [hash, qc] : awaiting_commit) waiting.push_back(qc);
    awaiting_commit.clear();
    for (const QuorumCert& qc : waiting) TryCommit(now, qc, from, actions);
    for (const Hash256& hash : inserted) {
      if (auto it = blocks.find(hash); it != blocks.end()) MaybeVote(it->second, actions);
    }
  }

  // The blocks stored durably (so they may be voted on), in insertion order.
  std::vector<Hash256> InsertChain(const Block& block) {
    std::vector<Hash256> inserted;
    std::vector<Block> ready = {block};
    while (!ready.empty()) {
      Block next = std::move(ready.back());
      ready.pop_back();
      const Hash256 hash = next.Hash();
      if (next.header.height <= committed.height || blocks.contains(hash)) continue;
      fetching.erase(hash);
      parked_hashes.erase(hash);
      if (Status stored = host.PersistBlock(next); stored.ok()) {
        inserted.push_back(hash);  // durable: may be voted on
      } else {
        persist_error = std::move(stored);
      }
      blocks.emplace(hash, std::move(next));
      if (auto children = parked.find(hash); children != parked.end()) {
        for (Block& child : children->second) ready.push_back(std::move(child));
        parked.erase(children);
      }
    }
    return inserted;
  }

  void RequestFetch(TimeMs now, const Hash256& hash, size_t from, Actions& actions) {
    if (fetching.contains(hash) || KnownBlock(hash)) return;
    const size_t n = config.validators.size();
    size_t target = from;
    if (IsMe(target) || target >= n) target = (target + 1) % n;
    fetching[hash] = {now, target + 1};
    actions.messages.push_back({target, BlockRequest{hash}});
  }

  // ---- committing ----

  void TryCommit(TimeMs now, const QuorumCert& qc, size_t from, Actions& actions) {
    const Hash256& certified = qc.data.block_hash;
    if (qc.data.height <= committed.height) return;
    auto b1 = blocks.find(certified);
    if (b1 == blocks.end()) {
      awaiting_commit.emplace(certified, qc);
      RequestFetch(now, certified, from, actions);
      return;
    }
    if (Mutated(Mutation::kCommitOneChain)) {
      CommitThrough(now, certified, qc, from, actions);
      return;
    }
    const QuorumCert& parent_qc = b1->second.header.justify;
    if (!ledger::CertifyingCommitsParent(b1->second.header)) return;  // not a two-chain
    if (parent_qc.data.height <= committed.height) return;
    CommitThrough(now, parent_qc.data.block_hash, parent_qc, from, actions);
  }

  // Commits `target` (certified by `target_qc`) and every uncommitted ancestor, oldest first.
  void CommitThrough(TimeMs now, const Hash256& target, const QuorumCert& target_qc, size_t from,
                     Actions& actions) {
    std::vector<const Block*> chain;
    for (Hash256 at = target; at != committed.hash;) {
      auto it = blocks.find(at);
      if (it == blocks.end()) {
        // A gap: fetch it and retry when it arrives (via the block it certifies).
        awaiting_commit.emplace(target, target_qc);
        RequestFetch(now, at, from, actions);
        return;
      }
      if (it->second.header.height <= committed.height) {
        // The certified chain does not lead to our committed tip. With at most f faulty
        // this cannot happen; refuse to commit rather than fork.
        Refuse(actions, Verdict::kUnsafe, "certified chain conflicts with the committed chain");
        return;
      }
      chain.push_back(&it->second);
      at = it->second.header.parent_hash;
    }
    std::vector<CommittedBlock> out;
    for (size_t i = chain.size(); i-- > 0;) {
      const QuorumCert& certified_by = i == 0 ? target_qc : chain[i - 1]->header.justify;
      out.push_back({*chain[i], certified_by});
    }
    const Block& newest = *chain.front();
    committed = {newest.Hash(), newest.header.height, newest.header.round};
    // A commit shows the network is back, but one commit between failures is not health:
    // the backoff comes down one step per commit instead of all at once.
    if (failed_rounds > 0) --failed_rounds;
    for (CommittedBlock& block : out) {
      host.OnCommit(block.block, block.certified_by);
      actions.commits.push_back(std::move(block));
    }
    std::erase_if(blocks,
                  [&](const auto& e) { return e.second.header.height <= committed.height; });
    for (auto it = parked.begin(); it != parked.end();) {
      std::erase_if(it->second, [&](const Block& b) {
        if (b.header.height > committed.height) return false;
        parked_hashes.erase(b.Hash());
        return true;
      });
      it = it->second.empty() ? parked.erase(it) : std::next(it);
    }
    std::erase_if(awaiting_commit,
                  [&](const auto& e) { return e.second.data.height <= committed.height; });
    std::erase_if(proposals_seen, [&](const auto& e) { return e.first.first < committed.round; });
    std::erase_if(evidence_given, [&](const auto& e) { return e.first < committed.round; });
    PruneBlocks();
  }

  // ---- votes and timeouts ----

  Verdict HandleVote(TimeMs now, size_t from, const Vote& vote, Actions& actions) {
    const ledger::VoteData& data = vote.data;
    if (data.epoch != config.epoch) return Refuse(actions, Verdict::kStale, "other epoch");
    if (!config.validators.Contains(vote.voter)) {
      return Refuse(actions, Verdict::kNotValidator, "vote from outside the validator set");
    }
    if (data.round < safety.round) return Refuse(actions, Verdict::kStale, "vote for a past round");
    if (data.round > safety.round + kMaxFutureRounds) {
      return Refuse(actions, Verdict::kOverloaded, "vote too far in the future");
    }
    if (!IsMe(Leader(data.term))) {
      return Refuse(actions, Verdict::kStale, "vote sent to a validator that does not lead");
    }
    auto& round_votes = votes[data.round];
    if (auto it = round_votes.find(vote.voter); it != round_votes.end()) {
      if (it->second == vote) return Refuse(actions, Verdict::kDuplicate, "vote already counted");
      if (!verifier.Verify(vote.voter, data.Digest(config.chain_id).span(), vote.signature)) {
        return Refuse(actions, Verdict::kBadSignature, "vote signature does not verify");
      }
      actions.evidence.push_back({Evidence::Kind::kDoubleVote, vote.voter, it->second, vote});
      return Refuse(actions, Verdict::kUnsafe, "second vote in one round");
    }
    if (!verifier.Verify(vote.voter, data.Digest(config.chain_id).span(), vote.signature)) {
      return Refuse(actions, Verdict::kBadSignature, "vote signature does not verify");
    }
    round_votes.emplace(vote.voter, vote);
    std::vector<Vote> same;
    for (const auto& [voter, v] : round_votes) {
      if (v.data == data) same.push_back(v);
    }
    if (same.size() == Quorum()) {
      const QuorumCert qc = QuorumCert::FromVotes(data, same);
      MarkVerified(qc);
      ProcessQc(now, qc, from, actions);
    }
    return Verdict::kAccepted;
  }

  Verdict HandleTimeout(TimeMs now, size_t from, const Timeout& timeout, Actions& actions) {
    const uint64_t round = timeout.data.round;
    if (timeout.data.epoch != config.epoch) return Refuse(actions, Verdict::kStale, "other epoch");
    if (!config.validators.Contains(timeout.sender)) {
      return Refuse(actions, Verdict::kNotValidator, "timeout from outside the validator set");
    }
    if (round < safety.round) {
      SendSync(now, from, actions);  // the sender is behind: hand it what moved us on
      return Refuse(actions, Verdict::kStale, "timeout for a past round");
    }
    if (round > safety.round + kMaxFutureRounds) {
      return Refuse(actions, Verdict::kOverloaded, "timeout too far in the future");
    }
    if (timeouts[round].contains(timeout.sender)) {
      return Refuse(actions, Verdict::kDuplicate, "timeout already counted");
    }
    if (Status status = VerifyTimeout(timeout); !status.ok()) {
      return Refuse(actions, VerdictFor(status), status.ToString());
    }
    timeouts[round].emplace(timeout.sender, timeout);
    ProcessQc(now, timeout.high_qc, from, actions);
    if (round < safety.round) return Verdict::kAccepted;  // its QC moved us past it
    const size_t count = timeouts[round].size();
    if (count >= config.validators.max_faulty() + 1) LocalTimeout(now, round, actions);
    MaybeFormTc(now, round, from, actions);
    return Verdict::kAccepted;
  }

  void MaybeFormTc(TimeMs now, uint64_t round, size_t from, Actions& actions) {
    auto it = timeouts.find(round);
    if (it == timeouts.end() || it->second.size() < Quorum() || round < safety.round) return;
    std::vector<Timeout> collected;
    for (const auto& [sender, t] : it->second) collected.push_back(t);
    const TimeoutCert tc = TimeoutCert::FromTimeouts(collected);
    MarkVerified(tc);
    // Whoever missed some of these timeouts would otherwise wait for the next leader.
    actions.messages.push_back({Outgoing::kBroadcast, SyncCerts{std::nullopt, tc}});
    ProcessTc(now, tc, from, actions);
  }

  // At most once per peer per fetch_retry_ms: a stale timeout cannot make us flood.
  void SendSync(TimeMs now, size_t to, Actions& actions) {
    auto [it, inserted] = sync_sent.emplace(to, now);
    if (!inserted && now < it->second + config.fetch_retry_ms) return;
    it->second = now;
    actions.messages.push_back({to, SyncCerts{safety.high_qc, safety.last_tc}});
  }

  Verdict HandleSync(TimeMs now, size_t from, const SyncCerts& sync, Actions& actions) {
    if (sync.high_qc) {
      if (Status qc = VerifyCert(*sync.high_qc); !qc.ok()) {
        return Refuse(actions, VerdictFor(qc), "sync high_qc: " + qc.ToString());
      }
      ProcessQc(now, *sync.high_qc, from, actions);
    }
    if (sync.last_tc) {
      if (Status tc = VerifyCert(*sync.last_tc); !tc.ok()) {
        return Refuse(actions, VerdictFor(tc), "sync last_tc: " + tc.ToString());
      }
      ProcessTc(now, *sync.last_tc, from, actions);
    }
    if (recovering && !IsMe(from) && from < config.validators.size()) {
      RecordRecoveryReport(from, sync);
    }
    return Verdict::kAccepted;
  }

  // ---- recovering a lost safety state (Config::recover_safety) ----

  void RecordRecoveryReport(size_t from, const SyncCerts& sync) {
    uint64_t certified_round = 0;
    if (sync.high_qc) certified_round = sync.high_qc->data.round;
    if (sync.last_tc) certified_round = std::max(certified_round, sync.last_tc->round);
    if (!sync.high_qc && !sync.last_tc) return;  // proves no round
    uint64_t& reported = recovery_reports[from];
    reported = std::max(reported, certified_round + 1);  // the round the peer is in
    const size_t needed = RecoveryReportsNeeded(config.validators);
    if (needed == 0 || recovery_reports.size() < needed) return;
    uint64_t highest = 0;
    for (const auto& [peer, round] : recovery_reports) highest = std::max(highest, round);
    // This validator may have signed in any round up to highest + 1, never above it.
    safety.last_voted_round = std::max(safety.last_voted_round, highest + 1);
    safety.last_proposed_round = std::max(safety.last_proposed_round, highest + 1);
    if (!Persist()) return;  // still recovering: asks again, and persists again
    recovering = false;
    recovery_reports.clear();
  }

  void AskForRounds(TimeMs now, Actions& actions) {
    if (!recovering || (recovery_asked_at && now < *recovery_asked_at + config.fetch_retry_ms)) {
      return;
    }
    recovery_asked_at = now;
    actions.messages.push_back({Outgoing::kBroadcast, CertsRequest{}});
  }

  // Gives up on `round`: never vote in it, and tell everyone, with our highest QC.
  void LocalTimeout(TimeMs now, uint64_t round, Actions& actions) {
    if (!MaySign() || (my_timeout && my_timeout->data.round >= round)) return;
    if (!Mutated(Mutation::kVoteAfterTimeout)) {
      safety.last_voted_round = std::max(safety.last_voted_round, round);
    }
    if (!Persist()) return;
    const QuorumCert* reported = &safety.high_qc;
#ifdef CITY_CONSENSUS_MUTATIONS
    // The adversary under-reports: an older QC keeps the TC's high QC low.
    if (IsForkingAdversary(key.public_key()) && !adversary_qcs.empty()) {
      reported = &adversary_qcs.back();
    }
#endif
    Timeout timeout = Timeout::Create({config.epoch, round, reported->data.round}, *reported,
                                      config.chain_id, key);
    my_timeout = timeout;
    timeouts[round].emplace(key.public_key(), timeout);
    actions.messages.push_back({Outgoing::kBroadcast, std::move(timeout)});
    MaybeFormTc(now, round, *my_index, actions);
  }

  Verdict HandleBlockResponse(TimeMs now, size_t from, const Block& block, Actions& actions) {
    const Hash256 hash = block.Hash();
    if (!fetching.contains(hash)) return Refuse(actions, Verdict::kStale, "block not requested");
    if (Status structure = block.CheckStructure(config.chain_id, &verifier); !structure.ok()) {
      return Refuse(actions, VerdictFor(structure), structure.ToString());
    }
    const ledger::VoteData& justified = block.header.justify.data;
    if (block.header.parent_hash != justified.block_hash ||
        block.header.height != justified.height + 1) {
      return Refuse(actions, Verdict::kUnsafe, "fetched block does not extend its justify QC");
    }
    if (Status qc = VerifyCert(block.header.justify); !qc.ok()) {
      return Refuse(actions, VerdictFor(qc), "justify: " + qc.ToString());
    }
    if (Status content = host.CheckContent(block); !content.ok()) {
      return Refuse(actions, Verdict::kBadPayload, content.ToString());  // ask the next peer
    }
    fetching.erase(hash);
    ProcessQc(now, block.header.justify, from, actions);
    if (block.header.height <= committed.height || blocks.contains(hash)) return Verdict::kStale;
    if (!HasRoom()) return Refuse(actions, Verdict::kOverloaded, "too many uncommitted blocks");
    if (!KnownBlock(block.header.parent_hash)) {
      Park(now, from, block, hash, actions);
    } else {
      Insert(now, from, block, actions);
    }
    return Verdict::kAccepted;
  }

  Config config;
  const KeyPair& key;
  Host& host;
  SignatureVerifier& verifier;
  ledger::CertContext context;
  std::optional<size_t> my_index;
  SafetyState safety;
  CommittedTip committed;

  std::map<Hash256, Block> blocks;               // uncommitted blocks whose ancestry is known
  std::map<Hash256, std::vector<Block>> parked;  // valid blocks waiting for their parent
  std::set<Hash256> parked_hashes;
  std::map<Hash256, QuorumCert> awaiting_commit;  // QCs whose certified block is missing
  std::map<std::pair<uint64_t, PublicKey>, Hash256> proposals_seen;
  std::map<uint64_t, std::map<PublicKey, Vote>> votes;
  std::map<uint64_t, std::map<PublicKey, Timeout>> timeouts;
  struct Fetch {
    TimeMs last_sent = 0;
    size_t next_peer = 0;
  };
  std::map<Hash256, Fetch> fetching;
  std::set<Hash256> verified_certs;
  std::map<size_t, TimeMs> sync_sent;  // peer -> when we last sent it SyncCerts
#ifdef CITY_CONSENSUS_MUTATIONS
  std::vector<QuorumCert> adversary_qcs;  // earlier high QCs, for the forking adversary
#endif
  std::optional<Timeout> my_timeout;  // the latest timeout this validator signed
  TimeMs round_deadline = 0;
  TimeMs round_entered = 0;
  std::optional<TimeMs> propose_at;  // the host asked the leader to wait until then
  uint32_t failed_rounds = 0;
  TimeMs round_length_ms = 0;      // moving average of rounds that ended in a QC
  std::set<Hash256> voted_blocks;  // held blocks this validator voted for: never pruned
  std::set<std::pair<uint64_t, PublicKey>> evidence_given;  // (round, proposer) reported once
  std::deque<Message> self_inbox;  // our own proposal and votes, handled by Drain
  size_t proposals_this_call = 0;
  bool recovering = false;
  std::map<size_t, uint64_t> recovery_reports;  // peer -> the round its certificates prove
  std::optional<TimeMs> recovery_asked_at;
  std::optional<Status> persist_error;  // the last failure in this input, for Actions
};

Core::Core(Config config, const KeyPair& key, Host& host, SignatureVerifier& verifier,
           SafetyState state, CommittedTip tip, std::vector<ledger::Block> stored_blocks)
    : s_(std::make_unique<State>(std::move(config), key, host, verifier, std::move(state), tip)) {
  assert(s_->config.validators.size() > 0);
  // Our own storage: verified when first received, so trusted here. Which of them this
  // validator voted for is not stored; a block that is alone in its (round, proposer) may be
  // one, so it is kept like a voted block. Several for one (round, proposer) can only come
  // from an equivocating leader (or an older version that stored every proposal): those are
  // kept only while certified, so a restart cannot bring a flood back for good.
  std::map<std::pair<uint64_t, PublicKey>, std::vector<Hash256>> by_slot;
  for (ledger::Block& block : stored_blocks) {
    if (block.header.height <= tip.height) continue;
    const Hash256 hash = block.Hash();
    by_slot[{block.header.round, block.header.proposer}].push_back(hash);
    s_->blocks.emplace(hash, std::move(block));
  }
  for (const auto& [slot, hashes] : by_slot) {
    s_->proposals_seen.emplace(slot, hashes.front());
    if (hashes.size() == 1) s_->voted_blocks.insert(hashes.front());
  }
  s_->PruneBlocks();
}

Core::~Core() = default;

Actions Core::Start(TimeMs now) {
  Actions actions;
  State& s = *s_;
  s.proposals_this_call = 0;
  s.round_deadline = now + s.TimeoutLength();
  s.round_entered = now;
  s.AskForRounds(now, actions);
  s.MaybePropose(now, actions);
  s.Drain(now, actions);
  actions.persist_error = std::exchange(s.persist_error, std::nullopt);
  actions.timer = s.NextWake();
  return actions;
}

Actions Core::OnMessage(TimeMs now, size_t from, const Message& message) {
  Actions actions;
  State& s = *s_;
  s.proposals_this_call = 0;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Proposal>) {
          s.HandleProposal(now, from, m.block, actions);
        } else if constexpr (std::is_same_v<T, ledger::Vote>) {
          s.HandleVote(now, from, m, actions);
        } else if constexpr (std::is_same_v<T, ledger::Timeout>) {
          s.HandleTimeout(now, from, m, actions);
        } else if constexpr (std::is_same_v<T, BlockRequest>) {
          if (const Block* block = FindBlock(m.hash)) {
            actions.messages.push_back({from, BlockResponse{*block}});
          }
        } else if constexpr (std::is_same_v<T, BlockResponse>) {
          s.HandleBlockResponse(now, from, m.block, actions);
        } else if constexpr (std::is_same_v<T, CertsRequest>) {
          if (from < s.config.validators.size() && !s.IsMe(from)) s.SendSync(now, from, actions);
        } else {
          s.HandleSync(now, from, m, actions);
        }
      },
      message);
  s.Drain(now, actions);
  actions.persist_error = std::exchange(s.persist_error, std::nullopt);
  actions.timer = s.NextWake();
  return actions;
}

Actions Core::OnTick(TimeMs now) {
  Actions actions;
  State& s = *s_;
  s.proposals_this_call = 0;
  s.AskForRounds(now, actions);
  if (now >= s.round_deadline) {
    if (s.my_timeout && s.my_timeout->data.round >= s.safety.round) {
      actions.messages.push_back({Outgoing::kBroadcast, *s.my_timeout});  // losses heal
    } else {
      s.LocalTimeout(now, s.safety.round, actions);
    }
    s.round_deadline = now + s.TimeoutLength();
  }
  if (s.propose_at) s.MaybePropose(now, actions);  // the host decides whether it is time
  const size_t n = s.config.validators.size();
  for (auto& [hash, fetch] : s.fetching) {
    if (now < fetch.last_sent + s.config.fetch_retry_ms) continue;
    size_t target = fetch.next_peer % n;
    if (s.IsMe(target)) target = (target + 1) % n;
    fetch = {now, target + 1};
    actions.messages.push_back({target, BlockRequest{hash}});
  }
  s.Drain(now, actions);
  actions.persist_error = std::exchange(s.persist_error, std::nullopt);
  actions.timer = s.NextWake();
  return actions;
}

const SafetyState& Core::safety() const { return s_->safety; }
const CommittedTip& Core::committed() const { return s_->committed; }
uint64_t Core::round() const { return s_->safety.round; }
uint64_t Core::term() const { return s_->safety.term; }
std::optional<size_t> Core::my_index() const { return s_->my_index; }
size_t Core::LeaderOf(uint64_t term) const { return s_->Leader(term); }

bool Core::proposal_waiting() const { return s_->propose_at.has_value(); }
size_t Core::held_blocks() const { return s_->blocks.size() + s_->parked_hashes.size(); }
bool Core::recovering() const { return s_->recovering; }
TimeMs Core::timeout_ms() const { return s_->TimeoutLength(); }

const ledger::Block* Core::FindBlock(const Hash256& hash) const {
  auto it = s_->blocks.find(hash);
  return it == s_->blocks.end() ? nullptr : &it->second;
}

}  // namespace city::consensus
