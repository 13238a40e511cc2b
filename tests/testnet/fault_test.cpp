// Crash faults on a 4-validator network (f = 1), each on a fresh network: a follower killed
// with SIGKILL under load, the leader killed, two of four stopped (no quorum). The network
// keeps committing while a quorum runs, halts without one, and a restarted node catches up;
// no fork at the end, and every accepted transaction committed exactly once.
#include <gtest/gtest.h>

#include <algorithm>

#include "city/contracts/ubi.h"
#include "test_util.h"

namespace city::testnet {
namespace {

const std::vector<std::string> kLoadSenders = {"citizen", "patient", "shipper", "receiver"};

std::vector<size_t> Without(std::vector<size_t> nodes, std::vector<size_t> gone) {
  std::erase_if(nodes, [&](size_t n) { return std::count(gone.begin(), gone.end(), n) > 0; });
  return nodes;
}

std::optional<size_t> LeaderIndex(const Json& status) {
  if (!status.is_object() || !status["leader"].is_object()) return std::nullopt;
  return status["leader"]["index"].get<size_t>();
}

// `node` (restarted) reaches the others' height (at most a block or two behind them, which
// any node may be for a moment), reports syncing false, and keeps committing.
void ExpectCaughtUp(LocalNet& net, size_t node, const std::vector<size_t>& others) {
  Json status;
  std::optional<uint64_t> theirs;
  EXPECT_TRUE(LocalNet::WaitFor(
      [&] {
        theirs = net.MinHeight(others);
        status = net.Status(node);
        return theirs && status.is_object() && !status.value("syncing", true) &&
               status.value("height", uint64_t(0)) + 2 >= *theirs;
      },
      30s))
      << "node " << node << " did not catch up with the others (at " << theirs.value_or(0)
      << "): " << status.dump() << " " << net.Describe();
  EXPECT_TRUE(net.WaitProgress({node}, 3, 15s)) << "node " << node << " stopped committing";
}

void ExpectLoadCommitted(Load& load, LocalNet& net, size_t check_on) {
  const Load::Stats stats = load.stats();
  std::fprintf(stderr, "[load] submitted %zu, accepted %zu, rejected %zu\n", stats.submitted,
               stats.accepted, stats.submitted - stats.accepted);
  for (const auto& [code, count] : stats.rejected) {
    ADD_FAILURE() << count << " load transactions rejected: " << code;
  }
  EXPECT_GT(stats.accepted, 0u);
  EXPECT_EQ(load.VerifyCommitted(check_on, 60s), "") << net.Describe();
}

TEST(FaultTest, FollowerKilledUnderLoadCatchesUpAndRejoins) {
  LocalNet net;
  for (const std::string& sender : kLoadSenders) (void)net.Key(sender);
  const std::optional<size_t> leader = LeaderIndex(net.Status(0));
  ASSERT_TRUE(leader.has_value()) << net.Status(0).dump();
  std::vector<size_t> followers = Without(net.AllNodes(), {*leader});
  const size_t victim = followers[net.rng()() % followers.size()];
  const std::vector<size_t> survivors = Without(net.AllNodes(), {victim});
  std::fprintf(stderr, "[fault] leader %zu, killing follower %zu\n", *leader, victim);

  Load load(net, kLoadSenders, 40);
  load.Start(survivors);
  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 2, 10s)) << net.Describe();

  net.Kill(victim);
  EXPECT_TRUE(net.WaitProgress(survivors, 5, 10s))
      << "three of four validators did not commit 5 blocks in 10 s: " << net.Describe();

  net.Start(victim);
  ExpectCaughtUp(net, victim, survivors);
  load.SetTargets(net.AllNodes());  // the restarted node takes transactions again
  EXPECT_TRUE(net.WaitProgress(net.AllNodes(), 3, 15s)) << net.Describe();
  load.Stop();

  ExpectLoadCommitted(load, net, victim);
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), net.MaxHeight(net.AllNodes()).value_or(0), 20s));
  net.ExpectSameChain(net.AllNodes());
}

TEST(FaultTest, LeaderKilledNewTermCommitsAndOldLeaderRejoins) {
  LocalNet net;
  for (const std::string& sender : kLoadSenders) (void)net.Key(sender);
  const Json before = net.Status(0);
  const std::optional<size_t> leader = LeaderIndex(before);
  ASSERT_TRUE(leader.has_value()) << before.dump();
  const std::vector<size_t> survivors = Without(net.AllNodes(), {*leader});
  std::map<size_t, uint64_t> terms;
  for (size_t n : survivors) terms[n] = net.Status(n).value("term", uint64_t(0));

  Load load(net, kLoadSenders, 20);
  load.Start(survivors);
  net.Kill(*leader);
  std::fprintf(stderr, "[fault] killed leader %zu (term %llu on node 0)\n", *leader,
               static_cast<unsigned long long>(before.value("term", uint64_t(0))));

  EXPECT_TRUE(LocalNet::WaitFor(
      [&] {
        for (size_t n : survivors) {
          if (net.Status(n).value("term", uint64_t(0)) <= terms[n]) return false;
        }
        return true;
      },
      15s))
      << "no new term on the survivors: " << net.Describe();
  EXPECT_TRUE(net.WaitProgress(survivors, 5, 20s))
      << "commits did not resume without the leader: " << net.Describe();
  for (size_t n : survivors) {
    EXPECT_NE(LeaderIndex(net.Status(n)), std::optional<size_t>(*leader)) << "node " << n;
  }

  net.Start(*leader);
  ExpectCaughtUp(net, *leader, survivors);
  load.SetTargets(net.AllNodes());
  EXPECT_TRUE(net.WaitProgress(net.AllNodes(), 3, 15s)) << net.Describe();
  load.Stop();

  ExpectLoadCommitted(load, net, *leader);
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), net.MaxHeight(net.AllNodes()).value_or(0), 20s));
  net.ExpectSameChain(net.AllNodes());
}

TEST(FaultTest, TwoOfFourStoppedHaltsCommitsUntilOneReturns) {
  LocalNet net;
  std::vector<size_t> nodes = net.AllNodes();
  std::shuffle(nodes.begin(), nodes.end(), net.rng());
  const size_t first = nodes[0], second = nodes[1];
  const std::vector<size_t> survivors = Without(net.AllNodes(), {first, second});
  std::fprintf(stderr, "[fault] stopping nodes %zu and %zu\n", first, second);
  ASSERT_TRUE(net.WaitProgress(net.AllNodes(), 2, 10s)) << net.Describe();

  EXPECT_EQ(net.Stop(first), 0) << "cityd did not exit 0 on SIGTERM: see " << net.log_path(first);
  EXPECT_EQ(net.Stop(second), 0) << "cityd did not exit 0 on SIGTERM: see " << net.log_path(second);
  const uint64_t at_stop = net.MaxHeight(survivors).value_or(0);

  // Blocks certified before the stop may still commit (the pipeline), at most two; after that
  // nothing for 4 s.
  std::this_thread::sleep_for(1s);
  const uint64_t settled = net.MaxHeight(survivors).value_or(0);
  EXPECT_LE(settled, at_stop + 2) << net.Describe();
  // A transaction is still accepted into the mempool, but cannot commit without a quorum.
  const KeyPair& sender = net.Key("citizen");
  const ledger::Transaction tx = net.SignedTx(
      sender, contracts::kUbi, "transfer",
      contracts::EncodeArgs(contracts::UbiTransferArgs{net.Key("patient").public_key(), 5}));
  ApiReply submitted = net.Submit(survivors[0], tx);
  EXPECT_EQ(submitted.status, 202) << submitted.Describe();
  const auto halt_until = Clock::now() + 4s;
  while (Clock::now() < halt_until) {
    const std::optional<uint64_t> now = net.MaxHeight(survivors);
    ASSERT_TRUE(now.has_value()) << "a survivor stopped answering: " << net.Describe();
    ASSERT_EQ(*now, settled) << "two of four validators committed a block: " << net.Describe();
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(net.Get(survivors[0], "/v1/tx/" + tx.Id().ToHex()).body.value("status", ""), "pending");

  net.Start(first);
  const std::vector<size_t> three = Without(net.AllNodes(), {second});
  EXPECT_TRUE(net.WaitProgress(three, 3, 45s))
      << "commits did not resume with three of four: " << net.Describe();
  EXPECT_TRUE(CommittedOk(net.WaitTx(survivors[0], tx.Id(), 30s)));
  ASSERT_TRUE(net.WaitHeight(three, net.MaxHeight(three).value_or(0), 30s)) << net.Describe();
  net.ExpectSameChain(three);

  net.Start(second);
  ExpectCaughtUp(net, second, three);
  net.ExpectSameChain(net.AllNodes());
}

}  // namespace
}  // namespace city::testnet
