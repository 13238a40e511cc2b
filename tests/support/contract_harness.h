// A real chain for contract tests: a LedgerStore in a temp dir, the city contracts
// registered, and blocks executed and committed exactly as the node will (ExecuteBlock, then
// LedgerStore::Commit). Clients are test keys; each keeps its next nonce. Every TestKey is
// enrolled at genesis (the chain is permissioned, accounts.h), so tests of one contract's
// permissions see that contract's refusal, not the engine's unknown_sender.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "city/contracts/accounts.h"
#include "city/contracts/executor.h"
#include "city/contracts/governance.h"
#include "city/ledger/store.h"
#include "support/ledger_fixtures.h"
#include "support/temp_dir.h"

namespace city::test {

inline constexpr uint64_t kHarnessBlockMs = 1000;  // block h has timestamp h seconds

class ContractHarness {
 public:
  // `contracts`: the registry to execute with; `genesis_writes`: the initial state.
  ContractHarness(std::unique_ptr<contracts::Registry> registry,
                  std::vector<ledger::StateWrite> genesis_writes, uint64_t start_time_ms = 0)
      : registry_(std::move(registry)), start_time_ms_(start_time_ms) {
    const std::vector<ledger::StateWrite>& enrolled = EnrolledTestKeyWrites();
    genesis_writes.insert(genesis_writes.end(), enrolled.begin(), enrolled.end());
    ledger::Genesis genesis{
        std::string(kTestChain), TestGenesisHash(), std::move(genesis_writes), {}};
    Result<std::unique_ptr<ledger::LedgerStore>> store =
        ledger::LedgerStore::Create(dir_.path() / "ledger", genesis);
    if (!store.ok()) throw std::runtime_error(store.status().ToString());
    store_ = std::move(store).value();
  }

  static const std::vector<ledger::StateWrite>& EnrolledTestKeyWrites() {
    static const std::vector<ledger::StateWrite> writes = [] {
      std::vector<PublicKey> keys;
      for (int fill = 0; fill < 256; ++fill) {
        keys.push_back(TestKey(static_cast<uint8_t>(fill)).public_key());
      }
      return contracts::AccountsGenesisWrites(keys).value();
    }();
    return writes;
  }

  // A signed call from `sender`, with its next nonce (counted locally).
  template <typename Args>
  ledger::Transaction Tx(const KeyPair& sender, std::string contract, std::string method,
                         const Args& args) {
    return RawTx(sender, std::move(contract), std::move(method), contracts::EncodeArgs(args));
  }
  ledger::Transaction RawTx(const KeyPair& sender, std::string contract, std::string method,
                            Bytes args) {
    ledger::Transaction tx;
    tx.chain_id = std::string(kTestChain);
    tx.sender = sender.public_key();
    tx.nonce = nonces_[sender.public_key()]++;
    tx.expiry_height = store_->tip().height + 100;
    tx.contract = std::move(contract);
    tx.method = std::move(method);
    tx.args = std::move(args);
    tx.Sign(sender);
    return tx;
  }

  // Executes and commits one block holding `transactions`; returns their results.
  std::vector<ledger::TxResult> Block(const std::vector<ledger::Transaction>& transactions) {
    const uint64_t height = store_->tip().height + 1;
    const contracts::BlockContext context{std::string(kTestChain), height, TimeAt(height)};
    contracts::StoreStateReader reader(*store_);
    contracts::BlockExecution execution =
        contracts::ExecuteBlock(*registry_, reader, context, transactions);
    ledger::CommitRequest request;
    request.block.header.chain_id = std::string(kTestChain);
    request.block.header.height = height;
    request.block.header.parent_hash = store_->tip().block_hash;
    request.block.header.timestamp_ms = context.timestamp_ms;
    request.block.transactions = transactions;
    request.block.header.tx_root = request.block.ComputeTxRoot();
    request.certificate.data.height = height;
    request.certificate.data.block_hash = request.block.Hash();
    request.results = execution.results;
    request.writes = std::move(execution.writes);
    request.index_entries = std::move(execution.index_entries);
    Result<ledger::CommitInfo> info = store_->Commit(request);
    if (!info.ok()) throw std::runtime_error(info.status().ToString());
    last_root_ = info->state_root;
    block_times_.push_back(context.timestamp_ms);
    return execution.results;
  }

  // One transaction in its own block; returns its result.
  ledger::TxResult Run(const ledger::Transaction& tx) { return Block({tx}).front(); }
  template <typename Args>
  ledger::TxResult Call(const KeyPair& sender, std::string contract, std::string method,
                        const Args& args) {
    return Run(Tx(sender, std::move(contract), std::move(method), args));
  }

  // Empty blocks until the block time reaches `time_ms` (for expiries and periods).
  void AdvanceTo(uint64_t time_ms) {
    while (TimeAt(store_->tip().height + 1) <= time_ms) Block({});
  }
  // Lets `ms` pass before the next block, without committing blocks in between (for days
  // and months): every later block is that much later.
  void Wait(uint64_t ms) { offset_ms_ += ms; }
  // The timestamp of committed block `height`, or the one a future block will get.
  uint64_t TimeAt(uint64_t height) const {
    if (height >= 1 && height <= block_times_.size()) return block_times_[height - 1];
    return start_time_ms_ + offset_ms_ + height * kHarnessBlockMs;
  }
  uint64_t now_ms() const { return TimeAt(store_->tip().height); }
  uint64_t height() const { return store_->tip().height; }

  Result<contracts::Json> Query(std::string_view contract, std::string_view query,
                                const contracts::Json& params) {
    return contracts::RunQuery(*registry_, *store_, contract, query, params);
  }

  ledger::LedgerStore& store() { return *store_; }
  const contracts::Registry& registry() const { return *registry_; }
  const Hash256& last_root() const { return last_root_; }
  // Forget a sender's locally counted nonce (to build deliberately stale transactions).
  void SetNonce(const PublicKey& sender, uint64_t nonce) { nonces_[sender] = nonce; }

 private:
  TempDir dir_;
  std::unique_ptr<contracts::Registry> registry_;
  uint64_t start_time_ms_ = 0;
  uint64_t offset_ms_ = 0;
  std::vector<uint64_t> block_times_;  // of blocks 1..tip
  std::unique_ptr<ledger::LedgerStore> store_;
  std::map<PublicKey, uint64_t> nonces_;
  Hash256 last_root_;
};

inline uint32_t CodeOf(contracts::Code code) { return static_cast<uint32_t>(code); }

}  // namespace city::test
