// State snapshots on disk (docs/operators.md, "Snapshots"): a validator writes one every
// `[storage] snapshot_interval` heights into <home>/snapshots/<height>/, and `cityd snapshot
// import` starts a stopped node's ledger from one, checked part by part (ledger/snapshot.h)
// against certificates from the home's genesis.
//
// A snapshot directory holds manifest.bin (the signed manifest, written last: a directory
// without it is unfinished), base.bin, chunk-NNNNN.bin and ids-NNNNN.bin, each file 0600 in a
// 0700 directory: the state holds the private contracts' raw records.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/ledger/snapshot.h"
#include "city/ledger/store.h"
#include "city/node/home.h"

namespace city::node {

inline std::filesystem::path SnapshotsDir(const HomePaths& home) { return home.root / "snapshots"; }
std::filesystem::path SnapshotPartFile(const std::filesystem::path& dir, std::string_view kind,
                                       size_t index);
inline std::filesystem::path SnapshotManifestFile(const std::filesystem::path& dir) {
  return dir / "manifest.bin";
}
inline std::filesystem::path SnapshotBaseFile(const std::filesystem::path& dir) {
  return dir / "base.bin";
}

// The first committed header above `height` that names `height` executed (kNotFound when the
// chain skipped it: execution reported a later height first, or none yet).
Result<uint64_t> FindSnapshotAnchor(const ledger::LedgerStore& store, uint64_t height);

// Writes the snapshot at `height` into the new directory `dir`: every part, then the manifest
// signed with `key`. `epoch_ends` are the heights of the epochs' last blocks (from
// governance's records), any order. Nothing is left at `dir` on failure. `cancel` stops it.
Result<ledger::SignedSnapshotManifest> WriteSnapshot(const ledger::LedgerStore& store,
                                                     uint64_t height,
                                                     const std::vector<uint64_t>& epoch_ends,
                                                     const KeyPair& key,
                                                     const std::filesystem::path& dir,
                                                     const std::atomic<bool>* cancel = nullptr);

// The manifest of the snapshot at `dir`, its signature checked (kBadSignature).
Result<ledger::SignedSnapshotManifest> ReadSnapshotManifest(const std::filesystem::path& dir);

// The snapshots under `root` (SnapshotsDir), newest first; unfinished or unreadable ones are
// listed with their error.
struct SnapshotListing {
  std::filesystem::path dir;
  Result<ledger::SignedSnapshotManifest> manifest;
};
std::vector<SnapshotListing> ListSnapshots(const std::filesystem::path& root);

// Copies the finished snapshot at `height` (nullopt: the newest) under `root` into the new
// directory `out`, and reads the copy's manifest back. kNotFound when there is none.
Result<SnapshotListing> ExportSnapshot(const std::filesystem::path& root,
                                       std::optional<uint64_t> height,
                                       const std::filesystem::path& out);

// `cityd snapshot import`: makes the ledger of the stopped node at `home` (the caller holds
// the home's lock) from the snapshot at `from`, after checking:
// - the manifest is of the home's chain (kInvalidArgument) and signed by the home's validator
//   or a validator of the genesis or of the snapshot's epochs (kBadSignature): it vouches for
//   the transaction ids, which no certificate covers;
// - the base against certificates from the genesis, every part against the manifest's hash,
//   every chunk against the state root (ledger::CheckSnapshotBase and the store's import).
// The ledger is built in data.importing and renamed to data when whole; an import that stops
// resumes there. A home with a ledger is refused (kAlreadyExists) unless `replace` (the old
// one is moved to data.before-snapshot-<ms>). validator_state.bin is never written.
struct SnapshotImportReport {
  ledger::SnapshotManifest manifest;
  bool resumed = false;
};
Result<SnapshotImportReport> ImportSnapshot(const std::filesystem::path& from,
                                            const HomePaths& home, bool replace, uint64_t now_ms);

// The validator's own snapshots: one at each height that governs (the first executed height
// at or above a multiple of `interval`, named by its anchor), written on a thread of its own,
// keeping the newest `keep`.
class SnapshotTaker {
 public:
  SnapshotTaker(const ledger::LedgerStore& store, std::shared_ptr<const KeyPair> key,
                std::filesystem::path root, uint64_t interval, size_t keep);
  ~SnapshotTaker();  // stops a snapshot in progress (it leaves nothing)
  SnapshotTaker(const SnapshotTaker&) = delete;
  SnapshotTaker& operator=(const SnapshotTaker&) = delete;

  // After each commit, with the committed header: when its exec_height crosses a multiple of
  // the interval (its parent's did not), takes a snapshot at that height, unless one runs.
  // Every validator so picks the same heights, and makes the same manifests.
  void OnCommitted(const ledger::BlockHeader& header);
  // Takes one now at the newest height it can anchor (cityd snapshot create). kAlreadyExists
  // while one runs.
  Status TakeNow();
  // {"state": "idle" | "running" | "done" | "failed", "height", and "error" when failed}.
  std::string ReportJson() const;

 private:
  Status Start(uint64_t height);
  void Prune();

  const ledger::LedgerStore& store_;
  const std::shared_ptr<const KeyPair> key_;
  const std::filesystem::path root_;
  const uint64_t interval_;
  const size_t keep_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  mutable std::mutex mutex_;
  std::thread thread_;
  std::string state_ = "idle";
  uint64_t height_ = 0;
  std::string error_;
};

}  // namespace city::node
