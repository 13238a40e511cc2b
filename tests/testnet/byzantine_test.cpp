// One of four validators runs cityd-byzantine: as a leader it sends every peer a different
// proposal (equivocation) and a thousand more distinct, correctly signed ones each (a flood).
// The honest three keep committing under load, agree block for block, report the evidence,
// and hold a bounded block tree; every accepted transaction commits exactly once.
#include <gtest/gtest.h>

#include "test_util.h"

namespace city::testnet {
namespace {

double MetricOr0(const std::map<std::string, double>& metrics, const std::string& name) {
  auto it = metrics.find(name);
  return it == metrics.end() ? 0 : it->second;
}

TEST(ByzantineTest, EquivocatingFloodingLeaderCannotStopTheHonestThree) {
  LocalNetOptions options;
  options.start = false;
  LocalNet net(options);
  const size_t byzantine = 0;  // leads term 0, so it proposes from the first round on
  const std::vector<size_t> honest = {1, 2, 3};
  net.StartByzantine(byzantine, {"--flood", "1000"});
  for (size_t i : honest) net.Start(i);
  for (const char* sender : {"citizen", "patient"}) (void)net.Key(sender);

  Load load(net, {"citizen", "patient"}, 40);
  load.Start(honest);
  ASSERT_TRUE(net.WaitProgress(honest, 15, 120s))
      << "the honest validators stopped committing: " << net.Describe();
  load.Stop();
  EXPECT_EQ(load.VerifyCommitted(honest[0], 60s), "") << net.Describe();
  net.ExpectSameChain(honest, 15);

  double evidence = 0;
  for (size_t i : honest) {
    const std::map<std::string, double> metrics = net.Metrics(i);
    evidence += MetricOr0(metrics, "city_consensus_evidence_total");
    // One proposal kept per (round, proposer): the rest of the flood was refused, not
    // stored, and nothing piles up.
    EXPECT_GE(MetricOr0(metrics, "city_consensus_refused_total{verdict=\"unsafe\"}"), 900)
        << "node " << i << " did not refuse the flood";
    EXPECT_LE(MetricOr0(metrics, "city_consensus_held_blocks"), 16) << "node " << i;
  }
  EXPECT_GT(evidence, 0) << "no honest validator reported the double proposals";
  EXPECT_TRUE(net.running(byzantine));
  for (size_t i : honest) EXPECT_FALSE(net.Exited(i)) << "honest node " << i << " died";
}

}  // namespace
}  // namespace city::testnet
