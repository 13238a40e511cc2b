// Signed requests: how a client proves which account is asking, for reads the node does not
// serve to anyone (docs/node.md, "Signed reads"). The account's Ed25519 key signs a digest of
//   chain id, method, target (path and query exactly as sent), BLAKE2b-256 of the body,
//   the client's time (Unix ms) and a fresh 16-byte nonce,
// and the request carries it in four headers:
//   X-City-Account: city1...   X-City-Time: 1764670000000
//   X-City-Nonce: <32 hex>     X-City-Signature: <128 hex>
// The node refuses a time further than its skew bound from its own clock, and the same
// (account, nonce) twice within that window. The client and the node both build the digest
// here, so the two can never disagree about what was signed.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "city/crypto/ed25519.h"
#include "city/crypto/hash.h"
#include "city/net/http_client.h"
#include "city/status.h"

namespace city::net {

inline constexpr std::string_view kAccountHeader = "x-city-account";
inline constexpr std::string_view kTimeHeader = "x-city-time";
inline constexpr std::string_view kNonceHeader = "x-city-nonce";
inline constexpr std::string_view kSignatureHeader = "x-city-signature";

inline constexpr size_t kRequestNonceSize = 16;
using RequestNonce = std::array<uint8_t, kRequestNonceSize>;

struct RequestSignature {
  PublicKey account;
  uint64_t time_ms = 0;
  RequestNonce nonce{};
  Signature signature;
};

// What the account signs.
Hash256 SignedRequestDigest(std::string_view chain_id, std::string_view method,
                            std::string_view target, std::string_view body, uint64_t time_ms,
                            const RequestNonce& nonce);

// The four headers (names lower-case) of a request signed by `key`.
std::map<std::string, std::string> SignRequest(const KeyPair& key, std::string_view chain_id,
                                               std::string_view method, std::string_view target,
                                               std::string_view body, uint64_t time_ms,
                                               const RequestNonce& nonce);

// The signature a request carries: nullopt when it has none of the four headers;
// kInvalidArgument naming the header when some are missing or malformed. `headers` have
// lower-case names (HttpRequest::headers). Checks form only, not the signature.
Result<std::optional<RequestSignature>> ParseRequestSignature(
    const std::map<std::string, std::string>& headers);

// Whether `signature` signs this request on this chain.
bool VerifyRequestSignature(const RequestSignature& signature, std::string_view chain_id,
                            std::string_view method, std::string_view target,
                            std::string_view body);

// An HttpClient signer: every request signed by `key` at the system clock's time, with a
// random nonce.
HttpRequestSigner MakeRequestSigner(std::shared_ptr<const KeyPair> key, std::string chain_id);

}  // namespace city::net
