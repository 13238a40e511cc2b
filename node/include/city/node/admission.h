// Why a transaction was not admitted: one reason per rule of the intake path (tx_intake.h)
// and the mempool (mempool.h), each with a stable name for clients and whether it shows a
// fault of the peer that gossiped it. The API alone maps reasons to HTTP statuses.
#pragma once

#include <cstdint>

namespace city::node {

enum class Admission : uint8_t {
  kWrongChain,        // signed for another chain
  kInvalid,           // breaks a stateless rule of the transaction format
  kTooLarge,          // over the size limit
  kAlreadyCommitted,  // this id is in a committed block
  kUnknownSender,     // the sender is not enrolled (contracts/accounts.h)
  kExpired,           // expiry height at or below the tip
  kExpiryTooFar,      // expiry further ahead than the node's horizon
  kNonceUsed,         // nonce below the sender's committed next nonce (a replay)
  kNonceConflict,     // another pending transaction of the sender has this nonce
  kNonceGap,          // nonce further ahead than the node's window
  kSenderFull,        // the sender's pending quota is used
  kClientFull,        // the submitting client's (IP's) pending quota is used
  kMempoolFull,       // no room, and nothing that cannot run left to evict
  kOverloaded,        // too many transactions waiting for a signature check
  kBadSignature,      // the signature does not verify for the sender's key
};

// "wrong_chain", "invalid", ..., "bad_signature": the `code` clients see.
const char* AdmissionName(Admission reason);

// True when an honest validator never gossips such a transaction: its signature or its
// format is wrong whatever the state. A peer's state may differ from ours (nonces, expiry,
// a full pool), so those reasons are never held against it.
bool IsPeerFault(Admission reason);

// The node is busy, not the transaction wrong: the client should retry later.
bool IsBackpressure(Admission reason);

}  // namespace city::node
