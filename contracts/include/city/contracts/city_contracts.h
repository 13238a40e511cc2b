// The city's native contracts together: the registry a node executes with, and the genesis
// state they start from. Including every contract header in one place also makes two
// contracts declaring the same type name a compile error instead of a silent clash.
#pragma once

#include <memory>
#include <vector>

#include "city/contracts/accounts.h"
#include "city/contracts/emr.h"
#include "city/contracts/executor.h"
#include "city/contracts/governance.h"
#include "city/contracts/logistics.h"
#include "city/contracts/ubi.h"

namespace city::contracts {

struct CityGenesis {
  GovernanceGenesis governance;
  UbiGenesis ubi;
  // Enrolled by the genesis in the accounts contract (validators, balance holders); council
  // members and role holders are enrolled through their roles.
  std::vector<PublicKey> enrolled;
};

// accounts, governance, ubi, emr and logistics.
std::unique_ptr<Registry> MakeCityRegistry();
Result<std::vector<ledger::StateWrite>> CityGenesisWrites(const CityGenesis& genesis);

}  // namespace city::contracts
