// Storage benchmarks: block commit throughput as the ledger grows, state proofs, history
// pages and point reads, against two baselines measured in the same run (a raw libsodium
// verify, and a raw synced LevelDB batch of the same size as one block's records).
//
//   city-bench-store [--txs N] [--retain VERSIONS] [--keep DIR] [Google Benchmark flags]
//
// First builds a ledger of N transactions (default 1,000,000) in 1,000-transaction blocks,
// printing the commit time per tenth of the build so growth is visible; then runs the
// benchmarks against that ledger. Transactions carry no signatures: the store never verifies
// them, and signing a million would only slow the build.
#include <benchmark/benchmark.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "city/ledger/store.h"
#include "raw_verify_baseline.h"
#include "support/temp_dir.h"

namespace city::bench {
namespace {

using ledger::CommitRequest;
using ledger::LedgerStore;

constexpr uint64_t kTxsPerBlock = 1000;
// Scaled to the ledger's size (--txs / 10, at most 100,000), so a smoke run stays small.
uint64_t kAccounts = 100'000;
uint64_t kItems = 50'000;
constexpr std::string_view kChain = "city-bench";

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

PublicKey Account(uint64_t i) {
  PublicKey key;
  const Hash256 hash = TaggedHash("city.bench.account", AsBytes(std::to_string(i)));
  std::memcpy(key.bytes.data(), hash.bytes.data(), key.bytes.size());
  return key;
}

Bytes Text(const std::string& text) { return Bytes(text.begin(), text.end()); }
Bytes U64Bytes(uint64_t v) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}
Bytes BalanceKey(uint64_t account) { return Text("ubi/balance/" + std::to_string(account)); }
Bytes NonceKey(uint64_t account) { return Text("ubi/nonce/" + std::to_string(account)); }
Bytes ItemKey(uint64_t item) { return Text("item-" + std::to_string(item)); }

// Transaction j of block h: a transfer between two of kAccounts accounts, three state
// writes (two balances, the sender's nonce), one event and one contract index entry.
CommitRequest MakeBlock(uint64_t height, const Hash256& parent) {
  CommitRequest request;
  ledger::Block& block = request.block;
  block.header.chain_id = std::string(kChain);
  block.header.height = height;
  block.header.round = height;
  block.header.parent_hash = parent;
  block.header.timestamp_ms = height * 1000;
  for (uint64_t j = 0; j < kTxsPerBlock; ++j) {
    const uint64_t n = height * kTxsPerBlock + j;
    const uint64_t sender = Mix(n) % kAccounts;
    const uint64_t recipient = Mix(n ^ 0x5555) % kAccounts;
    ledger::Transaction tx;
    tx.chain_id = std::string(kChain);
    tx.sender = Account(sender);
    tx.nonce = n;
    tx.expiry_height = height + 100;
    tx.contract = "ubi";
    tx.method = "transfer";
    tx.args.assign(64, static_cast<uint8_t>(n));
    block.transactions.push_back(std::move(tx));
    const auto index = static_cast<uint32_t>(j);
    request.results.push_back({0, "", {{"ubi", "transferred", U64Bytes(n)}}, {Account(recipient)}});
    request.writes.push_back({BalanceKey(sender), U64Bytes(Mix(n + 1)), index});
    request.writes.push_back({BalanceKey(recipient), U64Bytes(Mix(n + 2)), index});
    request.writes.push_back({NonceKey(sender), U64Bytes(n), index});
    request.index_entries.push_back(
        {"logistics", "provenance", ItemKey(n % kItems), U64Bytes(n), index});
  }
  block.header.tx_root = block.ComputeTxRoot();
  request.certificate.data = {0, 1, height, height, block.Hash()};
  return request;
}

uint64_t DirectoryBytes(const std::filesystem::path& dir) {
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

void Fail(const Status& status) {
  std::fprintf(stderr, "city-bench-store: %s\n", status.ToString().c_str());
  std::exit(1);
}

struct Ledger {
  std::filesystem::path dir;
  std::unique_ptr<LedgerStore> store;
  uint64_t built_txs = 0;
};
Ledger* g_ledger = nullptr;

void Build(Ledger& ledger, uint64_t target_txs, uint64_t retain_versions) {
  // Every account's balance and nonce exist from genesis, so the state holds 2 * kAccounts
  // keys throughout and the build shows how commit cost moves as history alone grows.
  ledger::Genesis genesis{std::string(kChain), TaggedHash("city.bench.genesis", {}), {}, {}};
  for (uint64_t account = 0; account < kAccounts; ++account) {
    genesis.writes.push_back({BalanceKey(account), U64Bytes(1000), ledger::kNoTransaction});
    genesis.writes.push_back({NonceKey(account), U64Bytes(0), ledger::kNoTransaction});
  }
  Result<std::unique_ptr<LedgerStore>> store =
      LedgerStore::Create(ledger.dir, genesis, {.retain_versions = retain_versions});
  if (!store.ok()) Fail(store.status());
  ledger.store = std::move(store).value();
  const uint64_t blocks = std::max<uint64_t>(1, target_txs / kTxsPerBlock);
  const uint64_t tenth = std::max<uint64_t>(1, blocks / 10);
  std::printf("building %llu blocks of %llu transactions (%llu state writes each)\n",
              static_cast<unsigned long long>(blocks),
              static_cast<unsigned long long>(kTxsPerBlock),
              static_cast<unsigned long long>(3 * kTxsPerBlock));
  std::printf("%14s %16s %14s %12s\n", "transactions", "mean commit ms", "blocks/s", "disk MiB");
  double segment_seconds = 0;
  for (uint64_t height = 1; height <= blocks; ++height) {
    const CommitRequest request = MakeBlock(height, ledger.store->tip().block_hash);
    const auto start = std::chrono::steady_clock::now();
    Result<ledger::CommitInfo> info = ledger.store->Commit(request);
    segment_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!info.ok()) Fail(info.status());
    if (height % tenth == 0 || height == blocks) {
      const uint64_t in_segment = height % tenth == 0 ? tenth : height % tenth;
      std::printf("%14llu %16.1f %14.1f %12.1f\n",
                  static_cast<unsigned long long>(height * kTxsPerBlock),
                  1000 * segment_seconds / static_cast<double>(in_segment),
                  static_cast<double>(in_segment) / segment_seconds,
                  static_cast<double>(DirectoryBytes(ledger.dir)) / (1 << 20));
      segment_seconds = 0;
    }
  }
  ledger.built_txs = blocks * kTxsPerBlock;
  std::printf("ledger: %llu transactions, %llu state keys, %.1f MiB on disk\n\n",
              static_cast<unsigned long long>(ledger.built_txs),
              static_cast<unsigned long long>(2 * kAccounts),
              static_cast<double>(DirectoryBytes(ledger.dir)) / (1 << 20));
}

// ---- baselines ----

BENCHMARK(RawVerifyBaseline)->Name("BM_RawVerifyBaseline");

// One synced LevelDB batch holding as many records and bytes as a committed block's
// transactions, state writes and indexes, with none of the store's work.
void BM_RawSyncedBatchBaseline(benchmark::State& state) {
  const std::filesystem::path dir = g_ledger->dir.string() + "-raw";
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  if (!leveldb::DB::Open(options, dir.string(), &raw).ok()) {
    state.SkipWithError("cannot open the raw LevelDB");
    return;
  }
  std::unique_ptr<leveldb::DB> db(raw);
  leveldb::WriteOptions sync;
  sync.sync = true;
  uint64_t n = 0;
  for (auto _ : state) {
    leveldb::WriteBatch batch;
    for (uint64_t j = 0; j < kTxsPerBlock; ++j, ++n) {
      const Hash256 key = TaggedHash("k", AsBytes(std::to_string(n)));
      const std::string key_text(reinterpret_cast<const char*>(key.bytes.data()), 32);
      // The transaction with its result, id -> location, sender and recipient history, the
      // contract index entry, and three state writes.
      const std::pair<char, size_t> records[] = {{'T', 260}, {'I', 12}, {'A', 33}, {'a', 33},
                                                 {'X', 8},   {'0', 60}, {'1', 60}, {'2', 60}};
      for (const auto& [prefix, value_size] : records) {
        std::string record_key(1, prefix);
        record_key.append(key_text);
        batch.Put(record_key, std::string(value_size, 'x'));
      }
    }
    if (!db->Write(sync, &batch).ok()) state.SkipWithError("raw write failed");
  }
  state.SetItemsProcessed(state.iterations() * kTxsPerBlock);
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RawSyncedBatchBaseline)->Unit(benchmark::kMillisecond);

// ---- the store ----

void BM_CommitBlock1000Tx(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  for (auto _ : state) {
    state.PauseTiming();
    const uint64_t height = store.tip().height + 1;
    const CommitRequest request = MakeBlock(height, store.tip().block_hash);
    state.ResumeTiming();
    Result<ledger::CommitInfo> info = store.Commit(request);
    if (!info.ok()) state.SkipWithError(info.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * kTxsPerBlock);
  state.counters["state_writes/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * 3 * kTxsPerBlock), benchmark::Counter::kIsRate);
  state.counters["blocks/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitBlock1000Tx)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ProveState(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  const uint64_t version = store.tip().height;
  uint64_t i = 0;
  for (auto _ : state) {
    Result<ledger::StateAt> proof = store.ProveState(BalanceKey(Mix(++i) % kAccounts), version);
    if (!proof.ok()) state.SkipWithError(proof.status().ToString().c_str());
    benchmark::DoNotOptimize(proof);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProveState);

void BM_VerifyStateProof(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  std::vector<std::pair<Bytes, ledger::StateAt>> proofs;
  for (uint64_t i = 0; i < 64; ++i) {
    Bytes key = BalanceKey(Mix(i) % kAccounts);
    Result<ledger::StateAt> proof = store.ProveState(key, store.tip().height);
    if (!proof.ok()) Fail(proof.status());
    proofs.emplace_back(std::move(key), std::move(proof).value());
  }
  size_t depth = 0;
  for (const auto& [key, at] : proofs) depth += at.proof.siblings.size();
  size_t i = 0;
  for (auto _ : state) {
    const auto& [key, at] = proofs[i++ % proofs.size()];
    const std::optional<ByteSpan> value =
        at.value ? std::optional<ByteSpan>(*at.value) : std::nullopt;
    if (!ledger::VerifyStateProof(at.root, key, value, at.proof).ok()) {
      state.SkipWithError("a proof did not verify");
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["mean_depth"] = static_cast<double>(depth) / static_cast<double>(proofs.size());
}
BENCHMARK(BM_VerifyStateProof);

void BM_AccountHistoryPage100(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  uint64_t i = 0;
  size_t items = 0;
  for (auto _ : state) {
    Result<ledger::Page<ledger::AccountTx>> page = store.AccountHistory(
        Account(Mix(++i) % kAccounts), {.cursor = {}, .limit = 100, .newest_first = true});
    if (!page.ok()) state.SkipWithError(page.status().ToString().c_str());
    items += page->items.size();
  }
  state.counters["items/page"] =
      static_cast<double>(items) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_AccountHistoryPage100)->Unit(benchmark::kMicrosecond);

void BM_IndexPage100(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  uint64_t i = 0;
  size_t items = 0;
  for (auto _ : state) {
    Result<ledger::Page<ledger::IndexItem>> page = store.IndexScan(
        "logistics", "provenance", ItemKey(Mix(++i) % kItems), {.cursor = {}, .limit = 100});
    if (!page.ok()) state.SkipWithError(page.status().ToString().c_str());
    items += page->items.size();
  }
  state.counters["items/page"] =
      static_cast<double>(items) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_IndexPage100)->Unit(benchmark::kMicrosecond);

void BM_KeyHistoryPage100(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  uint64_t i = 0;
  for (auto _ : state) {
    Result<ledger::Page<ledger::KeyWrite>> page =
        store.KeyHistory(BalanceKey(Mix(++i) % kAccounts), {.cursor = {}, .limit = 100});
    if (!page.ok()) state.SkipWithError(page.status().ToString().c_str());
  }
}
BENCHMARK(BM_KeyHistoryPage100)->Unit(benchmark::kMicrosecond);

void BM_GetTransactionById(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  const uint64_t heights = std::max<uint64_t>(1, g_ledger->built_txs / kTxsPerBlock);
  std::vector<Hash256> ids;
  for (uint64_t i = 0; i < 256; ++i) {
    const uint64_t height = 1 + Mix(i) % heights;
    ids.push_back(MakeBlock(height, {}).block.transactions[Mix(i + 7) % kTxsPerBlock].Id());
  }
  size_t i = 0;
  for (auto _ : state) {
    Result<ledger::TxRecord> record = store.GetTransaction(ids[i++ % ids.size()]);
    if (!record.ok()) state.SkipWithError(record.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetTransactionById);

void BM_GetState(benchmark::State& state) {
  LedgerStore& store = *g_ledger->store;
  uint64_t i = 0;
  for (auto _ : state) {
    Result<std::optional<Bytes>> value = store.GetState(BalanceKey(Mix(++i) % kAccounts));
    if (!value.ok()) state.SkipWithError(value.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetState);

}  // namespace
}  // namespace city::bench

int main(int argc, char** argv) {
  uint64_t txs = 1'000'000;
  uint64_t retain_versions = 0;
  std::string keep;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--txs") == 0 && i + 1 < argc) {
      txs = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--retain") == 0 && i + 1 < argc) {
      retain_versions = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
      keep = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // growth lines appear as they are measured
  if (sodium_init() < 0) return 1;
  city::test::TempDir temp;
  city::bench::kAccounts = std::clamp<uint64_t>(txs / 10, 1000, 100'000);
  city::bench::kItems = city::bench::kAccounts / 2;
  city::bench::Ledger ledger;
  ledger.dir = keep.empty() ? temp.path() / "ledger" : std::filesystem::path(keep);
  city::bench::Build(ledger, txs, retain_versions);
  city::bench::g_ledger = &ledger;
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  ledger.store.reset();
  return 0;
}
