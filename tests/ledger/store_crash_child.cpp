// city-store-crash-child DIR RETAIN_VERSIONS MAX_HEIGHT: opens the store in DIR (creating it
// when there is none) and commits the deterministic chain (support/chain_fixtures.h) from its
// tip, persisting each block as pending first, as consensus would. Prints "ready H" once open
// and "committed H" after each Commit returns, flushed, so the parent knows what was
// acknowledged when it kills this process with SIGKILL.
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "city/ledger/store.h"
#include "support/chain_fixtures.h"

namespace {

int Fail(const char* what, const city::Status& status) {
  std::fprintf(stderr, "city-store-crash-child: %s: %s\n", what, status.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using city::ledger::LedgerStore;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
  if (argc != 4) {
    std::fprintf(stderr, "usage: city-store-crash-child DIR RETAIN_VERSIONS MAX_HEIGHT\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  city::ledger::StoreOptions options;
  options.retain_versions = std::strtoull(argv[2], nullptr, 10);
  const uint64_t max_height = std::strtoull(argv[3], nullptr, 10);

  auto opened = LedgerStore::Open(dir, options);
  if (!opened.ok() && opened.status().code() == city::ErrorCode::kNotFound) {
    opened = LedgerStore::Create(dir, city::test::ChainGenesis(), options);
  }
  if (!opened.ok()) return Fail("open", opened.status());
  std::unique_ptr<LedgerStore> store = std::move(opened).value();

  city::ledger::StoreTip tip = store->tip();
  std::printf("ready %llu\n", static_cast<unsigned long long>(tip.height));
  std::fflush(stdout);
  city::Hash256 parent = tip.block_hash;
  for (uint64_t height = tip.height + 1; height <= max_height; ++height) {
    const city::ledger::CommitRequest request = city::test::ChainCommit(height, parent);
    const city::Status pending = store->PutPendingBlock(request.block);
    if (!pending.ok()) return Fail("put pending block", pending);
    const auto info = store->Commit(request);
    if (!info.ok()) return Fail("commit", info.status());
    parent = info->block_hash;
    std::printf("committed %llu\n", static_cast<unsigned long long>(height));
    std::fflush(stdout);
  }
  return 0;
}
