// The Raft-BFT state machine: the round manager. It routes each input to the components that
// own the protocol's state (safety rules, pacemaker, vote collector, block tree) and turns
// their answers into Actions. Rules and their reasons: docs/consensus.md.
#include "city/consensus/core.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <map>
#include <utility>

#include "block_tree.h"
#include "cert_cache.h"
#include "city/consensus/rules.h"
#include "pacemaker.h"
#include "safety_rules.h"
#include "vote_collector.h"

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

}  // namespace

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
  State(Config config_in, const KeyPair& key_in, Host& host_in, SignatureVerifier& verifier,
        SafetyState safety_in, CommittedTip tip, std::vector<Block> stored_blocks)
      : config(std::move(config_in)),
        key(key_in),
        host(host_in),
        verifier(verifier),
        rules(config.rules != nullptr ? *config.rules : ProtocolRules::Standard()),
        my_index(config.validators.IndexOf(key.public_key())),
        certs(ledger::CertContext{config.chain_id, config.epoch, config.validators,
                                  config.genesis_hash, &verifier, config.root_height}),
        safety(config, key, my_index, host, rules, std::move(safety_in)),
        pacemaker(config),
        votes(config, certs),
        tree(config, host, rules, tip, std::move(stored_blocks)) {}

  const SafetyState& state() const { return safety.state(); }
  bool IsMe(size_t index) const { return my_index == index; }
  size_t Leader(uint64_t term) const { return pacemaker.LeaderOf(term); }

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
    TimeMs wake = pacemaker.deadline();
    if (safety.recovering() && rounds_asked_at) {
      wake = std::min(wake, *rounds_asked_at + config.fetch_retry_ms);
    }
    if (pacemaker.propose_at()) wake = std::min(wake, *pacemaker.propose_at());
    if (auto fetch = tree.NextFetchAt()) wake = std::min(wake, *fetch);
    return wake;
  }

  // Every input ends here: what our own messages caused, the persist errors, the next wake.
  void Finish(TimeMs now, Actions& actions) {
    Drain(now, actions);
    std::optional<Status> error = safety.TakePersistError();
    if (auto tree_error = tree.TakePersistError()) error = std::move(tree_error);
    if (error) actions.persist_error = std::move(error);
    actions.timer = NextWake();
  }

  // ---- rounds ----

  void AdvanceRound(TimeMs now, uint64_t new_round, uint64_t new_term,
                    const std::optional<TimeoutCert>& tc, Actions& actions) {
    if (new_round <= state().round) return;
    // A round that ended in a QC sets how patient the timeouts are (Pacemaker).
    pacemaker.EnterRound(now, !tc && new_round == state().round + 1);
    safety.EnterRound(new_round, new_term, tc);
    votes.ForgetBelow(new_round);
    tree.Prune(state());
    MaybePropose(now, actions);
  }

  void ProcessQc(TimeMs now, const QuorumCert& qc, size_t from, Actions& actions) {
    safety.ObserveQc(qc);
    TryCommit(now, qc, from, actions);
    if (qc.data.round + 1 > state().round) {
      AdvanceRound(now, qc.data.round + 1, qc.data.term, std::nullopt, actions);
    }
  }

  void ProcessTc(TimeMs now, const TimeoutCert& tc, size_t from, Actions& actions) {
    ProcessQc(now, tc.high_qc, from, actions);
    if (tc.round + 1 > state().round) {
      pacemaker.OnFailedRound();  // a round that ended without a QC: the next one waits longer
      AdvanceRound(now, tc.round + 1, tc.round + 1, tc, actions);
    } else if (safety.KeepPreviousRoundTc(tc)) {
      MaybePropose(now, actions);  // the leader of term `round` may propose on it
    }
  }

  // ---- proposing and voting ----

  void MaybePropose(TimeMs now, Actions& actions) {
    pacemaker.ProposeAt(std::nullopt);  // set again below only while the host asks to wait
    // Never a second proposal in a round, nor one in a round this validator already voted or
    // timed out in (it could not vote for its own block).
    if (!safety.MayPropose()) return;
    const SafetyState& s = state();
    uint64_t term = 0;
    std::optional<TimeoutCert> tc;
    if (s.high_qc.data.round + 1 == s.round && IsMe(Leader(s.high_qc.data.term))) {
      term = s.high_qc.data.term;
    } else if (s.last_tc && s.last_tc->round + 1 == s.round && IsMe(Leader(s.round))) {
      term = s.round;
      tc = s.last_tc;
    } else {
      return;
    }
    if (proposals_this_call > 0) {
      // One proposal per input: a lone validator certifies its own blocks at once, and
      // proposing again here would run rounds back to back without ever returning to the
      // host. The next round's proposal waits for the timer, which fires right away.
      pacemaker.ProposeAt(now);
      return;
    }
    if (const TimeMs delay = host.ProposalDelay(now - pacemaker.entered()); delay > 0) {
      pacemaker.ProposeAt(now + delay);
      return;
    }
    if (!safety.ClaimProposal()) return;
    ++proposals_this_call;
    const QuorumCert& justify = safety.QcToExtend(tc);
    Block block;
    ledger::BlockHeader& header = block.header;
    header.chain_id = config.chain_id;
    header.epoch = config.epoch;
    header.height = justify.data.height + 1;
    header.term = term;
    header.round = s.round;
    header.parent_hash = justify.data.block_hash;
    header.timestamp_ms = now;
    header.justify = justify;
    header.timeout_cert = std::move(tc);
    const bool after_epoch_end = AfterEpochEnd(header.parent_hash);
    if (!after_epoch_end) block.transactions = host.TakePayload(config.max_block_transactions);
    host.CompleteHeader(header);
    if (after_epoch_end) header.next_validators.clear();
    block.Sign(key);
    my_proposal.emplace(s.round, block.Hash());
    actions.messages.push_back({Outgoing::kBroadcast, Proposal{block}});
    // Our own proposal is handled like any other, once this step is done (Drain).
    self_inbox.push_back(Proposal{std::move(block)});
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
      for (auto& m : own.messages) actions.messages.push_back(std::move(m));
      for (auto& c : own.commits) actions.commits.push_back(std::move(c));
      for (auto& e : own.evidence) actions.evidence.push_back(std::move(e));
    }
  }

  // Whether `hash` is, or descends from, an uncommitted block naming the next validator set:
  // the epoch's last block. What extends it only serves to commit it.
  bool AfterEpochEnd(const Hash256& hash) const {
    for (const Block* block = tree.Find(hash); block != nullptr;
         block = tree.Find(block->header.parent_hash)) {
      if (!block->header.next_validators.empty()) return true;
    }
    return false;
  }

  void MaybeVote(const Block& block, const Hash256& hash, Actions& actions) {
    if (!safety.MayVote(block.header)) return;
    if (AfterEpochEnd(block.header.parent_hash) &&
        (!block.transactions.empty() || !block.header.next_validators.empty())) {
      Refuse(actions, Verdict::kUnsafe,
             "a block after the epoch's last one carries transactions or a validator set");
      return;
    }
    if (Status payload = rules.CheckPayload(host, block); !payload.ok()) {
      Refuse(actions, Verdict::kBadPayload, payload.ToString());
      return;
    }
    std::optional<Vote> vote = safety.SignVote(block, hash);
    if (!vote) return;
    tree.MarkVoted(hash);
    const size_t leader = Leader(block.header.term);
    if (IsMe(leader)) {
      self_inbox.push_back(std::move(*vote));
    } else {
      actions.messages.push_back({leader, std::move(*vote)});
    }
  }

  // The rules a proposal must meet beyond its signatures (ledger/chain_rules.h).
  Verdict CheckProposalRules(const Block& block, Actions& actions) {
    const ledger::BlockHeader& h = block.header;
    if (h.epoch != config.epoch) return Refuse(actions, Verdict::kStale, "other epoch");
    const std::optional<ledger::HeaderRuleBroken> broken = rules.CheckHeader(h, config.validators);
    if (!broken) return Verdict::kAccepted;
    return Refuse(actions,
                  broken->rule == ledger::HeaderRule::kProposerLeadsTerm ? Verdict::kWrongLeader
                                                                         : Verdict::kUnsafe,
                  broken->reason);
  }

  Verdict HandleProposal(TimeMs now, size_t from, const Block& block, Actions& actions) {
    const Hash256 hash = block.Hash();
    if (tree.Holds(hash)) return Refuse(actions, Verdict::kDuplicate, "proposal already known");
    if (Status structure = block.CheckStructure(config.chain_id, &verifier); !structure.ok()) {
      return Refuse(actions, VerdictFor(structure), structure.ToString());
    }
    if (Verdict verdict = CheckProposalRules(block, actions); verdict != Verdict::kAccepted) {
      return verdict;
    }
    if (Status qc = certs.Verify(block.header.justify); !qc.ok()) {
      return Refuse(actions, VerdictFor(qc), "justify: " + qc.ToString());
    }
    if (block.header.timeout_cert) {
      if (Status tc = certs.Verify(*block.header.timeout_cert); !tc.ok()) {
        return Refuse(actions, VerdictFor(tc), "timeout_cert: " + tc.ToString());
      }
    }
    // The certificates are sound whatever the block is: they may move this validator on.
    if (block.header.timeout_cert) ProcessTc(now, *block.header.timeout_cert, from, actions);
    ProcessQc(now, block.header.justify, from, actions);
    if (!tree.RecordProposal(block, hash, actions.evidence)) {
      // One proposal per (round, proposer) is kept. A leader signing thousands in a round
      // makes evidence, not work: nothing of theirs is checked further or stored.
      return Refuse(actions, Verdict::kUnsafe, "second proposal by its proposer in this round");
    }
    if (block.header.height <= tree.committed().height) {
      return Refuse(actions, Verdict::kStale, "proposal at or below the committed height");
    }
    if (Status content = rules.CheckContent(host, block); !content.ok()) {
      return Refuse(actions, Verdict::kBadPayload, content.ToString());
    }
    return Admit(now, from, block, hash, actions);
  }

  // A checked block: inserted if its parent is known, else parked while the parent is fetched.
  Verdict Admit(TimeMs now, size_t from, const Block& block, const Hash256& hash,
                Actions& actions) {
    if (!tree.HasRoom(state())) {
      return Refuse(actions, Verdict::kOverloaded, "too many uncommitted blocks");
    }
    if (!tree.Known(block.header.parent_hash)) {
      Fetch(now, block.header.parent_hash, from, actions);
      tree.Park(block, hash);
      return Verdict::kAccepted;
    }
    Insert(now, from, block, actions);
    return Verdict::kAccepted;
  }

  void Fetch(TimeMs now, const Hash256& hash, size_t from, Actions& actions) {
    if (auto request = tree.RequestFetch(now, hash, from, my_index)) {
      actions.messages.push_back(std::move(*request));
    }
  }

  // Adds a block whose parent is known and everything that was waiting for it, retries the
  // commits that were waiting for missing blocks, and only then votes: the host checks a
  // proposal's execution fields against what it has committed, so the commits a fetched
  // block unlocks must be done before the vote on its child.
  void Insert(TimeMs now, size_t from, const Block& block, Actions& actions) {
    const std::vector<Hash256> inserted = tree.Insert(block);
    for (const QuorumCert& qc : tree.TakeAwaitingCommits()) TryCommit(now, qc, from, actions);
    for (const Hash256& hash : inserted) {
      if (const Block* held = tree.Find(hash)) MaybeVote(*held, hash, actions);
    }
  }

  // ---- committing ----

  void TryCommit(TimeMs now, const QuorumCert& qc, size_t from, Actions& actions) {
    if (epoch_ended || qc.data.height <= tree.committed().height) return;
    const Block* certified = tree.Find(qc.data.block_hash);
    if (certified == nullptr) {
      tree.AwaitCommit(qc);
      Fetch(now, qc.data.block_hash, from, actions);
      return;
    }
    const std::optional<QuorumCert> target = rules.CommitTarget(*certified, qc);
    if (!target || target->data.height <= tree.committed().height) return;
    CommitThrough(now, *target, from, actions, certified, &qc);
  }

  // Commits the block `target_qc` certifies and every uncommitted ancestor, oldest first.
  // `certified` is the target's child, certified by `certified_qc`: the two-chain's top.
  void CommitThrough(TimeMs now, const QuorumCert& target_qc, size_t from, Actions& actions,
                     const Block* certified, const QuorumCert* certified_qc) {
    const BlockTree::Path path = tree.PathTo(target_qc.data.block_hash);
    if (path.missing) {
      // A gap: fetch it and retry when it arrives (via the block it certifies).
      tree.AwaitCommit(target_qc);
      Fetch(now, *path.missing, from, actions);
      return;
    }
    if (path.conflicts) {
      // The certified chain does not lead to our committed tip. With at most f faulty this
      // cannot happen; refuse to commit rather than fork.
      Refuse(actions, Verdict::kUnsafe, "certified chain conflicts with the committed chain");
      return;
    }
    // The epoch's last block is as far as this epoch commits: the path is cut there, and that
    // block keeps the certificate its child in the path carries.
    BlockTree::Path through = path;
    QuorumCert through_qc = target_qc;
    std::optional<EpochEndProof> proof;
    auto& chain = through.newest_first;
    for (size_t i = chain.size(); i-- > 0;) {
      if (chain[i]->header.next_validators.empty()) continue;
      proof.emplace();
      for (size_t k = i; k-- > 0;) proof->suffix.push_back(*chain[k]);
      proof->suffix.push_back(*certified);
      proof->certified_by = *certified_qc;
      if (i > 0) {
        through_qc = chain[i - 1]->header.justify;
        chain.erase(chain.begin(), chain.begin() + static_cast<ptrdiff_t>(i));
      }
      epoch_ended = true;
      break;
    }
    std::vector<CommittedBlock> out = tree.Commit(through, through_qc);
    if (proof) {
      // This core is done, and whoever formed the certificate that ended the epoch would have
      // carried it to the others only in a proposal of this epoch, which no one makes now.
      actions.messages.push_back({Outgoing::kBroadcast, SyncCerts{*certified_qc, std::nullopt}});
      out.back().epoch_end = std::move(proof);
    }
    // A commit shows the network is back, but one commit between failures is not health:
    // the backoff comes down one step per commit instead of all at once.
    pacemaker.OnCommit();
    for (CommittedBlock& block : out) {
      host.OnCommit(block.block, block.certified_by);
      actions.commits.push_back(std::move(block));
    }
    tree.ForgetCommitted(state());
  }

  // ---- votes and timeouts ----

  Verdict HandleVote(TimeMs now, size_t from, const Vote& vote, Actions& actions) {
    const ledger::VoteData& data = vote.data;
    if (data.epoch != config.epoch) return Refuse(actions, Verdict::kStale, "other epoch");
    if (!config.validators.Contains(vote.voter)) {
      return Refuse(actions, Verdict::kNotValidator, "vote from outside the validator set");
    }
    if (data.round < state().round) {
      return Refuse(actions, Verdict::kStale, "vote for a past round");
    }
    if (data.round > state().round + kMaxFutureRounds) {
      return Refuse(actions, Verdict::kOverloaded, "vote too far in the future");
    }
    if (!IsMe(Leader(data.term))) {
      return Refuse(actions, Verdict::kStale, "vote sent to a validator that does not lead");
    }
    VoteCollector::Outcome outcome = votes.AddVote(vote);
    if (outcome.evidence) actions.evidence.push_back(std::move(*outcome.evidence));
    if (outcome.verdict != Verdict::kAccepted) {
      return Refuse(actions, outcome.verdict, std::move(outcome.reason));
    }
    if (outcome.qc) ProcessQc(now, *outcome.qc, from, actions);
    return Verdict::kAccepted;
  }

  Verdict HandleTimeout(TimeMs now, size_t from, const Timeout& timeout, Actions& actions) {
    const uint64_t round = timeout.data.round;
    if (timeout.data.epoch != config.epoch) return Refuse(actions, Verdict::kStale, "other epoch");
    if (!config.validators.Contains(timeout.sender)) {
      return Refuse(actions, Verdict::kNotValidator, "timeout from outside the validator set");
    }
    if (round < state().round) {
      SendSync(now, from, actions);  // the sender is behind: hand it what moved us on
      return Refuse(actions, Verdict::kStale, "timeout for a past round");
    }
    if (round > state().round + kMaxFutureRounds) {
      return Refuse(actions, Verdict::kOverloaded, "timeout too far in the future");
    }
    if (votes.HasTimeout(round, timeout.sender)) {
      return Refuse(actions, Verdict::kDuplicate, "timeout already counted");
    }
    if (Status status = votes.AddTimeout(timeout); !status.ok()) {
      return Refuse(actions, VerdictFor(status), status.ToString());
    }
    ProcessQc(now, timeout.high_qc, from, actions);
    if (round < state().round) return Verdict::kAccepted;  // its QC moved us past it
    if (votes.TimeoutCount(round) >= config.validators.max_faulty() + 1) {
      LocalTimeout(now, round, actions);
    }
    MaybeFormTc(now, round, from, actions);
    return Verdict::kAccepted;
  }

  void MaybeFormTc(TimeMs now, uint64_t round, size_t from, Actions& actions) {
    if (round < state().round) return;
    const std::optional<TimeoutCert> tc = votes.FormTc(round);
    if (!tc) return;
    // Whoever missed some of these timeouts would otherwise wait for the next leader.
    actions.messages.push_back({Outgoing::kBroadcast, SyncCerts{std::nullopt, *tc}});
    ProcessTc(now, *tc, from, actions);
  }

  // True (and noted) when `to` may be sent another answer of a kind whose last sends are in
  // `sent`: at most one per peer per fetch_retry_ms, so no peer can make us flood.
  bool MaySend(std::map<size_t, TimeMs>& sent, TimeMs now, size_t to) {
    auto [it, inserted] = sent.emplace(to, now);
    if (!inserted && now < it->second + config.fetch_retry_ms) return false;
    it->second = now;
    return true;
  }

  // To a peer whose timeout showed it behind: the certificates that moved us on.
  void SendSync(TimeMs now, size_t to, Actions& actions) {
    if (!MaySend(sync_sent, now, to)) return;
    actions.messages.push_back({to, SyncCerts{state().high_qc, state().last_tc}});
  }

  // The answer to a peer asking where we are (CertsRequest): our certificates, and what we
  // said in our current round, which a validator that started late never received. Our
  // timeout lets it join a round the others gave up (f+1 of them make it time out too), our
  // proposal lets it vote in a round that needs its vote for a quorum.
  void SendRoundState(TimeMs now, size_t to, Actions& actions) {
    if (!MaySend(round_state_sent, now, to)) return;
    actions.messages.push_back({to, SyncCerts{state().high_qc, state().last_tc}});
    const std::optional<Timeout>& mine = safety.last_timeout();
    if (mine && mine->data.round >= state().round) actions.messages.push_back({to, *mine});
    if (my_proposal && my_proposal->first == state().round) {
      if (const Block* block = tree.Find(my_proposal->second)) {
        actions.messages.push_back({to, Proposal{*block}});
      }
    }
  }

  Verdict HandleSync(TimeMs now, size_t from, const SyncCerts& sync, Actions& actions) {
    if (sync.high_qc) {
      if (Status qc = certs.Verify(*sync.high_qc); !qc.ok()) {
        return Refuse(actions, VerdictFor(qc), "sync high_qc: " + qc.ToString());
      }
      ProcessQc(now, *sync.high_qc, from, actions);
    }
    if (sync.last_tc) {
      if (Status tc = certs.Verify(*sync.last_tc); !tc.ok()) {
        return Refuse(actions, VerdictFor(tc), "sync last_tc: " + tc.ToString());
      }
      ProcessTc(now, *sync.last_tc, from, actions);
    }
    if (!IsMe(from) && from < config.validators.size()) safety.RecordRecoveryReport(from, sync);
    return Verdict::kAccepted;
  }

  // Every validator asks its peers where they are when its core starts: whatever they said
  // before it was listening (at an epoch's start, after sync, after a restart) is lost, and
  // without it a quorum that needs this validator would wait for timers to repeat it. One
  // recovering its safety state keeps asking until it has enough reports.
  void AskForRounds(TimeMs now, Actions& actions) {
    const bool started = rounds_asked_at.has_value();
    if (!my_index || config.validators.size() < 2) return;
    if (started && (!safety.recovering() || now < *rounds_asked_at + config.fetch_retry_ms)) {
      return;
    }
    rounds_asked_at = now;
    actions.messages.push_back({Outgoing::kBroadcast, CertsRequest{}});
  }

  // Gives up on `round`: never vote in it, and tell everyone, with our highest QC.
  void LocalTimeout(TimeMs now, uint64_t round, Actions& actions) {
    std::optional<Timeout> timeout = safety.SignTimeout(round);
    if (!timeout) return;
    votes.AddOwnTimeout(*timeout);
    actions.messages.push_back({Outgoing::kBroadcast, std::move(*timeout)});
    MaybeFormTc(now, round, *my_index, actions);
  }

  void OnTimer(TimeMs now, Actions& actions) {
    if (!pacemaker.Expired(now)) return;
    const std::optional<Timeout>& mine = safety.last_timeout();
    if (mine && mine->data.round >= state().round) {
      actions.messages.push_back({Outgoing::kBroadcast, *mine});  // losses heal
    } else {
      LocalTimeout(now, state().round, actions);
    }
    pacemaker.Rearm(now);
  }

  Verdict HandleBlockResponse(TimeMs now, size_t from, const Block& block, Actions& actions) {
    const Hash256 hash = block.Hash();
    if (!tree.Requested(hash)) return Refuse(actions, Verdict::kStale, "block not requested");
    if (Status structure = block.CheckStructure(config.chain_id, &verifier); !structure.ok()) {
      return Refuse(actions, VerdictFor(structure), structure.ToString());
    }
    const ledger::VoteData& justified = block.header.justify.data;
    if (block.header.parent_hash != justified.block_hash ||
        block.header.height != justified.height + 1) {
      return Refuse(actions, Verdict::kUnsafe, "fetched block does not extend its justify QC");
    }
    if (Status qc = certs.Verify(block.header.justify); !qc.ok()) {
      return Refuse(actions, VerdictFor(qc), "justify: " + qc.ToString());
    }
    if (Status content = rules.CheckContent(host, block); !content.ok()) {
      return Refuse(actions, Verdict::kBadPayload, content.ToString());  // ask the next peer
    }
    tree.EndFetch(hash);
    ProcessQc(now, block.header.justify, from, actions);
    if (block.header.height <= tree.committed().height || tree.Find(hash) != nullptr) {
      return Verdict::kStale;
    }
    return Admit(now, from, block, hash, actions);
  }

  Config config;
  const KeyPair& key;
  Host& host;
  SignatureVerifier& verifier;
  ProtocolRules& rules;
  const std::optional<size_t> my_index;
  CertCache certs;
  SafetyRules safety;
  Pacemaker pacemaker;
  VoteCollector votes;
  BlockTree tree;

  std::map<size_t, TimeMs> sync_sent;         // peer -> when we last sent it SyncCerts
  std::map<size_t, TimeMs> round_state_sent;  // peer -> when we last answered its CertsRequest
  std::deque<Message> self_inbox;             // our own proposal and votes, handled by Drain
  size_t proposals_this_call = 0;
  std::optional<TimeMs> rounds_asked_at;  // when this validator last sent CertsRequest
  // The round and hash of this validator's latest proposal (SendRoundState repeats it).
  std::optional<std::pair<uint64_t, Hash256>> my_proposal;
  bool epoch_ended = false;
};

Core::Core(Config config, const KeyPair& key, Host& host, SignatureVerifier& verifier,
           SafetyState state, CommittedTip tip, std::vector<ledger::Block> stored_blocks)
    : s_(std::make_unique<State>(std::move(config), key, host, verifier, std::move(state), tip,
                                 std::move(stored_blocks))) {
  assert(s_->config.validators.size() > 0);
  s_->tree.Prune(s_->state());
}

Core::~Core() = default;

Actions Core::Start(TimeMs now) {
  Actions actions;
  State& s = *s_;
  if (s.epoch_ended) return actions;
  s.proposals_this_call = 0;
  s.pacemaker.EnterRound(now, /*ended_in_qc=*/false);
  s.AskForRounds(now, actions);
  s.MaybePropose(now, actions);
  s.Finish(now, actions);
  return actions;
}

Actions Core::OnMessage(TimeMs now, size_t from, const Message& message) {
  Actions actions;
  State& s = *s_;
  if (s.epoch_ended) return actions;
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
          if (from < s.config.validators.size() && !s.IsMe(from)) {
            s.SendRoundState(now, from, actions);
          }
        } else {
          s.HandleSync(now, from, m, actions);
        }
      },
      message);
  s.Finish(now, actions);
  return actions;
}

Actions Core::OnTick(TimeMs now) {
  Actions actions;
  State& s = *s_;
  if (s.epoch_ended) return actions;
  s.proposals_this_call = 0;
  s.AskForRounds(now, actions);
  s.OnTimer(now, actions);
  if (s.pacemaker.propose_at()) s.MaybePropose(now, actions);  // the host decides if it is time
  for (Outgoing& request : s.tree.DueFetches(now, s.my_index)) {
    actions.messages.push_back(std::move(request));
  }
  s.Finish(now, actions);
  return actions;
}

const SafetyState& Core::safety() const { return s_->state(); }
const CommittedTip& Core::committed() const { return s_->tree.committed(); }
uint64_t Core::round() const { return s_->state().round; }
uint64_t Core::term() const { return s_->state().term; }
std::optional<size_t> Core::my_index() const { return s_->my_index; }
size_t Core::LeaderOf(uint64_t term) const { return s_->Leader(term); }
bool Core::epoch_ended() const { return s_->epoch_ended; }

bool Core::proposal_waiting() const { return s_->pacemaker.propose_at().has_value(); }
size_t Core::held_blocks() const { return s_->tree.size(); }
bool Core::recovering() const { return s_->safety.recovering(); }
TimeMs Core::timeout_ms() const { return s_->pacemaker.TimeoutLength(); }

TimeMs Core::round_length_ms() const { return s_->pacemaker.round_length_ms(); }

const ledger::Block* Core::FindBlock(const Hash256& hash) const { return s_->tree.Find(hash); }

}  // namespace city::consensus
