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

const char* AddErrorName(AddError error) {
  switch (error) {
    case AddError::kDuplicate:
      return "duplicate";
    case AddError::kNonceUsed:
      return "nonce_used";
    case AddError::kNonceConflict:
      return "nonce_conflict";
    case AddError::kNonceGap:
      return "nonce_gap";
    case AddError::kExpired:
      return "expired";
    case AddError::kSenderFull:
      return "sender_full";
    case AddError::kFull:
      return "mempool_full";
  }
  return "unknown";
}

size_t Mempool::KeyedHash::operator()(const Hash256& value) const {
  return KeyedHashOf(value.span());
}

size_t Mempool::KeyedHash::operator()(const PublicKey& value) const {
  return KeyedHashOf(value.span());
}

Mempool::Mempool(MempoolOptions options) : options_(options) {}

std::optional<AddRefusal> Mempool::Add(const ledger::Transaction& tx, const Hash256& id,
                                       size_t encoded_size, uint64_t committed_next_nonce,
                                       uint64_t next_height) {
  std::lock_guard lock(mutex_);
  auto refuse = [this](AddError error, std::string message) {
    ++counters_.refused;
    return AddRefusal{error, std::move(message)};
  };
  if (by_id_.contains(id)) {
    return refuse(AddError::kDuplicate, "transaction " + id.ToHex() + " is already pending");
  }
  if (tx.expiry_height < next_height) {
    return refuse(AddError::kExpired,
                  "transaction expired at height " + std::to_string(tx.expiry_height) +
                      "; the next block is at height " + std::to_string(next_height));
  }
  if (tx.nonce < committed_next_nonce) {
    return refuse(AddError::kNonceUsed, "nonce " + std::to_string(tx.nonce) +
                                            " already used; the sender's next nonce is " +
                                            std::to_string(committed_next_nonce));
  }
  // Written as a difference: committed_next_nonce + max_nonce_gap could overflow.
  if (tx.nonce - committed_next_nonce > options_.max_nonce_gap) {
    return refuse(AddError::kNonceGap, "nonce " + std::to_string(tx.nonce) +
                                           " is too far ahead; the sender's next nonce is " +
                                           std::to_string(committed_next_nonce) + " and at most " +
                                           std::to_string(options_.max_nonce_gap) +
                                           " beyond it is accepted");
  }
  auto sender = senders_.find(tx.sender);
  if (sender != senders_.end()) {
    if (sender->second.by_nonce.contains(tx.nonce)) {
      return refuse(
          AddError::kNonceConflict,
          "another pending transaction of this sender has nonce " + std::to_string(tx.nonce));
    }
    if (sender->second.by_nonce.size() >= options_.max_per_sender) {
      return refuse(AddError::kSenderFull, "the sender already has " +
                                               std::to_string(sender->second.by_nonce.size()) +
                                               " pending transactions, the most allowed");
    }
  }
  // bytes_ never exceeds max_bytes, so the subtraction cannot wrap.
  if (by_id_.size() >= options_.max_transactions || encoded_size > options_.max_bytes - bytes_) {
    return refuse(AddError::kFull, "mempool full: " + std::to_string(by_id_.size()) +
                                       " transactions, " + std::to_string(bytes_) +
                                       " bytes pending");
  }

  const uint64_t seq = next_seq_++;
  SenderQueue& queue = senders_[tx.sender];
  Entry& entry =
      by_id_
          .try_emplace(
              id, Entry{.tx = tx, .id = id, .bytes = encoded_size, .seq = seq, .sender = &queue})
          .first->second;
  queue.by_nonce.emplace(tx.nonce, &entry);
  queue.committed_next = std::max(queue.committed_next, committed_next_nonce);
  // The newest arrival is the sender's oldest only when it had nothing else pending.
  if (queue.arrivals.empty()) sender_order_.emplace(seq, &queue);
  queue.arrivals.insert(seq);
  by_expiry_.emplace(std::pair{tx.expiry_height, seq}, &entry);
  bytes_ += encoded_size;
  ++counters_.added;
  return std::nullopt;
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
  queue.by_nonce.erase(entry.tx.nonce);
  if (*queue.arrivals.begin() == entry.seq) {
    sender_order_.erase(entry.seq);
    queue.arrivals.erase(queue.arrivals.begin());
    if (!queue.arrivals.empty()) sender_order_.emplace(*queue.arrivals.begin(), &queue);
  } else {
    queue.arrivals.erase(entry.seq);
  }
  by_expiry_.erase(std::pair{entry.tx.expiry_height, entry.seq});
  bytes_ -= entry.bytes;
  if (queue.by_nonce.empty()) senders_.erase(sender);
  by_id_.erase(id);
}

void Mempool::RemoveCommitted(
    const std::vector<ledger::Transaction>& committed,
    const std::function<uint64_t(const PublicKey&)>& committed_next_nonce) {
  std::lock_guard lock(mutex_);
  // Matched by (sender, nonce) and compared whole, which is cheaper than hashing an id.
  std::vector<PublicKey> touched;
  for (const ledger::Transaction& tx : committed) {
    touched.push_back(tx.sender);
    auto sender = senders_.find(tx.sender);
    if (sender == senders_.end()) continue;
    auto pending = sender->second.by_nonce.find(tx.nonce);
    if (pending == sender->second.by_nonce.end() || !(pending->second->tx == tx)) continue;
    RemoveLocked(*pending->second);
    ++counters_.removed_committed;
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const PublicKey& key : touched) {
    auto sender = senders_.find(key);
    if (sender == senders_.end()) continue;
    const uint64_t next = committed_next_nonce(key);
    sender->second.committed_next = next;
    // Lower nonces can never commit now; RemoveLocked may erase the queue with its last one.
    while (true) {
      sender = senders_.find(key);
      if (sender == senders_.end()) break;
      auto lowest = sender->second.by_nonce.begin();
      if (lowest->first >= next) break;
      RemoveLocked(*lowest->second);
      ++counters_.removed_committed;
    }
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
  return dropped;
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
    uint64_t expected = queue.committed_next;
    for (auto it = queue.by_nonce.find(expected);
         it != queue.by_nonce.end() && runnable < limit && it->first == expected;
         ++it, ++expected) {
      ++runnable;
    }
    if (runnable >= limit) break;
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
  return stats;
}

}  // namespace city::node
