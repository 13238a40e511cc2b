// ubi.transfer: funded accounts pay each other small amounts (every call succeeds).
#include "city/contracts/ubi.h"
#include "contracts_bench.h"

namespace city::bench {
namespace {

void BM_UbiTransfer(benchmark::State& state) {
  constexpr size_t kPayers = 50;
  std::vector<KeyPair> payers;
  contracts::UbiGenesis ubi;
  for (size_t i = 0; i < kPayers; ++i) {
    payers.push_back(test::TestKey(static_cast<uint8_t>(100 + i)));
    ubi.balances.push_back({payers.back().public_key(), 1'000'000'000});
  }
  contracts::GovernanceGenesis governance;
  governance.council.push_back(test::TestKey(1).public_key());
  std::vector<ledger::StateWrite> writes = *contracts::GovernanceGenesisWrites(governance);
  const std::vector<ledger::StateWrite> balances = *contracts::UbiGenesisWrites(ubi);
  writes.insert(writes.end(), balances.begin(), balances.end());
  auto registry = std::make_unique<contracts::Registry>();
  if (!registry->Add(contracts::MakeGovernance()).ok() ||
      !registry->Add(contracts::MakeUbi()).ok()) {
    state.SkipWithError("registry");
  }
  test::ContractHarness chain(std::move(registry), std::move(writes));
  RunExecution(state, chain, [&](uint64_t i) {
    // Each payer pays another (never itself; the offset changes every round) a few tokens:
    // balances stay far from zero.
    const size_t from = i % kPayers;
    const size_t offset = 1 + (i / kPayers) % (kPayers - 1);
    const KeyPair& payer = payers[from];
    const PublicKey& payee = payers[(from + offset) % kPayers].public_key();
    return chain.Tx(payer, "ubi", "transfer", contracts::UbiTransferArgs{payee, 1 + i % 7});
  });
}
BENCHMARK(BM_UbiTransfer)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace city::bench
