// Backups of a node's ledger (docs/operators.md, "Backups and restores"). A running node copies
// its store as of one committed block into a new directory, beside a manifest that names the
// chain, the block and a hash of every record. `cityd restore` checks a backup against its
// manifest and the home's genesis before it installs the store into a stopped node's home. It
// never touches the validator's safety state (validator_state.bin): a restored validator keeps
// what it signed, so it cannot sign twice in a round it already voted in.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "city/ledger/store.h"
#include "city/node/home.h"

namespace city::node {

inline constexpr uint32_t kBackupFormat = 1;

// <backup>/manifest.json: what the backup holds (ledger::StoreCopyInfo) and when it was made.
struct BackupManifest {
  uint32_t format = kBackupFormat;
  ledger::StoreCopyInfo store;
  uint64_t created_at_ms = 0;  // the node's clock
};

nlohmann::json ManifestToJson(const BackupManifest& manifest);
// kInvalidArgument naming the field that is missing or malformed, or an unknown format.
Result<BackupManifest> ManifestFromJson(const nlohmann::json& json);

// The directories of a backup.
inline std::filesystem::path BackupData(const std::filesystem::path& backup) {
  return backup / "data";
}
inline std::filesystem::path BackupManifestFile(const std::filesystem::path& backup) {
  return backup / "manifest.json";
}

// Writes the backup `dir`: the store's copy (LedgerStore::Backup) and its manifest. `dir` must
// be absolute and new, its parent must exist; it is made 0700 (the copy holds the private
// contracts' raw state). Nothing is left at `dir` when it fails.
Result<BackupManifest> WriteBackup(const ledger::LedgerStore& store,
                                   const std::filesystem::path& dir, uint64_t now_ms);

// Installs the backup `from` as the store of the stopped node at `home` (the caller holds the
// home's lock), after checking it:
// - its manifest reads, and names the chain and genesis block of the home's genesis.json
//   (kInvalidArgument: "a backup of another chain");
// - every record of its store reads and hashes as the manifest says (kCorruption).
// - a validator that is its chain's only one would lose committed blocks: its safety state
//   holds a certificate above the backup's tip (kInvalidArgument). With other validators the
//   blocks after the backup come back by sync.
// A home that already has a ledger is refused (kAlreadyExists) unless `replace`: then the old
// `data` is moved aside to `data.before-restore-<ms>`, never deleted. The copy is built and
// checked beside `data`, then renamed into place: a refusal changes nothing in the home.
// validator_state.bin is read (for the check above), never written.
Result<BackupManifest> RestoreBackup(const std::filesystem::path& from, const HomePaths& home,
                                     bool replace, uint64_t now_ms);

// `cityd backup`: asks the node running from `home` to back itself up into `out` (made
// absolute), and waits for it. The request goes to the node's API on this host (operator
// actions are taken from there only), signed with the home's validator key (the node's
// operator). `api_url` overrides the address read from config.toml; a node whose API uses
// TLS needs one, with a host name its certificate holds, and `ca_file` when its authority is
// not the system's.
struct BackupRequest {
  HomePaths home;
  std::filesystem::path out;
  std::string api_url;
  std::filesystem::path ca_file;
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
};
Result<BackupManifest> RequestBackup(const BackupRequest& request);

// One backup at a time, on a thread of its own, for the API (POST and GET /v1/admin/backup):
// a backup of a large store takes longer than an HTTP request may.
class BackupRunner {
 public:
  explicit BackupRunner(const ledger::LedgerStore& store) : store_(store) {}
  ~BackupRunner();  // waits for a backup in progress
  BackupRunner(const BackupRunner&) = delete;
  BackupRunner& operator=(const BackupRunner&) = delete;

  // kAlreadyExists while one runs or when `dir` exists; kInvalidArgument for a path that is
  // not absolute, or whose parent is missing.
  Status Start(const std::filesystem::path& dir, uint64_t now_ms);
  // {"state": "idle" | "running" | "done" | "failed", "dir", and "manifest" or "error"}.
  nlohmann::json Report() const;

 private:
  const ledger::LedgerStore& store_;
  mutable std::mutex mutex_;
  std::thread thread_;  // the last backup's, joined before the next starts
  std::string state_ = "idle";
  std::filesystem::path dir_;
  nlohmann::json outcome_;  // the manifest, or the error
};

}  // namespace city::node
