// Opening the store against the genesis file, and executing and committing blocks.
#include "chain.h"

#include "city/contracts/city_contracts.h"

namespace city::node {
namespace {

constexpr size_t kRecentRoots = 512;

bool DirectoryEmpty(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return true;
  return std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec);
}

}  // namespace

Chain::Chain(std::unique_ptr<ledger::LedgerStore> store, GenesisChain genesis)
    : store_(std::move(store)),
      registry_(contracts::MakeCityRegistry()),
      genesis_(std::move(genesis)) {}

Result<std::unique_ptr<Chain>> Chain::Open(const std::filesystem::path& data_dir,
                                           const GenesisChain& genesis,
                                           const ledger::StoreOptions& options) {
  Result<std::unique_ptr<ledger::LedgerStore>> store =
      DirectoryEmpty(data_dir)
          ? ledger::LedgerStore::Create(data_dir, genesis.store_genesis, options)
          : ledger::LedgerStore::Open(data_dir, options);
  if (!store.ok()) {
    return Status(store.status().code(),
                  "data directory " + data_dir.string() + ": " + store.status().message());
  }
  if ((*store)->chain_id() != genesis.store_genesis.chain_id ||
      (*store)->genesis_hash() != genesis.block_hash) {
    return Status(ErrorCode::kInvalidArgument,
                  "genesis mismatch: the data directory " + data_dir.string() + " holds chain '" +
                      (*store)->chain_id() + "' with genesis " + (*store)->genesis_hash().ToHex() +
                      ", but genesis.json describes chain '" + genesis.store_genesis.chain_id +
                      "' with genesis " + genesis.block_hash.ToHex());
  }
  std::unique_ptr<Chain> chain(new Chain(std::move(*store), genesis));
  const ledger::StoreTip tip = chain->tip();
  if (tip.height == 0) {
    chain->recent_[0] = {0, tip.state_root, ledger::ComputeResultRoot({})};
  }
  return chain;
}

Result<CommittedBlockInfo> Chain::ExecuteAndCommit(const ledger::Block& block,
                                                   const ledger::QuorumCert& certificate) {
  Result<ledger::CommitRequest> executed = Execute(block, certificate);
  if (!executed.ok()) return executed.status();
  return Commit(std::move(*executed));
}

Result<ledger::CommitRequest> Chain::Execute(const ledger::Block& block,
                                             const ledger::QuorumCert& certificate) const {
  const contracts::StoreStateReader state(*store_);
  const contracts::BlockContext context{block.header.chain_id, block.header.height,
                                        block.header.timestamp_ms};
  contracts::BlockExecution execution;
  try {
    execution = contracts::ExecuteBlock(*registry_, state, context, block.transactions);
  } catch (const contracts::StorageFailure& failure) {
    return failure.status;
  }
  return ledger::CommitRequest{block, certificate, std::move(execution.results),
                               std::move(execution.writes), std::move(execution.index_entries)};
}

Result<CommittedBlockInfo> Chain::Commit(ledger::CommitRequest request) {
  Result<ledger::CommitInfo> info = store_->Commit(request);
  if (!info.ok()) return info.status();
  {
    std::lock_guard lock(mutex_);
    recent_[info->height] = {info->height, info->state_root, info->result_root};
    while (recent_.size() > kRecentRoots) recent_.erase(recent_.begin());
  }
  return CommittedBlockInfo{std::move(request.block), std::move(request.certificate),
                            std::move(request.results), *info};
}

ExecutionRoots Chain::LatestExecution() const {
  const uint64_t height = tip().height;
  Result<ExecutionRoots> roots = ExecutionAt(height);
  // The tip's roots are always computable from the store; failing here means the store is
  // damaged, and a proposal with unknown roots would be refused by every honest validator.
  if (!roots.ok()) return ExecutionRoots{height, tip().state_root, Hash256{}};
  return *roots;
}

Result<ExecutionRoots> Chain::ExecutionAt(uint64_t height) const {
  {
    std::lock_guard lock(mutex_);
    if (auto it = recent_.find(height); it != recent_.end()) return it->second;
  }
  if (height > tip().height) {
    return Status(ErrorCode::kNotFound, "height " + std::to_string(height) + " is not executed");
  }
  Result<Hash256> state_root = store_->StateRootAt(height);
  if (!state_root.ok()) return state_root.status();
  Hash256 result_root = ledger::ComputeResultRoot({});
  if (height > 0) {
    Result<std::vector<ledger::TxResult>> results = store_->GetResults(height);
    if (!results.ok()) return results.status();
    result_root = ledger::ComputeResultRoot(*results);
  }
  ExecutionRoots roots{height, *state_root, result_root};
  std::lock_guard lock(mutex_);
  recent_[height] = roots;
  while (recent_.size() > kRecentRoots) recent_.erase(recent_.begin());
  return roots;
}

bool Chain::IsCommitted(const Hash256& tx_id) const {
  Result<bool> committed = store_->HasTransaction(tx_id);
  return committed.ok() && *committed;
}

uint64_t Chain::NextNonce(const PublicKey& account) const {
  try {
    return contracts::NextNonce(contracts::StoreStateReader(*store_), account);
  } catch (const contracts::StorageFailure&) {
    return 0;  // the submission is then refused or fails at execution; the store logs why
  }
}

contracts::EnrolledVia Chain::EnrolmentOf(const PublicKey& account) const {
  try {
    return contracts::EnrolmentOf(contracts::StoreStateReader(*store_), account);
  } catch (const contracts::StorageFailure&) {
    return contracts::EnrolledVia::kNone;
  }
}

}  // namespace city::node
