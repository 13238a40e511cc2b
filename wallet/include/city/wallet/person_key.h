// The registrar office's person-id key: 32 random bytes that key the hash from a person's
// identity text to the `person_id` on the ledger (contracts::PersonIdFor). Every registrar of
// the office holds the same file, so one person gets one id whoever registers them; nobody
// without it can test a guessed ID number against the ledger. The file is 64 hex digits and
// a newline, mode 0600, like the validator key.
#pragma once

#include <filesystem>

#include "city/crypto/bytes.h"
#include "city/status.h"

namespace city::wallet {

// A new key at `path`: kAlreadyExists rather than overwrite one.
Status CreatePersonKey(const std::filesystem::path& path);
// kNotFound, kPermissionDenied (group or others may read it), kCorruption (not 64 hex).
Result<Bytes> ReadPersonKey(const std::filesystem::path& path);

}  // namespace city::wallet
