// Micro-benchmarks of the crypto and codec hot paths. Raw libsodium verification is measured
// in the same run as the baseline every other figure is compared with (docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

namespace city {
namespace {

const ledger::Transaction& TypicalTransaction() {
  static const ledger::Transaction tx = test::SampleTransaction(test::TestKey(1));
  return tx;
}

void BM_RawSodiumVerify(benchmark::State& state) {
  const ledger::Transaction& tx = TypicalTransaction();
  const Hash256 id = tx.Id();
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto_sign_verify_detached(tx.signature.bytes.data(), id.bytes.data(),
                                                         id.bytes.size(), tx.sender.bytes.data()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSodiumVerify);

void BM_Verify(benchmark::State& state) {
  const ledger::Transaction& tx = TypicalTransaction();
  const Hash256 id = tx.Id();
  for (auto _ : state) benchmark::DoNotOptimize(Verify(tx.sender, id.span(), tx.signature));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Verify);

// What the mempool pays per new transaction: id (encode + hash) and signature check.
void BM_TransactionVerifySignature(benchmark::State& state) {
  const ledger::Transaction& tx = TypicalTransaction();
  for (auto _ : state) benchmark::DoNotOptimize(tx.VerifySignature());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TransactionVerifySignature);

void BM_Sign(benchmark::State& state) {
  const KeyPair key = test::TestKey(1);
  const Hash256 id = TypicalTransaction().Id();
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(id.span()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sign);

void BM_Blake2b256(benchmark::State& state) {
  const Bytes data(static_cast<size_t>(state.range(0)), 0xab);
  for (auto _ : state) benchmark::DoNotOptimize(Blake2b256(data));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Blake2b256)->Arg(32)->Arg(200)->Arg(4096);

void BM_TransactionId(benchmark::State& state) {
  const ledger::Transaction& tx = TypicalTransaction();
  for (auto _ : state) benchmark::DoNotOptimize(tx.Id());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TransactionId);

void BM_EncodeTransaction(benchmark::State& state) {
  const ledger::Transaction& tx = TypicalTransaction();
  for (auto _ : state) benchmark::DoNotOptimize(ledger::Encode(tx));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeTransaction);

void BM_DecodeTransaction(benchmark::State& state) {
  const Bytes bytes = ledger::Encode(TypicalTransaction());
  for (auto _ : state) benchmark::DoNotOptimize(ledger::Decode<ledger::Transaction>(bytes));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeTransaction);

// A full 1000-transaction block: decode, then the structural check (tx_root + proposer).
void BM_DecodeAndCheckBlock1k(benchmark::State& state) {
  const Bytes bytes = ledger::Encode(test::SampleBlock(test::TestValidators(4), 1000, false));
  for (auto _ : state) {
    auto block = ledger::Decode<ledger::Block>(bytes);
    benchmark::DoNotOptimize(block->CheckStructure(test::kTestChain));
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_DecodeAndCheckBlock1k);

}  // namespace
}  // namespace city

BENCHMARK_MAIN();
