// A discrete-event simulation of n validators running the real consensus core in one
// process, on a virtual clock, with a hostile network and Byzantine participants.
// Deterministic: a schedule is a function of its seed, so any failure replays exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace city::sim {

struct ScheduleParams {
  uint64_t seed = 1;
  size_t validators = 4;
  size_t faulty = 1;    // Byzantine validators (each gets a random kind of misbehaviour)
  bool crashes = true;  // honest validators may crash and restart before the network heals
  uint64_t liveness_window_ms = 120'000;  // after GST, new blocks must commit within this
  uint64_t target_new_commits = 3;        // blocks every honest validator must add after GST
  bool trace = false;                     // one line per event on stderr, for replays
  std::string byzantine;  // "" for a random kind per faulty validator, else that kind's name
  // A rule every core but the forker's breaks on purpose (mutations.h), or "none".
  std::string mutation = "none";
  // A Twins scenario (below) instead of random faults: its index, 0..TwinsScenarioCount - 1.
  std::optional<uint64_t> twins;
  size_t twins_phases = 3;
  uint64_t twins_phase_ms = 1200;
  // Validator-set changes (epochs, docs/consensus.md): the seed fixes a few changes, each
  // ending the running epoch 20-60 blocks after the one before, over a pool of n + 3 keys
  // (the spares start as observers). The Byzantine validators stay in every set, which keeps
  // at least 3f + 1 members. Liveness then needs the last epoch reached: every honest member
  // of it commits target_new_commits blocks past both GST's height and the last change.
  // Not with twins.
  bool reconfigure = false;
};

// Twins (Bano et al., "Twins: BFT Systems Made Robust"): scenarios enumerated, not drawn.
// One validator runs as two processes with the same key, both honest code, so equivocation
// and double votes arise by themselves. For each of the first `phases` phases every process
// is placed in one of two partitions (messages cross only within one; which validator leads
// follows from the protocol's rounds and timeouts in each); then the network heals, and the
// chain must be safe throughout and live after. No loss, crashes or slow links: only the
// enumerated partitions. Scenario index = twin + n * (partition of phase 0 + 2^n * ...).
uint64_t TwinsScenarioCount(size_t validators, size_t phases);

struct ScheduleResult {
  bool safety_violation = false;
  bool liveness_failure = false;
  std::string detail;             // what went wrong, or a summary of the schedule
  uint64_t committed_height = 0;  // lowest committed height among honest validators
  uint64_t messages = 0;
  uint64_t virtual_ms = 0;
  // Virtual time from GST until every honest validator had added target_new_commits blocks
  // (the measured liveness bound); 0 when it was never reached.
  uint64_t gst_to_liveness_ms = 0;
  uint64_t synced_blocks = 0;  // committed through block sync
  uint64_t sync_faults = 0;    // sync replies refused as lies (a liar's, or a faulty peer's)
  uint64_t epochs = 0;         // epochs reached (beyond the first) by every live process
};

ScheduleResult RunSchedule(const ScheduleParams& params);

}  // namespace city::sim
