// State snapshots on disk (snapshots.h).
#include "city/node/snapshots.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include "city/contracts/executor.h"
#include "city/contracts/governance.h"
#include "city/crypto/private_file.h"
#include "city/node/genesis.h"
#include "store_install.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using ledger::SnapshotManifest;

Status Cancelled() { return Status(ErrorCode::kIoError, "cancelled"); }

// Writes one part (0600) and returns its size and hash.
Result<ledger::SnapshotPart> WritePart(const fs::path& file, const Bytes& bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (Status status = WriteNewFile(file, text, 0600); !status.ok()) return status;
  return ledger::SnapshotPart{bytes.size(), ledger::SnapshotPartHash(bytes)};
}

// Reads one part whose size and hash the manifest gives, and decodes it.
template <typename T>
Result<T> ReadPart(const fs::path& file, const ledger::SnapshotPart& part, size_t max_bytes) {
  Result<std::string> text =
      ReadSmallFile(file, std::min<size_t>(max_bytes, part.bytes + 1), "snapshot part");
  if (!text.ok())
    return Status(text.status().code(), file.string() + ": " + text.status().message());
  const ByteSpan bytes = AsBytes(*text);
  if (bytes.size() != part.bytes || ledger::SnapshotPartHash(bytes) != part.hash) {
    return Status(ErrorCode::kUnauthenticated,
                  file.string() + " is not the part the manifest names (size or hash)");
  }
  Result<T> decoded = ledger::Decode<T>(bytes, max_bytes);
  if (!decoded.ok()) {
    return Status(decoded.status().code(), file.string() + ": " + decoded.status().message());
  }
  return decoded;
}

Result<ledger::SnapshotBase> ReadBase(const fs::path& dir) {
  Result<std::string> text =
      ReadSmallFile(SnapshotBaseFile(dir), ledger::kMaxSnapshotBaseBytes, "snapshot base");
  if (!text.ok()) return text.status();
  return ledger::Decode<ledger::SnapshotBase>(AsBytes(*text));
}

uint64_t EntryBytes(const std::vector<ledger::StateEntry>& entries) {
  uint64_t bytes = 0;
  for (const ledger::StateEntry& entry : entries) bytes += entry.key.size() + entry.value.size();
  return bytes;
}

// Every part but the manifest, into `dir`, filling the manifest's lists.
Status WriteParts(const ledger::LedgerStore& store, SnapshotManifest& manifest,
                  const std::vector<uint64_t>& epoch_ends, const fs::path& dir,
                  const std::atomic<bool>* cancel) {
  const uint64_t height = manifest.height;
  auto stopped = [&] { return cancel != nullptr && cancel->load(); };
  // The base.
  ledger::SnapshotBase base;
  Result<ledger::Block> block = store.GetBlock(height);
  Result<ledger::QuorumCert> cert = store.GetCertificate(height);
  Result<std::vector<ledger::TxResult>> results = store.GetResults(height);
  if (!block.ok()) return block.status();
  if (!cert.ok()) return cert.status();
  if (!results.ok()) return results.status();
  base.block = std::move(*block);
  base.certificate = std::move(*cert);
  base.results = std::move(*results);
  for (uint64_t h = height + 1; h <= manifest.anchor_height; ++h) {
    Result<ledger::BlockHeader> header = store.GetHeader(h);
    if (!header.ok()) return header.status();
    base.anchor_headers.push_back(std::move(*header));
  }
  Result<ledger::QuorumCert> anchor_cert = store.GetCertificate(manifest.anchor_height);
  if (!anchor_cert.ok()) return anchor_cert.status();
  base.anchor_certificate = std::move(*anchor_cert);
  std::vector<uint64_t> ends = epoch_ends;
  std::sort(ends.begin(), ends.end());
  for (uint64_t end : ends) {
    if (end > manifest.anchor_height) break;
    Result<ledger::BlockHeader> header = store.GetHeader(end);
    Result<ledger::QuorumCert> end_cert = store.GetCertificate(end);
    if (!header.ok()) return header.status();
    if (!end_cert.ok()) return end_cert.status();
    manifest.epoch_ends.push_back(header->Hash());
    base.epoch_ends.push_back({std::move(*header), std::move(*end_cert)});
  }
  const Bytes base_bytes = ledger::Encode(base);
  if (base_bytes.size() > ledger::kMaxSnapshotBaseBytes) {
    return Status(ErrorCode::kTooLarge, "the snapshot's base is larger than a base may be");
  }
  if (Result<ledger::SnapshotPart> part = WritePart(SnapshotBaseFile(dir), base_bytes);
      !part.ok()) {
    return part.status();
  }
  manifest.block_hash = base.block.Hash();
  manifest.state_root = base.anchor_headers.back().state_root;

  // The state, subtree by subtree, in chunks laid out by the rule every validator follows.
  Result<std::vector<ledger::SubtreeSummary>> subtrees =
      store.StateSubtrees(height, manifest.split_depth);
  if (!subtrees.ok()) return subtrees.status();
  manifest.subtrees = std::move(*subtrees);
  ledger::SnapshotChunk chunk;
  uint64_t chunk_bytes = 0;
  uint32_t chunk_first = 0;
  auto flush = [&](uint32_t end) -> Status {
    const Bytes bytes = ledger::Encode(chunk);
    if (bytes.size() > ledger::kMaxSnapshotChunkBytes) {
      return Status(ErrorCode::kTooLarge, "a state subtree is larger than a chunk may be");
    }
    Result<ledger::SnapshotPart> part =
        WritePart(SnapshotPartFile(dir, "chunk", manifest.chunks.size()), bytes);
    if (!part.ok()) return part.status();
    manifest.chunks.push_back({chunk_first, end - chunk_first, chunk.entries.size(), *part});
    manifest.state_entries += chunk.entries.size();
    manifest.state_bytes += chunk_bytes;
    chunk.entries.clear();
    chunk_bytes = 0;
    chunk_first = end;
    return Status::Ok();
  };
  const uint32_t count = static_cast<uint32_t>(manifest.subtrees.size());
  for (uint32_t i = 0; i < count; ++i) {
    if (stopped()) return Cancelled();
    Result<std::vector<ledger::StateEntry>> entries =
        store.StateChunk(height, manifest.split_depth, i, 1);
    if (!entries.ok()) return entries.status();
    const uint64_t bytes = EntryBytes(*entries);
    if (!ledger::SnapshotChunkTakes(chunk.entries.size(), chunk_bytes, entries->size(), bytes)) {
      if (Status status = flush(i); !status.ok()) return status;
    }
    std::move(entries->begin(), entries->end(), std::back_inserter(chunk.entries));
    chunk_bytes += bytes;
  }
  if (Status status = flush(count); !status.ok()) return status;

  // The ids of the expiry horizon below the block, a part at a time.
  ledger::SnapshotIds part;
  auto flush_ids = [&]() -> Status {
    Result<ledger::SnapshotPart> written =
        WritePart(SnapshotPartFile(dir, "ids", manifest.id_parts.size()), ledger::Encode(part));
    if (!written.ok()) return written.status();
    manifest.id_parts.push_back(*written);
    manifest.recent_ids += part.ids.size();
    part.ids.clear();
    return Status::Ok();
  };
  Status ids = store.ForEachTransactionIdBetween(
      ledger::SnapshotIdsFrom(height), height - 1,
      [&](const ledger::SnapshotTxId& id) {
        part.ids.push_back(id);
        return part.ids.size() == ledger::kSnapshotIdsPerPart ? flush_ids() : Status::Ok();
      },
      cancel);
  if (!ids.ok()) return ids;
  return part.ids.empty() ? Status::Ok() : flush_ids();
}

Status CheckWritten(const SnapshotManifest& manifest, const fs::path& dir,
                    const ledger::Epoch& genesis_epoch) {
  if (Status status =
          ledger::CheckSnapshotManifest(manifest, manifest.chain_id, manifest.genesis_hash);
      !status.ok()) {
    return status;
  }
  Result<ledger::SnapshotBase> base = ReadBase(dir);
  if (!base.ok()) return base.status();
  return ledger::CheckSnapshotBase(manifest, *base, genesis_epoch);
}

// The heights of the epochs' last blocks, from governance's records in the tip's state.
std::vector<uint64_t> EpochEndHeights(const ledger::LedgerStore& store) {
  std::vector<uint64_t> ends;
  const contracts::StoreStateReader state(store);
  try {
    for (uint64_t epoch = 1;; ++epoch) {
      std::optional<contracts::ScheduledValidators> change =
          contracts::ScheduledValidatorsIn(state, epoch);
      if (!change) break;
      ends.push_back(change->last_height);
    }
  } catch (const contracts::StorageFailure&) {
    // The snapshot's base check then fails on the missing epoch: nothing is served wrong.
  }
  return ends;
}

}  // namespace

fs::path SnapshotPartFile(const fs::path& dir, std::string_view kind, size_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "-%05zu.bin", index);
  return dir / (std::string(kind) + name);
}

Result<uint64_t> FindSnapshotAnchor(const ledger::LedgerStore& store, uint64_t height) {
  const uint64_t tip = store.tip().height;
  for (uint64_t at = height + 1; at <= tip && at <= height + ledger::kMaxSnapshotAnchorHeaders;
       ++at) {
    Result<ledger::BlockHeader> header = store.GetHeader(at);
    if (!header.ok()) return header.status();
    if (header->exec_height == height) return at;
    if (header->exec_height > height) break;
  }
  return Status(ErrorCode::kNotFound,
                "no committed header names height " + std::to_string(height) + " executed first");
}

Result<ledger::SignedSnapshotManifest> WriteSnapshot(const ledger::LedgerStore& store,
                                                     uint64_t height,
                                                     const std::vector<uint64_t>& epoch_ends,
                                                     const ledger::Epoch& genesis_epoch,
                                                     const KeyPair& key, const fs::path& dir,
                                                     const std::atomic<bool>* cancel) {
  std::error_code error;
  if (fs::exists(fs::symlink_status(dir, error))) {
    return Status(ErrorCode::kAlreadyExists, dir.string() + " exists");
  }
  Result<uint64_t> anchor = FindSnapshotAnchor(store, height);
  if (!anchor.ok()) return anchor.status();
  if (!fs::create_directory(dir, error) || ::chmod(dir.c_str(), 0700) != 0) {
    return Status(ErrorCode::kIoError, "cannot make " + dir.string() + ": " + error.message());
  }
  SnapshotManifest manifest;
  manifest.chain_id = store.chain_id();
  manifest.genesis_hash = store.genesis_hash();
  manifest.height = height;
  manifest.anchor_height = *anchor;
  ledger::SignedSnapshotManifest signed_manifest;
  Status status;
  {
    // What it reads stays while it reads: a pruning node would drop it meanwhile.
    const std::shared_ptr<void> hold = store.HoldPruningFrom(height);
    if (store.lowest_height() > height) {
      status = Status(ErrorCode::kPruned, "height " + std::to_string(height) + " is pruned");
    } else {
      status = WriteParts(store, manifest, epoch_ends, dir, cancel);
    }
  }
  // Checked as an importer will, before it is signed: a snapshot that would be refused is
  // never offered.
  if (status.ok()) status = CheckWritten(manifest, dir, genesis_epoch);
  if (status.ok()) {
    signed_manifest.manifest = std::move(manifest);
    signed_manifest.Sign(key);
    const Bytes bytes = ledger::Encode(signed_manifest);
    status = WriteNewFile(
        SnapshotManifestFile(dir),
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), 0600);
  }
  if (!status.ok()) {
    fs::remove_all(dir, error);
    return status;
  }
  return signed_manifest;
}

Result<ledger::SignedSnapshotManifest> ReadSnapshotManifest(const fs::path& dir) {
  Result<std::string> text =
      ReadSmallFile(SnapshotManifestFile(dir), ledger::SignedSnapshotManifest::kMaxEncodedSize,
                    "snapshot manifest");
  if (!text.ok()) {
    if (text.status().code() == ErrorCode::kNotFound) {
      return Status(ErrorCode::kNotFound,
                    "no snapshot at " + dir.string() + " (manifest.bin is missing: unfinished?)");
    }
    return text.status();
  }
  Result<ledger::SignedSnapshotManifest> manifest =
      ledger::Decode<ledger::SignedSnapshotManifest>(AsBytes(*text));
  if (!manifest.ok()) {
    return Status(manifest.status().code(),
                  "snapshot manifest " + dir.string() + ": " + manifest.status().message());
  }
  if (!manifest->SignatureValid()) {
    return Status(ErrorCode::kBadSignature,
                  "the snapshot manifest at " + dir.string() + " is not signed by its signer");
  }
  return manifest;
}

std::vector<PublicKey> SnapshotVouchers(const fs::path& dir,
                                        const ledger::SignedSnapshotManifest& manifest) {
  // The manifest's own signature was checked when it was read (ReadSnapshotManifest).
  std::vector<PublicKey> keys = {manifest.signer};
  const Hash256 hash = manifest.manifest.Hash();
  std::error_code error;
  size_t files = 0;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    // A validator set holds at most kMaxValidators keys: a directory stuffed with more
    // co-signatures is not verified file after file without end.
    if (files == ledger::kMaxValidators) break;
    if (name.starts_with("cosign-")) ++files;
    if (!name.starts_with("cosign-") || !name.ends_with(".bin")) continue;
    Result<std::string> bytes = ReadSmallFile(it->path(), 96, "snapshot co-signature");
    if (!bytes.ok() || bytes->size() != 96) continue;
    PublicKey key;
    Signature signature;
    std::memcpy(key.bytes.data(), bytes->data(), 32);
    std::memcpy(signature.bytes.data(), bytes->data() + 32, 64);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    if (Verify(key, hash.span(), signature)) keys.push_back(key);
  }
  return keys;
}

Result<ledger::SignedSnapshotManifest> CosignSnapshot(const HomePaths& home, const fs::path& dir) {
  Result<ledger::SignedSnapshotManifest> theirs = ReadSnapshotManifest(dir);
  if (!theirs.ok()) return theirs.status();
  const uint64_t height = theirs->manifest.height;
  Result<ledger::SignedSnapshotManifest> ours =
      ReadSnapshotManifest(SnapshotsDir(home) / std::to_string(height));
  if (!ours.ok()) {
    return Status(ErrorCode::kNotFound, "this node has no snapshot at height " +
                                            std::to_string(height) + " to compare with (" +
                                            ours.status().message() + ")");
  }
  const Hash256 hash = theirs->manifest.Hash();
  if (ours->manifest.Hash() != hash) {
    return Status(ErrorCode::kUnauthenticated, "this node's snapshot at height " +
                                                   std::to_string(height) +
                                                   " has another manifest: not co-signed");
  }
  Result<KeyPair> key = ReadValidatorKey(home.validator_key());
  if (!key.ok()) return key.status();
  const Signature signature = key->Sign(hash.span());
  std::string bytes(reinterpret_cast<const char*>(key->public_key().bytes.data()), 32);
  bytes.append(reinterpret_cast<const char*>(signature.bytes.data()), 64);
  const fs::path file = dir / ("cosign-" + key->public_key().ToHex().substr(0, 16) + ".bin");
  if (Status status = ReplaceFile(file, bytes, 0644); !status.ok()) return status;
  return theirs;
}

std::vector<SnapshotListing> ListSnapshots(const fs::path& root) {
  std::vector<SnapshotListing> found;
  std::error_code error;
  for (fs::directory_iterator it(root, error), end; !error && it != end; it.increment(error)) {
    if (!it->is_directory(error)) continue;
    found.push_back({it->path(), ReadSnapshotManifest(it->path())});
  }
  auto height = [](const SnapshotListing& listing) {
    return listing.manifest.ok() ? listing.manifest->manifest.height : 0;
  };
  std::sort(found.begin(), found.end(), [&](const SnapshotListing& a, const SnapshotListing& b) {
    return height(a) != height(b) ? height(a) > height(b) : a.dir < b.dir;
  });
  return found;
}

Result<SnapshotListing> ExportSnapshot(const fs::path& root, std::optional<uint64_t> height,
                                       const fs::path& out) {
  for (const SnapshotListing& listing : ListSnapshots(root)) {
    if (!listing.manifest.ok()) continue;
    if (height && listing.manifest->manifest.height != *height) continue;
    std::error_code error;
    if (fs::exists(fs::symlink_status(out, error))) {
      return Status(ErrorCode::kAlreadyExists, out.string() + " exists");
    }
    // The manifest last, as when it was written: an interrupted copy is an unfinished one.
    if (!fs::create_directory(out, error) || ::chmod(out.c_str(), 0700) != 0) {
      return Status(ErrorCode::kIoError, "cannot make " + out.string() + ": " + error.message());
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(listing.dir, error), end; !error && it != end;
         it.increment(error)) {
      if (it->path().filename() != SnapshotManifestFile(listing.dir).filename()) {
        files.push_back(it->path());
      }
    }
    files.push_back(SnapshotManifestFile(listing.dir));
    for (const fs::path& file : files) {
      if (!error) fs::copy_file(file, out / file.filename(), error);
    }
    if (error) {
      Status status(ErrorCode::kIoError,
                    "copying the snapshot into " + out.string() + ": " + error.message());
      fs::remove_all(out, error);
      return status;
    }
    return SnapshotListing{out, ReadSnapshotManifest(out)};
  }
  return Status(ErrorCode::kNotFound, height ? "no finished snapshot at height " +
                                                   std::to_string(*height) + " in " + root.string()
                                             : "no finished snapshot in " + root.string());
}

Result<SnapshotImportReport> ImportSnapshot(const fs::path& from, const HomePaths& home,
                                            bool replace, uint64_t now_ms) {
  Result<ledger::SignedSnapshotManifest> signed_manifest = ReadSnapshotManifest(from);
  if (!signed_manifest.ok()) return signed_manifest.status();
  const SnapshotManifest& manifest = signed_manifest->manifest;
  Result<GenesisDoc> doc = LoadGenesisFile(home.genesis());
  if (!doc.ok()) return doc.status();
  Result<GenesisChain> genesis = contracts::BuildGenesisChain(*doc);
  if (!genesis.ok()) return genesis.status();
  if (Status status = ledger::CheckSnapshotManifest(manifest, doc->chain_id, genesis->block_hash);
      !status.ok()) {
    if (status.code() == ErrorCode::kInvalidArgument) {
      return Status(status.code(), "a snapshot of another chain: it is of '" + manifest.chain_id +
                                       "', this home's genesis is '" + doc->chain_id + "'");
    }
    return status;
  }
  Result<ledger::SnapshotBase> base = ReadBase(from);
  if (!base.ok()) return base.status();
  if (Status status = ledger::CheckSnapshotBase(
          manifest, *base, ledger::Epoch::Genesis(genesis->validators, genesis->block_hash));
      !status.ok()) {
    return status;
  }
  Result<KeyPair> own = ReadValidatorKey(home.validator_key());
  if (!own.ok()) return own.status();
  // The ids are vouched for by the manifest alone: by this validator itself, or by more
  // validators of the snapshot's epoch than may be faulty.
  const ledger::ValidatorSet validators = ledger::SnapshotValidators(
      manifest, *base, ledger::Epoch::Genesis(genesis->validators, genesis->block_hash));
  const std::vector<PublicKey> vouchers = SnapshotVouchers(from, *signed_manifest);
  const size_t vouching = static_cast<size_t>(
      std::count_if(vouchers.begin(), vouchers.end(),
                    [&](const PublicKey& key) { return validators.Contains(key); }));
  const bool own_signed =
      std::find(vouchers.begin(), vouchers.end(), own->public_key()) != vouchers.end();
  if (!own_signed && vouching < validators.max_faulty() + 1) {
    return Status(ErrorCode::kBadSignature,
                  "the snapshot is vouched for by " + std::to_string(vouching) +
                      " validator(s) of its epoch; it needs " +
                      std::to_string(validators.max_faulty() + 1) +
                      " (run cityd snapshot cosign --snapshot DIR on other validators' hosts) "
                      "or this home's own signature");
  }
  if (validators.size() == 1 && validators.Contains(own->public_key())) {
    return Status(ErrorCode::kInvalidArgument,
                  "this home's validator is its chain's only one: its next block must extend its "
                  "latest certified block, which only its current ledger holds. Keep the current "
                  "data/; a lone validator's snapshots are copies to read, not to import into it");
  }
  std::error_code error;
  const fs::path data = home.data();
  if (fs::exists(data, error) && !fs::is_empty(data, error) && !replace) {
    return Status(ErrorCode::kAlreadyExists,
                  data.string() + " holds a ledger: --replace moves it aside and imports");
  }
  const fs::path staging = data.string() + ".importing";
  SnapshotImportReport report{manifest,
                              fs::exists(staging, error) && !fs::is_empty(staging, error)};
  {
    Result<std::unique_ptr<ledger::SnapshotImport>> import =
        ledger::SnapshotImport::Begin(staging, manifest, *base);
    if (!import.ok()) {
      if (import.status().code() == ErrorCode::kAlreadyExists) {
        return Status(ErrorCode::kAlreadyExists,
                      staging.string() + " holds the import of another snapshot: delete it first");
      }
      return import.status();
    }
    ledger::SnapshotImport& into = **import;
    for (size_t i = into.next_chunk(); i < manifest.chunks.size(); ++i) {
      Result<ledger::SnapshotChunk> chunk =
          ReadPart<ledger::SnapshotChunk>(SnapshotPartFile(from, "chunk", i),
                                          manifest.chunks[i].part, ledger::kMaxSnapshotChunkBytes);
      if (!chunk.ok()) return chunk.status();
      if (Status status = into.AddChunk(*chunk); !status.ok()) return status;
    }
    for (size_t i = into.next_id_part(); i < manifest.id_parts.size(); ++i) {
      Result<ledger::SnapshotIds> ids =
          ReadPart<ledger::SnapshotIds>(SnapshotPartFile(from, "ids", i), manifest.id_parts[i],
                                        ledger::SnapshotIds::kMaxEncodedSize);
      if (!ids.ok()) return ids.status();
      if (Status status = into.AddIds(*ids); !status.ok()) return status;
    }
    Result<std::unique_ptr<ledger::LedgerStore>> store = into.Finish();
    if (!store.ok()) return store.status();
  }
  if (Status status = CheckNotALoneValidator(home, own->public_key(), *genesis, staging);
      !status.ok()) {
    return status;
  }
  if (Status status = InstallStore(staging, data, now_ms, "snapshot"); !status.ok()) {
    return status;
  }
  return report;
}

// ---- SnapshotTaker ----

SnapshotTaker::SnapshotTaker(const ledger::LedgerStore& store, std::shared_ptr<const KeyPair> key,
                             ledger::Epoch genesis_epoch, fs::path root, uint64_t interval,
                             size_t keep)
    : store_(store),
      key_(std::move(key)),
      genesis_epoch_(std::move(genesis_epoch)),
      root_(std::move(root)),
      interval_(interval),
      keep_(std::max<size_t>(keep, 1)) {}

SnapshotTaker::~SnapshotTaker() {
  cancel_ = true;
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

void SnapshotTaker::OnCommitted(const ledger::BlockHeader& header) {
  if (interval_ == 0 || header.height < 2) return;
  uint64_t before = last_exec_height_.exchange(header.exec_height);
  if (before == UINT64_MAX) {  // the first commit seen: its parent says where execution was
    Result<ledger::BlockHeader> parent = store_.GetHeader(header.height - 1);
    if (!parent.ok()) return;
    before = parent->exec_height;
  }
  if (header.exec_height == 0 || header.exec_height / interval_ == before / interval_) return;
  (void)Start(header.exec_height, /*queue=*/true);
}

Status SnapshotTaker::TakeNow(std::optional<uint64_t> height) {
  if (height) {
    // Another validator's height, so both make the same manifest (cityd snapshot cosign).
    if (Result<uint64_t> anchor = FindSnapshotAnchor(store_, *height); !anchor.ok()) {
      return Status(ErrorCode::kInvalidArgument, anchor.status().message());
    }
    return Start(*height, /*queue=*/false);
  }
  Result<ledger::BlockHeader> tip = store_.GetHeader(store_.tip().height);
  if (!tip.ok()) return tip.status();
  if (tip->exec_height == 0) {
    return Status(ErrorCode::kNotFound, "no executed height is named by a committed header yet");
  }
  // While one is being taken, that one is as recent: the caller follows it.
  return Start(tip->exec_height, /*queue=*/false);
}

Status SnapshotTaker::Start(uint64_t height, bool queue) {
  std::lock_guard lock(mutex_);
  if (running_) {
    // A crossing while one runs is taken next, so validators keep the same heights.
    if (queue) queued_ = height;
    return Status::Ok();
  }
  std::error_code error;
  fs::create_directories(root_, error);
  ::chmod(root_.c_str(), 0700);
  height_ = height;
  error_.clear();
  if (ReadSnapshotManifest(root_ / std::to_string(height)).ok()) {
    state_ = "done";  // asked again for a height it has (cityd snapshot create)
    FinishedLocked();
    return Status::Ok();
  }
  state_ = "running";
  running_ = true;
  if (thread_.joinable()) thread_.join();  // the last one's: it has ended
  thread_ = std::thread([this, height] { Run(height); });
  return Status::Ok();
}

void SnapshotTaker::Run(uint64_t height) {
  for (;;) {
    const fs::path dir = root_ / std::to_string(height);
    Result<ledger::SignedSnapshotManifest> made = WriteSnapshot(
        store_, height, EpochEndHeights(store_), genesis_epoch_, *key_, dir, &cancel_);
    if (made.ok()) Prune();
    std::lock_guard lock(mutex_);
    state_ = made.ok() ? "done" : "failed";
    if (!made.ok()) error_ = made.status().ToString();
    FinishedLocked();
    if (!queued_ || cancel_) {
      running_ = false;
      return;
    }
    height = *queued_;
    queued_.reset();
    height_ = height;
    error_.clear();
    state_ = "running";
  }
}

void SnapshotTaker::FinishedLocked() {
  constexpr size_t kRecentReports = 8;
  nlohmann::json outcome = {{"state", state_}, {"height", height_}};
  if (!error_.empty()) outcome["error"] = error_;
  recent_.push_back(std::move(outcome));
  while (recent_.size() > kRecentReports) recent_.pop_front();
}

void SnapshotTaker::Prune() {
  std::vector<SnapshotListing> listed = ListSnapshots(root_);
  size_t kept = 0;
  std::error_code error;
  for (const SnapshotListing& listing : listed) {
    if (listing.manifest.ok() && kept < keep_) {
      ++kept;
      continue;
    }
    fs::remove_all(listing.dir, error);
  }
}

nlohmann::json SnapshotTaker::Report() const {
  std::lock_guard lock(mutex_);
  nlohmann::json report = {{"state", state_}, {"height", height_}};
  if (!error_.empty()) report["error"] = error_;
  report["recent"] = nlohmann::json::array();
  for (const nlohmann::json& past : recent_) report["recent"].push_back(past);
  return report;
}

}  // namespace city::node
