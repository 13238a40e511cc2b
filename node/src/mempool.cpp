// The mempool: pending transactions indexed by id, by sender and nonce, by the sender's
// place in line (oldest pending arrival) and by expiry, so each operation touches only what
// it returns or removes.
#include "city/node/mempool.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "keyed_hash.h"

namespace city::node {
namespace {

size_t KeyedHashOf(ByteSpan bytes) { return internal::KeyedHash(bytes.data(), bytes.size()); }

}  // namespace

size_t Mempool::KeyedHash::operator()(const Hash256& value) const {
  return KeyedHashOf(value.span());
}

size_t Mempool::KeyedHash::operator()(const PublicKey& value) const {
  return KeyedHashOf(value.span());
}

Mempool::Mempool(MempoolOptions options) : options_(options) {}

std::optional<AddRefusal> Mempool::Precheck(const ledger::Transaction& tx,
                                            uint64_t committed_next_nonce,
                                            uint64_t next_height) const {
  auto refuse = [](Admission reason, std::string message) {
    return AddRefusal{.duplicate = false, .reason = reason, .message = std::move(message)};
  };
  if (tx.expiry_height < next_height) {
    return refuse(Admission::kExpired, "expiry height " + std::to_string(tx.expiry_height) +
                                           " is below the next block's height " +
                                           std::to_string(next_height));
  }
  if (tx.expiry_height - next_height > options_.max_expiry_horizon) {
    return refuse(Admission::kExpiryTooFar,
                  "expiry height " + std::to_string(tx.expiry_height) + " is more than " +
                      std::to_string(options_.max_expiry_horizon) + " above the next height " +
                      std::to_string(next_height));
  }
  if (tx.nonce < committed_next_nonce) {
    return refuse(Admission::kNonceUsed, "nonce " + std::to_string(tx.nonce) +
                                             " already used; the sender's next nonce is " +
                                             std::to_string(committed_next_nonce));
  }
  // Written as a difference: committed_next_nonce + max_nonce_gap could overflow.
  if (tx.nonce - committed_next_nonce > options_.max_nonce_gap) {
    return refuse(Admission::kNonceGap, "nonce " + std::to_string(tx.nonce) +
                                            " is too far ahead; the sender's next nonce is " +
                                            std::to_string(committed_next_nonce) + " and at most " +
                                            std::to_string(options_.max_nonce_gap) +
                                            " beyond it is accepted");
  }
  return std::nullopt;
}

std::optional<AddRefusal> Mempool::Add(const ledger::Transaction& tx, const Hash256& id,
                                       size_t encoded_size, uint64_t committed_next_nonce,
                                       uint64_t next_height, uint64_t client) {
  std::lock_guard lock(mutex_);
  auto refuse = [this](Admission reason, std::string message) {
    ++counters_.refused;
    return AddRefusal{.duplicate = false, .reason = reason, .message = std::move(message)};
  };
  if (by_id_.contains(id)) {
    ++counters_.refused;
    return AddRefusal{.duplicate = true, .message = "already pending"};
  }
  // Fresher news of the sender's committed nonce than the pool had: apply it first.
  AdvanceCommitted(tx.sender, committed_next_nonce);
  auto sender = senders_.find(tx.sender);
  SenderQueue* queue = sender == senders_.end() ? nullptr : &sender->second;
  const uint64_t committed = queue ? queue->committed_next : committed_next_nonce;
  if (std::optional<AddRefusal> refused = Precheck(tx, committed, next_height)) {
    ++counters_.refused;
    return refused;
  }
  const bool runnable = tx.nonce == (queue ? queue->run_end : committed);
  Entry* evict_of_sender = nullptr;
  if (queue) {
    if (queue->by_nonce.contains(tx.nonce)) {
      return refuse(
          Admission::kNonceConflict,
          "another pending transaction of this sender has nonce " + std::to_string(tx.nonce));
    }
    if (queue->by_nonce.size() >= options_.max_per_sender) {
      Entry* highest = queue->by_nonce.rbegin()->second;
      if (!runnable || !highest->gapped) {
        return refuse(Admission::kSenderFull, "the sender already has " +
                                                  std::to_string(queue->by_nonce.size()) +
                                                  " pending transactions, the most allowed");
      }
      evict_of_sender = highest;
    }
  }
  if (client != 0) {
    auto pending = per_client_.find(client);
    if (pending != per_client_.end() && pending->second >= options_.max_per_client) {
      return refuse(Admission::kClientFull, "this client already has " +
                                                std::to_string(pending->second) +
                                                " pending transactions, the most allowed");
    }
  }
  // Room after evicting what cannot run (only for a transaction that can), all or nothing.
  // bytes_ never exceeds max_bytes, so the subtractions cannot wrap.
  const size_t evictable_count = runnable ? gapped_.size() : 0;
  const size_t evictable_bytes = runnable ? gapped_bytes_ : 0;
  if (by_id_.size() - evictable_count >= options_.max_transactions ||
      encoded_size > options_.max_bytes - (bytes_ - evictable_bytes)) {
    return refuse(Admission::kMempoolFull, "mempool full: " + std::to_string(by_id_.size()) +
                                               " transactions, " + std::to_string(bytes_) +
                                               " bytes pending");
  }
  if (evict_of_sender) {
    RemoveLocked(*evict_of_sender);
    ++counters_.evicted;
  }
  while (by_id_.size() >= options_.max_transactions || encoded_size > options_.max_bytes - bytes_) {
    RemoveLocked(*gapped_.begin()->second);
    ++counters_.evicted;
  }

  const uint64_t seq = next_seq_++;
  // Evictions may have erased the sender's queue; a new one starts at the committed nonce.
  auto [slot, fresh] = senders_.try_emplace(tx.sender);
  SenderQueue& own = slot->second;
  if (fresh) own.committed_next = own.run_end = committed;
  Entry& entry = by_id_
                     .try_emplace(id, Entry{.tx = tx,
                                            .id = id,
                                            .bytes = encoded_size,
                                            .seq = seq,
                                            .arrival_height = next_height,
                                            .client = client,
                                            .sender = &own})
                     .first->second;
  own.by_nonce.emplace(tx.nonce, &entry);
  if (runnable) {
    ExtendRun(own);
  } else {
    MarkGapped(entry);
  }
  // The newest arrival is the sender's oldest only when it had nothing else pending.
  if (own.arrivals.empty()) sender_order_.emplace(seq, &own);
  own.arrivals.insert(seq);
  by_expiry_.emplace(std::pair{tx.expiry_height, seq}, &entry);
  if (client != 0) ++per_client_[client];
  bytes_ += encoded_size;
  ++counters_.added;
  return std::nullopt;
}

void Mempool::MarkGapped(Entry& entry) {
  if (entry.gapped) return;
  entry.gapped = true;
  gapped_.emplace(GapKey{entry.arrival_height, entry.seq}, &entry);
  gapped_bytes_ += entry.bytes;
}

void Mempool::MarkRunnable(Entry& entry) {
  if (!entry.gapped) return;
  entry.gapped = false;
  gapped_.erase(GapKey{entry.arrival_height, entry.seq});
  gapped_bytes_ -= entry.bytes;
}

void Mempool::ExtendRun(SenderQueue& queue) {
  for (auto it = queue.by_nonce.find(queue.run_end);
       it != queue.by_nonce.end() && it->first == queue.run_end; ++it, ++queue.run_end) {
    MarkRunnable(*it->second);
  }
}

void Mempool::AdvanceCommitted(const PublicKey& sender, uint64_t next) {
  auto found = senders_.find(sender);
  if (found == senders_.end() || next <= found->second.committed_next) return;
  SenderQueue& queue = found->second;
  queue.committed_next = next;
  while (queue.by_nonce.begin()->first < next) {
    const bool last = queue.by_nonce.size() == 1;
    RemoveLocked(*queue.by_nonce.begin()->second);  // erases the queue with its last entry
    ++counters_.removed_committed;
    if (last) return;
  }
  queue.run_end = std::max(queue.run_end, next);
  ExtendRun(queue);
}

std::vector<ledger::Transaction> Mempool::Select(
    size_t max_count, size_t max_bytes, uint64_t height,
    const std::function<uint64_t(const PublicKey&)>& next_nonce,
    const std::set<Hash256>& exclude) const {
  std::vector<ledger::Transaction> selected;
  if (max_count == 0) return selected;
  // next_nonce runs under the lock (a snapshot of the line would cost O(pool)), so it must
  // not call back into the pool.
  std::lock_guard lock(mutex_);
  selected.reserve(std::min(max_count, by_id_.size()));

  // One sender's position in its run of consecutive nonces.
  struct Cursor {
    const SenderQueue* queue;
    std::map<uint64_t, Entry*>::const_iterator it;
    uint64_t expected;
  };
  size_t bytes_left = max_bytes;
  // Takes the sender's next transaction; false when its run is over, or its next one does
  // not fit (a later nonce cannot be included without it).
  auto take_next = [&](Cursor& cursor) {
    while (cursor.it != cursor.queue->by_nonce.end() && cursor.it->first == cursor.expected) {
      const Entry& entry = *cursor.it->second;
      ++cursor.it;
      ++cursor.expected;
      // Already in an ancestor block: its nonce is taken care of, the run goes on.
      if (exclude.contains(entry.id)) continue;
      if (entry.tx.expiry_height < height) return false;
      if (entry.bytes > bytes_left) return false;
      selected.push_back(entry.tx);
      bytes_left -= entry.bytes;
      return true;
    }
    return false;
  };
  // No encoded transaction is smaller than this, so below it the block is full; stopping
  // here spares a walk over every remaining sender.
  auto full = [&] {
    return selected.size() >= max_count || bytes_left < ledger::Transaction::kMinEncodedSize;
  };

  // First pass: every sender in line order, one transaction each; next_nonce is asked only
  // for senders reached, so a block filled early never looks at the rest of the line.
  std::vector<Cursor> running;
  for (const auto& [oldest_seq, queue] : sender_order_) {
    if (full()) return selected;
    const uint64_t first = next_nonce(queue->by_nonce.begin()->second->tx.sender);
    Cursor cursor{queue, queue->by_nonce.lower_bound(first), first};
    if (take_next(cursor)) running.push_back(cursor);
  }
  // Later passes: the senders still running, one each per pass, same order.
  while (!running.empty()) {
    size_t kept = 0;
    for (Cursor& cursor : running) {
      if (full()) return selected;
      if (take_next(cursor)) running[kept++] = cursor;
    }
    running.resize(kept);
  }
  return selected;
}

void Mempool::RemoveLocked(Entry& entry) {
  SenderQueue& queue = *entry.sender;
  const Hash256 id = entry.id;
  const PublicKey sender = entry.tx.sender;
  const uint64_t nonce = entry.tx.nonce;
  if (entry.gapped) {
    MarkRunnable(entry);  // leaves gapped_
  } else if (nonce >= queue.committed_next && nonce < queue.run_end) {
    // A runnable one leaves without committing (expired): the run ends here.
    queue.run_end = nonce;
    for (auto it = queue.by_nonce.upper_bound(nonce); it != queue.by_nonce.end(); ++it) {
      MarkGapped(*it->second);
    }
  }
  queue.by_nonce.erase(nonce);
  if (*queue.arrivals.begin() == entry.seq) {
    sender_order_.erase(entry.seq);
    queue.arrivals.erase(queue.arrivals.begin());
    if (!queue.arrivals.empty()) sender_order_.emplace(*queue.arrivals.begin(), &queue);
  } else {
    queue.arrivals.erase(entry.seq);
  }
  by_expiry_.erase(std::pair{entry.tx.expiry_height, entry.seq});
  if (entry.client != 0) {
    auto pending = per_client_.find(entry.client);
    if (--pending->second == 0) per_client_.erase(pending);
  }
  bytes_ -= entry.bytes;
  if (queue.by_nonce.empty()) senders_.erase(sender);
  by_id_.erase(id);
}

void Mempool::RemoveCommitted(
    const std::vector<ledger::Transaction>& committed,
    const std::function<uint64_t(const PublicKey&)>& committed_next_nonce) {
  std::lock_guard lock(mutex_);
  // Each sender once: its committed next nonce now covers every transaction of the block
  // (and any rival with the same nonce, which can never commit).
  std::vector<PublicKey> touched;
  touched.reserve(committed.size());
  for (const ledger::Transaction& tx : committed) touched.push_back(tx.sender);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const PublicKey& key : touched) {
    if (senders_.contains(key)) AdvanceCommitted(key, committed_next_nonce(key));
  }
}

size_t Mempool::Expire(uint64_t next_height) {
  std::lock_guard lock(mutex_);
  size_t dropped = 0;
  while (!by_expiry_.empty() && by_expiry_.begin()->first.first < next_height) {
    RemoveLocked(*by_expiry_.begin()->second);
    ++dropped;
  }
  counters_.expired += dropped;
  size_t evicted = 0;
  // Written as a difference: arrival_height + gap_eviction_heights could overflow.
  while (!gapped_.empty() && next_height - std::min(next_height, gapped_.begin()->first.first) >=
                                 options_.gap_eviction_heights) {
    RemoveLocked(*gapped_.begin()->second);
    ++evicted;
  }
  counters_.evicted += evicted;
  return dropped + evicted;
}

bool Mempool::Contains(const Hash256& id) const {
  std::lock_guard lock(mutex_);
  return by_id_.contains(id);
}

std::optional<ledger::Transaction> Mempool::Get(const Hash256& id) const {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.tx;
}

uint64_t Mempool::PendingRun(const PublicKey& sender, uint64_t from) const {
  std::lock_guard lock(mutex_);
  auto queue = senders_.find(sender);
  if (queue == senders_.end()) return 0;
  uint64_t run = 0;
  for (auto it = queue->second.by_nonce.lower_bound(from);
       it != queue->second.by_nonce.end() && it->first == from + run; ++it) {
    ++run;
  }
  return run;
}

size_t Mempool::RunnableCount(size_t limit) const {
  std::lock_guard lock(mutex_);
  size_t runnable = 0;
  for (const auto& [key, queue] : senders_) {
    runnable += queue.run_end - queue.committed_next;
    if (runnable >= limit) return limit;
  }
  return runnable;
}

size_t Mempool::size() const {
  std::lock_guard lock(mutex_);
  return by_id_.size();
}

MempoolStats Mempool::Stats() const {
  std::lock_guard lock(mutex_);
  MempoolStats stats = counters_;
  stats.transactions = by_id_.size();
  stats.bytes = bytes_;
  stats.senders = senders_.size();
  stats.gapped = gapped_.size();
  return stats;
}

}  // namespace city::node
