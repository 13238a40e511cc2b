// The bench's loads (wallet/src/bench_workload.h): what they need, the setup they submit, and
// a steady load whose every sender's nonces run in order with no gap, covering every contract.
#include "bench_workload.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "support/ledger_fixtures.h"

namespace city::wallet::bench {
namespace {

constexpr uint64_t kTip = 100;
constexpr uint64_t kExpiry = 5000;

WorkloadKeys Keys(bool with_council) {
  WorkloadKeys keys{KeyPair::FromSeed(test::TestKey(1).seed()), std::nullopt};
  if (with_council) keys.council = KeyPair::FromSeed(test::TestKey(2).seed());
  return keys;
}

TEST(BenchWorkload, RefusesWhatAMixCannotRunWith) {
  EXPECT_EQ(ParseMix("everything").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(MakeWorkload(Mix::kAll, Keys(false), "c", 16, 0, 0, 10, kTip, kExpiry).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(MakeWorkload(Mix::kAll, Keys(true), "c", 7, 0, 0, 10, kTip, kExpiry).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(MakeWorkload(Mix::kUbi, Keys(false), "c", 2, 0, 0, 10, kTip, kExpiry).ok());
}

// Per sender, the nonces the load uses, in the order it offers them.
std::map<PublicKey, std::vector<uint64_t>> NoncesBySender(const std::vector<LoadTx>& txs) {
  std::map<PublicKey, std::vector<uint64_t>> out;
  for (const LoadTx& load : txs) out[load.tx.sender].push_back(load.tx.nonce);
  return out;
}

void ExpectConsecutive(const std::map<PublicKey, std::vector<uint64_t>>& nonces,
                       const std::map<PublicKey, uint64_t>& first) {
  for (const auto& [sender, list] : nonces) {
    const uint64_t start = first.contains(sender) ? first.at(sender) : list.front();
    for (size_t i = 0; i < list.size(); ++i) {
      ASSERT_EQ(list[i], start + i) << "a gap or repeat in a sender's nonces at " << i;
    }
  }
}

TEST(BenchWorkload, TheCityLoadCoversEveryContractWithGaplessNonces) {
  Result<std::unique_ptr<Workload>> made =
      MakeWorkload(Mix::kAll, Keys(true), "city-test", 16, 40, 7, 100, kTip, kExpiry);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  Workload& workload = **made;

  // Stage 0 needs no node: the registrar enrols, funds and registers; the council grants.
  auto node = NodeClient::Connect("http://127.0.0.1:1", std::chrono::milliseconds(100));
  ASSERT_TRUE(node.ok());
  Result<std::optional<Stage>> roles = workload.NextSetupStage(**node);
  ASSERT_TRUE(roles.ok() && roles->has_value());
  std::map<std::string, size_t> setup_kinds;
  for (const LoadTx& load : (*roles)->txs) ++setup_kinds[load.kind];
  EXPECT_EQ(setup_kinds["accounts.enrol"], 16u);
  EXPECT_EQ(setup_kinds["ubi.transfer"], 16u);
  EXPECT_EQ(setup_kinds["ubi.register"], 6u);        // 3 citizens in every 8 accounts
  EXPECT_EQ(setup_kinds["governance.propose"], 6u);  // 2 clinicians and 4 custodians
  ExpectConsecutive(NoncesBySender((*roles)->txs),
                    {{test::TestKey(1).public_key(), 40}, {test::TestKey(2).public_key(), 7}});
  ASSERT_EQ((*roles)->await.size(), 2u);
  EXPECT_EQ((*roles)->await[0].next_nonce, 40u + 16 + 16 + 6);
  EXPECT_EQ((*roles)->await[1].next_nonce, 7u + 6);

  Result<std::optional<Stage>> consents = workload.NextSetupStage(**node);
  ASSERT_TRUE(consents.ok() && consents->has_value());
  std::vector<LoadTx> offered = (*consents)->txs;
  for (const LoadTx& load : offered) {
    EXPECT_TRUE(load.kind == "emr.anchor" || load.kind == "emr.grant") << load.kind;
  }

  std::set<std::string> kinds;
  std::set<Hash256> ids;
  for (size_t k = 0; k < 17 * 40; ++k) {
    LoadTx load = workload.Next(k);
    EXPECT_EQ(load.tx.chain_id, "city-test");
    EXPECT_EQ(load.tx.expiry_height, kExpiry);
    EXPECT_TRUE(load.tx.CheckStateless("city-test").ok()) << load.kind;
    EXPECT_TRUE(ids.insert(load.tx.Id()).second) << "the load offers one transaction twice";
    kinds.insert(load.kind);
    offered.push_back(std::move(load));
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"emr.access", "emr.anchor", "emr.grant",
                                          "governance.propose", "logistics.object-event",
                                          "logistics.register", "ubi.claim", "ubi.transfer"}));
  // Setup and load together: every fresh sender starts at 0 and never skips or repeats.
  std::map<PublicKey, uint64_t> first{{test::TestKey(2).public_key(), 13}};
  auto by_sender = NoncesBySender(offered);
  by_sender.erase(test::TestKey(1).public_key());
  ExpectConsecutive(by_sender, first);
  for (const auto& [sender, list] : by_sender) {
    EXPECT_NE(workload.KeyOf(sender), nullptr) << "the bench cannot read its own sender's results";
  }
}

TEST(BenchWorkload, TheUbiLoadTransfersAroundARing) {
  Result<std::unique_ptr<Workload>> made =
      MakeWorkload(Mix::kUbi, Keys(false), "city-test", 4, 0, 0, 10, kTip, kExpiry);
  ASSERT_TRUE(made.ok());
  std::vector<LoadTx> offered;
  for (size_t k = 0; k < 40; ++k) offered.push_back((*made)->Next(k));
  for (const LoadTx& load : offered) EXPECT_EQ(load.kind, "ubi.transfer");
  auto by_sender = NoncesBySender(offered);
  EXPECT_EQ(by_sender.size(), 4u);
  ExpectConsecutive(by_sender, {});
  EXPECT_EQ(by_sender.begin()->second.front(), 0u);
}

}  // namespace
}  // namespace city::wallet::bench
