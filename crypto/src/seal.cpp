// Sealed boxes to Ed25519 accounts (seal.h).
#include "city/crypto/seal.h"

#include <array>

namespace city {

Result<Bytes> SealTo(const PublicKey& recipient, ByteSpan plaintext) {
  EnsureSodiumInitialized();
  std::array<uint8_t, crypto_box_PUBLICKEYBYTES> x25519{};
  if (crypto_sign_ed25519_pk_to_curve25519(x25519.data(), recipient.bytes.data()) != 0) {
    return Status(ErrorCode::kInvalidArgument, "the recipient is not a valid Ed25519 key");
  }
  Bytes box(plaintext.size() + kSealOverhead);
  if (crypto_box_seal(box.data(), plaintext.data(), plaintext.size(), x25519.data()) != 0) {
    return Status(ErrorCode::kInternal, "sealing failed");
  }
  return box;
}

Result<Bytes> OpenSealed(const KeyPair& recipient, ByteSpan box) {
  EnsureSodiumInitialized();
  if (box.size() < kSealOverhead) {
    return Status(ErrorCode::kUnauthenticated, "not a sealed box: too short");
  }
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> ed_public{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> ed_secret{};
  std::array<uint8_t, crypto_box_PUBLICKEYBYTES> x_public{};
  std::array<uint8_t, crypto_box_SECRETKEYBYTES> x_secret{};
  crypto_sign_seed_keypair(ed_public.data(), ed_secret.data(), recipient.seed().data());
  const bool converted =
      crypto_sign_ed25519_pk_to_curve25519(x_public.data(), ed_public.data()) == 0 &&
      crypto_sign_ed25519_sk_to_curve25519(x_secret.data(), ed_secret.data()) == 0;
  sodium_memzero(ed_secret.data(), ed_secret.size());
  Bytes plaintext(box.size() - kSealOverhead);
  const bool opened = converted && crypto_box_seal_open(plaintext.data(), box.data(), box.size(),
                                                        x_public.data(), x_secret.data()) == 0;
  sodium_memzero(x_secret.data(), x_secret.size());
  if (!opened) {
    return Status(ErrorCode::kUnauthenticated, "the box was not sealed to " +
                                                   recipient.public_key().ToHex().substr(0, 16) +
                                                   "... or was altered");
  }
  return plaintext;
}

}  // namespace city
