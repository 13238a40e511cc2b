// Sealed boxes to an account: anyone can encrypt to an account's Ed25519 public key, only
// the holder of its secret key can open the box (libsodium crypto_box_seal over the keys'
// X25519 forms). Used for the personal text a ledger must carry but must not show: each
// validator stores the box, only the patient and the auditor can read it.
#pragma once

#include <sodium.h>

#include "city/crypto/bytes.h"
#include "city/crypto/ed25519.h"
#include "city/status.h"

namespace city {

inline constexpr size_t kSealOverhead = crypto_box_SEALBYTES;

// kInvalidArgument when `recipient` is not a valid Ed25519 point.
Result<Bytes> SealTo(const PublicKey& recipient, ByteSpan plaintext);
// kUnauthenticated when the box was not sealed to this key or was altered.
Result<Bytes> OpenSealed(const KeyPair& recipient, ByteSpan box);

}  // namespace city
