// The heap gauges and trimming (heap.h), against glibc's allocator. Under a sanitizer the
// allocator is the sanitizer's, which glibc's statistics do not see.
#include "heap.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace city::node {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcAllocator = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcAllocator = false;
#else
constexpr bool kGlibcAllocator = true;
#endif
#else
constexpr bool kGlibcAllocator = true;
#endif

constexpr size_t kBlocks = 100'000;
constexpr size_t kBlockBytes = 1'000;  // small: served from the arena, not mmap'ed

TEST(HeapTest, InUseCountsLiveBlocksAndTrimmingReturnsFreedOnes) {
  if (!kGlibcAllocator) GTEST_SKIP() << "the sanitizer's allocator is not glibc's";
  const HeapStats before = ReadHeapStats();
  std::vector<std::unique_ptr<char[]>> blocks;
  for (size_t i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[kBlockBytes]);
    blocks.back()[0] = char(i);
  }
  const HeapStats live = ReadHeapStats();
  EXPECT_GE(live.in_use_bytes, before.in_use_bytes + kBlocks * kBlockBytes);
  // Freed every other block: the holes stay with the allocator, as after an intake burst.
  for (size_t i = 0; i < kBlocks; i += 2) blocks[i].reset();
  const HeapStats holes = ReadHeapStats();
  EXPECT_LE(holes.in_use_bytes + kBlocks / 2 * kBlockBytes, live.in_use_bytes + kBlockBytes);
  EXPECT_GE(holes.free_bytes, kBlocks / 2 * kBlockBytes);
  blocks.clear();
  const size_t free_before_trim = ReadHeapStats().free_bytes;
  TrimHeap();
  // What trimming gave back is no longer counted as held by the allocator.
  EXPECT_LT(ReadHeapStats().free_bytes, free_before_trim);
}

}  // namespace
}  // namespace city::node
