// One-shot child processes for tests (cityd init/testnet, cityctl): run a program to the end
// or a timeout, stdout and stderr captured through files, stdin from /dev/null, nothing of
// the test process's open files leaking in, and the child killed if the test dies.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace city::test {

// The whole file ("" when it cannot be read).
inline std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct ProcessOptions {
  std::chrono::milliseconds timeout{20'000};
  // The child's whole environment ("NAME=value"); nullopt: the test's own.
  std::optional<std::vector<std::string>> env;
  // A session of its own: no controlling terminal, so nothing can prompt on /dev/tty.
  bool new_session = false;
  // Output appended to the files (a node's log across restarts) rather than replacing them.
  bool append = false;
};

struct ProcessResult {
  int exit_code = -1;  // the exit status; -1 when killed (a signal or the timeout)
  bool timed_out = false;
  std::chrono::milliseconds elapsed{0};
  std::string out;  // stdout
  std::string err;  // stderr
};

// Starts `argv` (argv[0] the program's path) with stdout and stderr to the files (which may be
// the same file), stdin from /dev/null, no open file of the test process inherited (sockets
// it holds must close when it closes them), no blocked signal, and killed when the test
// process dies. The child's pid.
inline pid_t StartProcess(std::vector<std::string> argv, const std::filesystem::path& out_path,
                          const std::filesystem::path& err_path,
                          const ProcessOptions& options = {}) {
  // Everything the child uses is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env = options.env.value_or(std::vector<std::string>{});
  auto pointers = [](std::vector<std::string>& texts) {
    std::vector<char*> out;
    for (std::string& text : texts) out.push_back(text.data());
    out.push_back(nullptr);
    return out;
  };
  std::vector<char*> args = pointers(argv);
  std::vector<char*> envp = pointers(env);
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.append ? O_APPEND : O_TRUNC);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_path.c_str(), flags, 0600);
  const int err_fd = err_path == out_path ? out_fd : ::open(err_path.c_str(), flags, 0600);
  if (null_fd < 0 || out_fd < 0 || err_fd < 0) {
    throw std::runtime_error("cannot open the output files of " + argv[0] + ": " +
                             std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (options.new_session) ::setsid();
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.env) {
      ::execve(args[0], args.data(), envp.data());
    } else {
      ::execv(args[0], args.data());
    }
    const char message[] = "exec failed\n";
    [[maybe_unused]] const ssize_t ignored = ::write(2, message, sizeof message - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(null_fd);
  if (err_fd != out_fd) ::close(err_fd);
  ::close(out_fd);
  if (pid < 0) {
    throw std::runtime_error("cannot fork for " + argv[0] + ": " + std::strerror(fork_errno));
  }
  return pid;
}

// Runs `argv` to completion (killed after the timeout); its output goes through `out_path`
// and `err_path`.
inline ProcessResult RunProcess(std::vector<std::string> argv,
                                const std::filesystem::path& out_path,
                                const std::filesystem::path& err_path,
                                const ProcessOptions& options = {}) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point started = Clock::now();
  const pid_t pid = StartProcess(std::move(argv), out_path, err_path, options);
  ProcessResult result;
  int status = 0;
  // The child is reaped only here, so the kill below can never reach a reused pid.
  while (true) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (Clock::now() - started >= options.timeout) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = ReadFileText(out_path);
  result.err = ReadFileText(err_path);
  return result;
}

}  // namespace city::test
