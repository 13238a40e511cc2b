// The committed ledger as the node sees it: the store opened against the genesis file, the
// contract registry, and executing and committing one certified block at a time.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "city/contracts/accounts.h"
#include "city/contracts/executor.h"
#include "city/ledger/store.h"
#include "city/node/genesis.h"

namespace city::node {

// What a block's header says about execution: the state and results after `height`.
struct ExecutionRoots {
  uint64_t height = 0;
  Hash256 state_root;
  Hash256 result_root;
  friend bool operator==(const ExecutionRoots&, const ExecutionRoots&) = default;
};

struct CommittedBlockInfo {
  ledger::Block block;
  ledger::QuorumCert certificate;
  std::vector<ledger::TxResult> results;
  ledger::CommitInfo info;
};

class Chain {
 public:
  // Creates the store at genesis when `data_dir` is missing or empty; otherwise opens it and
  // refuses one that belongs to another chain or genesis ("genesis mismatch: ...").
  static Result<std::unique_ptr<Chain>> Open(const std::filesystem::path& data_dir,
                                             const GenesisChain& genesis,
                                             const ledger::StoreOptions& options);

  const ledger::LedgerStore& store() const { return *store_; }
  const contracts::Registry& registry() const { return *registry_; }
  const GenesisChain& genesis() const { return genesis_; }
  ledger::StoreTip tip() const { return store_->tip(); }

  // Executes `block` (whose parent must be the tip) through the contracts and commits it
  // with `certificate` in one atomic write. An error here is a storage failure: the caller
  // stops the node (the store refuses further writes anyway).
  Result<CommittedBlockInfo> ExecuteAndCommit(const ledger::Block& block,
                                              const ledger::QuorumCert& certificate);
  // The two halves, for an executor that must keep the (short) commit apart from the (long)
  // execution: Execute reads the tip's state and writes nothing.
  Result<ledger::CommitRequest> Execute(const ledger::Block& block,
                                        const ledger::QuorumCert& certificate) const;
  Result<CommittedBlockInfo> Commit(ledger::CommitRequest request);

  // The roots after the tip (what a new proposal's header carries).
  ExecutionRoots LatestExecution() const;
  // The roots after `height` (<= the tip), from memory for recent heights.
  Result<ExecutionRoots> ExecutionAt(uint64_t height) const;

  uint64_t NextNonce(const PublicKey& account) const;
  // Whether a transaction with that id is committed; false also when the store cannot answer
  // (the store refuses a repeat at commit whatever this says).
  bool IsCommitted(const Hash256& tx_id) const;
  // Why `account` may submit in committed state (contracts/accounts.h); kNone also when the
  // store cannot answer (the store logs why).
  contracts::EnrolledVia EnrolmentOf(const PublicKey& account) const;
  Status PutPendingBlock(const ledger::Block& block) { return store_->PutPendingBlock(block); }
  Status DeletePendingBlock(const ledger::Block& block) {
    return store_->DeletePendingBlock(block);
  }

 private:
  Chain(std::unique_ptr<ledger::LedgerStore> store, GenesisChain genesis);

  std::unique_ptr<ledger::LedgerStore> store_;
  std::unique_ptr<contracts::Registry> registry_;
  GenesisChain genesis_;
  mutable std::mutex mutex_;
  mutable std::map<uint64_t, ExecutionRoots> recent_;  // guarded by mutex_; a cache
};

}  // namespace city::node
