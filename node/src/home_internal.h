// What the commands that write a node's home share (home.cpp, ceremony.cpp): checks of their
// arguments, directories and files made with the right modes, and undoing a half-written home.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "city/node/config.h"
#include "city/node/genesis.h"
#include "city/node/home.h"
#include "city/status.h"

namespace city::node::internal {

// Milliseconds since the Unix epoch, for a genesis time.
uint64_t NowMs();
// Creates `dir` with `mode` if missing (its parents as needed, with default modes).
Status MakeDirectory(const std::filesystem::path& dir, mode_t mode);
// True for anything at `path`, a dangling symlink included.
bool PathExists(const std::filesystem::path& path);
// kInvalidArgument for port 0 or equal ports.
Status CheckPorts(uint16_t p2p_port, uint16_t api_port);
// kInvalidArgument for a chain id outside ledger::IsValidChainId.
Status CheckChainId(const std::string& chain_id);
// kAlreadyExists naming the first of the home's files (config, genesis, validator key,
// safety state) or `also` that exists: a home is initialised once.
Status RefuseInitialisedHome(const HomePaths& home, const std::filesystem::path& also);
// config.toml, refusing to overwrite, mode 0644.
Status WriteConfigFile(const std::filesystem::path& path, const NodeConfig& config);
// A new validator has voted nowhere: its safety state starts at the genesis. Written with the
// genesis, so that a validator started without one is known to have lost it.
Status WriteFreshSafetyState(const HomePaths& home, const GenesisDoc& genesis);

// Files written so far, removed again if a later step fails, so that a failed command can
// simply be run again.
class CreatedFiles {
 public:
  ~CreatedFiles() {
    if (committed_) return;
    std::error_code ignored;
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it)
      std::filesystem::remove(*it, ignored);
  }
  Status Add(const std::filesystem::path& path, Status written) {
    if (written.ok()) paths_.push_back(path);
    return written;
  }
  void Commit() { committed_ = true; }

 private:
  std::vector<std::filesystem::path> paths_;
  bool committed_ = false;
};

}  // namespace city::node::internal
