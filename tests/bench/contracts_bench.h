// Shared driver for the contract benchmarks: each iteration executes one block of signed
// calls (built and signed outside the timed region) through ExecuteBlock on a real store,
// then commits it, untimed, so the next block sees the new state.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>

#include "support/contract_harness.h"

namespace city::bench {

inline constexpr size_t kBenchBlockTxs = 200;

// make_tx(i) returns the i-th call of the run (i counts across blocks).
inline void RunExecution(benchmark::State& state, test::ContractHarness& chain,
                         const std::function<ledger::Transaction(uint64_t)>& make_tx) {
  uint64_t next = 0;
  size_t failed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<ledger::Transaction> txs;
    for (size_t i = 0; i < kBenchBlockTxs; ++i) txs.push_back(make_tx(next++));
    const uint64_t height = chain.height() + 1;
    const contracts::BlockContext context{std::string(test::kTestChain), height,
                                          chain.TimeAt(height)};
    contracts::StoreStateReader reader(chain.store());
    state.ResumeTiming();
    contracts::BlockExecution execution =
        contracts::ExecuteBlock(chain.registry(), reader, context, txs);
    state.PauseTiming();
    for (const ledger::TxResult& result : execution.results) failed += result.ok() ? 0 : 1;
    chain.Block(txs);  // commits (re-executes: the harness always executes what it commits)
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBenchBlockTxs));
  // Benchmarks using this driver should register with ->UseRealTime(): execution does I/O.
  if (failed != 0) state.SkipWithError("some benchmark calls failed");
}

}  // namespace city::bench
