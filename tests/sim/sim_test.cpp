// Simulated schedules through the production consensus core (city-sim runs the same library,
// with its --mutation rules), and the replay guarantee that makes failures debuggable.
#include <gtest/gtest.h>

#include "mutations.h"
#include "simulation.h"

namespace city::sim {
namespace {

// Runs the schedules, expects each safe and live, and returns their sum.
ScheduleResult ExpectCleanSchedules(size_t validators, size_t faulty, uint64_t first_seed,
                                    uint64_t count, const std::string& byzantine = "",
                                    bool reconfigure = false) {
  ScheduleResult total;
  uint64_t committed = 0;
  for (uint64_t seed = first_seed; seed < first_seed + count; ++seed) {
    ScheduleParams params;
    params.seed = seed;
    params.validators = validators;
    params.faulty = faulty;
    params.byzantine = byzantine;
    params.reconfigure = reconfigure;
    const ScheduleResult result = RunSchedule(params);
    EXPECT_FALSE(result.safety_violation) << "seed " << seed << ": " << result.detail;
    EXPECT_FALSE(result.liveness_failure) << "seed " << seed << ": " << result.detail;
    if (result.safety_violation || result.liveness_failure) return total;
    committed += result.committed_height;
    total.synced_blocks += result.synced_blocks;
    total.sync_faults += result.sync_faults;
    total.epochs += result.epochs;
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

// Validator-set changes: spares added, honest validators removed and keys rotated, a few times
// per schedule, under the usual faults. No two honest processes commit different blocks at
// any height across epochs, no block above an epoch's last one is committed in that epoch,
// every certificate verifies against its own epoch's set (all checked at every commit), and
// the honest validators of the last epoch reach it and keep committing.
TEST(Simulation, ValidatorSetChangesStaySafeAndLive) {
  const ScheduleResult total = ExpectCleanSchedules(4, 1, 1, 16, "", /*reconfigure=*/true);
  EXPECT_GE(total.epochs, 16u * 2) << "the schedules changed the validator set too seldom";
}

TEST(Simulation, ValidatorSetChangesWithSevenValidatorsStaySafeAndLive) {
  const ScheduleResult total = ExpectCleanSchedules(7, 2, 1000001, 6, "", /*reconfigure=*/true);
  EXPECT_GE(total.epochs, 6u * 2) << "the schedules changed the validator set too seldom";
}

// A validator removed or added mid-run must also be able to catch up through sync alone,
// against a peer that lies to it.
TEST(Simulation, ValidatorSetChangesWithALyingSyncPeerStaySafeAndLive) {
  ExpectCleanSchedules(4, 1, 20001, 8, "liar", /*reconfigure=*/true);
}

// The epoch invariants have teeth: processes that keep the old set after an epoch's end
// (wrong-epoch-certs) commit blocks whose certificates the new epoch's set does not sign.
TEST(Simulation, CertificatesCheckedAgainstThePreviousEpochsSetAreCaught) {
  bool caught = false;
  for (uint64_t seed = 1; seed <= 20 && !caught; ++seed) {
    ScheduleParams params;
    params.seed = seed;
    params.reconfigure = true;
    params.mutation = std::string(kWrongEpochCerts);
    const ScheduleResult result = RunSchedule(params);
    caught = result.safety_violation;
    if (caught) {
      EXPECT_NE(result.detail.find("does not verify against epoch"), std::string::npos)
          << result.detail;
    }
  }
  EXPECT_TRUE(caught);
}

// Stalls at an epoch's end that --reconfigure found before the core broadcast the certificate
// that ended its epoch and the node kept next-epoch messages for its next core (each stalled
// for good then); replayed so they stay fixed.
ScheduleResult RunReconfigured(uint64_t seed) {
  ScheduleParams params;
  params.seed = seed;
  params.reconfigure = true;
  return RunSchedule(params);
}

// The leader that formed the certificate completing E's two-chain committed E, went quiet and
// was rotated out of the next set: the others never saw that certificate, could not form a TC
// without it (one member silent), and had nobody of the later epoch to catch up from.
TEST(Simulation, EpochEndCommittedOnlyByALeaderRotatedOutReachesTheOthers) {
  const ScheduleResult result = RunReconfigured(17);
  EXPECT_FALSE(result.safety_violation || result.liveness_failure) << result.detail;
  EXPECT_EQ(result.epochs, 4u) << result.detail;
}

// The only validator of the next epoch that went on was a liar: every catch-up asked the
// sender of the later epoch's message, which lied, and block sync never took over (the end
// was one block away, within the join gap).
TEST(Simulation, LyingValidatorAloneInTheNextEpochDoesNotStallTheEnd) {
  const ScheduleResult result = RunReconfigured(53);
  EXPECT_FALSE(result.safety_violation || result.liveness_failure) << result.detail;
}

// The only validator of the next epoch that went on had committed E through sync, which keeps
// no EpochEndProof: the others' catch-ups from it got E without the suffix that proves it.
TEST(Simulation, EpochEndSyncedWithoutItsProofStillReachesTheOthers) {
  const ScheduleResult result = RunReconfigured(41);
  EXPECT_FALSE(result.safety_violation || result.liveness_failure) << result.detail;
}

// One faulty validator, a member of every set, sends each second a well-signed timeout of the
// next epoch. Regression: the node once read a message's epoch before any signature and caught
// up from its sender at once, over and over (in seed 181 no block ever committed). Now only
// f + 1 members of the next set past the end make a node catch up (consensus/next_epoch.h).
TEST(Simulation, AClaimOfALaterEpochByOneFaultyValidatorKnocksNobodyOutOfConsensus) {
  ScheduleParams params;
  params.byzantine = "epoch-faker";
  for (bool reconfigure : {false, true}) {
    params.reconfigure = reconfigure;
    for (uint64_t seed : {181, 182, 183, 184, 185}) {
      params.seed = seed;
      const ScheduleResult result = RunSchedule(params);
      EXPECT_FALSE(result.safety_violation || result.liveness_failure)
          << "seed " << seed << (reconfigure ? " --reconfigure: " : ": ") << result.detail;
    }
  }
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

// Everything of a schedule follows from its seed: run twice, it comes out the same.
void ExpectReplaysExactly(const ScheduleParams& params) {
  const ScheduleResult first = RunSchedule(params);
  const ScheduleResult again = RunSchedule(params);
  EXPECT_EQ(first.committed_height, again.committed_height);
  EXPECT_EQ(first.messages, again.messages);
  EXPECT_EQ(first.virtual_ms, again.virtual_ms);
  EXPECT_EQ(first.epochs, again.epochs);
  EXPECT_EQ(first.detail, again.detail);
}

TEST(Simulation, ASeedReplaysExactly) {
  ScheduleParams params;
  params.seed = 424242;
  params.validators = 7;
  params.faulty = 2;
  ExpectReplaysExactly(params);
}

TEST(Simulation, AReconfiguredSeedReplaysExactly) {
  ScheduleParams params;
  params.seed = 424243;
  params.reconfigure = true;
  ExpectReplaysExactly(params);
}

}  // namespace
}  // namespace city::sim
