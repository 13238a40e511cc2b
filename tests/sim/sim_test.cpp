// Simulated schedules through the production consensus core (city-sim runs the same library,
// with its --mutation rules), and the replay guarantee that makes failures debuggable.
#include <gtest/gtest.h>

#include "simulation.h"

namespace city::sim {
namespace {

// Runs the schedules, expects each safe and live, and returns their sum.
ScheduleResult ExpectCleanSchedules(size_t validators, size_t faulty, uint64_t first_seed,
                                    uint64_t count, const std::string& byzantine = "") {
  ScheduleResult total;
  uint64_t committed = 0;
  for (uint64_t seed = first_seed; seed < first_seed + count; ++seed) {
    ScheduleParams params;
    params.seed = seed;
    params.validators = validators;
    params.faulty = faulty;
    params.byzantine = byzantine;
    const ScheduleResult result = RunSchedule(params);
    EXPECT_FALSE(result.safety_violation) << "seed " << seed << ": " << result.detail;
    EXPECT_FALSE(result.liveness_failure) << "seed " << seed << ": " << result.detail;
    if (result.safety_violation || result.liveness_failure) return total;
    committed += result.committed_height;
    total.synced_blocks += result.synced_blocks;
    total.sync_faults += result.sync_faults;
  }
  EXPECT_GT(committed, count * 3) << "schedules that commit nothing check nothing";
  total.committed_height = committed;
  return total;
}

TEST(Simulation, FourValidatorsOneByzantineStaySafeAndLive) { ExpectCleanSchedules(4, 1, 1, 150); }

TEST(Simulation, SevenValidatorsTwoByzantineStaySafeAndLive) {
  ExpectCleanSchedules(7, 2, 5001, 40);
}

// A leader that signs 40 distinct proposals a round for every validator: the honest
// validators store at most two blocks per (round, proposer) (checked after every step; the
// keep-every-proposal mutation is caught by it) and keep committing.
TEST(Simulation, FloodingLeaderNeitherFillsTheBlockTreeNorStopsTheChain) {
  ExpectCleanSchedules(4, 1, 9001, 30, "flooder");
}

// A leader whose proposals carry an oversized payload with a transaction no host accepts:
// nothing of it is ever stored by an honest validator (checked after every step), and the
// others carry the chain.
TEST(Simulation, JunkPayloadLeaderIsNeverStoredAndCannotStopTheChain) {
  ExpectCleanSchedules(4, 1, 9501, 30, "junk");
}

// A validator that answers every block sync request with a lie (altered blocks, forged
// certificates, blocks that do not chain, nothing) and claims heights far above its own:
// the nodes that sync from it refuse each lie, sync from the others, and no honest node
// ever commits anything but the one chain (checked after every step).
TEST(Simulation, LyingSyncPeerIsRefusedAndNodesStillCatchUp) {
  const ScheduleResult total = ExpectCleanSchedules(4, 1, 12001, 150, "liar");
  EXPECT_GT(total.sync_faults, 0u) << "no schedule had a node sync from the liar";
  EXPECT_GT(total.synced_blocks, 0u) << "no schedule had a node catch up through sync";
}

// A leader whose proposals claim a state root no execution of the chain yields: honest
// validators, which execute (taking time) and check the execution fields before they vote,
// never commit such a block (checked at every commit).
TEST(Simulation, MisreportedStateRootIsNeverCommitted) {
  ExpectCleanSchedules(4, 1, 14001, 30, "misreporter");
}

TEST(Simulation, HealthyNetworkWithoutFaultsCommitsSteadily) {
  ScheduleParams params;
  params.seed = 77;
  params.faulty = 0;
  params.crashes = false;
  const ScheduleResult result = RunSchedule(params);
  EXPECT_FALSE(result.safety_violation || result.liveness_failure) << result.detail;
  EXPECT_GE(result.committed_height, 3u);
}

TEST(Simulation, ASeedReplaysExactly) {
  ScheduleParams params;
  params.seed = 424242;
  params.validators = 7;
  params.faulty = 2;
  const ScheduleResult first = RunSchedule(params);
  const ScheduleResult again = RunSchedule(params);
  EXPECT_EQ(first.committed_height, again.committed_height);
  EXPECT_EQ(first.messages, again.messages);
  EXPECT_EQ(first.virtual_ms, again.virtual_ms);
  EXPECT_EQ(first.detail, again.detail);
}

}  // namespace
}  // namespace city::sim
