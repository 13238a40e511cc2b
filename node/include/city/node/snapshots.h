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
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
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
// Before signing, it checks the manifest and base as an importer will, against
// `genesis_epoch`. Blocks and versions from `height` on are held from pruning meanwhile.
Result<ledger::SignedSnapshotManifest> WriteSnapshot(
    const ledger::LedgerStore& store, uint64_t height, const std::vector<uint64_t>& epoch_ends,
    const ledger::Epoch& genesis_epoch, const KeyPair& key, const std::filesystem::path& dir,
    const std::atomic<bool>* cancel = nullptr);

// The manifest of the snapshot at `dir`, its signature checked (kBadSignature).
Result<ledger::SignedSnapshotManifest> ReadSnapshotManifest(const std::filesystem::path& dir);

// The keys that vouch for the snapshot at `dir`: its manifest's signer (`manifest` as
// ReadSnapshotManifest returned it, its signature checked), and every key whose co-signature
// (a cosign-*.bin file: key and signature over the manifest's hash) verifies, looking at the
// first kMaxValidators such files. Duplicates and bad files are left out.
std::vector<PublicKey> SnapshotVouchers(const std::filesystem::path& dir,
                                        const ledger::SignedSnapshotManifest& manifest);

// `cityd snapshot cosign`: the validator of `home` co-signs the snapshot at `dir` if its own
// snapshot of that height has the same manifest (kUnauthenticated if it differs, kNotFound if
// it has none). The manifest names the state, ids and epochs, so a co-signature says this
// validator made the same. Returns the manifest.
Result<ledger::SignedSnapshotManifest> CosignSnapshot(const HomePaths& home,
                                                      const std::filesystem::path& dir);

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
// - the manifest is of the home's chain (kInvalidArgument) and vouched for (SnapshotVouchers)
//   by this home's validator or by f+1 validators of block h's epoch, so by one honest one at
//   least (kBadSignature): it vouches for the transaction ids, which no certificate covers;
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
  // `genesis_epoch` checks each snapshot before it is signed (WriteSnapshot).
  SnapshotTaker(const ledger::LedgerStore& store, std::shared_ptr<const KeyPair> key,
                ledger::Epoch genesis_epoch, std::filesystem::path root, uint64_t interval,
                size_t keep);
  ~SnapshotTaker();  // stops a snapshot in progress (it leaves nothing)
  SnapshotTaker(const SnapshotTaker&) = delete;
  SnapshotTaker& operator=(const SnapshotTaker&) = delete;

  // After each commit, with the committed header: when its exec_height crosses a multiple of
  // the interval (its parent's did not), takes a snapshot at that height; if one is being
  // taken, this one goes next (the latest such height). Every validator so picks the same
  // heights, and makes the same manifests.
  void OnCommitted(const ledger::BlockHeader& header);
  // Takes one now (cityd snapshot create): at `height`, or at the newest height it can anchor;
  // while one is being taken, that one (Report names it). kInvalidArgument for a height above
  // the tip or one no committed header names executed first.
  Status TakeNow(std::optional<uint64_t> height = std::nullopt);
  // {"state": "idle" | "running" | "done" | "failed", "height", "error" when failed, and
  // "recent": the last few finished ones as {"height", "state", "error"}}.
  nlohmann::json Report() const;

 private:
  Status Start(uint64_t height, bool queue);
  void Run(uint64_t height);  // the thread: that height, then any queued meanwhile
  void FinishedLocked();      // records the outcome of the one that ended in recent_
  void Prune();

  const ledger::LedgerStore& store_;
  const std::shared_ptr<const KeyPair> key_;
  const ledger::Epoch genesis_epoch_;
  const std::filesystem::path root_;
  const uint64_t interval_;
  const size_t keep_;
  std::atomic<bool> cancel_{false};
  std::atomic<uint64_t> last_exec_height_{UINT64_MAX};  // of the last commit seen
  mutable std::mutex mutex_;
  bool running_ = false;               // guarded by mutex_
  std::optional<uint64_t> queued_;     // guarded by mutex_
  std::thread thread_;                 // guarded by mutex_
  std::string state_ = "idle";         // guarded by mutex_
  uint64_t height_ = 0;                // guarded by mutex_
  std::string error_;                  // guarded by mutex_
  std::deque<nlohmann::json> recent_;  // guarded by mutex_
};

}  // namespace city::node
