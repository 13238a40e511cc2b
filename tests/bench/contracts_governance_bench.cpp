// governance.propose: a council member proposes a role grant (threshold 2, so it stays open).
#include "city/contracts/governance.h"
#include "contracts_bench.h"

namespace city::bench {
namespace {

void BM_GovernancePropose(benchmark::State& state) {
  const std::vector<KeyPair> council = test::TestValidators(3);
  contracts::GovernanceGenesis genesis;
  for (const KeyPair& key : council) genesis.council.push_back(key.public_key());
  genesis.threshold = 2;
  auto registry = std::make_unique<contracts::Registry>();
  if (!registry->Add(contracts::MakeGovernance()).ok()) state.SkipWithError("registry");
  test::ContractHarness chain(std::move(registry), *contracts::GovernanceGenesisWrites(genesis));
  const KeyPair grantee = test::TestKey(50);
  RunExecution(state, chain, [&](uint64_t i) {
    contracts::ProposeArgs args{{uint8_t(contracts::ActionKind::kGrantRole),
                                 "role" + std::to_string(i % 1000),
                                 grantee.public_key(),
                                 0,
                                 {}},
                                chain.height() + 1000};
    return chain.Tx(council[i % council.size()], "governance", "propose", args);
  });
}
BENCHMARK(BM_GovernancePropose)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace city::bench
