// The key store (keystore.h): a directory of encrypted key files.
#include "city/wallet/keystore.h"

#include <sys/stat.h>

#include <algorithm>
#include <system_error>

#include "city/crypto/keyfile.h"
#include "city/crypto/private_file.h"

namespace city::wallet {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxKeyNameLength = 64;
constexpr std::string_view kKeySuffix = ".key";

Status EnsureDirectory(const fs::path& dir) {
  std::error_code ec;
  if (fs::create_directories(dir, ec); ec) {
    return Status(ErrorCode::kIoError,
                  "cannot create the key store " + dir.string() + ": " + ec.message());
  }
  // Key files are encrypted, but their names and addresses are nobody else's business.
  ::chmod(dir.c_str(), 0700);
  return Status::Ok();
}

// The key file's bytes, after checking that `passphrase` opens it: what import and export
// copy, so a key never leaves or enters the store unreadable.
Result<std::string> ReadOpenableKeyFile(const fs::path& file, std::string_view passphrase,
                                        std::string_view label) {
  Result<KeyPair> key = ReadKeyFile(file, passphrase);
  if (!key.ok()) {
    if (key.status().code() == ErrorCode::kUnauthenticated) {
      return Status(ErrorCode::kUnauthenticated, "wrong passphrase for " + std::string(label));
    }
    return key.status();
  }
  return ReadPrivateFile(file, kMaxKeyFileBytes, "key file");
}

}  // namespace

Status KeyStore::CheckName(std::string_view name) {
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (name.empty() || name.size() > kMaxKeyNameLength || !valid_chars) {
    return Status(ErrorCode::kInvalidArgument,
                  "bad key name '" + std::string(name) + "': use 1 to 64 of a-z 0-9 _ -");
  }
  return Status::Ok();
}

fs::path KeyStore::PathOf(std::string_view name) const {
  return dir_ / (std::string(name) + std::string(kKeySuffix));
}

Result<StoredKey> KeyStore::Create(std::string_view name, std::string_view passphrase) {
  if (Status s = CheckName(name); !s.ok()) return s;
  if (Status s = EnsureDirectory(dir_); !s.ok()) return s;
  const KeyPair key = KeyPair::Generate();
  const fs::path path = PathOf(name);
  if (Status s = WriteKeyFile(path, key, passphrase); !s.ok()) {
    if (s.code() == ErrorCode::kAlreadyExists) {
      return Status(ErrorCode::kAlreadyExists,
                    "a key named " + std::string(name) + " already exists (" + path.string() + ")");
    }
    return s;
  }
  return StoredKey{std::string(name), key.public_key(), path};
}

Result<std::vector<StoredKey>> KeyStore::List() const {
  std::vector<StoredKey> keys;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return keys;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    const fs::path& path = entry.path();
    if (path.extension() != kKeySuffix || !CheckName(path.stem().string()).ok()) continue;
    Result<PublicKey> key = ReadKeyFilePublicKey(path);
    if (!key.ok()) continue;
    keys.push_back({path.stem().string(), *key, path});
  }
  if (ec) {
    return Status(ErrorCode::kIoError,
                  "cannot list the key store " + dir_.string() + ": " + ec.message());
  }
  std::sort(keys.begin(), keys.end(),
            [](const StoredKey& a, const StoredKey& b) { return a.name < b.name; });
  return keys;
}

Result<StoredKey> KeyStore::Find(std::string_view name) const {
  if (Status s = CheckName(name); !s.ok()) return s;
  const fs::path path = PathOf(name);
  Result<PublicKey> key = ReadKeyFilePublicKey(path);
  if (!key.ok()) {
    if (key.status().code() == ErrorCode::kNotFound) {
      return Status(ErrorCode::kNotFound, "no key named " + std::string(name) + " in " +
                                              dir_.string() + " (see: cityctl keys list)");
    }
    return key.status();
  }
  return StoredKey{std::string(name), *key, path};
}

Result<KeyPair> KeyStore::Load(std::string_view name, std::string_view passphrase) const {
  Result<StoredKey> found = Find(name);
  if (!found.ok()) return found.status();
  Result<KeyPair> key = ReadKeyFile(found->path, passphrase);
  if (!key.ok() && key.status().code() == ErrorCode::kUnauthenticated) {
    return Status(ErrorCode::kUnauthenticated, "wrong passphrase for key " + std::string(name));
  }
  return key;
}

Result<StoredKey> KeyStore::Import(std::string_view name, const fs::path& file,
                                   std::string_view passphrase) {
  if (Status s = CheckName(name); !s.ok()) return s;
  Result<std::string> contents = ReadOpenableKeyFile(file, passphrase, file.string());
  if (!contents.ok()) return contents.status();
  if (Status s = EnsureDirectory(dir_); !s.ok()) return s;
  if (Status s = WriteNewFile(PathOf(name), *contents, 0600); !s.ok()) {
    if (s.code() == ErrorCode::kAlreadyExists) {
      return Status(
          ErrorCode::kAlreadyExists,
          "a key named " + std::string(name) + " already exists (" + PathOf(name).string() + ")");
    }
    return s;
  }
  return Find(name);
}

Status KeyStore::Export(std::string_view name, const fs::path& file,
                        std::string_view passphrase) const {
  Result<StoredKey> found = Find(name);
  if (!found.ok()) return found.status();
  Result<std::string> contents =
      ReadOpenableKeyFile(found->path, passphrase, "key " + std::string(name));
  if (!contents.ok()) return contents.status();
  Status written = WriteNewFile(file, *contents, 0600);
  if (written.code() == ErrorCode::kAlreadyExists) {
    return Status(ErrorCode::kAlreadyExists, file.string() + " already exists; not overwriting");
  }
  return written;
}

Status KeyStore::Delete(std::string_view name) {
  Result<StoredKey> found = Find(name);
  if (!found.ok()) return found.status();
  std::error_code ec;
  if (!fs::remove(found->path, ec) || ec) {
    return Status(ErrorCode::kIoError,
                  "cannot delete " + found->path.string() + ": " + ec.message());
  }
  return SyncParentDirectory(found->path);
}

}  // namespace city::wallet
