// logistics.object_event: custodians record an observation (bizStep, disposition, readPoint,
// bizLocation) on items they hold; each event is stored and appended to the item's
// provenance.
#include "city/contracts/logistics.h"
#include "contracts_bench.h"

namespace city::bench {
namespace {

constexpr int kItemsPerCustodian = 250;

std::string BenchItem(size_t custodian, uint64_t n) {
  return "urn:epc:id:sgtin:0614141.107346." + std::to_string(custodian) + "." + std::to_string(n);
}

void BM_LogisticsObjectEvent(benchmark::State& state) {
  std::vector<KeyPair> custodians;
  for (uint8_t fill = 61; fill <= 64; ++fill) custodians.push_back(test::TestKey(fill));
  contracts::GovernanceGenesis genesis;
  genesis.council = {test::TestKey(1).public_key()};
  for (const KeyPair& key : custodians)
    genesis.roles.push_back({std::string(contracts::kCustodianRole), key.public_key()});
  auto registry = std::make_unique<contracts::Registry>();
  if (!registry->Add(contracts::MakeGovernance()).ok() ||
      !registry->Add(contracts::MakeLogistics()).ok()) {
    state.SkipWithError("registry");
    return;
  }
  test::ContractHarness chain(std::move(registry), *contracts::GovernanceGenesisWrites(genesis));
  for (size_t c = 0; c < custodians.size(); ++c) {
    contracts::RegisterArgs args;
    for (int n = 0; n < kItemsPerCustodian; ++n) args.epcs.push_back(BenchItem(c, uint64_t(n)));
    if (!chain.Call(custodians[c], "logistics", "register", args).ok()) {
      state.SkipWithError("register");
      return;
    }
  }
  RunExecution(state, chain, [&](uint64_t i) {
    const size_t c = i % custodians.size();
    contracts::ObjectEventArgs args{{BenchItem(c, (i / custodians.size()) % kItemsPerCustodian)},
                                    uint8_t(contracts::EpcisAction::kObserve),
                                    {"in_transit", "in_transit", "urn:epc:id:sgln:0614141.00300.7",
                                     "urn:epc:id:sgln:0614141.00300.0", std::nullopt}};
    return chain.Tx(custodians[c], "logistics", "object_event", args);
  });
}
BENCHMARK(BM_LogisticsObjectEvent)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace city::bench
