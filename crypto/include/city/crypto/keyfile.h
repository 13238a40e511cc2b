// Passphrase-encrypted key files, for keys a person holds.
//
// Format (JSON, at most kMaxKeyFileBytes, mode 0600):
//   {"format":"cityledger-key","version":1,"public_key":"<hex 32>",
//    "kdf":{"alg":"argon2id13","opslimit":N,"memlimit":N,"salt":"<hex 16>"},
//    "cipher":{"alg":"xchacha20poly1305-ietf","nonce":"<hex 24>","ciphertext":"<hex 48>"}}
// The ciphertext is the 32-byte seed sealed with a key derived from the passphrase by
// Argon2id. The associated data binds the format, version, public key and KDF parameters,
// so editing any of them fails authentication like a wrong passphrase does.
#pragma once

#include <filesystem>
#include <string_view>

#include "city/crypto/ed25519.h"

namespace city {

inline constexpr size_t kMaxKeyFileBytes = 4096;

struct KdfParams {
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;  // bytes

  // libsodium's "interactive" cost (~64 MiB, a fraction of a second): the default.
  static KdfParams Interactive();
  // libsodium's "moderate" cost (~256 MiB): for keys that guard more.
  static KdfParams Moderate();
};

// Writes a new key file with mode 0600 (atomically: a temporary file renamed into place).
// Refuses to overwrite an existing file (kAlreadyExists).
Status WriteKeyFile(const std::filesystem::path& path, const KeyPair& key,
                    std::string_view passphrase, KdfParams kdf = KdfParams::Interactive());

// Errors: kNotFound (no file), kPermissionDenied (group or others can access it),
// kCorruption (not a key file, truncated, out-of-range fields), kUnauthenticated (wrong
// passphrase or a tampered file).
Result<KeyPair> ReadKeyFile(const std::filesystem::path& path, std::string_view passphrase);

// The public key stored in a key file, without the passphrase (for listing keys). The
// key is only trusted once ReadKeyFile has authenticated it.
Result<PublicKey> ReadKeyFilePublicKey(const std::filesystem::path& path);

}  // namespace city
