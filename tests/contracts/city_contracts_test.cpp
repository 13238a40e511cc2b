// The city registry and genesis: every contract is registered under its name, genesis
// validation reaches through to each contract's own, and one chain runs calls to all four.
#include "city/contracts/city_contracts.h"

#include <gtest/gtest.h>

#include "support/contract_harness.h"

namespace city::contracts {
namespace {

TEST(CityContracts, RegistryHoldsTheFiveContracts) {
  const std::unique_ptr<Registry> registry = MakeCityRegistry();
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(registry->Names(),
            (std::vector<std::string>{"accounts", "emr", "governance", "logistics", "ubi"}));
  for (const std::string& name : registry->Names()) {
    EXPECT_FALSE(registry->Find(name)->MethodNames().empty()) << name;
    EXPECT_FALSE(registry->Find(name)->QueryNames().empty()) << name;
  }
  EXPECT_EQ(registry->Find("bank"), nullptr);
}

TEST(CityContracts, GenesisValidatesEachPart) {
  CityGenesis genesis;
  EXPECT_FALSE(CityGenesisWrites(genesis).ok());  // no council
  genesis.governance.council.push_back(test::TestKey(1).public_key());
  Result<std::vector<ledger::StateWrite>> writes = CityGenesisWrites(genesis);
  ASSERT_TRUE(writes.ok()) << writes.status().ToString();
  genesis.ubi.balances.push_back({test::TestKey(2).public_key(), 0});  // zero balance refused
  EXPECT_FALSE(CityGenesisWrites(genesis).ok());
}

TEST(CityContracts, OneChainRunsEveryContract) {
  CityGenesis genesis;
  const KeyPair council = test::TestKey(1);
  genesis.governance.council.push_back(council.public_key());
  test::ContractHarness chain(MakeCityRegistry(), *CityGenesisWrites(genesis));
  // A call each; the engine routes it to the contract (which may refuse it for its own
  // reasons), never to "unknown contract".
  for (const char* contract : {"governance", "ubi", "emr", "logistics"}) {
    const ledger::TxResult result = chain.Run(chain.RawTx(council, contract, "no_such_method", {}));
    EXPECT_EQ(result.code, test::CodeOf(Code::kUnknownMethod)) << contract;
  }
  EXPECT_EQ(chain.Run(chain.RawTx(council, "bank", "pay", {})).code,
            test::CodeOf(Code::kUnknownContract));
}

}  // namespace
}  // namespace city::contracts
