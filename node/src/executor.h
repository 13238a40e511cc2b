// Execution off the voting path: blocks that consensus committed are executed and written to
// the store on a thread of their own, strictly in height order, while consensus goes on to
// the next rounds. A proposal's execution fields (exec_height, state_root, result_root) name
// the latest block its proposer had executed, so they lag the tip by the backlog here.
//
// Until a queued block is in the store, the queue is where the node finds it: its header
// (a proposal's parent may be one), its transactions (never proposed twice) and its senders'
// nonces. A reader that counts nonces must see each block exactly once, in the queue or in
// the store: counted twice, a proposal would skip a nonce and take the next transaction out
// of order (it fails, and every later one of that sender waits forever); counted never, it
// would propose a transaction again. Consistent() gives that view: a block moves from the
// queue to the store only while no reader is inside it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "chain.h"

namespace city::node {

// Transactions of blocks that are committed by consensus but not yet in the store.
struct QueuedTransactions {
  std::set<Hash256> ids;
  std::map<PublicKey, uint64_t> per_sender;
};

class BlockExecutor {
 public:
  // Runs on the executor thread after each block is durably committed (or once with the error
  // that stopped it: after a failure nothing more is executed).
  using Committed = std::function<void(Result<CommittedBlockInfo>)>;

  // At most `max_backlog` blocks wait; Submit blocks beyond that, which stalls consensus
  // itself: the proposer slows down well before (Backlog()).
  BlockExecutor(Chain& chain, size_t max_backlog, Committed committed);
  ~BlockExecutor();  // executes what is queued, then stops
  BlockExecutor(const BlockExecutor&) = delete;
  BlockExecutor& operator=(const BlockExecutor&) = delete;

  // In height order, each height once (the consensus core's commits).
  void Submit(const ledger::Block& block, const ledger::QuorumCert& certificate);
  size_t Backlog() const;
  // The highest height submitted (executed or not); the store's tip when nothing is queued.
  uint64_t SubmittedHeight() const;
  // Waits until everything queued is in the store and reported, or the executor failed
  // (and reported that).
  void WaitIdle();
  // Waits until the store holds `height`, at most `timeout`. False on timeout or failure.
  bool WaitExecuted(uint64_t height, std::chrono::milliseconds timeout);

  // Runs `read` while no queued block moves into the store (a block's commit waits for it,
  // and it for a commit in progress): what it reads from the queue and the store agree.
  // `read` must not call Submit or the Wait functions.
  template <typename Read>
  auto Consistent(Read&& read) const {
    std::lock_guard lock(mutex_);
    return read();
  }
  // The header of a queued block, by hash.
  std::optional<ledger::BlockHeader> FindHeader(const Hash256& hash) const;
  void AddQueued(QueuedTransactions& into) const;

 private:
  void Run();

  Chain& chain_;
  const size_t max_backlog_;
  Committed committed_;
  // Recursive so that the queue's readers work inside Consistent.
  mutable std::recursive_mutex mutex_;
  std::condition_variable_any changed_;
  struct Item {
    ledger::Block block;
    ledger::QuorumCert certificate;
    Hash256 hash;
  };
  std::deque<Item> queue_;  // guarded by mutex_; the front is being executed
  bool stopping_ = false;   // guarded by mutex_
  bool failed_ = false;     // guarded by mutex_
  bool reporting_ = false;  // guarded by mutex_: a popped block whose callback still runs
  std::thread thread_;
};

}  // namespace city::node
