// The shared parts of writing a node's home (home_internal.h).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "city/consensus/core.h"
#include "city/crypto/private_file.h"
#include "city/ledger/safety_file.h"
#include "file_io_internal.h"
#include "home_internal.h"

namespace city::node::internal {

namespace fs = std::filesystem;

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Status MakeDirectory(const fs::path& dir, mode_t mode) {
  std::error_code error;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), error);
  if (error) {
    return Status(ErrorCode::kIoError,
                  "cannot create " + dir.parent_path().string() + ": " + error.message());
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return IoErrorFromErrno("cannot create directory", dir);
  }
  if (!fs::is_directory(dir, error)) {
    return Status(ErrorCode::kInvalidArgument, dir.string() + " exists and is not a directory");
  }
  return Status::Ok();
}

bool PathExists(const fs::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

Status CheckPorts(uint16_t p2p_port, uint16_t api_port) {
  if (p2p_port == 0 || api_port == 0) {
    return Status(ErrorCode::kInvalidArgument, "ports must be in 1..65535");
  }
  if (p2p_port == api_port) {
    return Status(ErrorCode::kInvalidArgument,
                  "the P2P and API ports must differ (both are " + std::to_string(p2p_port) + ")");
  }
  return Status::Ok();
}

Status CheckChainId(const std::string& chain_id) {
  if (ledger::IsValidChainId(chain_id)) return Status::Ok();
  return Status(ErrorCode::kInvalidArgument, "chain id \"" + chain_id + "\" is not 1.." +
                                                 std::to_string(ledger::kMaxChainIdLength) +
                                                 " characters of a-z, 0-9, '.', '_', '-'");
}

Status RefuseInitialisedHome(const HomePaths& home, const fs::path& also) {
  for (const fs::path& path :
       {home.config(), home.genesis(), home.validator_key(), home.safety(), also}) {
    if (PathExists(path)) {
      return Status(ErrorCode::kAlreadyExists, path.string() +
                                                   " already exists; refusing to initialise " +
                                                   home.root.string() + " again");
    }
  }
  return Status::Ok();
}

Status WriteConfigFile(const fs::path& path, const NodeConfig& config) {
  return internal::WriteNewFile(path, RenderConfigToml(config), 0644);
}

Status WriteFreshSafetyState(const HomePaths& home, const GenesisDoc& genesis) {
  Result<GenesisChain> chain = BuildGenesisChain(genesis);
  if (!chain.ok()) return chain.status();
  consensus::SafetyState fresh;
  fresh.high_qc = ledger::QuorumCert::Genesis(chain->block_hash);
  return ledger::SafetyFile(home.safety()).Save(ledger::Encode(fresh));
}

}  // namespace city::node::internal

namespace city::node {

Result<int> LockHome(const HomePaths& paths) {
  const int fd = ::open(paths.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IoErrorFromErrno("cannot open the lock file", paths.lock());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status(ErrorCode::kIoError, "home " + paths.root.string() +
                                           " is locked by another cityd (pid " + holder + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    ::close(fd);
    return IoErrorFromErrno("cannot write the lock file", paths.lock());
  }
  return fd;
}

}  // namespace city::node
