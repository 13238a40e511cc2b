// EMR arguments as a sender builds them: text sealed to the patient (and the auditor's key
// when given), through the contract's own SealForPatient.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string_view>

#include "city/contracts/emr.h"

namespace city::test {

inline contracts::SealedText Sealed(const PublicKey& patient, std::string_view text,
                                    const std::optional<PublicKey>& auditor = std::nullopt) {
  Result<contracts::SealedText> sealed = contracts::SealForPatient(
      patient, auditor, text, contracts::kMaxJustificationLength, "test text");
  EXPECT_TRUE(sealed.ok()) << sealed.status().ToString();
  return sealed.ok() ? std::move(*sealed) : contracts::SealedText{};
}

}  // namespace city::test
