// Micro-benchmarks of the crypto and codec hot paths. Raw libsodium verification is measured
// in the same run as the baseline every other figure is compared with (docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "city/crypto/verifier_pool.h"
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

// A block's worth of distinct signatures by 256 senders, through the all-core pool that
// verify-chain uses: against BM_RawSodiumVerify on every core, what the pool itself costs.
void BM_VerifierPoolBlock(benchmark::State& state) {
  constexpr size_t kSignatures = 1000;
  std::vector<KeyPair> keys;
  for (uint32_t i = 0; i < 256; ++i) keys.push_back(test::TestKey(i + 1));
  std::vector<Hash256> messages(kSignatures);
  std::vector<Signature> signatures(kSignatures);
  std::vector<SignedMessage> items(kSignatures);
  for (size_t i = 0; i < kSignatures; ++i) {
    messages[i] = TaggedHash("bench", AsBytes(std::to_string(i)));
    signatures[i] = keys[i % keys.size()].Sign(messages[i].span());
    items[i] = {&keys[i % keys.size()].public_key(), messages[i].span(), &signatures[i]};
  }
  VerifierPool pool(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(pool.VerifyAll(items));
  state.SetItemsProcessed(state.iterations() * kSignatures);
}
// 0: a thread per core; 1: the caller alone (the same signatures, one at a time).
BENCHMARK(BM_VerifierPoolBlock)->Arg(0)->Arg(1)->UseRealTime();

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
