// Installing a ledger into a home (store_install.h).
#include "store_install.h"

#include <cstdio>
#include <optional>
#include <system_error>

#include "chain.h"
#include "city/consensus/core.h"
#include "city/crypto/private_file.h"
#include "city/ledger/safety_file.h"
#include "epochs.h"

namespace city::node {

namespace fs = std::filesystem;
using contracts::GenesisChain;

// A chain whose only validator is this home's cannot be restored: the validator's next block
// must extend its latest certified block, which is certified but not committed (a backup never
// has it) and held by no peer. Seen in the copy's validator set after its tip, or in the
// safety state's latest certificate, signed by this validator alone (a quorum of one).
Status CheckNotALoneValidator(const HomePaths& home, const PublicKey& me,
                              const GenesisChain& genesis, const std::filesystem::path& store_dir) {
  // The safety state's latest certificate says best who the validator's quorum was last; a
  // root certificate (no signatures: it never certified anything since) says nothing, and
  // then the set the copy names after its tip decides.
  std::optional<bool> alone;
  Result<std::optional<Bytes>> stored = ledger::SafetyFile(home.safety()).Load();
  if (stored.ok() && stored->has_value()) {
    Result<consensus::SafetyState> safety = ledger::Decode<consensus::SafetyState>(**stored);
    if (safety.ok() && !safety->high_qc.signatures.empty()) {
      const std::vector<ledger::CertSignature>& signers = safety->high_qc.signatures;
      alone = signers.size() == 1 && signers[0].signer == me;
    }
  }
  if (!alone) {
    Result<std::unique_ptr<Chain>> chain = Chain::Open(store_dir, genesis, ledger::StoreOptions{});
    if (!chain.ok()) return chain.status();
    Result<ledger::Epoch> epoch = EpochAfterTip(**chain);
    if (!epoch.ok()) return epoch.status();
    alone = epoch->validators.size() == 1 && epoch->validators.Contains(me);
  }
  if (!*alone) return Status::Ok();
  return Status(
      ErrorCode::kInvalidArgument,
      "this home's validator is its chain's only one: its next block must extend its latest "
      "certified block, which only its current ledger holds (a backup has committed blocks "
      "only), and no peer could send it. Keep the current data/; a lone validator's backups "
      "are copies to read, not to restore into it");
}

Status InstallStore(const fs::path& staging, const fs::path& data, uint64_t now_ms,
                    const char* verb) {
  std::error_code error;
  std::optional<fs::path> aside;
  if (fs::exists(fs::symlink_status(data, error))) {
    aside = data.string() + ".before-" + verb + "-" + std::to_string(now_ms);
    if (::rename(data.c_str(), aside->c_str()) != 0) {
      Status status = IoErrorFromErrno("cannot move the old ledger aside from", data);
      fs::remove_all(staging, error);
      return status;
    }
  }
  if (::rename(staging.c_str(), data.c_str()) != 0) {
    Status status = IoErrorFromErrno("cannot move the new ledger into place at", data);
    if (aside && ::rename(aside->c_str(), data.c_str()) != 0) {
      return Status(status.code(), status.message() + "; the old ledger is at " + aside->string() +
                                       ", the new one at " + staging.string());
    }
    fs::remove_all(staging, error);
    return status;
  }
  return SyncParentDirectory(data);
}

}  // namespace city::node
