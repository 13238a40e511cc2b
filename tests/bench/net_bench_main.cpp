// city-bench-net: frames/s and MB/s over one encrypted validator link on loopback, and HTTP
// requests/s for a small JSON route, each beside a same-run baseline (raw libsodium verify,
// plain TCP on loopback). Run: build/bin/city-bench-net
#include <benchmark/benchmark.h>

#include "raw_verify_baseline.h"

BENCHMARK(city::bench::RawVerifyBaseline)->Name("BM_RawVerifyBaseline");

BENCHMARK_MAIN();
