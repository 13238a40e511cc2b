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

RequestAuthenticator::RequestAuthenticator(std::string chain_id, ReadAuthOptions options,
                                           Clock now_ms, Enrolled enrolled)
    : chain_id_(std::move(chain_id)),
      options_(options),
      now_ms_(std::move(now_ms)),
      enrolled_(std::move(enrolled)) {}

size_t RequestAuthenticator::remembered() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

void RequestAuthenticator::ForgetBefore(uint64_t now_ms) {
  forgotten_through_ = std::max(forgotten_through_, now_ms);
  while (!forget_at_.empty() && forget_at_.begin()->first < forgotten_through_) {
    const NonceKey& key = forget_at_.begin()->second;
    if (auto count = per_account_.find(key.first);
        count != per_account_.end() && --count->second == 0) {
      per_account_.erase(count);
    }
    seen_.erase(key);
    forget_at_.erase(forget_at_.begin());
  }
}

bool RequestAuthenticator::Forgotten(uint64_t signed_at_ms) const {
  return signed_at_ms + static_cast<uint64_t>(options_.max_clock_skew.count()) < forgotten_through_;
}

Authentication RequestAuthenticator::Authenticate(const net::HttpRequest& request) {
  Result<std::optional<net::RequestSignature>> parsed = net::ParseRequestSignature(request.headers);
  if (!parsed.ok()) {
    return {std::nullopt, ReadRefusal::kMalformedSignature, parsed.status().message()};
  }
  if (!parsed->has_value()) return {};
  const net::RequestSignature& signature = **parsed;
  const uint64_t now = now_ms_();
  const uint64_t skew = static_cast<uint64_t>(options_.max_clock_skew.count());
  const uint64_t distance =
      signature.time_ms > now ? signature.time_ms - now : now - signature.time_ms;
  const auto stale = [&] {
    return Authentication{std::nullopt, ReadRefusal::kClockSkew,
                          "the request is signed at " + std::to_string(signature.time_ms) +
                              " ms, " + std::to_string(distance) +
                              " ms from the node's clock (at most " + std::to_string(skew) +
                              " ms)"};
  };
  if (distance > skew) return stale();
  const NonceKey key{signature.account, signature.nonce};
  {
    std::lock_guard lock(mutex_);
    ForgetBefore(now);
    if (Forgotten(signature.time_ms)) return stale();
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
  // A key nobody enrolled has no more rights than an anonymous reader: its nonces are not
  // worth memory an attacker with fresh keys could fill.
  if (!enrolled_(signature.account)) return {signature.account, std::nullopt, ""};
  std::lock_guard lock(mutex_);
  if (Forgotten(signature.time_ms)) return stale();
  size_t& mine = per_account_[signature.account];
  if (seen_.size() >= options_.max_remembered_nonces || mine >= options_.max_nonces_per_account) {
    if (mine == 0) per_account_.erase(signature.account);
    return {std::nullopt, ReadRefusal::kBusy,
            mine >= options_.max_nonces_per_account
                ? "this account signed too many requests in the replay window"
                : "too many signed requests in the replay window"};
  }
  // Another thread may have verified the same request meanwhile: only one of them passes.
  if (!seen_.insert(key).second) {
    if (mine == 0) per_account_.erase(signature.account);
    return {std::nullopt, ReadRefusal::kReplayed, "this signed request was already used"};
  }
  ++mine;
  // Past time + skew the clock check refuses it anyway.
  forget_at_.emplace(signature.time_ms + skew, key);
  return {signature.account, std::nullopt, "", /*remembered=*/true};
}

}  // namespace city::node
