#include "pacemaker.h"

#include <algorithm>

namespace city::consensus {
namespace {

// A round timeout is at least this many times the measured length of a round that ended in
// a QC, so a network slowed by load does not time its healthy leader out.
constexpr TimeMs kTimeoutPerRoundLength = 4;

}  // namespace

TimeMs Pacemaker::TimeoutLength() const {
  const uint32_t doublings = std::min<uint32_t>(failed_rounds_, 20);
  const TimeMs base = std::max(config_.base_timeout_ms, kTimeoutPerRoundLength * round_length_ms_);
  return std::min(config_.max_timeout_ms, base << doublings);
}

void Pacemaker::EnterRound(TimeMs now, bool ended_in_qc) {
  if (ended_in_qc && now >= entered_) {
    round_length_ms_ = (7 * round_length_ms_ + (now - entered_)) / 8;
  }
  entered_ = now;
  deadline_ = now + TimeoutLength();
  propose_at_.reset();
}

}  // namespace city::consensus
