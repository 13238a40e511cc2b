// Votes and timeouts per round, and the certificates they form: a QC when a quorum votes for
// the same block, a TC when a quorum times out a round. It verifies each signature once, after
// the cheap duplicate checks, and keeps nothing below the round it is told to forget.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cert_cache.h"
#include "city/consensus/core.h"

namespace city::consensus {

class VoteCollector {
 public:
  VoteCollector(const Config& config, CertCache& certs) : config_(config), certs_(certs) {}

  struct Outcome {
    Verdict verdict = Verdict::kAccepted;
    std::string reason;
    std::optional<Evidence> evidence;      // a second, different signed vote of one voter
    std::optional<ledger::QuorumCert> qc;  // formed by this vote (exactly once per block)
  };
  // A vote already checked for epoch, membership, round window and leader.
  Outcome AddVote(const ledger::Vote& vote);

  bool HasTimeout(uint64_t round, const PublicKey& sender) const;
  // A timeout already checked for epoch, membership and round window: verifies and keeps it.
  Status AddTimeout(const ledger::Timeout& timeout);
  // This validator's own timeout, signed here.
  void AddOwnTimeout(const ledger::Timeout& timeout);
  size_t TimeoutCount(uint64_t round) const;
  // The TC of `round` once a quorum timed it out.
  std::optional<ledger::TimeoutCert> FormTc(uint64_t round);

  // Drops everything below `round`.
  void ForgetBelow(uint64_t round);

 private:
  const Config& config_;
  CertCache& certs_;
  std::map<uint64_t, std::map<PublicKey, ledger::Vote>> votes_;
  std::map<uint64_t, std::map<PublicKey, ledger::Timeout>> timeouts_;
};

}  // namespace city::consensus
