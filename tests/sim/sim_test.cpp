// Simulated schedules through the production consensus core (city-sim runs the same library,
// with its --mutation rules), and the replay guarantee that makes failures debuggable.
#include <gtest/gtest.h>

#include "simulation.h"

namespace city::sim {
namespace {

void ExpectCleanSchedules(size_t validators, size_t faulty, uint64_t first_seed, uint64_t count,
                          const std::string& byzantine = "") {
  uint64_t committed = 0;
  for (uint64_t seed = first_seed; seed < first_seed + count; ++seed) {
    ScheduleParams params;
    params.seed = seed;
    params.validators = validators;
    params.faulty = faulty;
    params.byzantine = byzantine;
    const ScheduleResult result = RunSchedule(params);
    ASSERT_FALSE(result.safety_violation) << "seed " << seed << ": " << result.detail;
    ASSERT_FALSE(result.liveness_failure) << "seed " << seed << ": " << result.detail;
    committed += result.committed_height;
  }
  EXPECT_GT(committed, count * 3) << "schedules that commit nothing check nothing";
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
