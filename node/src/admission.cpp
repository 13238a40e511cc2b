// Admission reasons (admission.h).
#include "city/node/admission.h"

namespace city::node {

const char* AdmissionName(Admission reason) {
  switch (reason) {
    case Admission::kWrongChain:
      return "wrong_chain";
    case Admission::kInvalid:
      return "invalid";
    case Admission::kTooLarge:
      return "too_large";
    case Admission::kAlreadyCommitted:
      return "already_committed";
    case Admission::kUnknownSender:
      return "unknown_sender";
    case Admission::kExpired:
      return "expired";
    case Admission::kExpiryTooFar:
      return "expiry_too_far";
    case Admission::kNonceUsed:
      return "nonce_used";
    case Admission::kNonceConflict:
      return "nonce_conflict";
    case Admission::kNonceGap:
      return "nonce_gap";
    case Admission::kSenderFull:
      return "sender_full";
    case Admission::kClientFull:
      return "client_full";
    case Admission::kMempoolFull:
      return "mempool_full";
    case Admission::kOverloaded:
      return "overloaded";
    case Admission::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

bool IsPeerFault(Admission reason) {
  return reason == Admission::kWrongChain || reason == Admission::kInvalid ||
         reason == Admission::kTooLarge || reason == Admission::kBadSignature;
}

bool IsBackpressure(Admission reason) {
  return reason == Admission::kSenderFull || reason == Admission::kClientFull ||
         reason == Admission::kMempoolFull || reason == Admission::kOverloaded;
}

}  // namespace city::node
