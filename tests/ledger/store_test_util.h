// Small helpers shared by the store tests: status assertions and unwrapping results.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "city/ledger/store.h"

namespace city::test {

inline std::string Describe(const Status& status) { return status.ToString(); }
template <typename T>
std::string Describe(const Result<T>& result) {
  return result.status().ToString();
}

#define CITY_ASSERT_OK(expr)                                        \
  do {                                                              \
    const auto& city_ok_ = (expr);                                  \
    ASSERT_TRUE(city_ok_.ok()) << ::city::test::Describe(city_ok_); \
  } while (0)

#define CITY_EXPECT_OK(expr)                                        \
  do {                                                              \
    const auto& city_ok_ = (expr);                                  \
    EXPECT_TRUE(city_ok_.ok()) << ::city::test::Describe(city_ok_); \
  } while (0)

// The value of a Result; an error becomes an exception, which GoogleTest reports as a failure
// of the test (usable where ASSERT cannot be, e.g. in helpers that return values).
template <typename T>
T Must(Result<T> result, std::string_view what = "") {
  if (!result.ok()) {
    throw std::runtime_error(std::string(what) + (what.empty() ? "" : ": ") +
                             result.status().ToString());
  }
  return std::move(result).value();
}

inline void Must(const Status& status, std::string_view what = "") {
  if (!status.ok()) {
    throw std::runtime_error(std::string(what) + (what.empty() ? "" : ": ") + status.ToString());
  }
}

// Verifies a StateAt from ProveState against `root` for `key`.
inline Status VerifyStateAt(const Hash256& root, ByteSpan key, const ledger::StateAt& at) {
  std::optional<ByteSpan> value;
  if (at.value) value = ByteSpan(*at.value);
  return ledger::VerifyStateProof(root, key, value, at.proof);
}

}  // namespace city::test
