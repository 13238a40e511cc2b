// Deliberately broken safety rules, for proving that the simulator's checks have teeth.
// Only the test-only library city_consensus_mutable defines CITY_CONSENSUS_MUTATIONS; in the
// production library every Mutated() is a constant false and the compiler drops the branch.
#pragma once

#include <optional>
#include <string_view>

#include "city/crypto/ed25519.h"

namespace city::consensus {

enum class Mutation {
  kNone,
  kNoRoundCheck,       // "no-round-check": vote again in a round already voted in
  kCommitOneChain,     // "commit-one-chain": commit a block as soon as it has a QC
  kNoTcQcCheck,        // "no-tc-qc-check": after a TC, accept a proposal below the TC's high QC
  kNoPersist,          // "no-persist": skip persisting safety state before votes and timeouts
  kKeepEveryProposal,  // "keep-every-proposal": store each distinct proposal of a round
  kVoteAfterTimeout,   // "vote-after-timeout": a timeout does not rule out voting in its round
  kSkipContentCheck,   // "skip-content-check": store proposals without Host::CheckContent
};

#ifdef CITY_CONSENSUS_MUTATIONS
// Set once, before any core runs (city-sim does it from --mutation).
void SetMutation(Mutation mutation);
bool Mutated(Mutation mutation);

// A test-only adversary: the core holding this key (per thread, as each simulator thread runs
// one schedule at a time) under-reports its high QC in timeouts, proposes after a TC on the
// highest QC it holds below the TC's highest, and votes for its own proposals regardless:
// the attack that only the TC rule of docs/consensus.md stops.
void SetForkingAdversary(std::optional<PublicKey> key);
bool IsForkingAdversary(const PublicKey& key);
#else
constexpr bool Mutated(Mutation) { return false; }
#endif

}  // namespace city::consensus
