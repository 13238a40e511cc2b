// libFuzzer target for the address decoder: any string is refused or round-trips.
#include <cstdlib>
#include <string>

#include "city/crypto/address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  city::Result<city::PublicKey> key = city::DecodeAddress(text);
  if (!key.ok()) return 0;
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (city::EncodeAddress(*key) != lower) std::abort();
  return 0;
}
