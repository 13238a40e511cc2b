// cityctl's key store: one encrypted key file per name, DIR/NAME.key (the format of
// city/crypto/keyfile.h: Argon2id + XChaCha20-Poly1305, mode 0600), so a testnet's keys/
// directory is a key store as it is. Names are 1..64 of [a-z0-9_-].
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/status.h"

namespace city::wallet {

struct StoredKey {
  std::string name;
  PublicKey public_key;  // from the file's public header: trusted only once decrypted
  std::filesystem::path path;
};

class KeyStore {
 public:
  explicit KeyStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  const std::filesystem::path& dir() const { return dir_; }

  static Status CheckName(std::string_view name);
  std::filesystem::path PathOf(std::string_view name) const;

  // A fresh key, encrypted with `passphrase` (kAlreadyExists if the name is taken; the
  // directory is created, mode 0700).
  Result<StoredKey> Create(std::string_view name, std::string_view passphrase);
  // Sorted by name; files that are not key files are skipped.
  Result<std::vector<StoredKey>> List() const;
  Result<StoredKey> Find(std::string_view name) const;
  // kUnauthenticated "wrong passphrase for key NAME" when it does not decrypt.
  Result<KeyPair> Load(std::string_view name, std::string_view passphrase) const;
  // Copies a key file in after checking that `passphrase` opens it; kept encrypted as is.
  Result<StoredKey> Import(std::string_view name, const std::filesystem::path& file,
                           std::string_view passphrase);
  // Writes the key, still encrypted, to `file` (mode 0600, never overwriting), after checking
  // that `passphrase` opens it.
  Status Export(std::string_view name, const std::filesystem::path& file,
                std::string_view passphrase) const;
  Status Delete(std::string_view name);

 private:
  std::filesystem::path dir_;
};

}  // namespace city::wallet
