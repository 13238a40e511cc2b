// The registrar office's person-id key file (person_key.h).
#include "city/wallet/person_key.h"

#include <sodium.h>

#include "city/contracts/ubi.h"
#include "city/crypto/ed25519.h"
#include "city/crypto/private_file.h"

namespace city::wallet {

Status CreatePersonKey(const std::filesystem::path& path) {
  EnsureSodiumInitialized();
  Bytes key(contracts::kPersonKeySize);
  randombytes_buf(key.data(), key.size());
  const Status written = WriteNewFile(path, ToHex(key) + "\n", 0600);
  sodium_memzero(key.data(), key.size());
  return written;
}

Result<Bytes> ReadPersonKey(const std::filesystem::path& path) {
  Result<std::string> text = ReadPrivateFile(path, 256, "person-id key file");
  if (!text.ok()) return text.status();
  std::string hex = *text;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  Result<Bytes> key = FromHex(hex);
  sodium_memzero(hex.data(), hex.size());
  if (!key.ok() || key->size() != contracts::kPersonKeySize) {
    return Status(ErrorCode::kCorruption,
                  path.string() + " is not a person-id key file (64 hex digits)");
  }
  return key;
}

}  // namespace city::wallet
