// Signed requests (signed_request.h).
#include "city/net/signed_request.h"

#include <sodium.h>

#include <charconv>
#include <chrono>

#include "city/crypto/address.h"

namespace city::net {
namespace {

constexpr std::string_view kDigestTag = "cityledger/signed-request/v1";

ByteSpan AsSpan(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

void UpdateText(TaggedHasher& hasher, std::string_view text) {
  hasher.UpdateU32(static_cast<uint32_t>(text.size())).Update(AsSpan(text));
}

std::optional<std::string_view> Header(const std::map<std::string, std::string>& headers,
                                       std::string_view name) {
  const auto it = headers.find(std::string(name));
  if (it == headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

Status BadHeader(std::string_view name, std::string_view why) {
  return Status(ErrorCode::kInvalidArgument,
                "header " + std::string(name) + " " + std::string(why));
}

}  // namespace

Hash256 SignedRequestDigest(std::string_view chain_id, std::string_view method,
                            std::string_view target, std::string_view body, uint64_t time_ms,
                            const RequestNonce& nonce) {
  TaggedHasher hasher(kDigestTag);
  UpdateText(hasher, chain_id);
  UpdateText(hasher, method);
  UpdateText(hasher, target);
  hasher.Update(Blake2b256(AsSpan(body)).span());
  hasher.UpdateU32(static_cast<uint32_t>(time_ms >> 32)).UpdateU32(static_cast<uint32_t>(time_ms));
  hasher.Update(ByteSpan(nonce.data(), nonce.size()));
  return hasher.Finish();
}

std::map<std::string, std::string> SignRequest(const KeyPair& key, std::string_view chain_id,
                                               std::string_view method, std::string_view target,
                                               std::string_view body, uint64_t time_ms,
                                               const RequestNonce& nonce) {
  const Hash256 digest = SignedRequestDigest(chain_id, method, target, body, time_ms, nonce);
  return {{std::string(kAccountHeader), EncodeAddress(key.public_key())},
          {std::string(kTimeHeader), std::to_string(time_ms)},
          {std::string(kNonceHeader), ToHex(ByteSpan(nonce.data(), nonce.size()))},
          {std::string(kSignatureHeader), key.Sign(digest.span()).ToHex()}};
}

Result<std::optional<RequestSignature>> ParseRequestSignature(
    const std::map<std::string, std::string>& headers) {
  const std::optional<std::string_view> account = Header(headers, kAccountHeader);
  const std::optional<std::string_view> time = Header(headers, kTimeHeader);
  const std::optional<std::string_view> nonce = Header(headers, kNonceHeader);
  const std::optional<std::string_view> signature = Header(headers, kSignatureHeader);
  if (!account && !time && !nonce && !signature) return std::optional<RequestSignature>();
  for (const auto& [name, value] :
       {std::pair{kAccountHeader, account}, std::pair{kTimeHeader, time},
        std::pair{kNonceHeader, nonce}, std::pair{kSignatureHeader, signature}}) {
    if (!value) return BadHeader(name, "is missing (a signed request carries all four)");
  }
  RequestSignature parsed;
  Result<PublicKey> key = DecodeAddress(*account);
  if (!key.ok()) return BadHeader(kAccountHeader, "is not a city1... address");
  parsed.account = *key;
  auto [end, ec] = std::from_chars(time->data(), time->data() + time->size(), parsed.time_ms);
  if (ec != std::errc() || end != time->data() + time->size() || time->empty()) {
    return BadHeader(kTimeHeader, "must be Unix time in milliseconds");
  }
  Result<Bytes> nonce_bytes = FromHex(*nonce);
  if (!nonce_bytes.ok() || nonce_bytes->size() != kRequestNonceSize) {
    return BadHeader(kNonceHeader, "must be 32 hexadecimal characters");
  }
  std::copy(nonce_bytes->begin(), nonce_bytes->end(), parsed.nonce.begin());
  Result<Signature> sig = Signature::FromHex(*signature);
  if (!sig.ok()) return BadHeader(kSignatureHeader, "must be 128 hexadecimal characters");
  parsed.signature = *sig;
  return std::optional<RequestSignature>(parsed);
}

bool VerifyRequestSignature(const RequestSignature& signature, std::string_view chain_id,
                            std::string_view method, std::string_view target,
                            std::string_view body) {
  const Hash256 digest =
      SignedRequestDigest(chain_id, method, target, body, signature.time_ms, signature.nonce);
  return Verify(signature.account, digest.span(), signature.signature);
}

HttpRequestSigner MakeRequestSigner(std::shared_ptr<const KeyPair> key, std::string chain_id) {
  return [key = std::move(key), chain_id = std::move(chain_id)](
             std::string_view method, std::string_view target, std::string_view body) {
    RequestNonce nonce;
    EnsureSodiumInitialized();
    randombytes_buf(nonce.data(), nonce.size());
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return SignRequest(*key, chain_id, method, target, body, static_cast<uint64_t>(now.count()),
                       nonce);
  };
}

}  // namespace city::net
