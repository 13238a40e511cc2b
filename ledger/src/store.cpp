// The ledger store on LevelDB (store.h).
//
// Record layout. Integers in keys are big-endian so keys sort numerically; h = height
// (u64), i = transaction index in its block (u32), s = position of the entry among the
// block's writes or index entries (u32), v = state version (u64, equal to the height).
//   'M' name                  metadata: "format" ("cityledger-store" ‖ u32 version), "chain"
//                             (text), "genesis" (hash),
//                             "tip" (h ‖ block hash), "oldest" (oldest retained version),
//                             "lowest" (lowest held block height; absent: 0, never pruned)
//   'B' h                     BlockMeta: header, proposer signature, transaction count
//   'K' block hash            h
//   'C' h                     the block's commit certificate (QuorumCert)
//   'T' h i                   TxEntry: the transaction and its TxResult
//   'I' tx id                 h ‖ i
//   'R' v                     the state tree root at version v: v' ‖ hash (its NodeRef)
//   'N' v hash                a state tree node created at version v (smt_tree.h)
//   'Z' v v' hash             node (v', hash) is unreachable from roots >= v (pruning list)
//   'V' path ~h ~s            KeyWriteRecord: tx index, key, value (or deletion); inverted
//                             so that a seek finds the latest write at or below a version
//   'A' account h i           role (u8) ‖ tx id
//   'X' index-id h s          u32 BE tx index ‖ value; index-id = H(contract, index, key)
//   'P' h block hash          a pending (voted, uncommitted) block
//   'D' h                     what block pruning deletes besides the block's own records
//                             (PruneList: index entry positions and written key paths);
//                             written only when blocks are pruned (retain_blocks)
// Everything a block changes is one WriteBatch written with sync = true.
#include "city/ledger/store.h"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "bounded_cache.h"
#include "city/crypto/private_file.h"
#include "city/ledger/snapshot.h"
#include "codec_internal.h"
#include "smt_tree.h"
#include "store_env.h"

namespace city::ledger {
namespace {

constexpr char kMetaPrefix = 'M';
constexpr char kBlockPrefix = 'B';
constexpr char kBlockHashPrefix = 'K';
constexpr char kCertPrefix = 'C';
constexpr char kTxPrefix = 'T';
constexpr char kTxIdPrefix = 'I';
constexpr char kRootPrefix = 'R';
constexpr char kNodePrefix = 'N';
constexpr char kStalePrefix = 'Z';
constexpr char kKeyWritePrefix = 'V';
constexpr char kAccountPrefix = 'A';
constexpr char kIndexPrefix = 'X';
constexpr char kPendingPrefix = 'P';
constexpr char kPruneListPrefix = 'D';
constexpr std::string_view kIndexIdTag = "city.store.index.v1";
constexpr std::string_view kFormatMagic = "cityledger-store";
// Present while a snapshot import is unfinished: manifest hash ‖ next chunk (u32) ‖ next id
// part (u32) ‖ the tree's root so far (u64 version ‖ hash).
constexpr std::string_view kImportMeta = "import";
// Versions pruned per commit at most, so shrinking retention cannot make one huge batch.
constexpr uint64_t kMaxVersionsPrunedPerCommit = 8;
// Heights and transactions pruned per commit at most, so setting retention on a long chain
// (or shrinking it) cannot make one huge batch: the backlog goes a slice per block.
constexpr uint64_t kMaxHeightsPrunedPerCommit = 64;
constexpr uint64_t kMaxTxsPrunedPerCommit = 4096;
constexpr size_t kMaxSupersededWritesPerKey = 64;
// A commit settles the pending blocks from this many heights below the last commit's on (all of
// them at the first commit after opening). Settled ones leave deletion markers that LevelDB
// keeps until a compaction, and a scan from the first pending key stepped over every one of
// them at every commit: a fifth of a validator's time at low load. The margin covers a
// pending block written while a commit was in flight (its height is at most that commit's).
constexpr uint64_t kPendingRescanHeights = 64;
// Larger values are read from LevelDB each time, so the state cache's memory stays bounded.
constexpr size_t kMaxCachedStateValueBytes = 512;

// ---- key building ----

// Builds keys (and the small fixed-layout values that use the same integer encoding).
class Key {
 public:
  Key() = default;
  explicit Key(char prefix) { bytes_.push_back(prefix); }
  Key& U64(uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) bytes_.push_back(char(v >> shift));
    return *this;
  }
  Key& U32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes_.push_back(char(v >> shift));
    return *this;
  }
  template <typename D, size_t N>
  Key& Fixed(const FixedBytes<D, N>& v) {
    bytes_.append(reinterpret_cast<const char*>(v.bytes.data()), N);
    return *this;
  }
  Key& Text(std::string_view text) {
    bytes_.append(text);
    return *this;
  }
  Key& Raw(ByteSpan raw) {
    bytes_.append(reinterpret_cast<const char*>(raw.data()), raw.size());
    return *this;
  }
  const std::string& str() const { return bytes_; }
  operator leveldb::Slice() const { return bytes_; }  // NOLINT: keys go straight to LevelDB

 private:
  std::string bytes_;
};

uint64_t ReadU64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
uint32_t ReadU32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
template <typename T>
T ReadFixed(const char* in) {
  T out;
  std::memcpy(out.bytes.data(), in, T::kSize);
  return out;
}
ByteSpan SliceBytes(const leveldb::Slice& slice) {
  return {reinterpret_cast<const uint8_t*>(slice.data()), slice.size()};
}
leveldb::Slice BytesSlice(const Bytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Key MetaKey(std::string_view name) { return Key(kMetaPrefix).Text(name); }
Key BlockKey(uint64_t height) { return Key(kBlockPrefix).U64(height); }
Key CertKey(uint64_t height) { return Key(kCertPrefix).U64(height); }
Key AccountKey(const PublicKey& account, uint64_t height, uint32_t index) {
  return Key(kAccountPrefix).Fixed(account).U64(height).U32(index);
}
Key IndexKey(const Hash256& index_id, uint64_t height, uint32_t seq) {
  return Key(kIndexPrefix).Fixed(index_id).U64(height).U32(seq);
}
Key RootKey(uint64_t version) { return Key(kRootPrefix).U64(version); }
Key NodeKey(const smt::NodeRef& ref) { return Key(kNodePrefix).U64(ref.version).Fixed(ref.hash); }
Key KeyWriteKey(const Hash256& path, uint64_t height, uint32_t seq) {
  return Key(kKeyWritePrefix).Fixed(path).U64(~height).U32(~seq);
}
Hash256 IndexId(std::string_view contract, std::string_view index, ByteSpan key) {
  return TaggedHasher(kIndexIdTag)
      .UpdateU32(static_cast<uint32_t>(contract.size()))
      .Update(AsBytes(contract))
      .UpdateU32(static_cast<uint32_t>(index.size()))
      .Update(AsBytes(index))
      .Update(key)
      .Finish();
}

// ---- records ----

struct BlockMeta {
  static constexpr size_t kMaxEncodedSize = BlockHeader::kMaxEncodedSize + 128;
  BlockHeader header;
  Signature signature;
  uint32_t tx_count = 0;
  void EncodeTo(Encoder& encoder) const;
  static BlockMeta DecodeFrom(Decoder& decoder);
};
template <typename Visitor>
void Fields(Visitor& v, FieldsOf<BlockMeta, Visitor>& meta) {
  v.Object(meta.header);
  v.Fixed(meta.signature);
  v.U32(meta.tx_count);
}

struct TxEntry {
  static constexpr size_t kMaxEncodedSize =
      Transaction::kMaxEncodedSize + TxResult::kMaxEncodedSize;
  Transaction transaction;
  TxResult result;
  void EncodeTo(Encoder& encoder) const;
  static TxEntry DecodeFrom(Decoder& decoder);
};
template <typename Visitor>
void Fields(Visitor& v, FieldsOf<TxEntry, Visitor>& entry) {
  v.Object(entry.transaction);
  v.Object(entry.result);
}

struct KeyWriteRecord {
  static constexpr size_t kMaxEncodedSize = kMaxStateKeyBytes + kMaxStateValueBytes + 16;
  uint32_t tx_index = kNoTransaction;
  Bytes key;
  std::optional<Bytes> value;
  void EncodeTo(Encoder& encoder) const;
  static KeyWriteRecord DecodeFrom(Decoder& decoder);
};
template <typename Visitor>
void Fields(Visitor& v, FieldsOf<KeyWriteRecord, Visitor>& record) {
  v.U32(record.tx_index);
  v.Blob(record.key, kMaxStateKeyBytes, "state key");
  uint8_t present = record.value.has_value() ? 1 : 0;
  v.U8(present);
  if constexpr (Visitor::kEncoding) {
    if (present) v.Blob(*record.value);
  } else {
    if (present > 1) Decoder::Fail(ErrorCode::kMalformed, "state value", "flag must be 0 or 1");
    if (present) v.Blob(record.value.emplace(), kMaxStateValueBytes, "state value");
  }
}

CITY_LEDGER_CODEC(BlockMeta)
CITY_LEDGER_CODEC(TxEntry)
CITY_LEDGER_CODEC(KeyWriteRecord)

// The records of a block that only the block's execution names, which pruning it deletes: its
// contract index entries (the index id and position) and the state key paths it wrote (whose
// older writes it supersedes). Fixed-size items after a count each.
struct PruneList {
  std::vector<std::pair<Hash256, uint32_t>> index_entries;
  std::vector<Hash256> paths;

  std::string Encode() const {
    Key out;
    out.U32(static_cast<uint32_t>(index_entries.size()));
    for (const auto& [id, seq] : index_entries) out.Fixed(id).U32(seq);
    out.U32(static_cast<uint32_t>(paths.size()));
    for (const Hash256& path : paths) out.Fixed(path);
    return out.str();
  }
  static std::optional<PruneList> Decode(std::string_view bytes) {
    PruneList list;
    size_t at = 0;
    auto count = [&](size_t item_size) -> std::optional<uint32_t> {
      if (bytes.size() - at < 4) return std::nullopt;
      const uint32_t n = ReadU32(bytes.data() + at);
      at += 4;
      if ((bytes.size() - at) / item_size < n) return std::nullopt;
      return n;
    };
    const std::optional<uint32_t> entries = count(36);
    if (!entries) return std::nullopt;
    for (uint32_t i = 0; i < *entries; ++i, at += 36) {
      list.index_entries.emplace_back(ReadFixed<Hash256>(bytes.data() + at),
                                      ReadU32(bytes.data() + at + 32));
    }
    const std::optional<uint32_t> paths = count(32);
    if (!paths) return std::nullopt;
    for (uint32_t i = 0; i < *paths; ++i, at += 32) {
      list.paths.push_back(ReadFixed<Hash256>(bytes.data() + at));
    }
    if (at != bytes.size()) return std::nullopt;
    return list;
  }
};

Bytes EncodeRef(const smt::NodeRef& ref) {
  Bytes out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(uint8_t(ref.version >> shift));
  out.insert(out.end(), ref.hash.bytes.begin(), ref.hash.bytes.end());
  return out;
}

// ---- status mapping ----

Status FromLevelDb(const leveldb::Status& status, const std::string& context) {
  if (status.ok()) return Status::Ok();
  if (status.IsNotFound()) return {ErrorCode::kNotFound, context + ": not found"};
  if (status.IsCorruption()) {
    return {ErrorCode::kCorruption,
            context + ": the database is damaged (" + status.ToString() + ")"};
  }
  return {ErrorCode::kIoError, context + ": " + status.ToString()};
}

Status Damaged(const std::string& what) {
  return {ErrorCode::kCorruption, "ledger store is inconsistent: " + what};
}

// Decodes a stored record; a record that does not decode is damage, not bad input.
template <typename T>
Result<T> DecodeStored(const std::string& bytes, const std::string& what) {
  Result<T> decoded = Decode<T>(AsBytes(bytes));
  if (!decoded.ok()) return Damaged(what + " does not decode (" + decoded.status().message() + ")");
  return decoded;
}

Status CheckPage(const PageRequest& page, size_t cursor_size) {
  if (page.limit == 0 || page.limit > kMaxPageSize) {
    return {ErrorCode::kInvalidArgument, "page limit must be 1.." + std::to_string(kMaxPageSize)};
  }
  if (!page.cursor.empty() && page.cursor.size() != cursor_size) {
    return {ErrorCode::kInvalidArgument, "malformed page cursor"};
  }
  return Status::Ok();
}

// The smallest key greater than every key starting with `prefix` ("" if none exists).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<uint8_t>(prefix.back()) != 0xFF) {
      prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// The state versions whose tree is kept: no more than the blocks kept, since a version below
// the lowest held block answers kPruned anyway (and its tree is most of an old block's bytes).
uint64_t VersionsKept(const StoreOptions& options) {
  if (options.retain_blocks == 0) return options.retain_versions;
  if (options.retain_versions == 0) return options.retain_blocks;
  return std::min(options.retain_versions, options.retain_blocks);
}

}  // namespace

// ---- the store ----

class LedgerStore::Impl {
 public:
  Impl(std::unique_ptr<leveldb::DB> db, std::unique_ptr<leveldb::Cache> cache,
       std::unique_ptr<const leveldb::FilterPolicy> filter, const StoreOptions& options)
      : cache_(std::move(cache)),
        filter_(std::move(filter)),
        db_(std::move(db)),
        retain_versions_(VersionsKept(options)),
        retain_blocks_(options.retain_blocks),
        node_cache_(options.node_cache_entries),
        state_cache_(options.state_cache_entries) {}

  ~Impl() { db_.reset(); }  // before the cache and filter it uses

  Status LoadMetadata();
  Status InitializeGenesis(const Genesis& genesis);
  // The records that make a store a store, for InitializeGenesis and a snapshot import.
  void AddIdentity(std::string_view chain_id, const Hash256& genesis_hash,
                   leveldb::WriteBatch& batch) const;
  Result<CommitInfo> Commit(const CommitRequest& request);

  std::string chain_id_;
  Hash256 genesis_hash_;

  StoreTip tip() const {
    std::lock_guard lock(mutex_);
    return tip_;
  }
  uint64_t oldest() const {
    std::lock_guard lock(mutex_);
    return oldest_;
  }
  uint64_t lowest() const {
    std::lock_guard lock(mutex_);
    return lowest_;
  }
  // The lowest height a hold keeps from pruning (UINT64_MAX: none).
  uint64_t held_from() const {
    std::lock_guard lock(mutex_);
    return holds_.empty() ? UINT64_MAX : *holds_.begin();
  }

  // ---- reads ----

  // Reads under one snapshot: a multi-record read never sees half of a commit.
  class View {
   public:
    // The tip and retention are read before the snapshot is taken, so the snapshot holds at
    // least everything up to that tip (and what it prunes, nothing the bounds say is held).
    explicit View(const Impl& impl)
        : tip(impl.tip()),
          oldest(impl.oldest()),
          lowest(impl.lowest()),
          impl_(impl),
          db_(*impl.db_),
          snapshot_(db_.GetSnapshot()) {
      options_.snapshot = snapshot_;
      options_.verify_checksums = true;
    }
    ~View() { db_.ReleaseSnapshot(snapshot_); }
    View(const View&) = delete;
    View& operator=(const View&) = delete;

    // nullopt when absent.
    Result<std::optional<std::string>> Get(const Key& key, const std::string& what) const {
      std::string value;
      leveldb::Status status = db_.Get(options_, key, &value);
      if (status.IsNotFound()) return std::optional<std::string>();
      if (!status.ok()) return FromLevelDb(status, "reading " + what);
      return std::optional<std::string>(std::move(value));
    }
    // The record, or kNotFound with `missing` as the message.
    Result<std::string> Need(const Key& key, const std::string& what,
                             const std::string& missing) const {
      Result<std::optional<std::string>> value = Get(key, what);
      if (!value.ok()) return value.status();
      if (!value->has_value()) return Status{ErrorCode::kNotFound, missing};
      return std::move(**value);
    }
    std::unique_ptr<leveldb::Iterator> Iterate(bool fill_cache = true) const {
      leveldb::ReadOptions options = options_;
      options.fill_cache = fill_cache;
      return std::unique_ptr<leveldb::Iterator>(db_.NewIterator(options));
    }

    const StoreTip tip;
    const uint64_t oldest;
    const uint64_t lowest;

    // kPruned when `height` is below the lowest held height, as of the view or of now (a
    // commit between reading the bounds and taking the snapshot may have pruned it); else
    // `otherwise`.
    Status PrunedOr(uint64_t height, Status otherwise) const {
      const uint64_t now = std::max(lowest, impl_.lowest());
      if (height >= now) return otherwise;
      return {ErrorCode::kPruned, "height " + std::to_string(height) +
                                      " is pruned: this node holds blocks from height " +
                                      std::to_string(now) + " on"};
    }

   private:
    const Impl& impl_;
    leveldb::DB& db_;
    const leveldb::Snapshot* snapshot_;
    leveldb::ReadOptions options_;
  };

  class ViewNodeSource : public smt::NodeSource {
   public:
    ViewNodeSource(const View& view, smt::NodeCache& cache) : view_(view), cache_(cache) {}
    Result<smt::Node> Load(const smt::NodeRef& ref) const override {
      if (std::optional<smt::Node> cached = cache_.Find(ref)) return *cached;
      Result<std::optional<std::string>> bytes = view_.Get(NodeKey(ref), "a state tree node");
      if (!bytes.ok()) return bytes.status();
      if (!bytes->has_value()) {
        return Damaged("state tree node " + ToHex(ref.hash.bytes).substr(0, 16) + " of version " +
                       std::to_string(ref.version) + " is missing");
      }
      Result<smt::Node> node = smt::DecodeNode(AsBytes(**bytes));
      if (!node.ok()) return node.status();
      if (node->Hash() != ref.hash) return Damaged("a state tree node does not match its hash");
      cache_.Put(ref, *node);
      return node;
    }

   private:
    const View& view_;
    smt::NodeCache& cache_;
  };
  ViewNodeSource Nodes(const View& view) const { return ViewNodeSource(view, node_cache_); }

  Result<smt::NodeRef> RootAt(const View& view, uint64_t version) const {
    const StoreTip& now = view.tip;
    if (version > now.height) {
      return Status{ErrorCode::kNotFound, "version " + std::to_string(version) +
                                              " is not committed yet (tip is " +
                                              std::to_string(now.height) + ")"};
    }
    const uint64_t oldest_version = view.oldest;
    if (version < oldest_version) {
      return Status{ErrorCode::kPruned, "state version " + std::to_string(version) +
                                            " is pruned (oldest retained is " +
                                            std::to_string(oldest_version) + ")"};
    }
    Result<std::string> bytes =
        view.Need(RootKey(version), "a state root",
                  "state version " + std::to_string(version) + " is pruned");
    if (!bytes.ok()) {
      if (bytes.status().code() != ErrorCode::kNotFound) return bytes.status();
      return Status{ErrorCode::kPruned, bytes.status().message()};
    }
    if (bytes->size() != 40) return Damaged("a state root record has the wrong size");
    return smt::NodeRef{ReadU64(bytes->data()), ReadFixed<Hash256>(bytes->data() + 8)};
  }

  // The value at the tip, from state_cache_ when it holds the key.
  Result<std::optional<Bytes>> LatestState(ByteSpan key) const {
    if (key.size() > kMaxStateKeyBytes) {
      return Status{ErrorCode::kTooLarge, "state key is longer than the limit"};
    }
    const std::string cache_key(key.begin(), key.end());
    {
      std::lock_guard lock(mutex_);
      if (std::optional<std::optional<Bytes>> hit = state_cache_.Find(cache_key)) {
        return std::move(*hit);
      }
    }
    View view(*this);
    Result<std::optional<Bytes>> value = StateAt(view, key, view.tip.height);
    if (value.ok()) {
      std::lock_guard lock(mutex_);
      // A commit since the view was taken may have changed the key: cache only a value that
      // is still the tip's.
      if (tip_.height == view.tip.height && tip_.block_hash == view.tip.block_hash) {
        CacheStateLocked(cache_key, *value);
      }
    }
    return value;
  }
  void CacheStateLocked(const std::string& key, const std::optional<Bytes>& value) const {
    if (value && value->size() > kMaxCachedStateValueBytes) {
      state_cache_.Erase(key);
    } else {
      state_cache_.Put(key, value);
    }
  }

  Result<std::optional<Bytes>> StateAt(const View& view, ByteSpan key, uint64_t version) const {
    if (key.size() > kMaxStateKeyBytes) {
      return Status{ErrorCode::kTooLarge, "state key is longer than the limit"};
    }
    const Hash256 path = StateKeyPath(key);
    const Key prefix = Key(kKeyWritePrefix).Fixed(path);
    std::unique_ptr<leveldb::Iterator> it = view.Iterate();
    it->Seek(KeyWriteKey(path, version, 0xFFFFFFFF));
    if (!it->status().ok()) return FromLevelDb(it->status(), "reading state");
    if (!it->Valid() || !it->key().starts_with(prefix)) return std::optional<Bytes>();
    Result<KeyWriteRecord> record =
        DecodeStored<KeyWriteRecord>(it->value().ToString(), "a state write record");
    if (!record.ok()) return record.status();
    return std::move(record->value);
  }

  // A held block's record and transaction entries, read in one view (a commit that prunes it
  // meanwhile must not make it look whole but empty): kPruned below the lowest height, where
  // an epoch's last header outlives its transactions.
  struct WholeBlock {
    BlockMeta meta;
    std::vector<TxEntry> entries;
  };
  Result<WholeBlock> ReadWholeBlock(const View& view, uint64_t height) const {
    if (Status pruned = view.PrunedOr(height, Status::Ok()); !pruned.ok()) return pruned;
    const std::string label = "block " + std::to_string(height);
    Result<std::string> bytes = view.Need(BlockKey(height), "a block",
                                          "no committed block at height " + std::to_string(height));
    if (!bytes.ok()) return view.PrunedOr(height, bytes.status());
    Result<BlockMeta> meta = DecodeStored<BlockMeta>(*bytes, label);
    if (!meta.ok()) return meta.status();
    WholeBlock whole{std::move(*meta), {}};
    whole.entries.reserve(whole.meta.tx_count);
    const Key prefix = Key(kTxPrefix).U64(height);
    std::unique_ptr<leveldb::Iterator> it = view.Iterate();
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      Result<TxEntry> entry = DecodeStored<TxEntry>(it->value().ToString(), label + " transaction");
      if (!entry.ok()) return entry.status();
      whole.entries.push_back(std::move(entry).value());
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "reading " + label);
    if (whole.entries.size() != whole.meta.tx_count) {
      return view.PrunedOr(height, Damaged(label + " is missing transactions"));
    }
    return whole;
  }

  // One page of records under `prefix`, whose keys go on with a fixed-size position.
  template <typename T, typename DecodeItem>
  Result<Page<T>> ScanPage(const Key& prefix, size_t position_size, const PageRequest& request,
                           bool reverse, DecodeItem decode) const {
    if (Status status = CheckPage(request, position_size); !status.ok()) return status;
    View view(*this);
    std::unique_ptr<leveldb::Iterator> it = view.Iterate();
    const std::string start =
        prefix.str() + std::string(request.cursor.begin(), request.cursor.end());
    if (!reverse) {
      it->Seek(start);
      if (!request.cursor.empty() && it->Valid() && it->key() == leveldb::Slice(start)) it->Next();
    } else {
      const std::string end = request.cursor.empty() ? PrefixEnd(prefix.str()) : start;
      if (end.empty()) {
        it->SeekToLast();
      } else {
        it->Seek(end);
        if (it->Valid()) {
          it->Prev();
        } else {
          it->SeekToLast();
        }
      }
    }
    Page<T> page;
    std::string last_position;
    while (it->Valid() && it->key().starts_with(prefix)) {
      if (it->key().size() != prefix.str().size() + position_size) {
        return Damaged("an index key has the wrong size");
      }
      if (page.items.size() == request.limit) {
        page.next_cursor = Bytes(last_position.begin(), last_position.end());
        break;
      }
      last_position.assign(it->key().data() + prefix.str().size(), position_size);
      Result<T> item = decode(it->key().data() + prefix.str().size(), it->value());
      if (!item.ok()) return item.status();
      page.items.push_back(std::move(item).value());
      if (reverse) {
        it->Prev();
      } else {
        it->Next();
      }
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "reading an index");
    return page;
  }

  // ---- writes ----

  // Called from more than one thread (commits on the executor's, pending blocks on the
  // node's writer thread): the failure is read and set under mutex_.
  Status WriteBatch(leveldb::WriteBatch& batch, const std::string& what) {
    {
      std::lock_guard lock(mutex_);
      if (!failed_.ok()) {
        return {ErrorCode::kIoError,
                "ledger store refuses writes after an earlier failed write (" + failed_.message() +
                    "); restart the node to recover from the last durable block"};
      }
    }
    leveldb::WriteOptions options;
    options.sync = true;
    leveldb::Status status = db_->Write(options, &batch);
    if (!status.ok()) {
      std::lock_guard lock(mutex_);
      if (failed_.ok()) failed_ = FromLevelDb(status, what);
      return FromLevelDb(status, what);
    }
    return Status::Ok();
  }

  struct StateChanges {
    Hash256 root;
    std::vector<std::pair<smt::NodeRef, smt::Node>> created;  // to cache once durable
  };
  // State writes, tree nodes and the root for `version`, added to `batch`.
  // `prune_list`, when given, gets the paths written (and AddIndexEntries its positions).
  Result<StateChanges> AddStateChanges(const View& view, uint64_t version,
                                       const std::vector<StateWrite>& writes,
                                       leveldb::WriteBatch& batch, PruneList* prune_list = nullptr);
  // A committed block's own records: header, certificate, hash index, transactions with their
  // results, ids (kAlreadyExists for one committed before) and account history.
  Status AddBlockRecords(const View& view, const Block& block, const Hash256& block_hash,
                         const QuorumCert& certificate, const std::vector<TxResult>& results,
                         leveldb::WriteBatch& batch);
  static void AddIndexEntries(uint64_t height, const std::vector<IndexEntry>& entries,
                              leveldb::WriteBatch& batch, PruneList* prune_list = nullptr);
  // Drops the tree nodes and roots of versions that fall out of retention at `height`.
  Result<uint64_t> AddPruning(const View& view, uint64_t height, leveldb::WriteBatch& batch);
  // Drops the blocks that fall out of retention at `height` (a slice of them at most);
  // returns the new lowest held height.
  Result<uint64_t> AddBlockPruning(const View& view, uint64_t height, leveldb::WriteBatch& batch);
  // Drops one block's records; returns how many transactions it held.
  Result<uint64_t> AddPrunedBlock(const View& view, uint64_t height, leveldb::WriteBatch& batch);
  // Drops the writes of the key at `path` that its write at `height` supersedes, and that write
  // too when it is a deletion: no read at or above the new lowest height needs them.
  static Status AddSupersededWrites(const View& view, const Hash256& path, uint64_t height,
                                    leveldb::WriteBatch& batch);

  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
  const uint64_t retain_versions_;
  const uint64_t retain_blocks_;

  mutable smt::NodeCache node_cache_;
  // Changed only under mutex_ together with tip_, so a hit is the value at tip_.
  mutable LatestStateCache state_cache_;
  mutable std::mutex mutex_;
  StoreTip tip_;                      // guarded by mutex_
  uint64_t oldest_ = 0;               // guarded by mutex_
  uint64_t lowest_ = 0;               // guarded by mutex_
  std::multiset<uint64_t> holds_;     // guarded by mutex_: HoldPruningFrom's heights
  Status failed_;                     // guarded by mutex_: the first failed write, for good
  uint64_t settle_pending_from_ = 0;  // written only by the single writer (Commit)
};

Status LedgerStore::Impl::LoadMetadata() {
  View view(*this);
  Result<std::optional<std::string>> format = view.Get(MetaKey("format"), "the format record");
  if (!format.ok()) return format.status();
  if (!format->has_value()) {
    return {ErrorCode::kCorruption,
            "this LevelDB database is not a CityLedger store (it has no format record)"};
  }
  const std::string& record = **format;
  if (record.size() != kFormatMagic.size() + 4 || !record.starts_with(kFormatMagic)) {
    return {ErrorCode::kCorruption,
            "this LevelDB database is not a CityLedger store (foreign "
            "format record)"};
  }
  const uint32_t version = ReadU32(record.data() + kFormatMagic.size());
  if (version != kStoreFormatVersion) {
    return {ErrorCode::kInvalidArgument,
            "ledger store has format version " + std::to_string(version) +
                "; this build reads version " + std::to_string(kStoreFormatVersion)};
  }
  Result<std::optional<std::string>> importing = view.Get(MetaKey(kImportMeta), "metadata");
  if (!importing.ok()) return importing.status();
  if (importing->has_value()) {
    return {ErrorCode::kCorruption,
            "it holds an unfinished snapshot import: resume it (cityd snapshot import) or delete "
            "it"};
  }
  const auto need = [&](std::string_view name) -> Result<std::string> {
    Result<std::optional<std::string>> value = view.Get(MetaKey(name), "metadata");
    if (!value.ok()) return value.status();
    if (!value->has_value())
      return Damaged("metadata record '" + std::string(name) + "' is missing");
    return std::move(**value);
  };
  Result<std::string> chain = need("chain");
  Result<std::string> genesis = need("genesis");
  Result<std::string> tip = need("tip");
  Result<std::string> oldest = need("oldest");
  for (const auto* result : {&chain, &genesis, &tip, &oldest}) {
    if (!result->ok()) return result->status();
  }
  if (genesis->size() != 32 || tip->size() != 40 || oldest->size() != 8) {
    return Damaged("a metadata record has the wrong size");
  }
  chain_id_ = *chain;
  genesis_hash_ = ReadFixed<Hash256>(genesis->data());
  StoreTip loaded{ReadU64(tip->data()), ReadFixed<Hash256>(tip->data() + 8), {}};
  const uint64_t oldest_version = ReadU64(oldest->data());
  if (oldest_version > loaded.height) return Damaged("the oldest retained version is past the tip");
  // Stores written before block pruning existed have no record: they never pruned.
  Result<std::optional<std::string>> lowest = view.Get(MetaKey("lowest"), "metadata");
  if (!lowest.ok()) return lowest.status();
  uint64_t lowest_height = 0;
  if (lowest->has_value()) {
    if ((*lowest)->size() != 8) return Damaged("a metadata record has the wrong size");
    lowest_height = ReadU64((*lowest)->data());
    if (lowest_height > loaded.height) return Damaged("the lowest held height is past the tip");
  }

  // The tip must be a whole block: its records and its state root, and nothing after it.
  const std::string height = std::to_string(loaded.height);
  Result<std::string> by_hash = view.Need(Key(kBlockHashPrefix).Fixed(loaded.block_hash), "the tip",
                                          Damaged("the tip block's hash is not indexed").message());
  if (!by_hash.ok()) return Damaged(by_hash.status().message());
  if (by_hash->size() != 8 || ReadU64(by_hash->data()) != loaded.height) {
    return Damaged("the tip block's hash maps to another height");
  }
  if (loaded.height == 0) {
    if (loaded.block_hash != genesis_hash_) return Damaged("tip at height 0 is not the genesis");
  } else {
    Result<std::string> meta =
        view.Need(BlockKey(loaded.height), "the tip block", "tip block " + height + " is missing");
    if (!meta.ok()) return Damaged(meta.status().message());
    Result<BlockMeta> decoded = DecodeStored<BlockMeta>(*meta, "tip block " + height);
    if (!decoded.ok()) return decoded.status();
    if (decoded->header.Hash() != loaded.block_hash || decoded->header.height != loaded.height) {
      return Damaged("tip block " + height + " does not match the tip record");
    }
    Result<std::optional<std::string>> cert =
        view.Get(Key(kCertPrefix).U64(loaded.height), "a certificate");
    if (!cert.ok()) return cert.status();
    if (!cert->has_value()) return Damaged("tip block " + height + " has no certificate");
  }
  Result<std::optional<std::string>> next = view.Get(BlockKey(loaded.height + 1), "blocks");
  if (!next.ok()) return next.status();
  if (next->has_value()) return Damaged("a block exists above the tip (height " + height + ")");
  {
    std::lock_guard lock(mutex_);
    tip_ = loaded;
    oldest_ = oldest_version;
    lowest_ = lowest_height;
  }
  const View tip_view(*this);  // sees the tip just loaded
  Result<smt::NodeRef> root = RootAt(tip_view, loaded.height);
  if (!root.ok()) return Damaged("the tip's state root: " + root.status().message());
  if (!root->empty()) {
    Result<smt::Node> node = Nodes(tip_view).Load(*root);
    if (!node.ok()) return node.status();
  }
  std::lock_guard lock(mutex_);
  tip_.state_root = root->hash;
  return Status::Ok();
}

Result<LedgerStore::Impl::StateChanges> LedgerStore::Impl::AddStateChanges(
    const View& view, uint64_t version, const std::vector<StateWrite>& writes,
    leveldb::WriteBatch& batch, PruneList* prune_list) {
  std::map<Hash256, const StateWrite*> last_write;
  for (uint32_t seq = 0; seq < writes.size(); ++seq) {
    const StateWrite& write = writes[seq];
    const Hash256 path = StateKeyPath(write.key);
    last_write[path] = &write;
    batch.Put(KeyWriteKey(path, version, seq),
              BytesSlice(Encode(KeyWriteRecord{write.tx_index, write.key, write.value})));
  }
  std::vector<smt::Update> updates;
  updates.reserve(last_write.size());
  for (const auto& [path, write] : last_write) {
    updates.push_back(
        {path, write->value ? std::optional(StateValueHash(*write->value)) : std::nullopt});
    if (prune_list != nullptr) prune_list->paths.push_back(path);
  }
  smt::NodeRef old_root;
  if (version > 0) {
    Result<smt::NodeRef> root = RootAt(view, version - 1);
    if (!root.ok()) return root.status();
    old_root = *root;
  }
  Result<smt::Delta> delta = smt::ApplyUpdates(Nodes(view), old_root, version, updates);
  if (!delta.ok()) return delta.status();
  for (const auto& [ref, node] : delta->created) {
    batch.Put(NodeKey(ref), BytesSlice(smt::EncodeNode(node)));
  }
  // Archive mode never prunes, so it skips the pruning list (about a third of the bytes a
  // block writes). A store switched to pruning later reclaims only what it lists from then on.
  // Keeping the tip's tree only, the nodes this version retires are unreachable once this very
  // batch drops the previous root: they go now. (Listed, they would be read back by a pruning
  // pass over the batch's own snapshot, which does not hold the list: they leaked.)
  if (retain_versions_ == 1) {
    for (const smt::NodeRef& ref : delta->retired) batch.Delete(NodeKey(ref));
  } else if (retain_versions_ != 0) {
    for (const smt::NodeRef& ref : delta->retired) {
      batch.Put(Key(kStalePrefix).U64(version).U64(ref.version).Fixed(ref.hash), {});
    }
  }
  batch.Put(RootKey(version), BytesSlice(EncodeRef(delta->root)));
  return StateChanges{delta->root.hash, std::move(delta->created)};
}

void LedgerStore::Impl::AddIndexEntries(uint64_t height, const std::vector<IndexEntry>& entries,
                                        leveldb::WriteBatch& batch, PruneList* prune_list) {
  for (uint32_t seq = 0; seq < entries.size(); ++seq) {
    const IndexEntry& entry = entries[seq];
    std::string value = Key().U32(entry.tx_index).str();
    value.append(reinterpret_cast<const char*>(entry.value.data()), entry.value.size());
    const Hash256 id = IndexId(entry.contract, entry.index, entry.key);
    batch.Put(IndexKey(id, height, seq), value);
    if (prune_list != nullptr) prune_list->index_entries.emplace_back(id, seq);
  }
}

Result<uint64_t> LedgerStore::Impl::AddPruning(const View& view, uint64_t height,
                                               leveldb::WriteBatch& batch) {
  const uint64_t current = oldest();
  if (retain_versions_ == 0 || height + 1 <= retain_versions_) return current;
  const uint64_t wanted = std::min(height + 1 - retain_versions_, held_from());
  // A wider retention than before cannot bring back versions already pruned.
  if (wanted <= current) return current;
  const uint64_t target = std::min(wanted, current + kMaxVersionsPrunedPerCommit);
  for (uint64_t version = current + 1; version <= target; ++version) {
    // Nodes retired at `version` are reachable only from roots below it, now all gone.
    const Key prefix = Key(kStalePrefix).U64(version);
    std::unique_ptr<leveldb::Iterator> it = view.Iterate();
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 1 + 8 + 8 + 32) return Damaged("a pruning record has the wrong size");
      const char* ref = it->key().data() + 1 + 8;
      batch.Delete(NodeKey({ReadU64(ref), ReadFixed<Hash256>(ref + 8)}));
      batch.Delete(it->key());
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "reading the pruning list");
    batch.Delete(RootKey(version - 1));
  }
  return target;
}

Result<uint64_t> LedgerStore::Impl::AddBlockPruning(const View& view, uint64_t height,
                                                    leveldb::WriteBatch& batch) {
  const uint64_t current = view.lowest;
  if (retain_blocks_ == 0 || height < retain_blocks_) return current;
  const uint64_t wanted = std::min(height + 1 - retain_blocks_, held_from());
  // A wider retention than before cannot bring back blocks already pruned.
  if (wanted <= current) return current;
  const uint64_t first = std::max<uint64_t>(current, 1);  // the genesis block is the file's
  uint64_t next = first;
  uint64_t transactions = 0;
  while (next < wanted && next < first + kMaxHeightsPrunedPerCommit &&
         transactions < kMaxTxsPrunedPerCommit) {
    Result<uint64_t> pruned = AddPrunedBlock(view, next, batch);
    if (!pruned.ok()) return pruned.status();
    transactions += *pruned;
    ++next;
  }
  return next;
}

Result<uint64_t> LedgerStore::Impl::AddPrunedBlock(const View& view, uint64_t height,
                                                   leveldb::WriteBatch& batch) {
  const std::string label = "block " + std::to_string(height);
  Result<std::string> bytes =
      view.Need(BlockKey(height), "a block", label + " is missing where pruning expected it");
  if (!bytes.ok()) return Damaged(bytes.status().message());
  Result<BlockMeta> meta = DecodeStored<BlockMeta>(*bytes, label);
  if (!meta.ok()) return meta.status();
  uint64_t transactions = 0;
  const Key prefix = Key(kTxPrefix).U64(height);
  std::unique_ptr<leveldb::Iterator> it = view.Iterate(/*fill_cache=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.str().size() + 4) return Damaged(label + ": a bad key");
    const uint32_t index = ReadU32(it->key().data() + prefix.str().size());
    Result<TxEntry> entry = DecodeStored<TxEntry>(it->value().ToString(), label + " transaction");
    if (!entry.ok()) return entry.status();
    // The id stays (12 bytes): it is the rule that a transaction is in the chain once, which
    // every validator checks of every proposal, archive or not, whatever its nonce says.
    batch.Delete(it->key());
    batch.Delete(AccountKey(entry->transaction.sender, height, index));
    for (const PublicKey& related : entry->result.related_accounts) {
      batch.Delete(AccountKey(related, height, index));
    }
    ++transactions;
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "reading " + label);
  // An epoch's last header names the next validator set: an auditor (and a restarting node)
  // follows the sets from the genesis through these, so they and their certificates stay.
  if (meta->header.next_validators.empty()) {
    batch.Delete(BlockKey(height));
    batch.Delete(CertKey(height));
    batch.Delete(Key(kBlockHashPrefix).Fixed(meta->header.Hash()));
  }
  const Key list_key = Key(kPruneListPrefix).U64(height);
  Result<std::optional<std::string>> list_bytes = view.Get(list_key, "a prune list");
  if (!list_bytes.ok()) return list_bytes.status();
  // None for a block committed before pruning was set: its index entries and older writes
  // stay (like the tree nodes of versions committed in archive mode).
  if (list_bytes->has_value()) {
    const std::optional<PruneList> list = PruneList::Decode(**list_bytes);
    if (!list) return Damaged(label + ": its prune list does not decode");
    for (const auto& [id, seq] : list->index_entries) batch.Delete(IndexKey(id, height, seq));
    for (const Hash256& path : list->paths) {
      if (Status status = AddSupersededWrites(view, path, height, batch); !status.ok()) {
        return status;
      }
    }
    batch.Delete(list_key);
  }
  return transactions;
}

Status LedgerStore::Impl::AddSupersededWrites(const View& view, const Hash256& path,
                                              uint64_t height, leveldb::WriteBatch& batch) {
  const Key prefix = Key(kKeyWritePrefix).Fixed(path);
  std::unique_ptr<leveldb::Iterator> it = view.Iterate(/*fill_cache=*/false);
  it->Seek(KeyWriteKey(path, height, 0xFFFFFFFF));
  bool latest = true;  // the write at `height` that reads above it find
  // A key's older writes are normally one (the rest went when it was pruned), but a key
  // written often before pruning was set has many: a bounded share per key and block (what is
  // left only makes its history longer, never a read wrong).
  size_t deleted = 0;
  for (; it->Valid() && it->key().starts_with(prefix) && deleted < kMaxSupersededWritesPerKey;
       it->Next()) {
    if (latest) {
      latest = false;
      Result<KeyWriteRecord> record =
          DecodeStored<KeyWriteRecord>(it->value().ToString(), "a state write record");
      if (!record.ok()) return record.status();
      if (record->value.has_value()) continue;  // the key's value from here on: kept
    }
    batch.Delete(it->key());
    ++deleted;
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "reading state writes");
  return Status::Ok();
}

void LedgerStore::Impl::AddIdentity(std::string_view chain_id, const Hash256& genesis_hash,
                                    leveldb::WriteBatch& batch) const {
  std::string format(kFormatMagic);
  format += std::string{char(kStoreFormatVersion >> 24), char(kStoreFormatVersion >> 16),
                        char(kStoreFormatVersion >> 8), char(kStoreFormatVersion)};
  batch.Put(MetaKey("format"), format);
  batch.Put(MetaKey("chain"), std::string(chain_id));
  batch.Put(MetaKey("genesis"), Key().Fixed(genesis_hash).str());
  batch.Put(Key(kBlockHashPrefix).Fixed(genesis_hash), Key().U64(0).str());
}

Status LedgerStore::Impl::InitializeGenesis(const Genesis& genesis) {
  if (!IsValidChainId(genesis.chain_id)) return {ErrorCode::kInvalidArgument, "invalid chain id"};
  for (const StateWrite& write : genesis.writes) {
    if (write.key.size() > kMaxStateKeyBytes ||
        (write.value && write.value->size() > kMaxStateValueBytes)) {
      return {ErrorCode::kTooLarge, "a genesis state write exceeds the key or value limit"};
    }
  }
  View view(*this);
  leveldb::WriteBatch batch;
  AddIdentity(genesis.chain_id, genesis.block_hash, batch);
  batch.Put(MetaKey("tip"), Key().U64(0).Fixed(genesis.block_hash).str());
  batch.Put(MetaKey("oldest"), Key().U64(0).str());
  Result<StateChanges> state = AddStateChanges(view, 0, genesis.writes, batch);
  if (!state.ok()) return state.status();
  AddIndexEntries(0, genesis.index_entries, batch);
  if (Status status = WriteBatch(batch, "writing the genesis state"); !status.ok()) return status;
  return LoadMetadata();
}

// ---- commit ----

namespace {

Status CheckIndexEntry(const IndexEntry& entry, size_t tx_count) {
  if (!IsValidName(entry.contract) || !IsValidName(entry.index)) {
    return {ErrorCode::kInvalidArgument, "an index entry has an invalid contract or index name"};
  }
  if (entry.key.size() > kMaxStateKeyBytes || entry.value.size() > kMaxIndexValueBytes) {
    return {ErrorCode::kTooLarge, "an index entry exceeds the key or value limit"};
  }
  if (entry.tx_index != kNoTransaction && entry.tx_index >= tx_count) {
    return {ErrorCode::kInvalidArgument, "an index entry names a transaction not in the block"};
  }
  return Status::Ok();
}

Status CheckCommitShape(const CommitRequest& request, const StoreTip& tip,
                        std::string_view chain_id) {
  const Block& block = request.block;
  const uint64_t height = block.header.height;
  if (block.header.chain_id != chain_id)
    return {ErrorCode::kInvalidArgument, "block is for another chain"};
  if (height != tip.height + 1) {
    return {ErrorCode::kInvalidArgument, "block height " + std::to_string(height) +
                                             " does not follow the tip " +
                                             std::to_string(tip.height)};
  }
  if (block.header.parent_hash != tip.block_hash) {
    return {ErrorCode::kInvalidArgument, "block does not extend the tip"};
  }
  if (request.certificate.data.block_hash != block.Hash() ||
      request.certificate.data.height != height) {
    return {ErrorCode::kInvalidArgument, "the certificate is for another block"};
  }
  const size_t tx_count = block.transactions.size();
  if (tx_count > kMaxTransactionsPerBlock) return {ErrorCode::kTooLarge, "too many transactions"};
  if (request.results.size() != tx_count) {
    return {ErrorCode::kInvalidArgument, "one result per transaction is required"};
  }
  for (const TxResult& result : request.results) {
    if (result.detail.size() > kMaxResultDetailBytes ||
        result.events.size() > kMaxEventsPerTransaction ||
        result.related_accounts.size() > kMaxRelatedAccounts) {
      return {ErrorCode::kTooLarge, "a transaction result exceeds its limits"};
    }
    for (const Event& event : result.events) {
      if (!IsValidName(event.contract) || !IsValidName(event.name) ||
          event.data.size() > kMaxEventBytes) {
        return {ErrorCode::kInvalidArgument, "an event has an invalid name or is too large"};
      }
    }
  }
  for (const StateWrite& write : request.writes) {
    if (write.key.size() > kMaxStateKeyBytes ||
        (write.value && write.value->size() > kMaxStateValueBytes)) {
      return {ErrorCode::kTooLarge, "a state write exceeds the key or value limit"};
    }
    if (write.tx_index != kNoTransaction && write.tx_index >= tx_count) {
      return {ErrorCode::kInvalidArgument, "a state write names a transaction not in the block"};
    }
  }
  for (const IndexEntry& entry : request.index_entries) {
    if (Status status = CheckIndexEntry(entry, tx_count); !status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace

Status LedgerStore::Impl::AddBlockRecords(const View& view, const Block& block,
                                          const Hash256& block_hash, const QuorumCert& certificate,
                                          const std::vector<TxResult>& results,
                                          leveldb::WriteBatch& batch) {
  const uint64_t height = block.header.height;
  batch.Put(BlockKey(height),
            BytesSlice(Encode(BlockMeta{block.header, block.signature,
                                        static_cast<uint32_t>(block.transactions.size())})));
  batch.Put(Key(kBlockHashPrefix).Fixed(block_hash), Key().U64(height).str());
  batch.Put(CertKey(height), BytesSlice(Encode(certificate)));

  std::set<Hash256> ids;
  std::map<std::pair<PublicKey, uint32_t>, std::pair<uint8_t, Hash256>> accounts;
  for (uint32_t index = 0; index < block.transactions.size(); ++index) {
    const Transaction& tx = block.transactions[index];
    const TxResult& result = results[index];
    const Hash256 id = tx.Id();
    if (!ids.insert(id).second) {
      return Status{ErrorCode::kInvalidArgument, "the block holds one transaction twice"};
    }
    Result<std::optional<std::string>> seen = view.Get(Key(kTxIdPrefix).Fixed(id), "transactions");
    if (!seen.ok()) return seen.status();
    if (seen->has_value()) {
      return Status{ErrorCode::kAlreadyExists,
                    "transaction " + ToHex(id.bytes).substr(0, 16) + " is already committed"};
    }
    batch.Put(Key(kTxPrefix).U64(height).U32(index), BytesSlice(Encode(TxEntry{tx, result})));
    batch.Put(Key(kTxIdPrefix).Fixed(id), Key().U64(height).U32(index).str());
    accounts[{tx.sender, index}] = {kAccountSent, id};
    for (const PublicKey& related : result.related_accounts) {
      auto& entry = accounts[{related, index}];
      entry.first |= kAccountReceived;
      entry.second = id;
    }
  }
  for (const auto& [where, role] : accounts) {
    Bytes value{role.first};
    value.insert(value.end(), role.second.bytes.begin(), role.second.bytes.end());
    batch.Put(AccountKey(where.first, height, where.second), BytesSlice(value));
  }

  return Status::Ok();
}

Result<CommitInfo> LedgerStore::Impl::Commit(const CommitRequest& request) {
  const StoreTip current = tip();
  if (Status status = CheckCommitShape(request, current, chain_id_); !status.ok()) return status;
  const Block& block = request.block;
  const uint64_t height = block.header.height;
  const Hash256 block_hash = block.Hash();

  View view(*this);
  leveldb::WriteBatch batch;
  if (Status status =
          AddBlockRecords(view, block, block_hash, request.certificate, request.results, batch);
      !status.ok()) {
    return status;
  }

  // With block pruning, the block keeps a list of what pruning it will have to find.
  std::optional<PruneList> prune_list;
  if (retain_blocks_ != 0) prune_list.emplace();
  PruneList* list = prune_list ? &*prune_list : nullptr;
  Result<StateChanges> state = AddStateChanges(view, height, request.writes, batch, list);
  if (!state.ok()) return state.status();
  AddIndexEntries(height, request.index_entries, batch, list);
  if (list != nullptr) batch.Put(Key(kPruneListPrefix).U64(height), list->Encode());
  Result<uint64_t> oldest_version = AddPruning(view, height, batch);
  if (!oldest_version.ok()) return oldest_version.status();
  Result<uint64_t> lowest_height = AddBlockPruning(view, height, batch);
  if (!lowest_height.ok()) return lowest_height.status();

  // Pending blocks at or below the new tip are settled.
  std::unique_ptr<leveldb::Iterator> it = view.Iterate();
  const std::string pending_end = Key(kPendingPrefix).U64(height + 1).str();
  for (it->Seek(Key(kPendingPrefix).U64(settle_pending_from_));
       it->Valid() && it->key().compare(pending_end) < 0; it->Next()) {
    batch.Delete(it->key());
  }
  batch.Put(MetaKey("oldest"), Key().U64(*oldest_version).str());
  if (*lowest_height != view.lowest) batch.Put(MetaKey("lowest"), Key().U64(*lowest_height).str());
  batch.Put(MetaKey("tip"), Key().U64(height).Fixed(block_hash).str());
  if (*lowest_height != view.lowest) {
    // Raised before the write: a reader whose snapshot holds the pruning then also sees it
    // pruned (View::PrunedOr reads it again), never a half-deleted block. Should the write
    // fail, the store stops writing, and answering "pruned" for what is left is no harm.
    std::lock_guard lock(mutex_);
    lowest_ = *lowest_height;
  }
  if (Status status = WriteBatch(batch, "committing block " + std::to_string(height));
      !status.ok()) {
    return status;
  }
  {
    std::lock_guard lock(mutex_);
    for (const StateWrite& write : request.writes) {
      CacheStateLocked(std::string(write.key.begin(), write.key.end()), write.value);
    }
    tip_ = {height, block_hash, state->root};
    oldest_ = *oldest_version;
  }
  settle_pending_from_ = height > kPendingRescanHeights ? height - kPendingRescanHeights : 0;
  // The new nodes are the ones the next block's update and today's proofs walk.
  for (const auto& [ref, node] : state->created) node_cache_.Put(ref, node);
  return CommitInfo{height, block_hash, state->root, ComputeResultRoot(request.results)};
}

// ---- LedgerStore ----

namespace {

Result<std::unique_ptr<LedgerStore::Impl>> OpenDatabase(const std::filesystem::path& dir,
                                                        const StoreOptions& options, bool create) {
  leveldb::Options db_options;
  db_options.create_if_missing = create;
  db_options.error_if_exists = create;
  db_options.paranoid_checks = true;
  db_options.env = options.env != nullptr ? options.env : DefaultStoreEnv();
  db_options.max_file_size = 8 << 20;
  // One block's batch is a few MiB; a small memtable would flush after every block.
  db_options.write_buffer_size = 32 << 20;
  // Most bytes are hashes and signatures, which do not compress; snappy only costs CPU.
  db_options.compression = leveldb::kNoCompression;
  std::unique_ptr<leveldb::Cache> cache(leveldb::NewLRUCache(options.block_cache_bytes));
  std::unique_ptr<const leveldb::FilterPolicy> filter(leveldb::NewBloomFilterPolicy(10));
  db_options.block_cache = cache.get();
  db_options.filter_policy = filter.get();
  leveldb::DB* raw = nullptr;
  leveldb::Status status = leveldb::DB::Open(db_options, dir.string(), &raw);
  if (!status.ok()) {
    const std::string text = status.ToString();
    if (text.find("lock") != std::string::npos || text.find("LOCK") != std::string::npos) {
      return Status{ErrorCode::kIoError, "ledger store " + dir.string() +
                                             " is in use by another process (" + text + ")"};
    }
    // A truncated table file surfaces as an I/O error ("Invalid argument" from reading past
    // its end): the file is damaged, the disk is fine.
    if (status.IsIOError() && text.find("Invalid argument") != std::string::npos) {
      return Status{ErrorCode::kCorruption, "ledger store " + dir.string() +
                                                " is damaged: a file is truncated (" + text + ")"};
    }
    return FromLevelDb(status, "opening ledger store " + dir.string());
  }
  return std::make_unique<LedgerStore::Impl>(std::unique_ptr<leveldb::DB>(raw), std::move(cache),
                                             std::move(filter), options);
}

}  // namespace

LedgerStore::LedgerStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LedgerStore::~LedgerStore() = default;

Result<std::unique_ptr<LedgerStore>> LedgerStore::Open(const std::filesystem::path& dir,
                                                       const StoreOptions& options) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return Status{ErrorCode::kNotFound, "no ledger store at " + dir.string()};
  }
  if (!std::filesystem::exists(dir / "CURRENT", error)) {
    const bool empty = std::filesystem::is_empty(dir, error);
    if (empty)
      return Status{ErrorCode::kNotFound, "no ledger store at " + dir.string() + " (empty)"};
    return Status{ErrorCode::kCorruption,
                  dir.string() +
                      " is not a ledger store: it holds files but no LevelDB database "
                      "(CURRENT is missing)"};
  }
  Result<std::unique_ptr<Impl>> impl = OpenDatabase(dir, options, /*create=*/false);
  if (!impl.ok()) return impl.status();
  if (Status status = (*impl)->LoadMetadata(); !status.ok()) {
    return Status{status.code(), dir.string() + ": " + status.message()};
  }
  return std::unique_ptr<LedgerStore>(new LedgerStore(std::move(impl).value()));
}

Result<std::unique_ptr<LedgerStore>> LedgerStore::Create(const std::filesystem::path& dir,
                                                         const Genesis& genesis,
                                                         const StoreOptions& options) {
  std::error_code error;
  if (std::filesystem::exists(dir, error) && !std::filesystem::is_empty(dir, error)) {
    return Status{ErrorCode::kAlreadyExists,
                  "refusing to create a ledger store in " + dir.string() + ": it is not empty"};
  }
  // Built beside `dir` and renamed into place, so a crash mid-create never leaves a database
  // without its genesis (which Open would rightly refuse as foreign).
  std::filesystem::path target = dir.lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "db/" names "db"
  const std::filesystem::path staging = target.string() + ".creating";
  std::filesystem::remove_all(staging, error);  // left by a crash during an earlier Create
  {
    Result<std::unique_ptr<Impl>> impl = OpenDatabase(staging, options, /*create=*/true);
    if (!impl.ok()) return impl.status();
    if (Status status = (*impl)->InitializeGenesis(genesis); !status.ok()) {
      impl->reset();
      std::filesystem::remove_all(staging, error);
      return status;
    }
  }
  if (::rename(staging.c_str(), target.c_str()) != 0) {
    Status status = IoErrorFromErrno("cannot move the new ledger store into place at", dir);
    std::filesystem::remove_all(staging, error);
    return status;
  }
  if (Status status = SyncParentDirectory(dir); !status.ok()) return status;
  return Open(dir, options);
}

namespace {

constexpr std::string_view kContentTag = "city.store.content.v1";
// A backup's batches: large enough to write fast, small enough to bound the memory.
constexpr size_t kBackupBatchBytes = 4 << 20;

// Every record `it` yields from its first on, in key order, but the pending blocks: counted,
// hashed, and handed to `copy` (which may be empty).
template <typename Copy>
Status ReadRecords(leveldb::Iterator& it, StoreCopyInfo& info, Copy copy) {
  TaggedHasher hasher(kContentTag);
  for (it.SeekToFirst(); it.Valid(); it.Next()) {
    const leveldb::Slice key = it.key();
    if (!key.empty() && key[0] == kPendingPrefix) continue;
    const leveldb::Slice value = it.value();
    hasher.UpdateU32(static_cast<uint32_t>(key.size()))
        .Update(AsBytes(std::string_view(key.data(), key.size())));
    hasher.UpdateU32(static_cast<uint32_t>(value.size()))
        .Update(AsBytes(std::string_view(value.data(), value.size())));
    ++info.records;
    info.bytes += key.size() + value.size();
    if (Status status = copy(key, value); !status.ok()) return status;
  }
  if (!it.status().ok()) return FromLevelDb(it.status(), "reading the ledger store");
  info.content_hash = hasher.Finish();
  return Status::Ok();
}

}  // namespace

Result<StoreCopyInfo> LedgerStore::Backup(const std::filesystem::path& dir,
                                          const std::atomic<bool>* cancel) const {
  std::error_code error;
  if (std::filesystem::exists(dir, error)) {
    return Status{ErrorCode::kAlreadyExists, "refusing to back up into " + dir.string() +
                                                 ": it exists (name a new directory)"};
  }
  std::filesystem::path target = dir.lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  const std::filesystem::path staging = target.string() + ".partial";
  std::filesystem::remove_all(staging, error);  // left by a backup that was interrupted
  StoreCopyInfo info;
  {
    Result<std::unique_ptr<Impl>> copy = OpenDatabase(staging, StoreOptions{}, /*create=*/true);
    if (!copy.ok()) return copy.status();
    leveldb::DB& out = *(*copy)->db_;
    Impl::View view(*impl_);
    // A copy reads everything once: it must not push the node's working set out of the cache.
    std::unique_ptr<leveldb::Iterator> it = view.Iterate(/*fill_cache=*/false);
    leveldb::WriteBatch batch;
    auto flush = [&](bool sync) -> Status {
      if (cancel != nullptr && cancel->load()) {
        return Status{ErrorCode::kIoError, "the backup was cancelled (the node is stopping)"};
      }
      leveldb::WriteOptions options;
      options.sync = sync;
      leveldb::Status written = out.Write(options, &batch);
      batch.Clear();
      return written.ok() ? Status::Ok() : FromLevelDb(written, "writing the backup");
    };
    Status status = ReadRecords(*it, info, [&](leveldb::Slice key, leveldb::Slice value) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        return Status{ErrorCode::kIoError, "the backup was cancelled (the node is stopping)"};
      }
      batch.Put(key, value);
      return batch.ApproximateSize() >= kBackupBatchBytes ? flush(false) : Status::Ok();
    });
    if (status.ok()) status = flush(true);
    if (status.ok()) status = (*copy)->LoadMetadata();  // the snapshot's own tip, checked
    if (!status.ok()) {
      copy->reset();
      std::filesystem::remove_all(staging, error);
      return status;
    }
    info.chain_id = (*copy)->chain_id_;
    info.genesis_hash = (*copy)->genesis_hash_;
    info.tip = (*copy)->tip();
  }
  if (::rename(staging.c_str(), target.c_str()) != 0) {
    Status status = IoErrorFromErrno("cannot move the backup into place at", dir);
    std::filesystem::remove_all(staging, error);
    return status;
  }
  if (Status status = SyncParentDirectory(dir); !status.ok()) return status;
  return info;
}

Result<StoreCopyInfo> LedgerStore::Inspect(const std::filesystem::path& dir) {
  Result<std::unique_ptr<LedgerStore>> store = Open(dir);
  if (!store.ok()) return store.status();
  Impl& impl = *(*store)->impl_;
  StoreCopyInfo info{impl.chain_id_, impl.genesis_hash_, impl.tip(), 0, 0, {}};
  Impl::View view(impl);
  std::unique_ptr<leveldb::Iterator> it = view.Iterate();
  Status status =
      ReadRecords(*it, info, [](leveldb::Slice, leveldb::Slice) { return Status::Ok(); });
  if (!status.ok()) return status;
  return info;
}

const std::string& LedgerStore::chain_id() const { return impl_->chain_id_; }
const Hash256& LedgerStore::genesis_hash() const { return impl_->genesis_hash_; }
StoreTip LedgerStore::tip() const { return impl_->tip(); }
uint64_t LedgerStore::oldest_retained_version() const { return impl_->oldest(); }
uint64_t LedgerStore::lowest_height() const { return impl_->lowest(); }

Result<CommitInfo> LedgerStore::Commit(const CommitRequest& request) {
  return impl_->Commit(request);
}

Result<BlockHeader> LedgerStore::GetHeader(uint64_t height) const {
  Impl::View view(*impl_);
  Result<std::string> bytes = view.Need(BlockKey(height), "a block",
                                        "no committed block at height " + std::to_string(height));
  if (!bytes.ok()) return view.PrunedOr(height, bytes.status());
  Result<BlockMeta> meta = DecodeStored<BlockMeta>(*bytes, "block " + std::to_string(height));
  if (!meta.ok()) return meta.status();
  return std::move(meta->header);
}

Result<Block> LedgerStore::GetBlock(uint64_t height) const {
  Impl::View view(*impl_);
  Result<Impl::WholeBlock> whole = impl_->ReadWholeBlock(view, height);
  if (!whole.ok()) return whole.status();
  Block block;
  block.header = std::move(whole->meta.header);
  block.signature = whole->meta.signature;
  block.transactions.reserve(whole->entries.size());
  for (TxEntry& entry : whole->entries) block.transactions.push_back(std::move(entry.transaction));
  return block;
}

Result<QuorumCert> LedgerStore::GetCertificate(uint64_t height) const {
  Impl::View view(*impl_);
  Result<std::string> bytes = view.Need(CertKey(height), "a certificate",
                                        "no certificate at height " + std::to_string(height));
  if (!bytes.ok()) return view.PrunedOr(height, bytes.status());
  return DecodeStored<QuorumCert>(*bytes, "the certificate of block " + std::to_string(height));
}

Result<uint64_t> LedgerStore::HeightOf(const Hash256& block_hash) const {
  Impl::View view(*impl_);
  Result<std::string> bytes = view.Need(Key(kBlockHashPrefix).Fixed(block_hash), "a block hash",
                                        "no committed block with that hash");
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != 8) return Damaged("a block hash record has the wrong size");
  return ReadU64(bytes->data());
}

Result<TxRecord> LedgerStore::GetTransaction(const Hash256& tx_id) const {
  Impl::View view(*impl_);
  // A pruned transaction's id stays (the chain's once-only rule needs it): its record does not.
  Result<std::string> where = view.Need(Key(kTxIdPrefix).Fixed(tx_id), "a transaction id",
                                        "no committed transaction with that id");
  if (!where.ok()) return where.status();
  if (where->size() != 12) return Damaged("a transaction id record has the wrong size");
  const TxLocation location{ReadU64(where->data()), ReadU32(where->data() + 8)};
  Result<std::string> bytes = view.Need(Key(kTxPrefix).U64(location.height).U32(location.index),
                                        "a transaction", "an indexed transaction is missing");
  if (!bytes.ok()) return view.PrunedOr(location.height, Damaged(bytes.status().message()));
  Result<TxEntry> entry = DecodeStored<TxEntry>(*bytes, "a transaction record");
  if (!entry.ok()) return entry.status();
  return TxRecord{std::move(entry->transaction), location, std::move(entry->result)};
}

Result<bool> LedgerStore::HasTransaction(const Hash256& tx_id) const {
  // One key: no snapshot needed to read it whole.
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  std::string where;
  const leveldb::Status status = impl_->db_->Get(options, Key(kTxIdPrefix).Fixed(tx_id), &where);
  if (status.IsNotFound()) return false;
  if (!status.ok()) return FromLevelDb(status, "reading a transaction id");
  return true;
}

Result<std::vector<TxResult>> LedgerStore::GetResults(uint64_t height) const {
  Impl::View view(*impl_);
  Result<Impl::WholeBlock> whole = impl_->ReadWholeBlock(view, height);
  if (!whole.ok()) return whole.status();
  std::vector<TxResult> results;
  results.reserve(whole->entries.size());
  for (TxEntry& entry : whole->entries) results.push_back(std::move(entry.result));
  return results;
}

Result<std::optional<Bytes>> LedgerStore::GetState(ByteSpan key) const {
  return impl_->LatestState(key);
}

Result<std::optional<Bytes>> LedgerStore::GetStateAt(ByteSpan key, uint64_t version) const {
  Impl::View view(*impl_);
  if (version > view.tip.height) {
    return Status{ErrorCode::kNotFound,
                  "version " + std::to_string(version) + " is not committed yet"};
  }
  // Below the lowest height, the writes that older reads need may be gone.
  if (Status pruned = view.PrunedOr(version, Status::Ok()); !pruned.ok()) return pruned;
  return impl_->StateAt(view, key, version);
}

Result<Hash256> LedgerStore::StateRootAt(uint64_t version) const {
  Impl::View view(*impl_);
  if (Status pruned = view.PrunedOr(version, Status::Ok()); !pruned.ok()) return pruned;
  Result<smt::NodeRef> root = impl_->RootAt(view, version);
  if (!root.ok()) return root.status();
  return root->hash;
}

Result<StateAt> LedgerStore::ProveState(ByteSpan key, uint64_t version) const {
  Impl::View view(*impl_);
  if (Status pruned = view.PrunedOr(version, Status::Ok()); !pruned.ok()) return pruned;
  Result<smt::NodeRef> root = impl_->RootAt(view, version);
  if (!root.ok()) return root.status();
  Result<std::optional<Bytes>> value = impl_->StateAt(view, key, version);
  if (!value.ok()) return value.status();
  Result<smt::PathProof> path = smt::Prove(impl_->Nodes(view), *root, StateKeyPath(key));
  if (!path.ok()) return path.status();
  const std::optional<Hash256> stored =
      *value ? std::optional(StateValueHash(**value)) : std::nullopt;
  if (stored != path->value_hash) {
    return Damaged("the state tree and the stored value disagree at version " +
                   std::to_string(version));
  }
  return StateAt{version, root->hash, std::move(*value), std::move(path->proof)};
}

namespace {

// The summaries of the subtrees at `split_depth` under `ref` (at `depth`, subtree `index` of
// its level), into `out`: only the nodes above the split are loaded.
Status SummarizeFrom(const smt::NodeSource& nodes, const smt::NodeRef& ref, size_t depth,
                     size_t index, size_t split_depth, std::vector<SubtreeSummary>& out) {
  if (ref.empty()) return Status::Ok();  // every subtree below is empty, as `out` starts
  Result<smt::Node> node = nodes.Load(ref);
  if (!node.ok()) return node.status();
  if (node->is_leaf) {
    out[SubtreeIndex(node->leaf.path, split_depth)] = {SubtreeKind::kOneLeaf, ref.hash, node->leaf};
    return Status::Ok();
  }
  if (depth == split_depth) {
    out[index] = {SubtreeKind::kInner, ref.hash, {}};
    return Status::Ok();
  }
  if (Status status = SummarizeFrom(nodes, node->left, depth + 1, index * 2, split_depth, out);
      !status.ok()) {
    return status;
  }
  return SummarizeFrom(nodes, node->right, depth + 1, index * 2 + 1, split_depth, out);
}

// The first path of subtree `index` at `split_depth` (index < 2^split_depth).
Hash256 FirstPathOf(size_t index, size_t split_depth) {
  Hash256 path;
  for (size_t bit = 0; bit < split_depth; ++bit) {
    if ((index >> (split_depth - 1 - bit)) & 1) {
      path.bytes[bit / 8] = static_cast<uint8_t>(path.bytes[bit / 8] | (0x80 >> (bit % 8)));
    }
  }
  return path;
}

Status CheckSplit(size_t split_depth) {
  if (split_depth > kMaxSplitDepth) {
    return {ErrorCode::kInvalidArgument,
            "a snapshot splits the state at depth " + std::to_string(kMaxSplitDepth) + " at most"};
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<SubtreeSummary>> LedgerStore::StateSubtrees(uint64_t version,
                                                               size_t split_depth) const {
  if (Status status = CheckSplit(split_depth); !status.ok()) return status;
  Impl::View view(*impl_);
  if (Status pruned = view.PrunedOr(version, Status::Ok()); !pruned.ok()) return pruned;
  Result<smt::NodeRef> root = impl_->RootAt(view, version);
  if (!root.ok()) return root.status();
  std::vector<SubtreeSummary> out(size_t{1} << split_depth);
  if (Status status = SummarizeFrom(impl_->Nodes(view), *root, 0, 0, split_depth, out);
      !status.ok()) {
    return status;
  }
  return out;
}

Result<std::vector<StateEntry>> LedgerStore::StateChunk(uint64_t version, size_t split_depth,
                                                        size_t first, size_t count) const {
  if (Status status = CheckSplit(split_depth); !status.ok()) return status;
  const size_t subtrees = size_t{1} << split_depth;
  if (count == 0 || first >= subtrees || count > subtrees - first) {
    return Status{ErrorCode::kInvalidArgument, "the chunk's subtrees lie outside the split"};
  }
  Impl::View view(*impl_);
  if (version > view.tip.height) {
    return Status{ErrorCode::kNotFound,
                  "version " + std::to_string(version) + " is not committed yet"};
  }
  if (Status pruned = view.PrunedOr(version, Status::Ok()); !pruned.ok()) return pruned;
  // Keys are ordered by path, then newest first: for each path, the first write at or below
  // `version` is its value there (or its deletion).
  const Key prefix(kKeyWritePrefix);
  const std::optional<Hash256> end = first + count < subtrees
                                         ? std::optional(FirstPathOf(first + count, split_depth))
                                         : std::nullopt;
  std::vector<StateEntry> entries;
  std::unique_ptr<leveldb::Iterator> it = view.Iterate(/*fill_cache=*/false);
  it->Seek(Key(kKeyWritePrefix).Fixed(FirstPathOf(first, split_depth)));
  while (it->Valid() && it->key().starts_with(prefix)) {
    if (it->key().size() != 1 + 32 + 12) return Damaged("a state write key has the wrong size");
    const Hash256 path = ReadFixed<Hash256>(it->key().data() + 1);
    if (end && !(path < *end)) break;
    it->Seek(KeyWriteKey(path, version, 0xFFFFFFFF));
    if (it->Valid() && it->key().starts_with(Key(kKeyWritePrefix).Fixed(path))) {
      Result<KeyWriteRecord> record =
          DecodeStored<KeyWriteRecord>(it->value().ToString(), "a state write record");
      if (!record.ok()) return record.status();
      if (record->value) entries.push_back({std::move(record->key), std::move(*record->value)});
    }
    it->Seek(KeyWriteKey(path, 0, 0));  // the path's last possible key
    if (it->Valid() && it->key() == leveldb::Slice(KeyWriteKey(path, 0, 0))) it->Next();
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "reading state writes");
  return entries;
}

Status LedgerStore::ForEachTransactionIdBetween(
    uint64_t from, uint64_t to, const std::function<Status(const SnapshotTxId&)>& each,
    const std::atomic<bool>* cancel) const {
  Impl::View view(*impl_);
  const Key prefix(kTxIdPrefix);
  std::unique_ptr<leveldb::Iterator> it = view.Iterate(/*fill_cache=*/false);
  uint64_t seen = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (++seen % 65'536 == 0 && cancel != nullptr && cancel->load()) {
      return Status(ErrorCode::kIoError, "cancelled");
    }
    if (it->key().size() != 1 + 32 || it->value().size() != 12) {
      return Damaged("a transaction id record has the wrong size");
    }
    const TxLocation location{ReadU64(it->value().data()), ReadU32(it->value().data() + 8)};
    if (location.height < from || location.height > to) continue;
    if (Status status = each({ReadFixed<Hash256>(it->key().data() + 1), location}); !status.ok()) {
      return status;
    }
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "reading transaction ids");
  return Status::Ok();
}

std::shared_ptr<void> LedgerStore::HoldPruningFrom(uint64_t height) const {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mutex_);
    impl.holds_.insert(height);
  }
  return std::shared_ptr<void>(nullptr, [&impl, height](void*) {
    std::lock_guard lock(impl.mutex_);
    impl.holds_.erase(impl.holds_.find(height));
  });
}

Result<Page<AccountTx>> LedgerStore::AccountHistory(const PublicKey& account,
                                                    const PageRequest& page) const {
  return impl_->ScanPage<AccountTx>(
      Key(kAccountPrefix).Fixed(account), 12, page, page.newest_first,
      [](const char* position, const leveldb::Slice& value) -> Result<AccountTx> {
        if (value.size() != 33) return Damaged("an account index record has the wrong size");
        return AccountTx{{ReadU64(position), ReadU32(position + 8)},
                         ReadFixed<Hash256>(value.data() + 1),
                         static_cast<uint8_t>(value[0])};
      });
}

Result<Page<KeyWrite>> LedgerStore::KeyHistory(ByteSpan key, const PageRequest& page) const {
  if (key.size() > kMaxStateKeyBytes) {
    return Status{ErrorCode::kTooLarge, "state key is longer than the limit"};
  }
  // Keys hold inverted positions, so key order is newest first.
  return impl_->ScanPage<KeyWrite>(
      Key(kKeyWritePrefix).Fixed(StateKeyPath(key)), 12, page, !page.newest_first,
      [](const char* position, const leveldb::Slice& value) -> Result<KeyWrite> {
        Result<KeyWriteRecord> record =
            DecodeStored<KeyWriteRecord>(value.ToString(), "a state write record");
        if (!record.ok()) return record.status();
        return KeyWrite{{~ReadU64(position), record->tx_index}, std::move(record->value)};
      });
}

Result<Page<IndexItem>> LedgerStore::IndexScan(std::string_view contract, std::string_view index,
                                               ByteSpan key, const PageRequest& page) const {
  return impl_->ScanPage<IndexItem>(
      Key(kIndexPrefix).Fixed(IndexId(contract, index, key)), 12, page, page.newest_first,
      [](const char* position, const leveldb::Slice& value) -> Result<IndexItem> {
        if (value.size() < 4) return Damaged("an index record is too short");
        const ByteSpan bytes = SliceBytes(value).subspan(4);
        return IndexItem{{ReadU64(position), ReadU32(value.data())},
                         Bytes(bytes.begin(), bytes.end())};
      });
}

Status LedgerStore::PutPendingBlock(const Block& block) {
  if (block.header.height <= impl_->tip().height) return Status::Ok();  // already settled
  leveldb::WriteBatch batch;
  batch.Put(Key(kPendingPrefix).U64(block.header.height).Fixed(block.Hash()),
            BytesSlice(Encode(block)));
  return impl_->WriteBatch(batch, "saving a pending block");
}

Status LedgerStore::DeletePendingBlock(const Block& block) {
  leveldb::WriteBatch batch;
  batch.Delete(Key(kPendingPrefix).U64(block.header.height).Fixed(block.Hash()));
  return impl_->WriteBatch(batch, "deleting a pending block");
}

Result<std::vector<Block>> LedgerStore::PendingBlocks() const {
  Impl::View view(*impl_);
  std::vector<Block> blocks;
  std::unique_ptr<leveldb::Iterator> it = view.Iterate();
  const Key prefix(kPendingPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    Result<Block> block = DecodeStored<Block>(it->value().ToString(), "a pending block");
    if (!block.ok()) return block.status();
    blocks.push_back(std::move(block).value());
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "reading pending blocks");
  return blocks;
}

// ---- snapshot import ----

namespace {

std::string EncodeImportProgress(const Hash256& manifest, size_t next_chunk, size_t next_ids,
                                 uint64_t root_version, const Hash256& root_hash) {
  return Key()
      .Fixed(manifest)
      .U32(static_cast<uint32_t>(next_chunk))
      .U32(static_cast<uint32_t>(next_ids))
      .U64(root_version)
      .Fixed(root_hash)
      .str();
}

}  // namespace

SnapshotImport::SnapshotImport(std::unique_ptr<LedgerStore::Impl> impl, std::filesystem::path dir,
                               SnapshotManifest manifest, StoreOptions options)
    : impl_(std::move(impl)),
      dir_(std::move(dir)),
      manifest_(std::make_unique<const SnapshotManifest>(std::move(manifest))),
      options_(options) {}

SnapshotImport::~SnapshotImport() = default;

Result<std::unique_ptr<SnapshotImport>> SnapshotImport::Begin(const std::filesystem::path& dir,
                                                              const SnapshotManifest& manifest,
                                                              const SnapshotBase& base,
                                                              const StoreOptions& options) {
  if (base.results.size() != base.block.transactions.size() ||
      base.block.Hash() != manifest.block_hash) {
    return Status(ErrorCode::kInvalidArgument, "the snapshot's base is not its manifest's block");
  }
  std::error_code error;
  const bool created =
      !std::filesystem::exists(dir, error) || std::filesystem::is_empty(dir, error);
  Result<std::unique_ptr<LedgerStore::Impl>> impl = OpenDatabase(dir, options, created);
  if (!impl.ok()) return impl.status();
  LedgerStore::Impl& store = **impl;
  const Hash256 manifest_hash = manifest.Hash();
  std::unique_ptr<SnapshotImport> import(
      new SnapshotImport(std::move(impl).value(), dir, manifest, options));
  bool fresh = created;
  if (!created) {
    // A database with neither a store's format record nor an import's progress is one whose
    // first batch never landed (killed right after it was made): begun again.
    LedgerStore::Impl::View view(store);
    Result<std::optional<std::string>> format = view.Get(MetaKey("format"), "metadata");
    Result<std::optional<std::string>> progress = view.Get(MetaKey(kImportMeta), "metadata");
    if (!format.ok()) return format.status();
    if (!progress.ok()) return progress.status();
    fresh = !format->has_value() && !progress->has_value();
  }
  if (!fresh) {
    LedgerStore::Impl::View view(store);
    Result<std::optional<std::string>> progress = view.Get(MetaKey(kImportMeta), "metadata");
    if (!progress.ok()) return progress.status();
    if (!progress->has_value() || (*progress)->size() != 32 + 4 + 4 + 8 + 32 ||
        ReadFixed<Hash256>((*progress)->data()) != manifest_hash) {
      return Status(ErrorCode::kAlreadyExists,
                    dir.string() + " holds a ledger store, or the import of another snapshot");
    }
    const char* at = (*progress)->data() + 32;
    import->next_chunk_ = ReadU32(at);
    import->next_id_part_ = ReadU32(at + 4);
    import->root_version_ = ReadU64(at + 8);
    import->root_hash_ = ReadFixed<Hash256>(at + 16);
    if (import->next_chunk_ > manifest.chunks.size() ||
        import->next_id_part_ > manifest.id_parts.size()) {
      return Damaged("the snapshot import's progress is past its manifest");
    }
    return import;
  }
  LedgerStore::Impl::View view(store);
  leveldb::WriteBatch batch;
  store.AddIdentity(manifest.chain_id, manifest.genesis_hash, batch);
  // The epochs' last headers, which carry the validator sets (their blocks are not held).
  for (const EpochEnd& end : base.epoch_ends) {
    if (end.header.height >= manifest.height) continue;
    batch.Put(BlockKey(end.header.height), BytesSlice(Encode(BlockMeta{end.header, {}, 0})));
    batch.Put(Key(kBlockHashPrefix).Fixed(end.header.Hash()), Key().U64(end.header.height).str());
    batch.Put(CertKey(end.header.height), BytesSlice(Encode(end.certificate)));
  }
  if (Status status = store.AddBlockRecords(view, base.block, manifest.block_hash, base.certificate,
                                            base.results, batch);
      !status.ok()) {
    return status;
  }
  batch.Put(MetaKey(kImportMeta), EncodeImportProgress(manifest_hash, 0, 0, 0, Hash256{}));
  if (Status status = store.WriteBatch(batch, "beginning the snapshot import"); !status.ok()) {
    return status;
  }
  return import;
}

Status SnapshotImport::AddChunk(const SnapshotChunk& chunk) {
  const SnapshotManifest& manifest = *manifest_;
  if (next_chunk_ >= manifest.chunks.size()) {
    return Status(ErrorCode::kInvalidArgument, "every state chunk is in already");
  }
  if (Status status = CheckSnapshotChunk(manifest, next_chunk_, chunk); !status.ok()) {
    return status;
  }
  const uint64_t version = manifest.height;
  LedgerStore::Impl::View view(*impl_);
  leveldb::WriteBatch batch;
  std::vector<smt::Update> updates;
  updates.reserve(chunk.entries.size());
  for (const StateEntry& entry : chunk.entries) {
    const Hash256 path = StateKeyPath(entry.key);
    batch.Put(KeyWriteKey(path, version, 0),
              BytesSlice(Encode(KeyWriteRecord{kNoTransaction, entry.key, entry.value})));
    updates.push_back({path, StateValueHash(entry.value)});
  }
  Result<smt::Delta> delta =
      smt::ApplyUpdates(impl_->Nodes(view), {root_version_, root_hash_}, version, updates);
  if (!delta.ok()) return delta.status();
  std::set<smt::NodeRef, decltype([](const smt::NodeRef& a, const smt::NodeRef& b) {
             return std::tie(a.version, a.hash) < std::tie(b.version, b.hash);
           })>
      created;
  for (const auto& [ref, node] : delta->created) {
    batch.Put(NodeKey(ref), BytesSlice(smt::EncodeNode(node)));
    created.insert(ref);
  }
  // The nodes the previous chunks made that this one replaced: no version will reach them.
  for (const smt::NodeRef& ref : delta->retired) {
    if (!created.contains(ref)) batch.Delete(NodeKey(ref));
  }
  batch.Put(MetaKey(kImportMeta),
            EncodeImportProgress(manifest.Hash(), next_chunk_ + 1, next_id_part_,
                                 delta->root.version, delta->root.hash));
  if (Status status =
          impl_->WriteBatch(batch, "importing state chunk " + std::to_string(next_chunk_));
      !status.ok()) {
    return status;
  }
  ++next_chunk_;
  root_version_ = delta->root.version;
  root_hash_ = delta->root.hash;
  return Status::Ok();
}

Status SnapshotImport::AddIds(const SnapshotIds& ids) {
  const SnapshotManifest& manifest = *manifest_;
  if (next_id_part_ >= manifest.id_parts.size()) {
    return Status(ErrorCode::kInvalidArgument, "every id part is in already");
  }
  if (Status status = CheckSnapshotIds(manifest, ids); !status.ok()) return status;
  LedgerStore::Impl::View view(*impl_);
  leveldb::WriteBatch batch;
  for (const SnapshotTxId& id : ids.ids) {
    Result<std::optional<std::string>> seen =
        view.Get(Key(kTxIdPrefix).Fixed(id.id), "transactions");
    if (!seen.ok()) return seen.status();
    if (seen->has_value()) {
      return Status(
          ErrorCode::kInvalidArgument,
          "snapshot ids: transaction " + ToHex(id.id.bytes).substr(0, 16) + " is listed twice");
    }
    batch.Put(Key(kTxIdPrefix).Fixed(id.id),
              Key().U64(id.location.height).U32(id.location.index).str());
  }
  batch.Put(MetaKey(kImportMeta),
            EncodeImportProgress(manifest.Hash(), next_chunk_, next_id_part_ + 1, root_version_,
                                 root_hash_));
  if (Status status = impl_->WriteBatch(batch, "importing transaction ids"); !status.ok()) {
    return status;
  }
  ++next_id_part_;
  return Status::Ok();
}

Result<std::unique_ptr<LedgerStore>> SnapshotImport::Finish() {
  const SnapshotManifest& manifest = *manifest_;
  if (next_chunk_ != manifest.chunks.size() || next_id_part_ != manifest.id_parts.size()) {
    return Status(ErrorCode::kInvalidArgument, "the snapshot import is missing parts");
  }
  if (root_hash_ != manifest.state_root) {
    return Status(ErrorCode::kUnauthenticated,
                  "the imported state's root is not the snapshot's state root");
  }
  const uint64_t height = manifest.height;
  leveldb::WriteBatch batch;
  batch.Put(RootKey(height), BytesSlice(EncodeRef({root_version_, root_hash_})));
  batch.Put(MetaKey("tip"), Key().U64(height).Fixed(manifest.block_hash).str());
  batch.Put(MetaKey("oldest"), Key().U64(height).str());
  batch.Put(MetaKey("lowest"), Key().U64(height).str());
  batch.Delete(MetaKey(kImportMeta));
  if (Status status = impl_->WriteBatch(batch, "finishing the snapshot import"); !status.ok()) {
    return status;
  }
  if (Status status = impl_->LoadMetadata(); !status.ok()) return status;
  return std::unique_ptr<LedgerStore>(new LedgerStore(std::move(impl_)));
}

}  // namespace city::ledger
