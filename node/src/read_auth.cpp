// Request authentication (read_auth.h).
#include "read_auth.h"

#include <algorithm>

namespace city::node {

const char* ReadRefusalName(ReadRefusal refusal) {
  switch (refusal) {
    case ReadRefusal::kUnauthenticated:
      return "unauthenticated";
    case ReadRefusal::kMalformedSignature:
      return "malformed_signature";
    case ReadRefusal::kBadSignature:
      return "bad_request_signature";
    case ReadRefusal::kClockSkew:
      return "clock_skew";
    case ReadRefusal::kReplayed:
      return "replayed_request";
    case ReadRefusal::kBusy:
      return "too_many_signed_requests";
    case ReadRefusal::kForbidden:
      return "read_forbidden";
  }
  return "unknown";
}

uint64_t SystemNowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

uint64_t SteadyNowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

RequestAuthenticator::RequestAuthenticator(std::string chain_id, ReadAuthOptions options,
                                           Clock wall_ms, Clock steady_ms, Known known)
    : chain_id_(std::move(chain_id)),
      options_(options),
      wall_ms_(std::move(wall_ms)),
      steady_ms_(std::move(steady_ms)),
      known_(std::move(known)) {}

size_t RequestAuthenticator::remembered() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

void RequestAuthenticator::ForgetBefore(uint64_t steady_ms) {
  while (!forget_at_.empty() && forget_at_.begin()->first <= steady_ms) {
    const Remembered& entry = forget_at_.begin()->second;
    if (auto count = per_account_.find(entry.key.first);
        count != per_account_.end() && --count->second == 0) {
      per_account_.erase(count);
    }
    --(entry.known ? known_count_ : unknown_count_);
    seen_.erase(entry.key);
    forget_at_.erase(forget_at_.begin());
  }
}

Authentication RequestAuthenticator::Authenticate(const net::HttpRequest& request) {
  Result<std::optional<net::RequestSignature>> parsed = net::ParseRequestSignature(request.headers);
  if (!parsed.ok()) {
    return {std::nullopt, ReadRefusal::kMalformedSignature, parsed.status().message()};
  }
  if (!parsed->has_value()) return {};
  const net::RequestSignature& signature = **parsed;
  const uint64_t now = wall_ms_();
  const uint64_t skew = static_cast<uint64_t>(options_.max_clock_skew.count());
  const uint64_t distance =
      signature.time_ms > now ? signature.time_ms - now : now - signature.time_ms;
  if (distance > skew) {
    return {std::nullopt, ReadRefusal::kClockSkew,
            "the request is signed at " + std::to_string(signature.time_ms) + " ms, " +
                std::to_string(distance) + " ms from the node's clock (at most " +
                std::to_string(skew) + " ms)"};
  }
  const NonceKey key{signature.account, signature.nonce};
  {
    std::lock_guard lock(mutex_);
    ForgetBefore(steady_ms_());
    if (seen_.contains(key)) {
      return {std::nullopt, ReadRefusal::kReplayed,
              "this signed request was already used; sign each request with a fresh nonce"};
    }
  }
  // Verified outside the lock: it is the expensive part, and concurrent verifies are fine.
  if (!net::VerifyRequestSignature(signature, chain_id_, request.method, request.target,
                                   request.body)) {
    return {std::nullopt, ReadRefusal::kBadSignature,
            "the signature does not sign this request (method, target, body, time, nonce) on "
            "chain " +
                chain_id_};
  }
  const bool known = known_(signature.account);
  std::lock_guard lock(mutex_);
  // Remembered until the wall clock cannot accept its time any more: at most skew after now
  // (signed up to skew ahead) plus skew, measured on the monotonic clock.
  const uint64_t forget_at = steady_ms_() + 2 * skew;
  const auto counted = per_account_.find(signature.account);
  const size_t mine = counted == per_account_.end() ? 0 : counted->second;
  const bool budget_full = known ? known_count_ >= options_.max_remembered_nonces
                                 : unknown_count_ >= options_.max_unknown_nonces;
  if (budget_full || mine >= options_.max_nonces_per_account) {
    return {std::nullopt, ReadRefusal::kBusy,
            budget_full ? "too many signed requests in the replay window"
                        : "this account signed too many requests in the replay window"};
  }
  // Another thread may have verified the same request meanwhile: only one of them passes.
  if (!seen_.insert(key).second) {
    return {std::nullopt, ReadRefusal::kReplayed, "this signed request was already used"};
  }
  ++per_account_[signature.account];
  ++(known ? known_count_ : unknown_count_);
  forget_at_.emplace(forget_at, Remembered{key, known});
  return {signature.account, std::nullopt, ""};
}

}  // namespace city::node
