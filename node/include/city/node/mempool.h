// Transactions waiting for a block: deduplicated by id, ordered per sender by nonce,
// bounded in count and bytes, expired by height, and removed when a block commits them.
//
// Admission holds under a flood. Expiry has a horizon and nonces a window, so nothing is
// held for long or far ahead. Each sender and each client (IP) has a quota. A transaction
// behind a nonce gap cannot run: it is evicted after a few blocks, and a full pool evicts
// such transactions to make room for one that can run before it refuses anything.
//
// The mempool holds only transactions that already passed the stateless checks and whose
// signature verified (tx_verifier.h); it never verifies anything itself. Thread-safe: the
// API handlers add, the consensus strand selects and removes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "city/ledger/types.h"
#include "city/node/admission.h"

namespace city::node {

struct MempoolOptions {
  size_t max_transactions = 50'000;
  size_t max_bytes = 64 * 1024 * 1024;  // of encoded transactions
  size_t max_per_sender = 1'000;
  // Pending transactions that one client (IP) submitted; gossip from peers has no client.
  size_t max_per_client = 20'000;
  // A nonce further than this above the sender's committed next nonce is refused: it could
  // not be included for a long time and would only hold memory.
  uint64_t max_nonce_gap = 256;
  // An expiry height further than this above the next height is refused (expiry_too_far).
  uint64_t max_expiry_horizon = ledger::kMaxExpiryHorizon;
  // A transaction behind a nonce gap is evicted once this many heights have passed since
  // it arrived (gaps from reordered arrivals close within one or two).
  uint64_t gap_eviction_heights = 30;
};

// Why Add did not add: kDuplicate (already pending, nothing changed) is not a refusal.
struct AddRefusal {
  bool duplicate = false;
  Admission reason = Admission::kMempoolFull;  // when not a duplicate
  std::string message;
};

struct MempoolStats {
  size_t transactions = 0;
  size_t bytes = 0;
  size_t senders = 0;
  uint64_t added = 0;
  uint64_t refused = 0;
  uint64_t removed_committed = 0;
  uint64_t expired = 0;
  uint64_t evicted = 0;  // behind a nonce gap: too long, or to make room for one that can run
  size_t gapped = 0;     // pending now behind a nonce gap
};

class Mempool {
 public:
  explicit Mempool(MempoolOptions options = {});

  // `id` is tx.Id(); `encoded_size` its canonical size; `committed_next_nonce` the sender's
  // next nonce in committed state; `next_height` the lowest height a new block can have;
  // `client` who submitted it (a keyed hash of the IP), 0 for gossip (no client quota).
  // Checks, in order: duplicate, expired, expiry_too_far, nonce_used, nonce_gap,
  // nonce_conflict, sender_full, client_full, mempool_full. A transaction that can run now
  // (its nonce continues the sender's pending run) evicts its sender's highest transaction
  // behind a gap rather than be refused sender_full, and the oldest transactions behind gaps
  // rather than be refused mempool_full; a refusal evicts nothing.
  std::optional<AddRefusal> Add(const ledger::Transaction& tx, const Hash256& id,
                                size_t encoded_size, uint64_t committed_next_nonce,
                                uint64_t next_height, uint64_t client = 0);

  // The rules that need no pool contents (expired, expiry_too_far, nonce_used, nonce_gap),
  // which Add applies too: the intake runs them before spending a signature check.
  std::optional<AddRefusal> Precheck(const ledger::Transaction& tx, uint64_t committed_next_nonce,
                                     uint64_t next_height) const;

  // Up to max_count transactions of at most max_bytes total for a block at `height`: for
  // each sender, its pending transactions with nonces next_nonce(sender),
  // next_nonce(sender)+1, ... with no gap; senders interleaved in order of their oldest
  // pending transaction (fair: one busy sender cannot starve the rest); transactions whose
  // id is in `exclude` (already in an uncommitted ancestor block) are skipped without
  // breaking the sender's run. Expired ones (expiry_height < height) are skipped. The
  // selected transactions stay in the pool until RemoveCommitted.
  std::vector<ledger::Transaction> Select(
      size_t max_count, size_t max_bytes, uint64_t height,
      const std::function<uint64_t(const PublicKey&)>& next_nonce,
      const std::set<Hash256>& exclude) const;

  // Removes a committed block's transactions, and every pending transaction of their
  // senders whose nonce is now below committed_next_nonce(sender) (it can never commit).
  void RemoveCommitted(const std::vector<ledger::Transaction>& committed,
                       const std::function<uint64_t(const PublicKey&)>& committed_next_nonce);
  // Drops transactions with expiry_height < next_height, then those behind a nonce gap that
  // arrived gap_eviction_heights or more before next_height. Returns how many in all.
  size_t Expire(uint64_t next_height);

  bool Contains(const Hash256& id) const;
  std::optional<ledger::Transaction> Get(const Hash256& id) const;
  // How many pending transactions of `sender` have consecutive nonces starting at `from`
  // (for "next nonce including pending" in the API).
  uint64_t PendingRun(const PublicKey& sender, uint64_t from) const;
  // How many pending transactions could run now, counting at most `limit`: for each sender,
  // the run of consecutive nonces from its committed next nonce (as last told by Add or
  // RemoveCommitted). Transactions behind a nonce gap do not count: a leader must not rush
  // out empty blocks for a pool that holds only those.
  size_t RunnableCount(size_t limit) const;
  size_t size() const;
  MempoolStats Stats() const;

 private:
  // Keyed with a per-process random key, so nobody can aim ids or keys at one bucket.
  struct KeyedHash {
    size_t operator()(const Hash256& value) const;
    size_t operator()(const PublicKey& value) const;
  };
  struct SenderQueue;
  struct Entry {
    ledger::Transaction tx;
    Hash256 id;
    size_t bytes = 0;
    uint64_t seq = 0;  // arrival order, unique
    uint64_t arrival_height = 0;
    uint64_t client = 0;
    bool gapped = false;  // behind a nonce gap: in gapped_
    SenderQueue* sender = nullptr;
  };
  struct SenderQueue {
    std::map<uint64_t, Entry*> by_nonce;
    uint64_t committed_next = 0;  // the sender's committed next nonce, as last known
    // The first nonce at or above committed_next that is not pending: entries below it can
    // run now, entries above it are gapped.
    uint64_t run_end = 0;
    std::set<uint64_t> arrivals;  // every pending seq; the first is the sender's place in line
  };
  using GapKey = std::pair<uint64_t, uint64_t>;  // (arrival_height, seq): oldest first

  void RemoveLocked(Entry& entry);
  void MarkGapped(Entry& entry);
  void MarkRunnable(Entry& entry);
  void ExtendRun(SenderQueue& queue);
  // The sender's committed next nonce moved up to `next`: drops what can never commit now.
  void AdvanceCommitted(const PublicKey& sender, uint64_t next);

  const MempoolOptions options_;
  mutable std::mutex mutex_;
  // Owns the entries (node-based: Entry* stay valid); the containers below index them.
  std::unordered_map<Hash256, Entry, KeyedHash> by_id_;            // guarded by mutex_
  std::unordered_map<PublicKey, SenderQueue, KeyedHash> senders_;  // guarded by mutex_
  // Senders keyed by the seq of their oldest pending arrival: the line Select serves.
  std::map<uint64_t, SenderQueue*> sender_order_;  // guarded by mutex_
  // Keyed (expiry_height, seq), so Expire pops from the front.
  std::map<std::pair<uint64_t, uint64_t>, Entry*> by_expiry_;  // guarded by mutex_
  // Every entry behind a nonce gap, oldest arrival first: what eviction takes.
  std::map<GapKey, Entry*> gapped_;                  // guarded by mutex_
  std::unordered_map<uint64_t, size_t> per_client_;  // pending count; guarded by mutex_
  uint64_t next_seq_ = 0;                            // guarded by mutex_
  size_t bytes_ = 0;                                 // guarded by mutex_
  size_t gapped_bytes_ = 0;                          // guarded by mutex_
  // added, refused, removed_committed, expired, evicted; guarded by mutex_
  MempoolStats counters_;
};

}  // namespace city::node
