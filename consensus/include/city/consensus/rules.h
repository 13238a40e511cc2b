// The protocol's decision points (docs/consensus.md), in one class that every component of the
// core consults: which headers are acceptable, when a validator may vote, what a timeout rules
// out, what must be durable before anything is signed, which block a QC commits, and which QC
// a timeout reports or a proposal extends.
//
// The production core uses ProtocolRules as it is. The simulator derives from it to break one
// rule on purpose, proving that its invariants catch the break, and to script the choices of
// a forking adversary (tests/sim/mutations.cpp). So the schedules run the production library,
// and the production source holds no test-only branch.
#pragma once

#include <optional>

#include "city/consensus/core.h"
#include "city/ledger/chain_rules.h"

namespace city::consensus {

class ProtocolRules {
 public:
  virtual ~ProtocolRules() = default;

  // The header rules of ledger/chain_rules.h: leader, round, term and certificates.
  virtual std::optional<ledger::HeaderRuleBroken> CheckHeader(
      const ledger::BlockHeader& header, const ledger::ValidatorSet& validators);
  // A validator votes only in the round it is in, and at most once in it.
  virtual bool MayVote(const SafetyState& state, const ledger::BlockHeader& header);
  // The new last_voted_round once a validator times out `round`: no vote in it, ever.
  virtual uint64_t LastVotedAfterTimeout(uint64_t last_voted_round, uint64_t round);
  // Makes the safety state durable before the vote, timeout or proposal it guards leaves.
  virtual Status PersistSafety(Host& host, const SafetyState& state);
  // The stateless checks every block passes before it is stored, whoever signed it.
  virtual Status CheckContent(Host& host, const ledger::Block& block);
  // The host's checks of a proposal against its chain (execution fields, nonces) before a vote.
  virtual Status CheckPayload(Host& host, const ledger::Block& block);
  // True when `second` is not the proposal `first` already held for the same (round,
  // proposer): evidence of equivocation, and never stored.
  virtual bool IsSecondProposal(const Hash256& first, const Hash256& second);
  // The two-chain rule: the QC of the block that a new QC over `certified` commits (with
  // every ancestor of it), or nullopt when it commits nothing.
  virtual std::optional<ledger::QuorumCert> CommitTarget(const ledger::Block& certified,
                                                         const ledger::QuorumCert& qc);
  // The QC a timeout carries: the highest one held.
  virtual const ledger::QuorumCert& QcToReport(const SafetyState& state);
  // The QC a new proposal extends, `entered_by` the TC it carries (nullopt when it follows a
  // QC of the round before): the highest one held.
  virtual const ledger::QuorumCert& QcToExtend(
      const SafetyState& state, const std::optional<ledger::TimeoutCert>& entered_by);

  // The rules of docs/consensus.md, shared by every core that is given no others.
  static ProtocolRules& Standard();
};

}  // namespace city::consensus
