// Untrusted signed-read headers (X-City-Account/Time/Nonce/Signature) as a client sends them:
// the bytes are split at newlines into up to four header values, some absent. Whatever they
// are, parsing gives no signature, a clear error or a well-formed signature, never a crash;
// a parsed signature was sent with all four headers, and checking it is safe too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "city/net/signed_request.h"

namespace {

[[noreturn]] void Fail() { std::abort(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte's low four bits say which headers are present; the rest are their values.
  const unsigned present = size > 0 ? data[0] & 0xF : 0;
  std::string_view rest = size > 0 ? input.substr(1) : input;
  const std::string_view names[] = {city::net::kAccountHeader, city::net::kTimeHeader,
                                    city::net::kNonceHeader, city::net::kSignatureHeader};
  std::map<std::string, std::string> headers;
  for (unsigned i = 0; i < 4; ++i) {
    const size_t end = rest.find('\n');
    const std::string_view value = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if ((present >> i) & 1U) headers.emplace(std::string(names[i]), std::string(value));
  }

  const auto parsed = city::net::ParseRequestSignature(headers);
  if (!parsed.ok()) {
    if (headers.empty()) Fail();  // no headers is "unsigned", not an error
    return 0;
  }
  if (!parsed->has_value()) {
    if (!headers.empty()) Fail();  // some headers, yet read as unsigned: a bypass
    return 0;
  }
  if (headers.size() != 4) Fail();
  // A forged signature over whatever the rest of the input is must not verify, nor crash.
  if (city::net::VerifyRequestSignature(**parsed, "fuzz-chain", "GET", rest, rest)) Fail();
  return 0;
}
