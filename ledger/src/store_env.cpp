// The store's Env (store_env.h).
#include "store_env.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace city::ledger {
namespace {

class LowPriorityCompactionEnv final : public leveldb::EnvWrapper {
 public:
  explicit LowPriorityCompactionEnv(leveldb::Env* target) : EnvWrapper(target) {}
  void Schedule(void (*function)(void*), void* arg) override {
    target()->Schedule(&RunLowered, new Job{function, arg});
  }

 private:
  struct Job {
    void (*function)(void*);
    void* arg;
  };
  static void RunLowered(void* raw) {
    // This thread only: on Linux, PRIO_PROCESS with a thread id is that thread's nice. Never
    // raised above what the process was started with (a node run under `nice 15` stays there).
    static thread_local const bool lowered = [] {
      const id_t self = static_cast<id_t>(::gettid());
      errno = 0;
      const int current = ::getpriority(PRIO_PROCESS, self);
      return errno == 0 && current < kCompactionNice &&
             ::setpriority(PRIO_PROCESS, self, kCompactionNice) == 0;
    }();
    (void)lowered;
    const std::unique_ptr<Job> job(static_cast<Job*>(raw));
    job->function(job->arg);
  }
};

}  // namespace

leveldb::Env* DefaultStoreEnv() {
  static LowPriorityCompactionEnv env(leveldb::Env::Default());
  return &env;
}

}  // namespace city::ledger
