// What execution hands to the store for each committed block, and what history reads return.
// Encodings follow codec.h; results are hashed into a block's result_root.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "city/ledger/smt.h"
#include "city/ledger/types.h"

namespace city::ledger {

inline constexpr size_t kMaxEventsPerTransaction = 64;
inline constexpr size_t kMaxEventBytes = 4096;
inline constexpr size_t kMaxResultDetailBytes = 256;
inline constexpr size_t kMaxRelatedAccounts = 16;
inline constexpr size_t kMaxIndexValueBytes = 4096;
inline constexpr std::string_view kResultTag = "city.result.v1";
// tx_index of writes and index entries that no transaction made (genesis).
inline constexpr uint32_t kNoTransaction = 0xFFFFFFFF;

struct Event {
  std::string contract;
  std::string name;
  Bytes data;

  void EncodeTo(Encoder& encoder) const;
  static Event DecodeFrom(Decoder& decoder);
  friend bool operator==(const Event&, const Event&) = default;
};

// The outcome of one transaction. code 0 is success; other codes are the contract's.
struct TxResult {
  static constexpr size_t kMaxEncodedSize = 512 * 1024;

  uint32_t code = 0;
  std::string detail;                       // a short deterministic reason on failure
  std::vector<Event> events;                // only a successful call emits events
  std::vector<PublicKey> related_accounts;  // besides the sender (e.g. a recipient)

  bool ok() const { return code == 0; }
  void EncodeTo(Encoder& encoder) const;
  static TxResult DecodeFrom(Decoder& decoder);
  friend bool operator==(const TxResult&, const TxResult&) = default;
};

// MerkleRoot over the tagged hashes of the results' encodings, in block order.
Hash256 ComputeResultRoot(std::span<const TxResult> results);

// One write to contract state; value nullopt deletes the key.
struct StateWrite {
  Bytes key;
  std::optional<Bytes> value;
  uint32_t tx_index = kNoTransaction;
};

// An entry in a contract-defined index (e.g. emr "accesses" by patient): appended, never
// rewritten; read back in order of (height, position among the block's index entries).
struct IndexEntry {
  std::string contract;
  std::string index;
  Bytes key;
  Bytes value;
  uint32_t tx_index = kNoTransaction;
};

// A block as execution left it, ready to commit in one atomic write.
struct CommitRequest {
  Block block;
  QuorumCert certificate;          // certifies `block`
  std::vector<TxResult> results;   // one per transaction, in order
  std::vector<StateWrite> writes;  // in execution order; the last write to a key wins
  std::vector<IndexEntry> index_entries;
};

struct CommitInfo {
  uint64_t height = 0;
  Hash256 block_hash;
  Hash256 state_root;  // after this block
  Hash256 result_root;
};

struct TxLocation {
  uint64_t height = 0;
  uint32_t index = 0;
  friend bool operator==(const TxLocation&, const TxLocation&) = default;
};

struct TxRecord {
  Transaction transaction;
  TxLocation location;
  TxResult result;
};

// Pagination: `cursor` is opaque (from the previous page's next_cursor; empty = start);
// `limit` is 1..kMaxPageSize.
inline constexpr uint32_t kMaxPageSize = 1000;
struct PageRequest {
  Bytes cursor;
  uint32_t limit = 100;
  bool newest_first = false;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<Bytes> next_cursor;  // absent on the last page
};

inline constexpr uint8_t kAccountSent = 1;
inline constexpr uint8_t kAccountReceived = 2;
struct AccountTx {
  TxLocation location;
  Hash256 tx_id;
  uint8_t role = 0;  // kAccountSent | kAccountReceived
};

struct KeyWrite {
  TxLocation location;         // index kNoTransaction: written at genesis
  std::optional<Bytes> value;  // nullopt: deleted
};

struct IndexItem {
  TxLocation location;
  Bytes value;
};

}  // namespace city::ledger
