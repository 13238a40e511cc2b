// Pending (voted, not yet committed) blocks stored and deleted on a thread of their own, in
// the order asked. A validator stores a block before it votes on it and saves its safety
// record before the vote leaves (Driver::PersistBlock, then PersistSafety): two sync writes
// to two files, one after the other on the consensus thread, were a third of a round's
// critical path on four validators. Here the block's write overlaps the safety record's. The
// price is that "stored" is now a promise: whoever sends what a stored block guards (a vote
// on it, a proposal of it) first waits for every write begun before (WaitAll), and sends
// nothing if one failed.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "chain.h"
#include "city/ledger/types.h"
#include "city/status.h"

namespace city::node {

class PendingBlockWriter {
 public:
  explicit PendingBlockWriter(Chain& chain);
  ~PendingBlockWriter();  // finishes what was queued, then joins
  PendingBlockWriter(const PendingBlockWriter&) = delete;
  PendingBlockWriter& operator=(const PendingBlockWriter&) = delete;

  void Put(const ledger::Block& block);
  // A failed deletion is only logged: the block stays pending until a commit settles it.
  void Delete(const ledger::Block& block);
  // Returns once every Put and Delete asked before has finished: Ok, or the first Put that
  // ever failed. Sticky: the core counts a block stored once PersistBlock returned, and may
  // vote on it in a later step; after a failed write nothing guarded may leave again (the
  // store refuses every write after a failed one anyway, until the node restarts).
  Status WaitAll();

 private:
  struct Job {
    bool put = true;
    ledger::Block block;
  };
  void Enqueue(Job job);
  void Run();

  Chain& chain_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> queue_;  // guarded by mutex_
  size_t unfinished_ = 0;  // guarded by mutex_: queued or being written
  Status failed_;          // guarded by mutex_: the first failed Put since WaitAll
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;     // last: started once the rest exists
};

}  // namespace city::node
