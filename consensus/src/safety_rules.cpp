#include "safety_rules.h"

#include <algorithm>

namespace city::consensus {

SafetyRules::SafetyRules(const Config& config, const KeyPair& key, std::optional<size_t> my_index,
                         Host& host, ProtocolRules& rules, SafetyState state)
    : config_(config),
      key_(key),
      my_index_(my_index),
      host_(host),
      rules_(rules),
      state_(std::move(state)),
      recovering_(config.recover_safety) {}

bool SafetyRules::Persist() {
  Status saved = rules_.PersistSafety(host_, state_);
  if (saved.ok()) return true;
  persist_error_ = std::move(saved);
  return false;
}

void SafetyRules::EnterRound(uint64_t round, uint64_t term, std::optional<ledger::TimeoutCert> tc) {
  state_.round = round;
  state_.term = term;
  state_.last_tc = std::move(tc);
}

bool SafetyRules::KeepPreviousRoundTc(const ledger::TimeoutCert& tc) {
  if (tc.round + 1 != state_.round || state_.last_tc) return false;
  state_.last_tc = tc;
  return true;
}

void SafetyRules::ObserveQc(const ledger::QuorumCert& qc) {
  if (qc.data.round > state_.high_qc.data.round) state_.high_qc = qc;
}

bool SafetyRules::MayPropose() const {
  return MaySign() && state_.last_proposed_round < state_.round &&
         state_.last_voted_round < state_.round;
}

bool SafetyRules::ClaimProposal() {
  if (!MayPropose()) return false;
  state_.last_proposed_round = state_.round;
  return Persist();  // fail-stop: a proposal that a restart could repeat is not sent
}

const ledger::QuorumCert& SafetyRules::QcToExtend(
    const std::optional<ledger::TimeoutCert>& entered_by) {
  return rules_.QcToExtend(state_, entered_by);
}

bool SafetyRules::MayVote(const ledger::BlockHeader& header) {
  return MaySign() && rules_.MayVote(state_, header);
}

std::optional<ledger::Vote> SafetyRules::SignVote(const ledger::Block& block, const Hash256& hash) {
  const ledger::BlockHeader& header = block.header;
  if (!MayVote(header)) return std::nullopt;
  state_.last_voted_round = std::max(state_.last_voted_round, header.round);
  if (!Persist()) return std::nullopt;  // a vote that might not survive a crash is not sent
  const ledger::VoteData data{config_.epoch, header.term, header.round, header.height, hash};
  return ledger::Vote::Create(data, config_.chain_id, key_);
}

std::optional<ledger::Timeout> SafetyRules::SignTimeout(uint64_t round) {
  if (!MaySign() || (last_timeout_ && last_timeout_->data.round >= round)) return std::nullopt;
  state_.last_voted_round = rules_.LastVotedAfterTimeout(state_.last_voted_round, round);
  if (!Persist()) return std::nullopt;
  const ledger::QuorumCert& reported = rules_.QcToReport(state_);
  last_timeout_ = ledger::Timeout::Create({config_.epoch, round, reported.data.round}, reported,
                                          config_.chain_id, key_);
  return last_timeout_;
}

void SafetyRules::RecordRecoveryReport(size_t from, const SyncCerts& sync) {
  if (!recovering_ || (!sync.high_qc && !sync.last_tc)) return;  // proves no round
  uint64_t certified_round = 0;
  if (sync.high_qc) certified_round = sync.high_qc->data.round;
  if (sync.last_tc) certified_round = std::max(certified_round, sync.last_tc->round);
  uint64_t& reported = recovery_reports_[from];
  reported = std::max(reported, certified_round + 1);  // the round the peer is in
  const size_t needed = RecoveryReportsNeeded(config_.validators);
  if (needed == 0 || recovery_reports_.size() < needed) return;
  uint64_t highest = 0;
  for (const auto& [peer, round] : recovery_reports_) highest = std::max(highest, round);
  // This validator may have signed in any round up to highest + 1, never above it.
  state_.last_voted_round = std::max(state_.last_voted_round, highest + 1);
  state_.last_proposed_round = std::max(state_.last_proposed_round, highest + 1);
  if (!Persist()) return;  // still recovering: asks again, and persists again
  recovering_ = false;
  recovery_reports_.clear();
}

}  // namespace city::consensus
