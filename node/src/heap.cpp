// The process heap (heap.h), through glibc's mallinfo2 and malloc_trim.
#include "heap.h"

#include <malloc.h>

namespace city::node {

HeapStats ReadHeapStats() {
  const struct mallinfo2 info = ::mallinfo2();
  // uordblks: in use in the arenas; hblkhd: in use in mmap'ed chunks (returned on free).
  return HeapStats{info.uordblks + info.hblkhd, info.fordblks};
}

void TrimHeap() { ::malloc_trim(0); }

}  // namespace city::node
