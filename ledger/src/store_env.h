// The LevelDB Env of every store the process opens (unless StoreOptions names another).
#pragma once

#include <leveldb/env.h>

namespace city::ledger {

// LevelDB compacts on one background thread of its Env. At a lower scheduling priority than
// the node's own threads, a compaction takes the cores' idle time first instead of competing
// with consensus and execution. Four validators sharing two cores flush their memtables at
// about the same moment, every 8 s at 1,400 tx/s, and blocks slowed from 90/s to 10-30/s for
// 2-3 s: commit latency p99 250-340 ms, 100-120 ms with this (docs/benchmarks.md). Not
// lower: a compaction starved under overload would stall writes on level-0 files.
constexpr int kCompactionNice = 10;

// Env::Default, with its background work (compactions) run at kCompactionNice.
leveldb::Env* DefaultStoreEnv();

}  // namespace city::ledger
