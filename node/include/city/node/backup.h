// Backups of a node's ledger (docs/operators.md, "Backups and restores"). A running node copies
// its store as of one committed block into a new directory, beside a manifest that names the
// chain, the block and a hash of every record. `cityd restore` checks a backup against its
// manifest and the home's genesis before it installs the store into a stopped node's home. It
// never touches the validator's safety state (validator_state.bin): a restored validator keeps
// what it signed, so it cannot sign twice in a round it already voted in.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "city/crypto/ed25519.h"
#include "city/ledger/store.h"
#include "city/node/home.h"

namespace city::node {

inline constexpr uint32_t kBackupFormat = 1;

// <backup>/manifest.json: what the backup holds (ledger::StoreCopyInfo) and when it was made,
// signed by the validator key of the node that made it: a restore takes a backup only from a
// key it knows, so an altered copy with a recomputed manifest needs that key too.
struct BackupManifest {
  uint32_t format = kBackupFormat;
  ledger::StoreCopyInfo store;
  uint64_t created_at_ms = 0;  // the node's clock
  PublicKey signer;
  Signature signature;  // over TaggedHash(kManifestTag, every other field)

  void Sign(const KeyPair& key);
  bool SignatureValid() const;
};

nlohmann::json ManifestToJson(const BackupManifest& manifest);
// kInvalidArgument naming the field that is missing or malformed, or an unknown format. The
// signature is read, not checked (BackupManifest::SignatureValid).
Result<BackupManifest> ManifestFromJson(const nlohmann::json& json);

// The directories of a backup.
inline std::filesystem::path BackupData(const std::filesystem::path& backup) {
  return backup / "data";
}
inline std::filesystem::path BackupManifestFile(const std::filesystem::path& backup) {
  return backup / "manifest.json";
}

// Writes the backup `dir`: the store's copy (LedgerStore::Backup) and its manifest, signed by
// `key`. `dir` must be absolute and new, without "." or ".." components, its parent must
// exist; it is made 0700 (the copy holds the private contracts' raw state). Nothing is left at
// `dir` when it fails; a process killed meanwhile leaves it without manifest.json (an
// incomplete backup, which restore refuses: delete it). `cancel`, when set, stops it.
Result<BackupManifest> WriteBackup(const ledger::LedgerStore& store,
                                   const std::filesystem::path& dir, uint64_t now_ms,
                                   const KeyPair& key, const std::atomic<bool>* cancel = nullptr);

// Installs the backup `from` as the store of the stopped node at `home` (the caller holds the
// home's lock), after checking it:
// - its manifest reads, names the chain and genesis block of the home's genesis.json
//   (kInvalidArgument: "a backup of another chain"), and is signed by the home's validator key
//   or a validator of the genesis (kBadSignature);
// - every record of the copy reads and hashes as the manifest says (kCorruption);
// - the home's validator is not its chain's only one (kInvalidArgument): a lone validator's
//   next block must extend its latest certified block, which only its current ledger holds
//   (a backup never has it: that block is certified, not yet committed). With other
//   validators, the blocks after the backup come back by sync.
// A home that already has a ledger is refused (kAlreadyExists) unless `replace`: then the old
// `data` is moved aside to `data.before-restore-<ms>`, never deleted. The backup is copied
// beside `data` and checked there, then renamed into place: a refusal changes nothing in the
// home, and the backup itself is only read. validator_state.bin is read (for the lone
// validator check), never written.
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

// An operator action the node runs on a thread of its own (a backup, a snapshot): POSTs
// `body` to `path` on the node's API on this host (signed with the home's validator key, as
// RequestBackup), then polls GET `path` until its report says "done" (returned) or "failed"
// (kIoError with the node's message). `pick(first_report, report)` finds, in a report, the
// part about the action started (nullopt: the node reports on another).
struct AdminAction {
  HomePaths home;
  std::string api_url;
  std::filesystem::path ca_file;
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
  std::string path;
  nlohmann::json body;
  std::string what;  // "backup": names it in messages
  std::function<std::optional<nlohmann::json>(const nlohmann::json&, const nlohmann::json&)> pick;
};
Result<nlohmann::json> RunAdminAction(const AdminAction& action);

// One backup at a time, on a thread of its own, for the API (POST and GET /v1/admin/backup):
// a backup of a large store takes longer than an HTTP request may.
class BackupRunner {
 public:
  // Backups are signed with `key` (the node's validator key).
  BackupRunner(const ledger::LedgerStore& store, std::shared_ptr<const KeyPair> key)
      : store_(store), key_(std::move(key)) {}
  ~BackupRunner();  // stops a backup in progress, which leaves nothing behind
  BackupRunner(const BackupRunner&) = delete;
  BackupRunner& operator=(const BackupRunner&) = delete;

  // kAlreadyExists while one runs or when `dir` exists; kInvalidArgument for a path that is
  // not absolute, or whose parent is missing.
  Status Start(const std::filesystem::path& dir, uint64_t now_ms);
  // {"state": "idle" | "running" | "done" | "failed", "dir", and "manifest" or "error"}.
  nlohmann::json Report() const;

 private:
  const ledger::LedgerStore& store_;
  const std::shared_ptr<const KeyPair> key_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mutex_;
  std::thread thread_;  // the last backup's, joined before the next starts
  std::string state_ = "idle";
  std::filesystem::path dir_;
  nlohmann::json outcome_;  // the manifest, or the error
};

}  // namespace city::node
