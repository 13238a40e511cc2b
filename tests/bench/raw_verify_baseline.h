// The same-run baseline every benchmark program reports against: raw libsodium Ed25519
// verification of a 32-byte message on one core.
#pragma once

#include <benchmark/benchmark.h>
#include <sodium.h>

namespace city::bench {

inline void RawVerifyBaseline(benchmark::State& state) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  unsigned char message[32] = {1}, signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, message, sizeof message, sk);
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto_sign_verify_detached(signature, message, sizeof message, pk));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace city::bench
