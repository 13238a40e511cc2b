// Putting a ledger built beside a home's data/ (a restored backup, an imported snapshot) in
// its place, and the check that both need first.
#pragma once

#include <filesystem>

#include "city/contracts/genesis_doc.h"
#include "city/crypto/ed25519.h"
#include "city/node/home.h"

namespace city::node {

// kInvalidArgument when the home's validator is its chain's only one: its next block must
// extend its latest certified block, which only its current ledger holds.
Status CheckNotALoneValidator(const HomePaths& home, const PublicKey& me,
                              const contracts::GenesisChain& genesis,
                              const std::filesystem::path& store_dir);

// Renames the ledger at `staging` to `data`, moving an existing `data` aside first to
// `data.before-<verb>-<now_ms>` (never deleted), then syncs the directory. On failure the old
// ledger is back at `data` (else the message says where both are) and `staging` is removed
// unless it is the only copy left.
Status InstallStore(const std::filesystem::path& staging, const std::filesystem::path& data,
                    uint64_t now_ms, const char* verb);

}  // namespace city::node
