// The store's Env: LevelDB's background work runs at a lower priority than the node's threads.
#include "store_env.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <optional>

namespace city::ledger {
namespace {

struct Observed {
  std::mutex mutex;
  std::condition_variable done;
  std::optional<int> nice;
  pid_t thread = 0;
};

void RecordNice(void* raw) {
  auto* observed = static_cast<Observed*>(raw);
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  std::lock_guard lock(observed->mutex);
  observed->nice = errno == 0 ? nice : -100;
  observed->thread = ::gettid();
  observed->done.notify_all();
}

// The Env is built without RTTI, as Debian builds LevelDB: UBSan's vptr check, in this file
// built with RTTI, cannot see its type (LevelDB's own calls are not checked).
__attribute__((no_sanitize("vptr"))) void ScheduleOnStoreEnv(void (*function)(void*), void* arg) {
  DefaultStoreEnv()->Schedule(function, arg);
}

TEST(StoreEnv, BackgroundWorkRunsAtTheCompactionNiceAndTheCallerKeepsItsOwn) {
  errno = 0;
  const int before = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  ASSERT_EQ(errno, 0);
  Observed observed;
  ScheduleOnStoreEnv(&RecordNice, &observed);
  std::unique_lock lock(observed.mutex);
  ASSERT_TRUE(observed.done.wait_for(lock, std::chrono::seconds(10),
                                     [&] { return observed.nice.has_value(); }));
  EXPECT_NE(observed.thread, ::gettid());
  EXPECT_EQ(*observed.nice, std::max(before, kCompactionNice));
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), before);
}

}  // namespace
}  // namespace city::ledger
