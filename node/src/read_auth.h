// Who is asking: checks a request's signature (city/net/signed_request.h) against the
// chain id, the node's clock and the replay window. A request without signature headers is
// anonymous; one whose signature fails is refused whatever it asks for.
//
// The replay window is memory an attacker could fill, so it holds only the nonces of enrolled
// accounts (the readers the policy gives rights to), at most max_nonces_per_account of each.
// A key nobody enrolled may still sign (its signature is checked, so a client learns of a
// signing mistake), but its nonce is not remembered: such a reader sees only what any
// reader sees, so replaying its request reveals nothing.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "city/net/http_server.h"
#include "city/net/signed_request.h"

namespace city::node {

// Why the API refuses a read. Each has a stable name (the error code); the HTTP status is
// set in api.cpp only.
enum class ReadRefusal {
  kUnauthenticated,     // this read needs a signed request, and the request is not signed
  kMalformedSignature,  // signature headers missing or malformed
  kBadSignature,        // the signature does not sign this request on this chain
  kClockSkew,           // the signed time is too far from the node's clock
  kReplayed,            // this (account, nonce) was already used within the window
  kBusy,                // the replay window is full: try again shortly
  kForbidden,           // signed, but this account may not read this
};
const char* ReadRefusalName(ReadRefusal refusal);

struct ReadAuthOptions {
  std::chrono::milliseconds max_clock_skew{30'000};
  size_t max_remembered_nonces = 200'000;
  // 200 signed requests a second (the per-address rate) for the whole window of 2 x skew.
  size_t max_nonces_per_account = 12'000;
};

// The outcome: the account that signed (nullopt: anonymous), or why the request is refused.
struct Authentication {
  std::optional<PublicKey> account;
  std::optional<ReadRefusal> refusal;
  std::string message;
  bool remembered = false;  // the nonce is in the replay window (an enrolled signer)
};

// Thread-safe.
class RequestAuthenticator {
 public:
  using Clock = std::function<uint64_t()>;  // Unix ms
  using Enrolled = std::function<bool(const PublicKey&)>;
  RequestAuthenticator(std::string chain_id, ReadAuthOptions options, Clock now_ms,
                       Enrolled enrolled);

  Authentication Authenticate(const net::HttpRequest& request);
  size_t remembered() const;

 private:
  using NonceKey = std::pair<PublicKey, net::RequestNonce>;
  void ForgetBefore(uint64_t now_ms);
  // Under mutex_: a signature whose window another thread's clock reading has already
  // forgotten could be a replay that is no longer recognised.
  bool Forgotten(uint64_t signed_at_ms) const;

  const std::string chain_id_;
  const ReadAuthOptions options_;
  const Clock now_ms_;
  const Enrolled enrolled_;
  mutable std::mutex mutex_;
  std::set<NonceKey> seen_;                      // guarded by mutex_
  std::map<PublicKey, size_t> per_account_;      // remembered nonces; guarded by mutex_
  std::multimap<uint64_t, NonceKey> forget_at_;  // when each may be forgotten; guarded by mutex_
  uint64_t forgotten_through_ = 0;               // the latest clock ForgetBefore saw; mutex_
};

// The system clock in Unix ms.
uint64_t SystemNowMs();

}  // namespace city::node
