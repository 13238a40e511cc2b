// The safety rules: the only writer of the safety state (last_voted_round, last_proposed_round,
// high_qc and the round it is in) and the only caller of Host::PersistSafety. Every vote,
// timeout and proposal is signed here, after the state that rules out a second one is durable.
#pragma once

#include <map>
#include <optional>

#include "city/consensus/core.h"
#include "city/consensus/rules.h"

namespace city::consensus {

class SafetyRules {
 public:
  SafetyRules(const Config& config, const KeyPair& key, std::optional<size_t> my_index, Host& host,
              ProtocolRules& rules, SafetyState state);

  const SafetyState& state() const { return state_; }
  // A member of the validator set that is not recovering a lost state may sign.
  bool MaySign() const { return my_index_.has_value() && !recovering_; }
  bool recovering() const { return recovering_; }

  // Enters `round` of `term`; `tc` is the TC that ended round - 1, if that is how.
  void EnterRound(uint64_t round, uint64_t term, std::optional<ledger::TimeoutCert> tc);
  // Keeps `tc` if it ended the round just before this one and none is kept (this validator
  // entered the round by a QC): the leader of term `round` may then propose on it.
  bool KeepPreviousRoundTc(const ledger::TimeoutCert& tc);
  void ObserveQc(const ledger::QuorumCert& qc);

  // Whether this validator may still propose in its round (it has neither proposed, voted
  // nor timed out in it), and the claim that makes any other proposal for it impossible.
  bool MayPropose() const;
  bool ClaimProposal();
  const ledger::QuorumCert& QcToExtend(const std::optional<ledger::TimeoutCert>& entered_by);

  bool MayVote(const ledger::BlockHeader& header);
  // nullopt if the vote is not allowed or its state could not be made durable.
  std::optional<ledger::Vote> SignVote(const ledger::Block& block, const Hash256& hash);
  // Gives up on `round` for good; nullopt if this validator may not sign, already timed out
  // in it, or could not make that durable.
  std::optional<ledger::Timeout> SignTimeout(uint64_t round);
  // The latest timeout this validator signed (sent again while its round lasts).
  const std::optional<ledger::Timeout>& last_timeout() const { return last_timeout_; }

  // Config::recover_safety: a peer's certificates prove the round it is in. Once enough
  // peers have reported, this validator abstains through the highest of those rounds plus
  // one (any round it may have signed in before), persists that, and may sign again.
  void RecordRecoveryReport(size_t from, const SyncCerts& sync);

  // The last persist failure since the previous call.
  std::optional<Status> TakePersistError() { return std::exchange(persist_error_, std::nullopt); }

 private:
  bool Persist();

  const Config& config_;
  const KeyPair& key_;
  const std::optional<size_t> my_index_;
  Host& host_;
  ProtocolRules& rules_;
  SafetyState state_;
  std::optional<ledger::Timeout> last_timeout_;
  bool recovering_ = false;
  std::map<size_t, uint64_t> recovery_reports_;  // peer -> the round its certificates prove
  std::optional<Status> persist_error_;
};

}  // namespace city::consensus
