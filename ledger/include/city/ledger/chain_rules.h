// The rules every certified header obeys beyond its signatures (docs/consensus.md, "Entering
// a round" and "Validating a proposal"), in one place: the consensus core checks them before
// it stores a proposal, block sync before it commits what a peer sent, and cityctl's auditor
// on every header it is shown. Each caller adds what only it knows (the core its epoch and
// payload, sync and the auditor the parent they hold and the certificates' signatures).
#pragma once

#include <optional>
#include <string>

#include "city/ledger/types.h"

namespace city::ledger {

// The leader of `term`: the validators in genesis order, one term each in turn.
const PublicKey& LeaderOf(uint64_t term, const ValidatorSet& validators);

enum class HeaderRule {
  kExtendsJustify,      // parent_hash and height follow the justify QC's block
  kRoundAboveJustify,   // round > justify.round
  kFollowsJustify,      // no TC: round = justify.round + 1, in justify's term
  kFollowsTimeoutCert,  // with a TC of round r: round = r + 1, term = round
  kJustifyAtLeastTcQc,  // with a TC: justify.round >= the TC's highest QC round
  kProposerLeadsTerm,   // proposer = LeaderOf(term)
};

struct HeaderRuleBroken {
  HeaderRule rule;
  std::string reason;  // a sentence naming the values, e.g. "round 5 is not above ..."
};

// The first rule `header` breaks, or nullopt when it keeps them all.
std::optional<HeaderRuleBroken> CheckHeaderRules(const BlockHeader& header,
                                                 const ValidatorSet& validators);

// What executing a transaction costs, in units of one small call. It must be known before
// execution and alike on every validator, so it is estimated from the transaction alone: one
// unit for the call (its nonce, permission and a few state reads and writes: every method of
// the four contracts runs within 0.4-1x of a signature verification, docs/benchmarks.md)
// plus one per started KiB of arguments (decoded, hashed, and mostly stored in the state
// tree, whose writes dominate a large call).
uint64_t ExecutionCost(const Transaction& tx);
uint64_t ExecutionCost(const std::vector<Transaction>& txs);

// The two-chain commit rule: a block whose round directly follows its justify's round proves,
// once it is certified itself, that its parent (the justify's block) and every ancestor of
// the parent are committed.
inline bool CertifyingCommitsParent(const BlockHeader& child) {
  return child.round == child.justify.data.round + 1;
}

}  // namespace city::ledger
