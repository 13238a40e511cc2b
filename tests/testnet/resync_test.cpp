// A validator whose data directory was deleted syncs the whole chain again from genesis (its
// consensus safety state lives outside data/, so it cannot vote twice), and agrees with the
// others block for block.
#include <gtest/gtest.h>

#include "city/contracts/ubi.h"
#include "test_util.h"

namespace city::testnet {
namespace {

TEST(ResyncTest, NodeWithDeletedDataDirectorySyncsFromGenesis) {
  LocalNet net;
  // Some transactions first, so there is state to rebuild.
  const KeyPair& sender = net.Key("citizen");
  const PublicKey to = net.Key("patient").public_key();
  std::vector<Hash256> ids;
  for (int k = 0; k < 20; ++k) {
    const ledger::Transaction tx =
        net.SignedTx(sender, contracts::kUbi, "transfer",
                     contracts::EncodeArgs(contracts::UbiTransferArgs{to, uint64_t(10 + k)}));
    ApiReply reply = net.Submit(size_t(k) % net.size(), tx);
    ASSERT_EQ(reply.status, 202) << reply.Describe();
    ids.push_back(tx.Id());
  }
  for (const Hash256& id : ids) ASSERT_TRUE(CommittedOk(net.WaitTx(0, id, 30s)));

  const size_t victim = net.rng()() % net.size();
  const std::vector<size_t> others = [&] {
    std::vector<size_t> nodes = net.AllNodes();
    std::erase(nodes, victim);
    return nodes;
  }();
  std::fprintf(stderr, "[resync] deleting the data of node %zu\n", victim);
  ASSERT_EQ(net.Stop(victim), 0) << "cityd did not exit 0 on SIGTERM: see " << net.log_path(victim);
  const std::filesystem::path data = net.home(victim) / "data";
  ASSERT_TRUE(std::filesystem::is_directory(data)) << data;
  std::filesystem::remove_all(data);
  ASSERT_TRUE(net.WaitProgress(others, 3, 15s)) << net.Describe();

  net.Start(victim);
  const uint64_t target = net.MaxHeight(others).value_or(0);
  EXPECT_TRUE(net.WaitHeight({victim}, target, 30s))
      << "node " << victim << " did not sync to height " << target << ": "
      << net.Status(victim).dump() << " " << net.Describe();
  EXPECT_TRUE(net.WaitProgress({victim}, 2, 15s)) << "it does not keep committing";
  EXPECT_EQ(net.Status(victim).value("syncing", true), false);

  // The transactions from before are there again, with their results.
  for (const Hash256& id : ids) {
    ApiReply tx = net.Get(victim, "/v1/tx/" + id.ToHex());
    EXPECT_TRUE(CommittedOk(tx.body)) << tx.Describe();
  }
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), net.MaxHeight(net.AllNodes()).value_or(0), 20s));
  net.ExpectSameChain(net.AllNodes());
}

}  // namespace
}  // namespace city::testnet
