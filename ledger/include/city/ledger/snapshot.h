// A state snapshot (docs/storage.md, "Snapshots"): what a node needs to start at a committed
// height without replaying the blocks before it, in parts that are each checked on their own
// against certificates from the genesis. Pure: the parts' files and transfer are the
// caller's (node/snapshots.h), the store's import is LedgerStore's (SnapshotImport).
//
// A snapshot at height h is:
// - the manifest: the chain, h and block h's hash, the state root of h, the summaries of the
//   state tree's subtrees at a split depth (state_chunks.h), and the size and hash of every
//   state chunk and id part. Every honest validator makes the same manifest for h, so peers
//   compare them by hash;
// - the base: block h whole with its certificate and results; the headers h+1 .. a, where
//   header a (the anchor) is the first to name h as its exec_height, so its state and result
//   roots are those of h, with a's certificate; and the last header of every epoch up to a,
//   with its certificate, which carry the validator sets from the genesis. The base is checked
//   by those certificates alone (the manifest does not name it: validators hold different
//   certificates for the same block);
// - the state chunks: the entries of runs of consecutive subtrees;
// - the id parts: the ids of the transactions committed in the kMaxExpiryHorizon heights
//   below h. The rule that a transaction is committed once needs them, and nothing older
//   (limits.h). They are the one part no certificate covers: the manifest, signed, vouches
//   for them (and state sync takes a manifest only when f+1 validators offer it).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "city/ledger/chain_rules.h"
#include "city/ledger/records.h"
#include "city/ledger/state_chunks.h"
#include "city/ledger/types.h"

namespace city::ledger {

inline constexpr uint32_t kSnapshotFormat = 1;
// The split depth snapshots use: 1,024 subtrees, a manifest of about 100 KB; a state of a
// million keys makes chunks of about a thousand.
inline constexpr size_t kSnapshotSplitDepth = 10;
// A state chunk holds whole subtrees, as many as fit these (one larger subtree is a chunk
// alone, up to the limits below).
inline constexpr size_t kSnapshotChunkTargetEntries = 4096;
inline constexpr size_t kSnapshotChunkTargetBytes = 4 << 20;
// The most a part may be: a reader refuses anything larger before it reads it.
inline constexpr size_t kMaxSnapshotChunkBytes = 64 << 20;
inline constexpr size_t kMaxSnapshotBaseBytes = 96 << 20;
inline constexpr size_t kMaxSnapshotManifestBytes = 16 << 20;
inline constexpr size_t kSnapshotIdsPerPart = 65'536;
// Headers between a block and the first to name it executed: execution lags commits by at
// most 72 heights (a proposer's bound), so 256 is ample.
inline constexpr size_t kMaxSnapshotAnchorHeaders = 256;

// A part other than the manifest: its size and TaggedHash("city.snapshot.part.v1", bytes).
struct SnapshotPart {
  uint64_t bytes = 0;
  Hash256 hash;
  friend bool operator==(const SnapshotPart&, const SnapshotPart&) = default;
};
Hash256 SnapshotPartHash(ByteSpan bytes);

// One state chunk as the manifest lists it: subtrees [first, first + count).
struct SnapshotChunkInfo {
  uint32_t first = 0;
  uint32_t count = 0;
  uint64_t entries = 0;
  SnapshotPart part;
  friend bool operator==(const SnapshotChunkInfo&, const SnapshotChunkInfo&) = default;
};

struct SnapshotManifest {
  static constexpr size_t kMaxEncodedSize = kMaxSnapshotManifestBytes;

  uint32_t format = kSnapshotFormat;
  std::string chain_id;
  Hash256 genesis_hash;
  uint64_t height = 0;
  Hash256 block_hash;
  uint64_t anchor_height = 0;
  Hash256 state_root;
  uint32_t split_depth = kSnapshotSplitDepth;
  std::vector<SubtreeSummary> subtrees;   // 2^split_depth, in path order
  std::vector<SnapshotChunkInfo> chunks;  // cover the subtrees in order
  // The hashes of the epochs' last headers up to the anchor, in height order: the base must
  // hold exactly these (a certified header that was never committed is not one of them).
  std::vector<Hash256> epoch_ends;
  std::vector<SnapshotPart> id_parts;
  uint64_t state_entries = 0;
  uint64_t state_bytes = 0;  // keys' and values' bytes
  uint64_t recent_ids = 0;

  // TaggedHash("city.snapshot.manifest.v1", the encoding): what peers offer and compare.
  Hash256 Hash() const;
  void EncodeTo(Encoder& encoder) const;
  static SnapshotManifest DecodeFrom(Decoder& decoder);
  friend bool operator==(const SnapshotManifest&, const SnapshotManifest&) = default;
};

// The manifest with the signature of the validator that made it.
struct SignedSnapshotManifest {
  static constexpr size_t kMaxEncodedSize = kMaxSnapshotManifestBytes + 256;
  SnapshotManifest manifest;
  PublicKey signer;
  Signature signature;  // over manifest.Hash()

  void Sign(const KeyPair& key);
  bool SignatureValid() const;
  void EncodeTo(Encoder& encoder) const;
  static SignedSnapshotManifest DecodeFrom(Decoder& decoder);
};

struct EpochEnd {
  BlockHeader header;
  QuorumCert certificate;
  friend bool operator==(const EpochEnd&, const EpochEnd&) = default;
};

struct SnapshotBase {
  static constexpr size_t kMaxEncodedSize = kMaxSnapshotBaseBytes;
  Block block;
  QuorumCert certificate;
  std::vector<TxResult> results;
  std::vector<BlockHeader> anchor_headers;  // heights h+1 .. anchor_height
  QuorumCert anchor_certificate;
  std::vector<EpochEnd> epoch_ends;  // in height order, every one at or below anchor_height

  void EncodeTo(Encoder& encoder) const;
  static SnapshotBase DecodeFrom(Decoder& decoder);
  friend bool operator==(const SnapshotBase&, const SnapshotBase&) = default;
};

struct SnapshotTxId {
  Hash256 id;
  TxLocation location;
  friend bool operator==(const SnapshotTxId&, const SnapshotTxId&) = default;
};

struct SnapshotIds {
  static constexpr size_t kMaxEncodedSize = 16 + kSnapshotIdsPerPart * 44;
  std::vector<SnapshotTxId> ids;  // sorted by id
  void EncodeTo(Encoder& encoder) const;
  static SnapshotIds DecodeFrom(Decoder& decoder);
};

struct SnapshotChunk {
  static constexpr size_t kMaxEncodedSize = kMaxSnapshotChunkBytes;
  std::vector<StateEntry> entries;  // in path order
  void EncodeTo(Encoder& encoder) const;
  static SnapshotChunk DecodeFrom(Decoder& decoder);
};

// Whether a chunk of `entries` and `bytes` (key and value bytes) so far takes in the next
// subtree too, of `more_entries` and `more_bytes`: the rule that lays a state out in chunks,
// alike on every validator. An empty chunk takes any subtree.
bool SnapshotChunkTakes(uint64_t entries, uint64_t bytes, uint64_t more_entries,
                        uint64_t more_bytes);

// The manifest alone: its format, chain and genesis, its subtrees make its state root, and
// its chunks cover every subtree once, in order, the empty ones included. kInvalidArgument
// (another chain), kMalformed or kUnauthenticated with the reason.
Status CheckSnapshotManifest(const SnapshotManifest& manifest, std::string_view chain_id,
                             const Hash256& genesis_hash);

// The base against the manifest and the genesis: the epochs' last headers follow from the
// genesis set, each certified by its epoch; the anchor's certificate verifies in its epoch;
// the headers link block h to the anchor; the anchor names h executed with the manifest's
// state root and the results' root; block h is well formed and certified. The manifest is
// checked already. kBadSignature, kInvalidArgument or kUnauthenticated with the reason.
Status CheckSnapshotBase(const SnapshotManifest& manifest, const SnapshotBase& base,
                         const Epoch& genesis_epoch, SignatureVerifier* verifier = nullptr);

// The validators of block h's epoch: the genesis set, then each epoch end below h in turn
// (the base checked by CheckSnapshotBase).
ValidatorSet SnapshotValidators(const SnapshotManifest& manifest, const SnapshotBase& base,
                                const Epoch& genesis_epoch);

// A chunk against its entry in the manifest: the entry count, each entry's limits and the
// subtrees' summaries (CheckStateChunk).
Status CheckSnapshotChunk(const SnapshotManifest& manifest, size_t index,
                          const SnapshotChunk& chunk);

// An id part: sorted, unique, every id of a height in the horizon below h (kMalformed).
Status CheckSnapshotIds(const SnapshotManifest& manifest, const SnapshotIds& ids);

// The lowest height whose ids a snapshot at `height` carries.
// A transaction committed at c expires by c + kMaxExpiryHorizon, so only those committed
// above h - kMaxExpiryHorizon could be proposed again after h.
inline uint64_t SnapshotIdsFrom(uint64_t height) {
  return height > kMaxExpiryHorizon ? height - kMaxExpiryHorizon + 1 : 1;
}

}  // namespace city::ledger
