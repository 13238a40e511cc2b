// Who is asking: checks a request's signature (city/net/signed_request.h) against the
// chain id, the node's clock and the replay window. A request without signature headers is
// anonymous; one whose signature fails is refused whatever it asks for.
//
// The replay window is memory an attacker could fill with freshly made keys. So it has two
// budgets: one for the readers the chain knows (enrolled accounts and this node's operator
// key), one for every other signer, and each account holds at most max_nonces_per_account.
// Keys nobody enrolled can exhaust only their own budget; then they are told to retry (they
// may still read what anyone reads without signing), and the known readers go on.
//
// A nonce is remembered for twice the skew after it arrived, by the monotonic clock: longer
// than any signed time the wall clock still accepts, however the requests' clock readings
// interleave, and a wall clock that jumps cannot make the node forget early or lock
// everyone out.
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
  size_t max_remembered_nonces = 200'000;  // of known readers
  size_t max_unknown_nonces = 50'000;      // of signers the chain does not know
  // 200 signed requests a second (the per-address rate) for the whole window of 2 x skew.
  size_t max_nonces_per_account = 12'000;
};

// The outcome: the account that signed (nullopt: anonymous), or why the request is refused.
struct Authentication {
  std::optional<PublicKey> account;
  std::optional<ReadRefusal> refusal;
  std::string message;
};

// Thread-safe.
class RequestAuthenticator {
 public:
  using Clock = std::function<uint64_t()>;  // ms
  // Whether the chain knows the account (enrolled, or this node's operator key).
  using Known = std::function<bool(const PublicKey&)>;
  // `wall_ms`: Unix ms, for the signed time; `steady_ms`: a monotonic clock, for forgetting.
  RequestAuthenticator(std::string chain_id, ReadAuthOptions options, Clock wall_ms,
                       Clock steady_ms, Known known);

  Authentication Authenticate(const net::HttpRequest& request);
  size_t remembered() const;

 private:
  using NonceKey = std::pair<PublicKey, net::RequestNonce>;
  struct Remembered {
    NonceKey key;
    bool known = false;  // which budget it counts against
  };
  void ForgetBefore(uint64_t steady_ms);

  const std::string chain_id_;
  const ReadAuthOptions options_;
  const Clock wall_ms_;
  const Clock steady_ms_;
  const Known known_;
  mutable std::mutex mutex_;
  std::set<NonceKey> seen_;                        // guarded by mutex_
  std::map<PublicKey, size_t> per_account_;        // remembered nonces; guarded by mutex_
  std::multimap<uint64_t, Remembered> forget_at_;  // by steady ms; guarded by mutex_
  size_t known_count_ = 0;                         // guarded by mutex_
  size_t unknown_count_ = 0;                       // guarded by mutex_
};

// The system clock in Unix ms, and a monotonic clock in ms.
uint64_t SystemNowMs();
uint64_t SteadyNowMs();

}  // namespace city::node
