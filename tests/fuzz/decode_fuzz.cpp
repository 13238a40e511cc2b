// libFuzzer target for one ledger decoder (CITY_FUZZ_TYPE, set per target by CMake).
// Any input must either be refused with a Status or decode into an object that re-encodes
// to exactly the input bytes (one encoding per object); verification must not crash either.
#include <cstdlib>

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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzOne<city::ledger::CITY_FUZZ_TYPE>(city::ByteSpan(data, size));
  return 0;
}
