// Backups and restores of a node's ledger (city/node/backup.h).
#include "city/node/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include "chain.h"
#include "city/consensus/core.h"
#include "city/crypto/private_file.h"
#include "city/ledger/safety_file.h"
#include "city/net/http_client.h"
#include "city/net/signed_request.h"
#include "city/node/config.h"
#include "city/node/genesis.h"
#include "epochs.h"
#include "file_io_internal.h"
#include "store_install.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr size_t kMaxManifestBytes = 64 * 1024;

Status Invalid(const std::string& what) { return Status(ErrorCode::kInvalidArgument, what); }

template <typename H>
Result<H> HashField(const Json& json, const char* field) {
  const auto it = json.find(field);
  if (it == json.end() || !it->is_string()) {
    return Invalid(std::string("manifest: '") + field + "' is missing or not a string");
  }
  Result<H> hash = H::FromHex(it->get<std::string>());
  if (!hash.ok()) return Invalid(std::string("manifest: '") + field + "' is not a hash");
  return hash;
}

Result<uint64_t> NumberField(const Json& json, const char* field) {
  const auto it = json.find(field);
  if (it == json.end() || !it->is_number_unsigned()) {
    return Invalid(std::string("manifest: '") + field + "' is missing or not a number");
  }
  return it->get<uint64_t>();
}

// Where a path's parent must exist and the path itself must not. No "." or ".." in it: the
// path checked is the path made, whatever symlinks it crosses.
Status CheckNewDirectory(const fs::path& dir) {
  if (!dir.is_absolute()) return Invalid("the backup directory must be an absolute path");
  for (const fs::path& part : dir) {
    if (part == "." || part == "..") {
      return Invalid("the backup directory must not have '.' or '..' in its path");
    }
  }
  std::error_code error;
  fs::path target = dir;
  if (!target.has_filename()) target = target.parent_path();  // "/x/y/" names "/x/y"
  const fs::path parent = target.parent_path();
  if (!fs::is_directory(parent, error)) {
    return Invalid("the backup directory's parent " + parent.string() + " does not exist");
  }
  if (fs::exists(fs::symlink_status(target, error))) {
    return Status(ErrorCode::kAlreadyExists,
                  target.string() + " exists: a backup goes into a new directory");
  }
  return Status::Ok();
}

// Copies every file of the store `from` into `to` (new), each synced, then the directory.
Status CopyStoreFiles(const fs::path& from, const fs::path& to) {
  std::error_code error;
  fs::create_directory(to, error);
  if (error)
    return Status(ErrorCode::kIoError, "cannot create " + to.string() + ": " + error.message());
  // Regular files only, never what a symlink in the backup points at (a store has none).
  for (fs::directory_iterator it(from, error), end; !error && it != end; it.increment(error)) {
    const fs::path& source = it->path();
    const fs::file_status kind = fs::symlink_status(source, error);
    if (error) break;
    if (!fs::is_regular_file(kind)) continue;
    if (source.filename() == "LOCK") continue;  // LevelDB makes its own
    const fs::path target = to / source.filename();
    if (!fs::copy_file(source, target, error)) {
      return Status(ErrorCode::kIoError, "cannot copy " + source.string() + ": " + error.message());
    }
    const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      Status status = IoErrorFromErrno("cannot sync", target);
      if (fd >= 0) ::close(fd);
      return status;
    }
    ::close(fd);
  }
  if (error)
    return Status(ErrorCode::kIoError, "cannot list " + from.string() + ": " + error.message());
  return SyncParentDirectory(to / "CURRENT");
}

}  // namespace

namespace {

constexpr std::string_view kManifestTag = "city.backup.manifest.v1";

// Every field but the signature, as ManifestToJson writes them (nlohmann's objects are sorted
// by key, so the text is one per manifest).
std::string SignedText(const BackupManifest& manifest) {
  Json json = ManifestToJson(manifest);
  json.erase("signature");
  return json.dump();
}

}  // namespace

void BackupManifest::Sign(const KeyPair& key) {
  signer = key.public_key();
  signature = key.Sign(TaggedHash(kManifestTag, AsBytes(SignedText(*this))).bytes);
}

bool BackupManifest::SignatureValid() const {
  return Verify(signer, TaggedHash(kManifestTag, AsBytes(SignedText(*this))).bytes, signature);
}

Json ManifestToJson(const BackupManifest& manifest) {
  const ledger::StoreCopyInfo& store = manifest.store;
  return {{"format", manifest.format},
          {"signer", manifest.signer.ToHex()},
          {"signature", manifest.signature.ToHex()},
          {"chain_id", store.chain_id},
          {"genesis_hash", store.genesis_hash.ToHex()},
          {"height", store.tip.height},
          {"block_hash", store.tip.block_hash.ToHex()},
          {"state_root", store.tip.state_root.ToHex()},
          {"records", store.records},
          {"bytes", store.bytes},
          {"content_hash", store.content_hash.ToHex()},
          {"created_at_ms", manifest.created_at_ms}};
}

Result<BackupManifest> ManifestFromJson(const Json& json) {
  if (!json.is_object()) return Invalid("manifest: not a JSON object");
  BackupManifest manifest;
  Result<uint64_t> format = NumberField(json, "format");
  if (!format.ok()) return format.status();
  if (*format != kBackupFormat) {
    return Invalid("manifest: format " + std::to_string(*format) + "; this cityd reads format " +
                   std::to_string(kBackupFormat));
  }
  const auto chain = json.find("chain_id");
  if (chain == json.end() || !chain->is_string()) {
    return Invalid("manifest: 'chain_id' is missing or not a string");
  }
  manifest.store.chain_id = chain->get<std::string>();
  Result<Hash256> genesis = HashField<Hash256>(json, "genesis_hash");
  Result<Hash256> block = HashField<Hash256>(json, "block_hash");
  Result<Hash256> root = HashField<Hash256>(json, "state_root");
  Result<Hash256> content = HashField<Hash256>(json, "content_hash");
  Result<uint64_t> height = NumberField(json, "height");
  Result<uint64_t> records = NumberField(json, "records");
  Result<uint64_t> bytes = NumberField(json, "bytes");
  Result<uint64_t> created = NumberField(json, "created_at_ms");
  Result<PublicKey> signer = HashField<PublicKey>(json, "signer");
  Result<Signature> signature = HashField<Signature>(json, "signature");
  for (const Status* status :
       {&genesis.status(), &block.status(), &root.status(), &content.status(), &height.status(),
        &records.status(), &bytes.status(), &created.status(), &signer.status(),
        &signature.status()}) {
    if (!status->ok()) return *status;
  }
  manifest.signer = *signer;
  manifest.signature = *signature;
  manifest.store.genesis_hash = *genesis;
  manifest.store.tip = {*height, *block, *root};
  manifest.store.records = *records;
  manifest.store.bytes = *bytes;
  manifest.store.content_hash = *content;
  manifest.created_at_ms = *created;
  return manifest;
}

Result<BackupManifest> WriteBackup(const ledger::LedgerStore& store, const fs::path& dir,
                                   uint64_t now_ms, const KeyPair& key,
                                   const std::atomic<bool>* cancel) {
  if (Status status = CheckNewDirectory(dir); !status.ok()) return status;
  std::error_code error;
  if (::mkdir(dir.c_str(), 0700) != 0) return IoErrorFromErrno("cannot create", dir);
  auto fail = [&](Status status) {
    fs::remove_all(dir, error);
    return status;
  };
  Result<ledger::StoreCopyInfo> copied = store.Backup(BackupData(dir), cancel);
  if (!copied.ok()) return fail(copied.status());
  BackupManifest manifest{kBackupFormat, *copied, now_ms, {}, {}};
  manifest.Sign(key);
  if (Status status =
          WriteNewFile(BackupManifestFile(dir), ManifestToJson(manifest).dump(2) + "\n", 0600);
      !status.ok()) {
    return fail(status);
  }
  if (Status status = SyncParentDirectory(dir); !status.ok()) return fail(status);
  return manifest;
}

Result<BackupManifest> RestoreBackup(const fs::path& from, const HomePaths& home, bool replace,
                                     uint64_t now_ms) {
  Result<std::string> text =
      internal::ReadBoundedFile(BackupManifestFile(from), kMaxManifestBytes, "backup manifest",
                                "no backup at " + from.string() + " (manifest.json is missing)");
  if (!text.ok()) return text.status();
  const Json json = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  Result<BackupManifest> manifest = ManifestFromJson(json);
  if (!manifest.ok()) return manifest.status();

  Result<GenesisDoc> doc = LoadGenesisFile(home.genesis());
  if (!doc.ok()) return doc.status();
  Result<GenesisChain> genesis = BuildGenesisChain(*doc);
  if (!genesis.ok()) return genesis.status();
  const ledger::StoreCopyInfo& promised = manifest->store;
  if (promised.chain_id != doc->chain_id || promised.genesis_hash != genesis->block_hash) {
    return Invalid("a backup of another chain: it is of '" + promised.chain_id +
                   "' with genesis block " + promised.genesis_hash.ToHex().substr(0, 16) +
                   ", this home's genesis is '" + doc->chain_id + "' with " +
                   genesis->block_hash.ToHex().substr(0, 16));
  }
  if (!manifest->SignatureValid()) {
    return Status(ErrorCode::kBadSignature, "the backup's manifest is not signed by its signer " +
                                                manifest->signer.ToHex().substr(0, 16));
  }
  Result<KeyPair> own = ReadValidatorKey(home.validator_key());
  if (!own.ok()) return own.status();
  if (manifest->signer != own->public_key() && !genesis->validators.Contains(manifest->signer)) {
    return Status(ErrorCode::kBadSignature,
                  "the backup is signed by " + manifest->signer.ToHex().substr(0, 16) +
                      ", neither this home's validator nor a validator of its genesis");
  }

  std::error_code error;
  const fs::path data = home.data();
  const bool has_ledger = fs::exists(data, error) && !fs::is_empty(data, error);
  if (has_ledger && !replace) {
    return Status(ErrorCode::kAlreadyExists,
                  data.string() + " holds a ledger: --replace moves it aside and restores");
  }
  // Built beside `data` and checked there: a refusal from here on changes nothing.
  const fs::path staging = data.string() + ".restoring";
  fs::remove_all(staging, error);  // left by an interrupted restore
  auto refuse = [&](Status status) -> Result<BackupManifest> {
    fs::remove_all(staging, error);
    return status;
  };
  if (Status status = CopyStoreFiles(BackupData(from), staging); !status.ok()) {
    return refuse(status);
  }
  {
    // The copy, not the backup, is opened and read: the backup stays as it was (it may be on
    // read-only media), and what is checked is what will be started from.
    Result<ledger::StoreCopyInfo> found = ledger::LedgerStore::Inspect(staging);
    if (!found.ok()) {
      return refuse(
          Status(found.status().code(), "the backup's store: " + found.status().message()));
    }
    if (*found != promised) {
      return refuse(Status(ErrorCode::kCorruption,
                           "the backup's store does not match its manifest (height " +
                               std::to_string(found->tip.height) + ", " +
                               std::to_string(found->records) + " records, content hash " +
                               found->content_hash.ToHex().substr(0, 16) +
                               "; the manifest says height " + std::to_string(promised.tip.height) +
                               ", " + std::to_string(promised.records) + " records, " +
                               promised.content_hash.ToHex().substr(0, 16) + ")"));
    }
    if (Status status = CheckNotALoneValidator(home, own->public_key(), *genesis, staging);
        !status.ok()) {
      return refuse(status);
    }
  }
  if (Status status = InstallStore(staging, data, now_ms, "restore"); !status.ok()) {
    return status;
  }
  return manifest;
}

// ---- cityd backup ----

namespace {

// The node's own API, on this host, from its config.
Result<std::string> LocalApiUrl(const NodeConfig& config) {
  if (!config.api_tls_certificate_chain.empty()) {
    return Invalid(
        "this node's API uses TLS: give --api https://NAME:PORT (a name its certificate holds; "
        "it must reach the node on this host) and --ca FILE if its authority is not the "
        "system's");
  }
  std::string host = config.api_listen_host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(config.api_port);
}

// A reply's error object as a Status (the node's code names the ErrorCode it came from).
Status FromErrorReply(const net::HttpReply& reply, std::string_view what) {
  const Json body = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  std::string message = reply.body.substr(0, 300);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    message = body["error"].value("message", message);
  }
  const ErrorCode code = reply.status == 409                          ? ErrorCode::kAlreadyExists
                         : reply.status == 400                        ? ErrorCode::kInvalidArgument
                         : reply.status == 401 || reply.status == 403 ? ErrorCode::kPermissionDenied
                                                                      : ErrorCode::kIoError;
  return Status(code,
                std::string(what) + " (HTTP " + std::to_string(reply.status) + "): " + message);
}

}  // namespace

Result<Json> RunAdminAction(const AdminAction& action) {
  Result<NodeConfig> config = LoadConfigFile(action.home.config());
  if (!config.ok()) return config.status();
  Result<GenesisDoc> genesis = LoadGenesisFile(action.home.genesis());
  if (!genesis.ok()) return genesis.status();
  Result<KeyPair> key = ReadValidatorKey(action.home.validator_key());
  if (!key.ok()) return key.status();
  Result<std::string> url_text =
      action.api_url.empty() ? LocalApiUrl(*config) : Result<std::string>(action.api_url);
  if (!url_text.ok()) return url_text.status();
  Result<net::HttpUrl> url = net::ParseHttpUrl(*url_text);
  if (!url.ok()) return url.status();

  net::HttpClientOptions options;
  options.signer =
      net::MakeRequestSigner(std::make_shared<const KeyPair>(std::move(*key)), genesis->chain_id);
  options.trust.ca_file = action.ca_file;
  net::HttpClient client(*url, options);
  Result<net::HttpReply> started = client.Post(action.path, action.body.dump());
  if (!started.ok()) {
    return Status(started.status().code(), "is the node running? " + started.status().message());
  }
  if (started->status != 202) {
    return FromErrorReply(*started, "the node refused the " + action.what);
  }
  const Json first = Json::parse(started->body, nullptr, /*allow_exceptions=*/false);
  const auto deadline = std::chrono::steady_clock::now() + action.timeout;
  for (;;) {
    Result<net::HttpReply> polled = client.Get(action.path);
    if (!polled.ok()) return polled.status();
    if (polled->status != 200) {
      return FromErrorReply(*polled, "asking how the " + action.what + " goes");
    }
    const Json whole = Json::parse(polled->body, nullptr, /*allow_exceptions=*/false);
    const std::optional<Json> picked =
        whole.is_object() ? action.pick(first, whole) : std::optional<Json>();
    if (!picked || !picked->is_object()) {
      return Status(ErrorCode::kInternal,
                    "the node reports on another " + action.what + ": " + polled->body);
    }
    const Json& report = *picked;
    const std::string state = report.value("state", "");
    if (state == "done") return report;
    if (state == "failed") {
      const Json failure = report.value("error", Json::object());
      return Status(ErrorCode::kIoError,
                    "the node's " + action.what + " failed: " +
                        (failure.is_string() ? failure.get<std::string>()
                                             : failure.value("message", polled->body)));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(ErrorCode::kIoError,
                    "the " + action.what + " is still running; GET " + action.path + " reports it");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Result<BackupManifest> RequestBackup(const BackupRequest& request) {
  std::error_code error;
  const fs::path out = fs::absolute(request.out, error).lexically_normal();
  if (error)
    return Invalid("cannot make " + request.out.string() + " absolute: " + error.message());
  AdminAction action{request.home,
                     request.api_url,
                     request.ca_file,
                     request.timeout,
                     "/v1/admin/backup",
                     Json{{"out", out.string()}},
                     "backup",
                     [out](const Json&, const Json& report) -> std::optional<Json> {
                       if (report.value("dir", "") != out.string()) return std::nullopt;
                       return report;
                     }};
  Result<Json> report = RunAdminAction(action);
  if (!report.ok()) return report.status();
  return ManifestFromJson(report->value("manifest", Json()));
}

// ---- the API's runner ----

BackupRunner::~BackupRunner() {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

Status BackupRunner::Start(const fs::path& dir, uint64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (state_ == "running") {
    return Status(ErrorCode::kAlreadyExists, "a backup into " + dir_.string() + " is running");
  }
  if (Status status = CheckNewDirectory(dir); !status.ok()) return status;
  if (thread_.joinable()) thread_.join();  // the last one is done: its thread has ended
  state_ = "running";
  dir_ = dir;
  outcome_ = nullptr;
  auto run = [this, dir, now_ms] {
    Result<BackupManifest> made = WriteBackup(store_, dir, now_ms, *key_, &cancel_);
    std::lock_guard done(mutex_);
    if (made.ok()) {
      state_ = "done";
      outcome_ = ManifestToJson(*made);
    } else {
      state_ = "failed";
      outcome_ = {{"code", std::string(ErrorCodeName(made.status().code()))},
                  {"message", made.status().message()}};
    }
  };
  try {
    thread_ = std::thread(std::move(run));
  } catch (const std::system_error& error) {
    state_ = "failed";
    outcome_ = {{"code", "io_error"}, {"message", std::string("no thread: ") + error.what()}};
    return Status(ErrorCode::kIoError, std::string("cannot start the backup: ") + error.what());
  }
  return Status::Ok();
}

Json BackupRunner::Report() const {
  std::lock_guard lock(mutex_);
  Json report = {{"state", state_}};
  if (state_ == "idle") return report;
  report["dir"] = dir_.string();
  if (state_ == "done") report["manifest"] = outcome_;
  if (state_ == "failed") report["error"] = outcome_;
  return report;
}

}  // namespace city::node
