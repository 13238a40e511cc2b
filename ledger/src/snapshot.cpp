// Snapshot parts and their checks (snapshot.h).
#include "city/ledger/snapshot.h"

#include <algorithm>

#include "codec_internal.h"

namespace city::ledger {
namespace {

constexpr std::string_view kPartTag = "city.snapshot.part.v1";
constexpr std::string_view kManifestTag = "city.snapshot.manifest.v1";

// The largest lists a snapshot's parts may hold.
constexpr size_t kMaxSnapshotChunks = size_t{1} << kMaxSplitDepth;
constexpr size_t kMaxSnapshotIdParts = 1 << 16;
constexpr size_t kMaxSnapshotEpochEnds = 1 << 16;
// A subtree of a million keys at the split depth is a state of a billion.
constexpr size_t kMaxSnapshotChunkEntries = 1 << 20;
// The fewest bytes each element encodes to, so a count is checked against the bytes left:
// a header (chain id length, eight integers, six hashes and keys, an empty justify and
// optional and list) and a certificate (its vote data and an empty signature list), a result
// (code and three empty lists or strings), a state entry (a one-byte key, an empty value).
constexpr size_t kMinCertificateBytes = 8 * 4 + 32 + 4;
constexpr size_t kMinHeaderBytes = 4 + 8 * 6 + 32 * 6 + kMinCertificateBytes + 1 + 4;
constexpr size_t kMinResultBytes = 4 + 4 + 4 + 4;

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SubtreeSummary, Visitor>& s) {
  uint8_t kind = static_cast<uint8_t>(s.kind);
  v.U8(kind);
  if constexpr (!Visitor::kEncoding) {
    if (kind > static_cast<uint8_t>(SubtreeKind::kInner)) {
      Decoder::Fail(ErrorCode::kMalformed, "subtree kind", "must be 0, 1 or 2");
    }
    s.kind = static_cast<SubtreeKind>(kind);
  }
  v.Fixed(s.hash);
  v.Fixed(s.leaf.path);
  v.Fixed(s.leaf.value_hash);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotPart, Visitor>& p) {
  v.U64(p.bytes);
  v.Fixed(p.hash);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotChunkInfo, Visitor>& c) {
  v.U32(c.first);
  v.U32(c.count);
  v.U64(c.entries);
  Fields(v, c.part);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<StateEntry, Visitor>& e) {
  v.Blob(e.key, kMaxStateKeyBytes, "state key");
  v.Blob(e.value, kMaxStateValueBytes, "state value");
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotTxId, Visitor>& id) {
  v.Fixed(id.id);
  v.U64(id.location.height);
  v.U32(id.location.index);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<EpochEnd, Visitor>& end) {
  v.Object(end.header);
  v.Object(end.certificate);
}

// A list element that has Fields() but no EncodeTo/DecodeFrom of its own, for Object().
template <typename T>
struct Item {
  T s;
  void EncodeTo(Encoder& e) const { Fields(e, s); }
  static Item DecodeFrom(Decoder& d) {
    Item item;
    Fields(d, item.s);
    return item;
  }
};

// A list of such elements. Decoding checks the count against `max_count` and the bytes left
// (at least `min_size` each) before reserving, then moves each element out of its wrapper.
template <typename T, typename Visitor>
void ListOf(Visitor& v, FieldsOf<std::vector<T>, Visitor>& items, size_t max_count, size_t min_size,
            const char* field) {
  if constexpr (Visitor::kEncoding) {
    v.U32(static_cast<uint32_t>(items.size()));
    for (const T& item : items) Fields(v, item);
  } else {
    std::vector<Item<T>> wrapped;
    v.List(wrapped, max_count, min_size, field);
    items.clear();
    items.reserve(wrapped.size());
    for (Item<T>& item : wrapped) items.push_back(std::move(item.s));
  }
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotManifest, Visitor>& m) {
  v.U32(m.format);
  v.Text(m.chain_id, kMaxChainIdLength, "chain id");
  v.Fixed(m.genesis_hash);
  v.U64(m.height);
  v.Fixed(m.block_hash);
  v.U64(m.anchor_height);
  v.Fixed(m.state_root);
  v.U32(m.split_depth);
  ListOf<SubtreeSummary, Visitor>(v, m.subtrees, size_t{1} << kMaxSplitDepth, 97, "subtrees");
  ListOf<SnapshotChunkInfo, Visitor>(v, m.chunks, kMaxSnapshotChunks, 56, "chunks");
  v.FixedList(m.epoch_ends, kMaxSnapshotEpochEnds, "epoch ends");
  ListOf<SnapshotPart, Visitor>(v, m.id_parts, kMaxSnapshotIdParts, 40, "id parts");
  v.U64(m.state_entries);
  v.U64(m.state_bytes);
  v.U64(m.recent_ids);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SignedSnapshotManifest, Visitor>& s) {
  v.Object(s.manifest);
  v.Fixed(s.signer);
  v.Fixed(s.signature);
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotBase, Visitor>& b) {
  v.Object(b.block);
  v.Object(b.certificate);
  v.List(b.results, kMaxTransactionsPerBlock, kMinResultBytes, "results");
  v.List(b.anchor_headers, kMaxSnapshotAnchorHeaders, kMinHeaderBytes, "anchor headers");
  v.Object(b.anchor_certificate);
  ListOf<EpochEnd, Visitor>(v, b.epoch_ends, kMaxSnapshotEpochEnds,
                            kMinHeaderBytes + kMinCertificateBytes, "epoch ends");
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotIds, Visitor>& p) {
  ListOf<SnapshotTxId, Visitor>(v, p.ids, kSnapshotIdsPerPart, 44, "transaction ids");
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<SnapshotChunk, Visitor>& c) {
  ListOf<StateEntry, Visitor>(v, c.entries, kMaxSnapshotChunkEntries, 9, "state entries");
}

Status Malformed(const std::string& what) {
  return Status(ErrorCode::kMalformed, "snapshot manifest: " + what);
}

Status BaseFails(ErrorCode code, const std::string& what) {
  return Status(code, "snapshot base: " + what);
}

// The certificate certifies exactly this header, and its signatures verify in `epoch`.
Status CheckCertifies(const QuorumCert& cert, const BlockHeader& header, const Hash256& hash,
                      const Epoch& epoch, SignatureVerifier* verifier, const char* what) {
  const VoteData expected{header.epoch, header.term, header.round, header.height, hash};
  if (cert.data != expected || header.epoch != epoch.number) {
    return BaseFails(ErrorCode::kUnauthenticated, std::string("the certificate of ") + what +
                                                      " (height " + std::to_string(header.height) +
                                                      ") is not for it, or not of its epoch");
  }
  if (Status s = cert.Verify(epoch.Context(header.chain_id, verifier)); !s.ok()) {
    return BaseFails(s.code(), std::string(what) + " (height " + std::to_string(header.height) +
                                   "): " + s.message());
  }
  return Status::Ok();
}

}  // namespace

CITY_LEDGER_CODEC(SnapshotManifest)
CITY_LEDGER_CODEC(SignedSnapshotManifest)
CITY_LEDGER_CODEC(SnapshotBase)
CITY_LEDGER_CODEC(SnapshotIds)
CITY_LEDGER_CODEC(SnapshotChunk)

Hash256 SnapshotPartHash(ByteSpan bytes) { return TaggedHash(kPartTag, bytes); }

Hash256 SnapshotManifest::Hash() const { return TaggedHash(kManifestTag, Encode(*this)); }

void SignedSnapshotManifest::Sign(const KeyPair& key) {
  signer = key.public_key();
  signature = key.Sign(manifest.Hash().span());
}

bool SignedSnapshotManifest::SignatureValid() const {
  return Verify(signer, manifest.Hash().span(), signature);
}

bool SnapshotChunkTakes(uint64_t entries, uint64_t bytes, uint64_t more_entries,
                        uint64_t more_bytes) {
  if (entries == 0) return true;
  return entries + more_entries <= kSnapshotChunkTargetEntries &&
         bytes + more_bytes <= kSnapshotChunkTargetBytes;
}

Status CheckSnapshotManifest(const SnapshotManifest& manifest, std::string_view chain_id,
                             const Hash256& genesis_hash) {
  if (manifest.format != kSnapshotFormat) {
    return Malformed("format " + std::to_string(manifest.format) + " is not one this build reads");
  }
  if (manifest.chain_id != chain_id || manifest.genesis_hash != genesis_hash) {
    return Status(ErrorCode::kInvalidArgument, "a snapshot of another chain");
  }
  if (manifest.height == 0 || manifest.anchor_height <= manifest.height ||
      manifest.anchor_height - manifest.height > kMaxSnapshotAnchorHeaders) {
    return Malformed("height " + std::to_string(manifest.height) + " with anchor " +
                     std::to_string(manifest.anchor_height));
  }
  if (manifest.split_depth > kMaxSplitDepth ||
      manifest.subtrees.size() != (size_t{1} << manifest.split_depth)) {
    return Malformed("it must list 2^split_depth subtrees");
  }
  Result<Hash256> root = RootOfSubtrees(manifest.subtrees);
  if (!root.ok()) return root.status();
  if (*root != manifest.state_root) {
    return Status(ErrorCode::kUnauthenticated,
                  "snapshot manifest: its subtrees do not make its state root");
  }
  uint64_t next = 0;
  uint64_t entries = 0;
  for (const SnapshotChunkInfo& chunk : manifest.chunks) {
    if (chunk.first != next || chunk.count == 0 || chunk.part.bytes > kMaxSnapshotChunkBytes) {
      return Malformed("its chunks must cover the subtrees in order, each within the size limit");
    }
    next += chunk.count;
    entries += chunk.entries;
  }
  if (next != manifest.subtrees.size() || entries != manifest.state_entries) {
    return Malformed("its chunks do not cover every subtree, or not its entry count");
  }
  uint64_t ids = 0;
  for (const SnapshotPart& part : manifest.id_parts) {
    if (part.bytes < 5 || part.bytes > SnapshotIds::kMaxEncodedSize || (part.bytes - 5) % 44 != 0) {
      return Malformed("an id part's size is not that of a list of ids");
    }
    ids += (part.bytes - 5) / 44;  // the flag byte and the count, then 44 bytes an id
  }
  if (ids != manifest.recent_ids) return Malformed("its id parts do not hold its id count");
  return Status::Ok();
}

Status CheckSnapshotBase(const SnapshotManifest& manifest, const SnapshotBase& base,
                         const Epoch& genesis_epoch, SignatureVerifier* verifier) {
  const uint64_t height = manifest.height;
  const BlockHeader& header = base.block.header;
  const Hash256 block_hash = header.Hash();
  if (header.height != height || block_hash != manifest.block_hash) {
    return BaseFails(ErrorCode::kUnauthenticated, "its block is not the manifest's block");
  }
  if (base.anchor_headers.empty() || base.anchor_headers.back().height != manifest.anchor_height) {
    return BaseFails(ErrorCode::kInvalidArgument, "its headers do not reach the anchor");
  }
  // Heights h .. a, each the parent of the next by hash.
  Hash256 parent = block_hash;
  for (size_t i = 0; i < base.anchor_headers.size(); ++i) {
    const BlockHeader& next = base.anchor_headers[i];
    if (next.height != height + 1 + i || next.parent_hash != parent ||
        next.chain_id != manifest.chain_id) {
      return BaseFails(ErrorCode::kUnauthenticated, "header " + std::to_string(height + 1 + i) +
                                                        " does not extend the one before");
    }
    parent = next.Hash();
  }
  const BlockHeader& anchor = base.anchor_headers.back();
  for (size_t i = 0; i + 1 < base.anchor_headers.size(); ++i) {
    if (base.anchor_headers[i].exec_height >= height) {
      return BaseFails(ErrorCode::kInvalidArgument, "the anchor is not the first header to name " +
                                                        std::to_string(height) + " executed");
    }
  }
  if (anchor.exec_height != height || anchor.state_root != manifest.state_root) {
    return BaseFails(
        ErrorCode::kUnauthenticated,
        "the anchor does not name the manifest's state root for height " + std::to_string(height));
  }
  if (base.results.size() != base.block.transactions.size() ||
      anchor.result_root != ComputeResultRoot(base.results)) {
    return BaseFails(ErrorCode::kUnauthenticated, "its results are not the ones the anchor names");
  }
  if (Status s = base.block.CheckStructure(manifest.chain_id, verifier); !s.ok()) {
    return BaseFails(s.code(), "block " + std::to_string(height) + ": " + s.message());
  }
  // The epochs from the genesis, and the epoch of block h and of the anchor.
  Epoch epoch = genesis_epoch;
  size_t next_end = 0;
  auto epoch_of = [&](uint64_t at) -> Status {
    // Every epoch ending below `at` is followed first.
    while (next_end < base.epoch_ends.size() && base.epoch_ends[next_end].header.height < at) {
      const EpochEnd& end = base.epoch_ends[next_end];
      const Hash256 end_hash = end.header.Hash();
      if (end.header.next_validators.empty() || end.header.chain_id != manifest.chain_id) {
        return BaseFails(ErrorCode::kInvalidArgument,
                         "header " + std::to_string(end.header.height) + " ends no epoch");
      }
      if (std::optional<std::string> problem = ValidatorChangeProblem(end.header.next_validators)) {
        return BaseFails(ErrorCode::kInvalidArgument,
                         "epoch end " + std::to_string(end.header.height) + " names " + *problem);
      }
      if (Status s = CheckCertifies(end.certificate, end.header, end_hash, epoch, verifier,
                                    "an epoch's last block");
          !s.ok()) {
        return s;
      }
      epoch = epoch.Next(end.header, end_hash);
      ++next_end;
    }
    return Status::Ok();
  };
  if (Status s = epoch_of(height); !s.ok()) return s;
  if (Status s = CheckCertifies(base.certificate, header, block_hash, epoch, verifier,
                                "the snapshot's block");
      !s.ok()) {
    return s;
  }
  if (Status s = epoch_of(anchor.height); !s.ok()) return s;
  if (Status s = CheckCertifies(base.anchor_certificate, anchor, anchor.Hash(), epoch, verifier,
                                "the anchor");
      !s.ok()) {
    return s;
  }
  // An epoch end between h and the anchor must be the header the chain holds there.
  for (size_t i = 0; i < base.epoch_ends.size(); ++i) {
    const BlockHeader& end = base.epoch_ends[i].header;
    if (i > 0 && end.height <= base.epoch_ends[i - 1].header.height) {
      return BaseFails(ErrorCode::kInvalidArgument, "its epoch ends are not in height order");
    }
    if (end.height >= height && end.height <= anchor.height) {
      const BlockHeader& held =
          end.height == height ? header : base.anchor_headers[end.height - height - 1];
      if (held != end) {
        return BaseFails(ErrorCode::kUnauthenticated, "epoch end " + std::to_string(end.height) +
                                                          " is not the chain's header there");
      }
    }
    if (end.height > anchor.height) {
      return BaseFails(ErrorCode::kInvalidArgument, "it lists an epoch end past the anchor");
    }
  }
  if (next_end != base.epoch_ends.size()) {
    return BaseFails(ErrorCode::kInvalidArgument, "it lists an epoch end past the anchor");
  }
  if (base.epoch_ends.size() != manifest.epoch_ends.size()) {
    return BaseFails(ErrorCode::kUnauthenticated, "its epoch ends are not the manifest's");
  }
  for (size_t i = 0; i < base.epoch_ends.size(); ++i) {
    if (base.epoch_ends[i].header.Hash() != manifest.epoch_ends[i]) {
      return BaseFails(ErrorCode::kUnauthenticated,
                       "epoch end " + std::to_string(base.epoch_ends[i].header.height) +
                           " is not the one the manifest names");
    }
  }
  // A header naming the next set ends its epoch: none of the headers here may, unlisted.
  for (const BlockHeader& h : base.anchor_headers) {
    if (h.next_validators.empty() || h.height == anchor.height) continue;
    const bool listed = std::any_of(base.epoch_ends.begin(), base.epoch_ends.end(),
                                    [&](const EpochEnd& e) { return e.header.height == h.height; });
    if (!listed) {
      return BaseFails(ErrorCode::kInvalidArgument,
                       "header " + std::to_string(h.height) + " ends an epoch it does not list");
    }
  }
  if (!header.next_validators.empty() &&
      std::none_of(base.epoch_ends.begin(), base.epoch_ends.end(),
                   [&](const EpochEnd& e) { return e.header.height == height; })) {
    return BaseFails(ErrorCode::kInvalidArgument, "its block ends an epoch it does not list");
  }
  return Status::Ok();
}

ValidatorSet SnapshotValidators(const SnapshotManifest& manifest, const SnapshotBase& base,
                                const Epoch& genesis_epoch) {
  Epoch epoch = genesis_epoch;
  for (const EpochEnd& end : base.epoch_ends) {
    if (end.header.height >= manifest.height) break;
    epoch = epoch.Next(end.header, end.header.Hash());
  }
  return epoch.validators;
}

Status CheckSnapshotChunk(const SnapshotManifest& manifest, size_t index,
                          const SnapshotChunk& chunk) {
  if (index >= manifest.chunks.size()) {
    return Status(ErrorCode::kInvalidArgument, "no chunk " + std::to_string(index));
  }
  const SnapshotChunkInfo& info = manifest.chunks[index];
  if (chunk.entries.size() != info.entries) {
    return Status(ErrorCode::kUnauthenticated, "chunk " + std::to_string(index) + " holds " +
                                                   std::to_string(chunk.entries.size()) +
                                                   " entries, the manifest says " +
                                                   std::to_string(info.entries));
  }
  return CheckStateChunk(manifest.subtrees, info.first, info.count, chunk.entries);
}

Status CheckSnapshotIds(const SnapshotManifest& manifest, const SnapshotIds& part) {
  const uint64_t from = SnapshotIdsFrom(manifest.height);
  for (size_t i = 0; i < part.ids.size(); ++i) {
    const SnapshotTxId& id = part.ids[i];
    if (i > 0 && !(part.ids[i - 1].id < id.id)) {
      return Status(ErrorCode::kMalformed, "snapshot ids: not sorted, or one twice");
    }
    if (id.location.height < from || id.location.height >= manifest.height) {
      return Status(ErrorCode::kMalformed, "snapshot ids: an id at height " +
                                               std::to_string(id.location.height) + ", outside " +
                                               std::to_string(from) + ".." +
                                               std::to_string(manifest.height - 1));
    }
  }
  return Status::Ok();
}

}  // namespace city::ledger
