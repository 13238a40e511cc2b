// libFuzzer target for one ledger decoder (CITY_FUZZ_TYPE, set per target by CMake).
// Any input must either be refused with a Status or decode into an object that re-encodes
// to exactly the input bytes (one encoding per object); verification must not crash either.
#include <cstdlib>
#include <type_traits>

#include "city/ledger/header_page.h"
#include "city/ledger/records.h"
#include "city/ledger/smt.h"
#include "city/ledger/types.h"

namespace {

template <typename T>
void FuzzOne(city::ByteSpan input) {
  city::Result<T> decoded = city::ledger::Decode<T>(input);
  if (!decoded.ok()) return;
  const city::Bytes again = city::ledger::Encode(*decoded);
  if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin())) {
    std::abort();  // two encodings for one object: hashes and signatures would diverge
  }
  if constexpr (std::is_same_v<T, city::ledger::StateProof>) {
    // An auditor runs this on proofs from untrusted nodes: any proof may fail, none may crash.
    const city::Bytes key{'k'}, value{'v'};
    const city::Hash256 root = city::TaggedHash("fuzz.root", key);
    (void)city::ledger::VerifyStateProof(root, key, city::ByteSpan(value), *decoded);
    (void)city::ledger::VerifyStateProof(root, key, std::nullopt, *decoded);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzOne<city::ledger::CITY_FUZZ_TYPE>(city::ByteSpan(data, size));
  return 0;
}
