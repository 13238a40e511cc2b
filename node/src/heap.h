// The process heap as the operator sees it: how much of it is in use and how much glibc
// keeps after bursts, and giving the free part back to the system.
//
// Why: under load the admission path allocates and frees in bursts on several threads, and
// glibc keeps freed memory in its arenas. The ten-minute soak (docs/benchmarks.md) showed
// resident memory growing to four times the live heap and never shrinking. Trimming free
// pages back now and then keeps resident memory near what is live.
#pragma once

#include <cstddef>

namespace city::node {

struct HeapStats {
  size_t in_use_bytes = 0;  // allocated and not freed
  size_t free_bytes = 0;    // freed, still held by the allocator
};

HeapStats ReadHeapStats();

// Returns freed pages to the system (malloc_trim). Costs a walk of the arenas: call it from
// a housekeeping thread, not from consensus or an API handler.
void TrimHeap();

}  // namespace city::node
