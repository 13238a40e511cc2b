// A genesis document for node tests: the test chain, a fixed time, `validators` in order as
// node0, node1, ..., and a one-member council (TestKey(10), threshold 1).
#pragma once

#include <string>
#include <vector>

#include "city/contracts/genesis_doc.h"
#include "support/ledger_fixtures.h"

namespace city::test {

inline contracts::GenesisDoc TestGenesisDoc(const std::vector<KeyPair>& validators) {
  contracts::GenesisDoc doc;
  doc.chain_id = std::string(kTestChain);
  doc.genesis_time_ms = 1'700'000'000'000;
  for (size_t i = 0; i < validators.size(); ++i) {
    doc.validators.push_back(
        {std::string("node").append(std::to_string(i)), validators[i].public_key()});
  }
  doc.council = {TestKey(10).public_key()};
  doc.council_threshold = 1;
  return doc;
}

}  // namespace city::test
