// Crash safety with real processes: a child commits the deterministic chain and is killed
// with SIGKILL at random moments (while opening, committing, or between blocks); after each
// kill the store must open at a block at least as new as the last acknowledged one, every
// block must read back, and the state root must equal an in-memory replay of the chain.
//
// The kill timing is random; CITY_CRASH_SEED=N replays the same choices (the seed is
// printed), CITY_CRASH_KILLS=N changes how many kills (default 30).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <random>

#include "city/ledger/store.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

#ifndef CITY_STORE_CRASH_CHILD
#error "CITY_STORE_CRASH_CHILD must name the city-store-crash-child executable"
#endif

extern char** environ;

namespace city::ledger {
namespace {

using Clock = std::chrono::steady_clock;
using test::Must;

constexpr uint64_t kRetainVersions = 8;
constexpr uint64_t kMaxHeight = 1'000'000;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

// A running child whose stdout we read line by line.
class Child {
 public:
  explicit Child(const std::filesystem::path& dir) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    const std::string path = CITY_STORE_CRASH_CHILD;
    const std::string dir_arg = dir.string();
    const std::string retain = std::to_string(kRetainVersions);
    const std::string max_height = std::to_string(kMaxHeight);
    char* argv[] = {const_cast<char*>(path.c_str()), const_cast<char*>(dir_arg.c_str()),
                    const_cast<char*>(retain.c_str()), const_cast<char*>(max_height.c_str()),
                    nullptr};
    const int rc = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    read_fd_ = fds[0];
    if (rc != 0) {
      ::close(read_fd_);
      throw std::runtime_error("posix_spawn " + path + ": " + std::strerror(rc));
    }
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (read_fd_ >= 0) ::close(read_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads output until `deadline`, or until the child acknowledged its first commit when
  // wait_commit is set. Returns false at end of output (the child exited).
  bool ReadUntil(Clock::time_point deadline, bool wait_commit) {
    while (true) {
      if (wait_commit && acknowledged_) return true;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return true;
      pollfd pfd{read_fd_, POLLIN, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) continue;
      if (!ReadSome()) return false;
    }
  }

  // Kills the child with SIGKILL, reaps it and reads what it wrote before it died.
  void Kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    killed_by_us_ = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    while (ReadSome()) {
    }
  }

  bool ready() const { return ready_; }
  bool killed_by_us() const { return killed_by_us_; }
  std::optional<uint64_t> ready_height() const { return ready_height_; }
  // The last height whose "committed" line we received.
  std::optional<uint64_t> acknowledged() const { return acknowledged_; }
  const std::string& unexpected() const { return unexpected_; }

 private:
  bool ReadSome() {
    char buffer[4096];
    const ssize_t n = ::read(read_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<size_t>(n));
    size_t end;
    while ((end = pending_.find('\n')) != std::string::npos) {
      const std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (line.rfind("committed ", 0) == 0) {
        const uint64_t height = std::stoull(line.substr(10));
        if (acknowledged_ && height != *acknowledged_ + 1) unexpected_ += "out of order: " + line;
        acknowledged_ = height;
      } else if (line.rfind("ready ", 0) == 0) {
        ready_ = true;
        ready_height_ = std::stoull(line.substr(6));
      } else {
        unexpected_ += line + "\n";
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::string pending_;  // a partial line
  bool ready_ = false;
  bool killed_by_us_ = false;
  std::optional<uint64_t> ready_height_;
  std::optional<uint64_t> acknowledged_;
  std::string unexpected_;
};

// Keeps the in-memory replay of the chain in step with what the store holds.
class Checker {
 public:
  // Opens the store after a kill and checks it; returns its tip.
  uint64_t Check(const std::filesystem::path& dir, uint64_t acknowledged) {
    StoreOptions options;
    options.retain_versions = kRetainVersions;
    Result<std::unique_ptr<LedgerStore>> opened = LedgerStore::Open(dir, options);
    if (!opened.ok()) {
      ADD_FAILURE() << "the store does not open after a kill: " << opened.status().ToString();
      return acknowledged;
    }
    const LedgerStore& store = **opened;
    const StoreTip tip = store.tip();
    EXPECT_GE(tip.height, acknowledged) << "an acknowledged block was lost";
    EXPECT_LE(tip.height, acknowledged + 1) << "more than the one block in flight appeared";
    if (tip.height < replay_.height()) {
      ADD_FAILURE() << "the tip went back from " << replay_.height() << " to " << tip.height;
      return tip.height;
    }
    replay_.AdvanceTo(tip.height);

    EXPECT_EQ(tip.block_hash, replay_.hash(tip.height));
    if (tip.height > 0) {
      const CommitRequest expected = test::ChainCommit(tip.height, replay_.hash(tip.height - 1));
      const Result<Block> block = store.GetBlock(tip.height);
      EXPECT_TRUE(block.ok() && *block == expected.block) << "the tip block differs";
      const Result<std::vector<TxResult>> results = store.GetResults(tip.height);
      EXPECT_TRUE(results.ok() && *results == expected.results) << "the tip results differ";
    }
    for (uint64_t h = checked_blocks_ + 1; h <= tip.height; ++h) {
      const Result<Block> block = store.GetBlock(h);
      if (!block.ok() || block->Hash() != replay_.hash(h)) {
        ADD_FAILURE() << "block " << h << " does not read back: " << block.status().ToString();
        break;
      }
    }
    // Blocks checked once are rechecked by sampling, so later runs stay fast.
    for (uint64_t h = 1; h <= checked_blocks_; h += 1 + checked_blocks_ / 50) {
      const Result<Block> block = store.GetBlock(h);
      EXPECT_TRUE(block.ok() && block->Hash() == replay_.hash(h)) << "block " << h;
    }
    checked_blocks_ = tip.height;

    const Hash256 root = test::ExpectedRoot(replay_.state());
    EXPECT_EQ(tip.state_root, root) << "state root differs from the replay at " << tip.height;
    const Result<Hash256> stored_root = store.StateRootAt(tip.height);
    EXPECT_TRUE(stored_root.ok() && *stored_root == root);
    for (uint64_t k = tip.height % 11; k < test::kChainKeySpace; k += 11) {
      const Bytes key = test::ChainKey(k);
      const Result<StateAt> at = store.ProveState(key, tip.height);
      if (!at.ok()) {
        ADD_FAILURE() << "ProveState: " << at.status().ToString();
        continue;
      }
      const auto it = replay_.state().find(key);
      EXPECT_EQ(at->value,
                it == replay_.state().end() ? std::nullopt : std::optional<Bytes>(it->second));
      EXPECT_TRUE(test::VerifyStateAt(root, key, *at).ok());
    }
    EXPECT_EQ(store.oldest_retained_version(),
              tip.height + 1 > kRetainVersions ? tip.height + 1 - kRetainVersions : 0);

    // At most the next block is pending: each commit drops the block it commits.
    const Result<std::vector<Block>> pending = store.PendingBlocks();
    EXPECT_TRUE(pending.ok()) << pending.status().ToString();
    if (pending.ok()) {
      EXPECT_LE(pending->size(), 1u);
      for (const Block& block : *pending) {
        EXPECT_EQ(block, test::ChainCommit(tip.height + 1, replay_.hash(tip.height)).block)
            << "pending block at height " << block.header.height << ", tip " << tip.height;
      }
    }
    return tip.height;
  }

 private:
  test::ChainReplay replay_;
  uint64_t checked_blocks_ = 0;
};

TEST(StoreCrash, KilledAtRandomMomentsReopensAtAnAcknowledgedBlock) {
  const uint64_t seed = EnvOr("CITY_CRASH_SEED", std::random_device{}());
  const uint64_t kills = EnvOr("CITY_CRASH_KILLS", 30);
  std::cout << "crash test: seed " << seed << " (CITY_CRASH_SEED=" << seed << " replays the "
            << "kill choices), " << kills << " kills" << std::endl;
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);

  test::TempDir tmp;
  const std::filesystem::path dir = tmp.path() / "store";
  Checker checker;
  uint64_t tip = 0;
  int during_open = 0;
  uint64_t progressing_runs = 0;
  int unacknowledged_kept = 0;  // killed after Commit returned, before "committed" was read
  const Clock::time_point start = Clock::now();
  for (uint64_t run = 0; run < kills; ++run) {
    SCOPED_TRACE("run " + std::to_string(run) + ", seed " + std::to_string(seed));
    Child child(dir);
    // Most runs are killed at a random moment after their first commit (so every run
    // makes progress); some are killed within 15 ms of starting, often while opening. The
    // first run creates the store and is never killed early (a half-made store is not one).
    const bool early = run > 0 && rng() % 5 == 0;
    const auto delay = std::chrono::microseconds(early ? rng() % 15'000 : rng() % 60'000);
    if (early) {
      ASSERT_TRUE(child.ReadUntil(Clock::now() + delay, false)) << "the child exited";
    } else {
      ++progressing_runs;
      ASSERT_TRUE(child.ReadUntil(Clock::now() + std::chrono::seconds(30), true))
          << "the child exited before its first commit";
      ASSERT_TRUE(child.acknowledged().has_value()) << "no commit in 30 s";
      ASSERT_TRUE(child.ReadUntil(Clock::now() + delay, false)) << "the child exited";
    }
    child.Kill();
    EXPECT_TRUE(child.killed_by_us()) << "the child died on its own";
    EXPECT_EQ(child.unexpected(), "");
    if (child.ready_height()) {
      EXPECT_EQ(*child.ready_height(), tip) << "reopened elsewhere";
    }
    if (!child.ready()) ++during_open;
    const uint64_t acknowledged = child.acknowledged().value_or(tip);
    tip = checker.Check(dir, acknowledged);
    if (tip == acknowledged + 1) ++unacknowledged_kept;
    if (HasFatalFailure() || ::testing::Test::HasFailure()) break;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "crash test: " << kills << " kills, " << during_open
            << " before the store was open, " << unacknowledged_kept
            << " with an unacknowledged block kept, final height " << tip << ", " << seconds << " s"
            << std::endl;
  EXPECT_GE(tip, progressing_runs) << "runs killed after a commit lost it";
}

}  // namespace
}  // namespace city::ledger
