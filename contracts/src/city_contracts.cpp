// The registry of the city's native contracts and their genesis state (city_contracts.h).
#include "city/contracts/city_contracts.h"

#include <cstdio>
#include <cstdlib>

namespace city::contracts {

std::unique_ptr<Registry> MakeCityRegistry() {
  std::vector<std::unique_ptr<Contract>> contracts;
  contracts.push_back(MakeAccounts());
  contracts.push_back(MakeGovernance());
  contracts.push_back(MakeUbi());
  contracts.push_back(MakeEmr());
  contracts.push_back(MakeLogistics());
  auto registry = std::make_unique<Registry>();
  for (std::unique_ptr<Contract>& contract : contracts) {
    const Status added = registry->Add(std::move(contract));
    // Fixed names, so a failure is a bug in this file, never an input.
    if (!added.ok()) {
      std::fprintf(stderr, "city contracts: %s\n", added.ToString().c_str());
      std::abort();
    }
  }
  return registry;
}

Result<std::vector<ledger::StateWrite>> CityGenesisWrites(const CityGenesis& genesis) {
  Result<std::vector<ledger::StateWrite>> writes = GovernanceGenesisWrites(genesis.governance);
  if (!writes.ok()) return writes.status();
  Result<std::vector<ledger::StateWrite>> ubi = UbiGenesisWrites(genesis.ubi);
  if (!ubi.ok()) return ubi.status();
  writes->insert(writes->end(), ubi->begin(), ubi->end());
  Result<std::vector<ledger::StateWrite>> enrolled = AccountsGenesisWrites(genesis.enrolled);
  if (!enrolled.ok()) return enrolled.status();
  writes->insert(writes->end(), enrolled->begin(), enrolled->end());
  return writes;
}

}  // namespace city::contracts
