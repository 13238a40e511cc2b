// city-bench-contracts: executed transactions/s of each contract's main method, with raw
// libsodium verify as the same-run baseline. Run: build/bin/city-bench-contracts
#include <benchmark/benchmark.h>

#include "raw_verify_baseline.h"

BENCHMARK(city::bench::RawVerifyBaseline)->Name("BM_RawVerifyBaseline");

BENCHMARK_MAIN();
