// The pacemaker: who leads a term, when a round times out, and how patient the timeouts are.
// Round timeouts follow the network's measured pace and back off while rounds fail, coming
// down one step per commit rather than all at once. It keeps time only as told (no clock).
#pragma once

#include <optional>

#include "city/consensus/core.h"

namespace city::consensus {

class Pacemaker {
 public:
  explicit Pacemaker(const Config& config) : config_(config) {}

  // Leader(term) = members[term mod n], in genesis order.
  size_t LeaderOf(uint64_t term) const { return term % config_.validators.size(); }
  // max(base, 4 x the average length of rounds that ended in a QC) x 2^(failed rounds).
  TimeMs TimeoutLength() const;

  // The current round began at `now` (at start, or on entering a new round). `ended_in_qc`:
  // the previous round ended in a QC and directly precedes this one, so it was measured.
  void EnterRound(TimeMs now, bool ended_in_qc);
  void OnFailedRound() { ++failed_rounds_; }
  void OnCommit() {
    if (failed_rounds_ > 0) --failed_rounds_;
  }
  bool Expired(TimeMs now) const { return now >= deadline_; }
  void Rearm(TimeMs now) { deadline_ = now + TimeoutLength(); }
  TimeMs deadline() const { return deadline_; }
  TimeMs entered() const { return entered_; }
  // The measured pace: the moving average of rounds that ended in a QC (0 until one did).
  TimeMs round_length_ms() const { return round_length_ms_; }

  // The leader was asked by its host to wait until then (Host::ProposalDelay).
  const std::optional<TimeMs>& propose_at() const { return propose_at_; }
  void ProposeAt(std::optional<TimeMs> at) { propose_at_ = at; }

 private:
  const Config& config_;
  TimeMs deadline_ = 0;
  TimeMs entered_ = 0;
  std::optional<TimeMs> propose_at_;
  uint32_t failed_rounds_ = 0;
  TimeMs round_length_ms_ = 0;  // moving average over eight rounds that ended in a QC
};

}  // namespace city::consensus
