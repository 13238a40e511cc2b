// city-bench-contracts: executed transactions/s of each contract's main method, with raw
// libsodium verify as the same-run baseline. Run: build/bin/city-bench-contracts
#include <benchmark/benchmark.h>
#include <sodium.h>

namespace {

void BM_RawVerifyBaseline(benchmark::State& state) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  unsigned char message[32] = {1}, signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, message, sizeof message, sk);
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto_sign_verify_detached(signature, message, sizeof message, pk));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawVerifyBaseline);

}  // namespace

BENCHMARK_MAIN();
