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
  kValidatorChange,     // next_validators, when set, is a set a change may name
};

struct HeaderRuleBroken {
  HeaderRule rule;
  std::string reason;  // a sentence naming the values, e.g. "round 5 is not above ..."
};

// The first rule `header` breaks, or nullopt when it keeps them all.
std::optional<HeaderRuleBroken> CheckHeaderRules(const BlockHeader& header,
                                                 const ValidatorSet& validators);

// ---- Epochs (docs/consensus.md, "Epochs") ----

// The fewest validators a change may name: below 4 a set tolerates no Byzantine member.
inline constexpr size_t kMinValidatorsAfterChange = 4;
// A set-validators proposal that passes at height P ends its epoch at height P + this margin.
// It is above the most a proposal's execution may lag it, so every validator that votes on
// the last block of the epoch has executed P and knows the change.
inline constexpr uint64_t kEpochChangeMargin = 128;

// Why `validators` cannot be the next set (too few, too many, a key twice or not a valid
// point), or nullopt. Governance refuses such a proposal; every reader refuses such a header.
std::optional<std::string> ValidatorChangeProblem(const std::vector<PublicKey>& validators);

// One epoch as every reader of the chain derives it, from the genesis and the headers alone.
struct Epoch {
  uint64_t number = 0;
  ValidatorSet validators;
  Hash256 root_hash;  // the genesis block, or the previous epoch's last block
  uint64_t root_height = 0;

  static Epoch Genesis(ValidatorSet validators, const Hash256& genesis_hash);
  // The epoch after this one, whose last block is `last` (a header naming the next set).
  Epoch Next(const BlockHeader& last, const Hash256& last_hash) const;
  // The epoch a committed block's child belongs to: the next one after a block naming a set.
  Epoch After(const BlockHeader& committed, const Hash256& committed_hash) const {
    return committed.next_validators.empty() ? *this : Next(committed, committed_hash);
  }
  CertContext Context(const std::string& chain_id, SignatureVerifier* verifier) const;
  QuorumCert RootCert() const { return QuorumCert::Root(number, root_height, root_hash); }
};

// What executing a transaction costs, in units of one small call. It must be known before
// execution and alike on every validator, so it is estimated from the transaction alone: one
// unit for the call (its nonce, permission and a few state reads and writes: every method of
// the four contracts runs within 0.4-1x of a signature verification, docs/benchmarks.md)
// plus one per started KiB of arguments (decoded, hashed, and mostly stored in the state
// tree, whose writes dominate a large call).
uint64_t ExecutionCost(const Transaction& tx);
uint64_t ExecutionCost(const std::vector<Transaction>& txs);

// Why a block at `height` may not hold `tx` (its expiry is below the height, or more than
// kMaxExpiryHorizon above it), as a phrase following "a transaction ...", or nullopt.
// Block::CheckStructure applies it, so a proposal or a synced block breaking it is refused
// before anyone votes on or commits it.
std::optional<std::string> ExpiryProblem(const Transaction& tx, uint64_t height);

// The two-chain commit rule: a block whose round directly follows its justify's round proves,
// once it is certified itself, that its parent (the justify's block) and every ancestor of
// the parent are committed.
inline bool CertifyingCommitsParent(const BlockHeader& child) {
  return child.round == child.justify.data.round + 1;
}

}  // namespace city::ledger
