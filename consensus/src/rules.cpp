#include "city/consensus/rules.h"

#include <algorithm>

namespace city::consensus {

std::optional<ledger::HeaderRuleBroken> ProtocolRules::CheckHeader(
    const ledger::BlockHeader& header, const ledger::ValidatorSet& validators) {
  return ledger::CheckHeaderRules(header, validators);
}

bool ProtocolRules::MayVote(const SafetyState& state, const ledger::BlockHeader& header) {
  return header.round == state.round && header.round > state.last_voted_round;
}

uint64_t ProtocolRules::LastVotedAfterTimeout(uint64_t last_voted_round, uint64_t round) {
  return std::max(last_voted_round, round);
}

Status ProtocolRules::PersistSafety(Host& host, const SafetyState& state) {
  return host.PersistSafety(state);
}

Status ProtocolRules::CheckContent(Host& host, const ledger::Block& block) {
  return host.CheckContent(block);
}

Status ProtocolRules::CheckPayload(Host& host, const ledger::Block& block) {
  return host.CheckPayload(block);
}

bool ProtocolRules::IsSecondProposal(const Hash256& first, const Hash256& second) {
  return first != second;
}

std::optional<ledger::QuorumCert> ProtocolRules::CommitTarget(const ledger::Block& certified,
                                                              const ledger::QuorumCert&) {
  if (!ledger::CertifyingCommitsParent(certified.header)) return std::nullopt;
  return certified.header.justify;
}

const ledger::QuorumCert& ProtocolRules::QcToReport(const SafetyState& state) {
  return state.high_qc;
}

const ledger::QuorumCert& ProtocolRules::QcToExtend(const SafetyState& state,
                                                    const std::optional<ledger::TimeoutCert>&) {
  return state.high_qc;
}

ProtocolRules& ProtocolRules::Standard() {
  static ProtocolRules rules;  // stateless: shared by every core and thread
  return rules;
}

}  // namespace city::consensus
