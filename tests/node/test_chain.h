// A real LevelDB chain for the node's parts under test.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "chain.h"
#include "city/node/genesis.h"

namespace city::node::test {

// The chain of `doc` opened (created) in `dir`; a test failure and nullptr when it cannot be.
inline std::unique_ptr<Chain> OpenTestChain(const std::filesystem::path& dir, const GenesisDoc& doc,
                                            ledger::StoreOptions options = {}) {
  Result<GenesisChain> genesis = BuildGenesisChain(doc);
  EXPECT_TRUE(genesis.ok()) << genesis.status().ToString();
  if (!genesis.ok()) return nullptr;
  Result<std::unique_ptr<Chain>> chain = Chain::Open(dir, *genesis, options);
  EXPECT_TRUE(chain.ok()) << chain.status().ToString();
  return chain.ok() ? std::move(*chain) : nullptr;
}

}  // namespace city::node::test
