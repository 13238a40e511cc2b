// Passphrase-encrypted key files; the format is documented in keyfile.h.
#include "city/crypto/keyfile.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "city/crypto/private_file.h"

namespace city {
namespace {

constexpr std::string_view kFormat = "cityledger-key";
constexpr int kVersion = 1;
constexpr std::string_view kKdfAlg = "argon2id13";
constexpr std::string_view kCipherAlg = "xchacha20poly1305-ietf";
// Upper bounds on the KDF cost a file may ask for: a hostile file must not make us
// allocate gigabytes or spin for minutes before the passphrase is even checked.
constexpr uint64_t kMaxMemlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
constexpr uint64_t kMaxOpslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;

using Json = nlohmann::json;

Status Corrupt(const std::filesystem::path& path, const std::string& what) {
  return Status(ErrorCode::kCorruption, path.string() + " is not a valid key file: " + what);
}

// Authenticated but not secret: everything a reader needs to trust before decrypting.
std::string AssociatedData(const std::string& public_key_hex, uint64_t opslimit,
                           uint64_t memlimit) {
  std::ostringstream out;
  out << kFormat << '|' << kVersion << '|' << public_key_hex << '|' << kKdfAlg << '|' << opslimit
      << '|' << memlimit;
  return out.str();
}

Result<SecretBytes> DeriveKey(std::string_view passphrase, ByteSpan salt, uint64_t opslimit,
                              uint64_t memlimit) {
  SecretBytes key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  if (crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(), salt.data(),
                    opslimit, static_cast<size_t>(memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status(ErrorCode::kIoError, "Argon2id key derivation ran out of memory");
  }
  return key;
}

struct ParsedKeyFile {
  PublicKey public_key;
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;
  Bytes salt;
  Bytes nonce;
  Bytes ciphertext;
};

Result<Bytes> HexField(const Json& object, const char* name, size_t expected_size) {
  if (!object.contains(name) || !object[name].is_string()) {
    return Status(ErrorCode::kCorruption, std::string("missing field \"") + name + "\"");
  }
  Result<Bytes> bytes = FromHex(object[name].get<std::string>());
  if (!bytes.ok() || bytes->size() != expected_size) {
    return Status(ErrorCode::kCorruption, std::string("field \"") + name + "\" must be " +
                                              std::to_string(expected_size) + " bytes of hex");
  }
  return bytes;
}

Result<ParsedKeyFile> ParseFields(const std::filesystem::path& path, const std::string& text) {
  const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Corrupt(path, "not JSON (truncated?)");
  if (doc.value("format", "") != kFormat) return Corrupt(path, "format is not cityledger-key");
  if (!doc.contains("version") || doc["version"] != kVersion) {
    return Corrupt(path, "unsupported version (this build reads version 1)");
  }
  if (!doc.contains("kdf") || !doc["kdf"].is_object() || !doc.contains("cipher") ||
      !doc["cipher"].is_object()) {
    return Corrupt(path, "missing kdf or cipher section");
  }
  const Json& kdf = doc["kdf"];
  const Json& cipher = doc["cipher"];
  if (kdf.value("alg", "") != kKdfAlg || cipher.value("alg", "") != kCipherAlg) {
    return Corrupt(path, "unsupported algorithms");
  }
  if (!kdf.contains("opslimit") || !kdf["opslimit"].is_number_unsigned() ||
      !kdf.contains("memlimit") || !kdf["memlimit"].is_number_unsigned()) {
    return Corrupt(path, "kdf limits missing");
  }
  ParsedKeyFile parsed;
  parsed.opslimit = kdf["opslimit"].get<uint64_t>();
  parsed.memlimit = kdf["memlimit"].get<uint64_t>();
  if (parsed.opslimit < crypto_pwhash_OPSLIMIT_MIN || parsed.opslimit > kMaxOpslimit ||
      parsed.memlimit < crypto_pwhash_MEMLIMIT_MIN || parsed.memlimit > kMaxMemlimit) {
    return Corrupt(path, "kdf limits out of range");
  }
  Result<Bytes> public_key = HexField(doc, "public_key", PublicKey::kSize);
  Result<Bytes> salt = HexField(kdf, "salt", crypto_pwhash_SALTBYTES);
  Result<Bytes> nonce = HexField(cipher, "nonce", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  Result<Bytes> ciphertext =
      HexField(cipher, "ciphertext", kSeedSize + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  for (const Status* status :
       {&public_key.status(), &salt.status(), &nonce.status(), &ciphertext.status()}) {
    if (!status->ok()) return Corrupt(path, status->message());
  }
  parsed.public_key = *PublicKey::FromSpan(*public_key);
  parsed.salt = std::move(*salt);
  parsed.nonce = std::move(*nonce);
  parsed.ciphertext = std::move(*ciphertext);
  return parsed;
}

// nlohmann throws on a field of the wrong JSON type (e.g. "format": 1); that is corruption,
// and must not escape the module as an exception.
Result<ParsedKeyFile> ParseKeyFile(const std::filesystem::path& path, const std::string& text) {
  try {
    return ParseFields(path, text);
  } catch (const Json::exception& error) {
    return Corrupt(path, std::string("unexpected field type (") + error.what() + ")");
  }
}

}  // namespace

KdfParams KdfParams::Interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

KdfParams KdfParams::Moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

Status WriteKeyFile(const std::filesystem::path& path, const KeyPair& key,
                    std::string_view passphrase, KdfParams kdf) {
  if (kdf.opslimit < crypto_pwhash_OPSLIMIT_MIN || kdf.opslimit > kMaxOpslimit ||
      kdf.memlimit < crypto_pwhash_MEMLIMIT_MIN || kdf.memlimit > kMaxMemlimit) {
    return Status(ErrorCode::kInvalidArgument, "KDF parameters out of range");
  }
  EnsureSodiumInitialized();
  Bytes salt(crypto_pwhash_SALTBYTES);
  Bytes nonce(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  randombytes_buf(salt.data(), salt.size());
  randombytes_buf(nonce.data(), nonce.size());

  Result<SecretBytes> derived = DeriveKey(passphrase, salt, kdf.opslimit, kdf.memlimit);
  if (!derived.ok()) return derived.status();
  const std::string public_key_hex = key.public_key().ToHex();
  const std::string associated = AssociatedData(public_key_hex, kdf.opslimit, kdf.memlimit);
  Bytes ciphertext(kSeedSize + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      ciphertext.data(), nullptr, key.seed().data(), key.seed().size(),
      reinterpret_cast<const uint8_t*>(associated.data()), associated.size(), nullptr, nonce.data(),
      derived->data());

  const Json doc = {
      {"format", kFormat},
      {"version", kVersion},
      {"public_key", public_key_hex},
      {"kdf",
       {{"alg", kKdfAlg},
        {"opslimit", kdf.opslimit},
        {"memlimit", kdf.memlimit},
        {"salt", ToHex(salt)}}},
      {"cipher", {{"alg", kCipherAlg}, {"nonce", ToHex(nonce)}, {"ciphertext", ToHex(ciphertext)}}},
  };
  return WriteNewFile(path, doc.dump(2) + "\n", 0600);
}

Result<KeyPair> ReadKeyFile(const std::filesystem::path& path, std::string_view passphrase) {
  Result<std::string> text = ReadPrivateFile(path, kMaxKeyFileBytes, "key file");
  if (!text.ok()) return text.status();
  Result<ParsedKeyFile> parsed = ParseKeyFile(path, *text);
  if (!parsed.ok()) return parsed.status();

  Result<SecretBytes> derived =
      DeriveKey(passphrase, parsed->salt, parsed->opslimit, parsed->memlimit);
  if (!derived.ok()) return derived.status();
  const std::string associated =
      AssociatedData(parsed->public_key.ToHex(), parsed->opslimit, parsed->memlimit);
  SecretBytes seed(kSeedSize);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          seed.data(), nullptr, nullptr, parsed->ciphertext.data(), parsed->ciphertext.size(),
          reinterpret_cast<const uint8_t*>(associated.data()), associated.size(),
          parsed->nonce.data(), derived->data()) != 0) {
    return Status(ErrorCode::kUnauthenticated,
                  "cannot decrypt " + path.string() + ": wrong passphrase or a tampered file");
  }
  KeyPair key = KeyPair::FromSeed(std::span<const uint8_t, kSeedSize>(seed.data(), kSeedSize));
  if (key.public_key() != parsed->public_key) {
    return Corrupt(path, "the decrypted key does not match its public key");
  }
  return key;
}

Result<PublicKey> ReadKeyFilePublicKey(const std::filesystem::path& path) {
  Result<std::string> text = ReadPrivateFile(path, kMaxKeyFileBytes, "key file");
  if (!text.ok()) return text.status();
  Result<ParsedKeyFile> parsed = ParseKeyFile(path, *text);
  if (!parsed.ok()) return parsed.status();
  return parsed->public_key;
}

}  // namespace city
