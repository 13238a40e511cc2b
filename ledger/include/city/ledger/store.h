// The ledger on disk: committed blocks and their certificates, transactions with their
// results, the versioned contract state with its sparse Merkle tree, and history indexes.
//
// One LevelDB database per node. Each committed block is one atomic, synced WriteBatch
// (block, certificate, results, state writes, tree nodes, indexes, pruning, tip), so a
// process killed at any instant reopens at the last block whose Commit() returned. After
// a failed write the store refuses every further write (fail-stop). The byte layout of
// every record is documented in src/store.cpp.
//
// Thread safety: any number of readers may run concurrently with one writer; each read
// sees one committed block's state, never half of one.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "city/ledger/records.h"
#include "city/ledger/smt.h"
#include "city/ledger/state_chunks.h"
#include "city/ledger/types.h"

namespace leveldb {
class Env;
}

namespace city::ledger {

// Bumped on any change to the on-disk layout; Open() refuses other versions.
// 2: state key paths split public and private state (smt.key.v2, ledger/smt.h); every state
// root differs from version 1's, so a version 1 store is refused rather than mistaken for
// another chain.
inline constexpr uint32_t kStoreFormatVersion = 2;

struct StoreOptions {
  // State versions whose tree is kept for proofs, counting the tip (1 = tip only); 0 keeps
  // every version (archive mode). Values stay readable at every version (GetStateAt) either
  // way: they are the per-key history.
  uint64_t retain_versions = 0;
  // Blocks kept, counting the tip; 0 keeps every block (archive). Older blocks lose their
  // transactions, results, certificates and history (account and contract indexes, and each
  // key's writes but the last one before the kept range) in the commit batch that passes
  // them. The header and certificate of an epoch's last block stay: the chain of validator
  // sets from the genesis must remain checkable. Reads below the kept range answer kPruned.
  // State trees are kept for at most as many versions (retain_versions, when smaller, rules).
  uint64_t retain_blocks = 0;
  size_t block_cache_bytes = 64 << 20;
  // Decoded state tree nodes kept in memory (about 200 bytes each with the table: 50 MiB):
  // the upper 17 levels of the tree, which every update walks, fit. At 1 << 20 this cache
  // alone grew a validator by 200 MiB over a ten-minute soak (docs/benchmarks.md).
  size_t node_cache_entries = 1 << 18;
  // The newest values of recently used state keys, a read at the tip without a seek. Values
  // up to 512 bytes and keys up to 256: at most about 60 MiB, a few MiB for the contracts'
  // small records.
  size_t state_cache_entries = 1 << 16;
  leveldb::Env* env = nullptr;  // tests inject faults through it; nullptr = the OS
};

struct Genesis {
  std::string chain_id;
  Hash256 block_hash;              // the genesis block: height 0, always committed
  std::vector<StateWrite> writes;  // initial contract state, version 0
  std::vector<IndexEntry> index_entries;
};

struct StoreTip {
  uint64_t height = 0;
  Hash256 block_hash;
  Hash256 state_root;
  friend bool operator==(const StoreTip&, const StoreTip&) = default;
};

struct StateAt {
  uint64_t version = 0;
  Hash256 root;
  std::optional<Bytes> value;
  StateProof proof;
};

// What a copy of a store holds (LedgerStore::Backup writes one, LedgerStore::Inspect reads
// one): a backup's manifest states these, and a restore checks them.
struct StoreCopyInfo {
  std::string chain_id;
  Hash256 genesis_hash;
  StoreTip tip;          // the last committed block in the copy
  uint64_t records = 0;  // key/value records
  uint64_t bytes = 0;    // their keys' and values' bytes
  Hash256 content_hash;  // over every record in key order, each key and value length-prefixed
  friend bool operator==(const StoreCopyInfo&, const StoreCopyInfo&) = default;
};

struct SnapshotManifest;  // snapshot.h
struct SnapshotBase;
struct SnapshotChunk;
struct SnapshotIds;
struct SnapshotTxId;

class LedgerStore {
 public:
  // Opens an existing store. Errors name what is wrong: kNotFound (no store there),
  // kCorruption (damaged files, a foreign database, inconsistent tip), kInvalidArgument
  // (a format version this build does not read), kIoError (locked by another process).
  static Result<std::unique_ptr<LedgerStore>> Open(const std::filesystem::path& dir,
                                                   const StoreOptions& options = {});
  // Creates a store with the genesis block and state. `dir` must not exist or be empty.
  static Result<std::unique_ptr<LedgerStore>> Create(const std::filesystem::path& dir,
                                                     const Genesis& genesis,
                                                     const StoreOptions& options = {});
  ~LedgerStore();
  LedgerStore(const LedgerStore&) = delete;
  LedgerStore& operator=(const LedgerStore&) = delete;

  const std::string& chain_id() const;
  const Hash256& genesis_hash() const;
  StoreTip tip() const;
  // The oldest version whose tree is still held for proofs (0 for a store that never pruned).
  uint64_t oldest_retained_version() const;
  // The lowest height whose block, results and state versions are held (0 for a store that
  // never pruned blocks: everything from the genesis). Below it only epochs' last headers.
  uint64_t lowest_height() const;

  // Commits the next block: height tip+1, parent the tip, certificate for this block, one
  // result per transaction. Returns its state and result roots once durable.
  Result<CommitInfo> Commit(const CommitRequest& request);

  // Blocks and transactions, at any committed height from lowest_height() on (kPruned below
  // it; headers and certificates of epochs' last blocks stay).
  Result<Block> GetBlock(uint64_t height) const;
  Result<BlockHeader> GetHeader(uint64_t height) const;
  Result<QuorumCert> GetCertificate(uint64_t height) const;
  Result<uint64_t> HeightOf(const Hash256& block_hash) const;
  Result<TxRecord> GetTransaction(const Hash256& tx_id) const;
  // Whether a transaction with that id is committed: one index read, nothing decoded (the
  // admission and proposal paths ask this of every transaction).
  Result<bool> HasTransaction(const Hash256& tx_id) const;
  Result<std::vector<TxResult>> GetResults(uint64_t height) const;

  // Contract state. nullopt: the key is absent.
  Result<std::optional<Bytes>> GetState(ByteSpan key) const;  // at the tip
  Result<std::optional<Bytes>> GetStateAt(ByteSpan key, uint64_t version) const;
  Result<Hash256> StateRootAt(uint64_t version) const;
  // The value at `version` with its proof against that version's root. kPruned for a version
  // that is pruned, kNotFound for one not yet committed.
  Result<StateAt> ProveState(ByteSpan key, uint64_t version) const;

  // The state at `version` for a snapshot (state_chunks.h): the summaries of the tree's
  // subtrees at `split_depth` (up to kMaxSplitDepth; they make the version's root), and the
  // entries of subtrees [first, first + count), in path order. kPruned below the lowest height
  // (or, for the summaries, the oldest tree held), kNotFound above the tip.
  Result<std::vector<SubtreeSummary>> StateSubtrees(uint64_t version, size_t split_depth) const;
  Result<std::vector<StateEntry>> StateChunk(uint64_t version, size_t split_depth, size_t first,
                                             size_t count) const;

  // Calls `each` with the id of every transaction committed at heights [from, to], in id
  // order, for a snapshot: one pass over the id index (pruning keeps every id). Stops at the
  // first error `each` returns, or kIoError "cancelled" once `cancel` is set.
  Status ForEachTransactionIdBetween(uint64_t from, uint64_t to,
                                     const std::function<Status(const SnapshotTxId&)>& each,
                                     const std::atomic<bool>* cancel = nullptr) const;

  // While the returned hold lives, no block or state version at or above `height` is pruned
  // (a snapshot reads them); pruning then catches up, a slice per commit.
  std::shared_ptr<void> HoldPruningFrom(uint64_t height) const;

  // History, paginated.
  Result<Page<AccountTx>> AccountHistory(const PublicKey& account, const PageRequest& page) const;
  Result<Page<KeyWrite>> KeyHistory(ByteSpan key, const PageRequest& page) const;
  Result<Page<IndexItem>> IndexScan(std::string_view contract, std::string_view index, ByteSpan key,
                                    const PageRequest& page) const;

  // Uncommitted blocks consensus voted for (Host::PersistBlock), synced before returning;
  // those at or below the tip are dropped by the next commit.
  Status PutPendingBlock(const Block& block);
  Result<std::vector<Block>> PendingBlocks() const;
  // One that consensus dropped (a branch that cannot commit, or an uncertified block of a
  // past round), so a restart does not load it again.
  Status DeletePendingBlock(const Block& block);

  // Copies the ledger as of one committed block into a new store at `dir` (which must not
  // exist) while commits go on: the records of one LevelDB snapshot, less the pending blocks
  // (consensus's, not the ledger's). Built beside `dir` and renamed into place when synced.
  // `cancel`, when it becomes true, stops it (kIoError "cancelled"; nothing is left).
  Result<StoreCopyInfo> Backup(const std::filesystem::path& dir,
                               const std::atomic<bool>* cancel = nullptr) const;
  // Opens the store at `dir` (no other process may hold it) and reads every record: what
  // Backup reported, to compare with a backup's manifest. kNotFound or kCorruption when it is
  // no store or a record does not read.
  static Result<StoreCopyInfo> Inspect(const std::filesystem::path& dir);

  class Impl;

 private:
  friend class SnapshotImport;
  explicit LedgerStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Builds a store from a snapshot (snapshot.h), part by part, each part durable when it is
// added: an import that stops (a crash, a peer gone) resumes from the next part. Until
// Finish, LedgerStore::Open refuses the directory (kCorruption naming the unfinished import).
// The store it makes holds block h whole, the epochs' last headers, the transaction ids of
// the expiry horizon below h, and the state of version h: lowest_height() and the oldest
// version are h, and it goes on from there by Commit like any other.
class SnapshotImport {
 public:
  // `dir` must not exist, be empty, or hold an unfinished import of this very manifest (then
  // it resumes). The caller checked the manifest (CheckSnapshotManifest) and the base
  // (CheckSnapshotBase); each chunk and id part is checked here as it is added.
  // kAlreadyExists for a finished store or another snapshot's import.
  static Result<std::unique_ptr<SnapshotImport>> Begin(const std::filesystem::path& dir,
                                                       const SnapshotManifest& manifest,
                                                       const SnapshotBase& base,
                                                       const StoreOptions& options = {});
  ~SnapshotImport();
  SnapshotImport(const SnapshotImport&) = delete;
  SnapshotImport& operator=(const SnapshotImport&) = delete;

  size_t next_chunk() const { return next_chunk_; }
  size_t next_id_part() const { return next_id_part_; }
  // The chunk numbered next_chunk() (kInvalidArgument for another), checked against the
  // manifest (CheckSnapshotChunk), with the tree nodes of its subtrees.
  Status AddChunk(const SnapshotChunk& chunk);
  // The id part numbered next_id_part(), checked (CheckSnapshotIds).
  Status AddIds(const SnapshotIds& ids);
  // With every part in, and the tree's root the manifest's state root (kUnauthenticated
  // otherwise), makes the store whole and opens it.
  Result<std::unique_ptr<LedgerStore>> Finish();

 private:
  SnapshotImport(std::unique_ptr<LedgerStore::Impl> impl, std::filesystem::path dir,
                 SnapshotManifest manifest, StoreOptions options);

  std::unique_ptr<LedgerStore::Impl> impl_;
  std::filesystem::path dir_;
  std::unique_ptr<const SnapshotManifest> manifest_;
  StoreOptions options_;
  size_t next_chunk_ = 0;
  size_t next_id_part_ = 0;
  uint64_t root_version_ = 0;
  Hash256 root_hash_;
};

}  // namespace city::ledger
