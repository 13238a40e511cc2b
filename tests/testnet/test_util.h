// Helpers shared by the testnet tests: the network several tests share, and checks of API
// answers.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "localnet.h"

namespace city::testnet {

// One 4-validator network for the tests that do not break it (started on first use, stopped
// after the last test). Kept on disk when any test using it failed.
LocalNet& SharedNet();

class SharedNetTest : public ::testing::Test {
 protected:
  void TearDown() override;
};

// `tx` (a GET /v1/tx/{id} body) is committed with an ok result.
::testing::AssertionResult CommittedOk(const Json& tx);

// The u64 of an event's data (8 bytes little-endian, as hex), e.g. the id a contract assigned.
uint64_t U64FromLeHex(const std::string& hex);

// The data of the first event named `name` in a committed transaction's result, or "".
std::string EventData(const Json& tx, std::string_view name);

}  // namespace city::testnet
