// Passphrase-encrypted key files: round trip, modes, and a clear error for each bad file.
#include "city/crypto/keyfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace city {
namespace {

// The cheapest Argon2id libsodium allows: these tests are about the file, not the KDF cost.
const KdfParams kFastKdf{1, 8192};

class KeyFileTest : public ::testing::Test {
 protected:
  std::filesystem::path Path(const char* name) { return dir_.path() / name; }

  std::filesystem::path WriteFresh(const char* name) {
    const std::filesystem::path path = Path(name);
    EXPECT_TRUE(WriteKeyFile(path, key_, "correct horse", kFastKdf).ok());
    return path;
  }

  static std::string Slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static void Overwrite(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }

  test::TempDir dir_;
  KeyPair key_ = KeyPair::Generate();
};

TEST_F(KeyFileTest, RoundTripsWithTheDefaultKdf) {
  const std::filesystem::path path = Path("validator.key");
  ASSERT_TRUE(WriteKeyFile(path, key_, "correct horse").ok());
  Result<KeyPair> loaded = ReadKeyFile(path, "correct horse");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->public_key(), key_.public_key());
  EXPECT_EQ(loaded->Sign(AsBytes("m")), key_.Sign(AsBytes("m")));
}

TEST_F(KeyFileTest, IsWrittenOwnerOnlyAndHoldsNoPlainSeed) {
  const std::filesystem::path path = WriteFresh("a.key");
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(Slurp(path).find(ToHex(key_.seed())), std::string::npos);
  Result<PublicKey> public_key = ReadKeyFilePublicKey(path);
  ASSERT_TRUE(public_key.ok());
  EXPECT_EQ(*public_key, key_.public_key());
}

TEST_F(KeyFileTest, WrongPassphraseIsUnauthenticated) {
  const std::filesystem::path path = WriteFresh("a.key");
  Result<KeyPair> loaded = ReadKeyFile(path, "correct horsf");
  EXPECT_EQ(loaded.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(loaded.status().message().find("wrong passphrase"), std::string::npos);
}

TEST_F(KeyFileTest, TruncatedFileIsCorruption) {
  const std::filesystem::path path = WriteFresh("a.key");
  const std::string text = Slurp(path);
  Overwrite(path, text.substr(0, text.size() / 2));
  Result<KeyPair> loaded = ReadKeyFile(path, "correct horse");
  EXPECT_EQ(loaded.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(loaded.status().message().find("not a valid key file"), std::string::npos);
}

TEST_F(KeyFileTest, TamperedCiphertextIsUnauthenticated) {
  const std::filesystem::path path = WriteFresh("a.key");
  std::string text = Slurp(path);
  const size_t at = text.find("\"ciphertext\": \"") + 15;
  text[at] = text[at] == '0' ? '1' : '0';
  Overwrite(path, text);
  EXPECT_EQ(ReadKeyFile(path, "correct horse").status().code(), ErrorCode::kUnauthenticated);
}

TEST_F(KeyFileTest, SwappedPublicKeyIsUnauthenticated) {
  const std::filesystem::path path = WriteFresh("a.key");
  std::string text = Slurp(path);
  const std::string mine = key_.public_key().ToHex();
  text.replace(text.find(mine), mine.size(), KeyPair::Generate().public_key().ToHex());
  Overwrite(path, text);
  EXPECT_EQ(ReadKeyFile(path, "correct horse").status().code(), ErrorCode::kUnauthenticated);
}

TEST_F(KeyFileTest, OpenPermissionsAreRefusedWithTheFix) {
  const std::filesystem::path path = WriteFresh("a.key");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  Result<KeyPair> loaded = ReadKeyFile(path, "correct horse");
  EXPECT_EQ(loaded.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(loaded.status().message().find("0644"), std::string::npos);
  EXPECT_NE(loaded.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(ReadKeyFilePublicKey(path).status().code(), ErrorCode::kPermissionDenied);
}

TEST_F(KeyFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadKeyFile(Path("none.key"), "x").status().code(), ErrorCode::kNotFound);
}

TEST_F(KeyFileTest, RefusesToOverwrite) {
  const std::filesystem::path path = WriteFresh("a.key");
  const std::string before = Slurp(path);
  EXPECT_EQ(WriteKeyFile(path, KeyPair::Generate(), "x", kFastKdf).code(),
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(Slurp(path), before);
}

TEST_F(KeyFileTest, HostileKdfCostIsRefusedBeforeDeriving) {
  const std::filesystem::path path = WriteFresh("a.key");
  std::string text = Slurp(path);
  const size_t at = text.find("\"memlimit\": ") + 12;
  text.replace(at, text.find(',', at) - at, "1099511627776");  // 1 TiB
  Overwrite(path, text);
  Result<KeyPair> loaded = ReadKeyFile(path, "correct horse");
  EXPECT_EQ(loaded.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(loaded.status().message().find("out of range"), std::string::npos);
}

// Review finding: nlohmann's value() threw on a non-string field, out of the module.
TEST_F(KeyFileTest, RegressionWrongFieldTypesAreCorruptionNotExceptions) {
  for (const char* text : {R"({"format":1})",
                           R"({"format":"cityledger-key","version":1,"kdf":)"
                           R"({"alg":7},"cipher":{"alg":[]}})",
                           R"([1,2,3])", R"({"format":"cityledger-key","version":"1"})"}) {
    const std::filesystem::path path = Path("typed.key");
    std::filesystem::remove(path);
    Overwrite(path, text);
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    EXPECT_EQ(ReadKeyFile(path, "x").status().code(), ErrorCode::kCorruption) << text;
    EXPECT_EQ(ReadKeyFilePublicKey(path).status().code(), ErrorCode::kCorruption) << text;
  }
}

// Review finding: open() on a FIFO blocked forever before the regular-file check.
TEST_F(KeyFileTest, RegressionFifoAtTheKeyPathDoesNotHang) {
  const std::filesystem::path path = Path("fifo.key");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_EQ(ReadKeyFilePublicKey(path).status().code(), ErrorCode::kCorruption);
}

// Review finding: a crash between creating and renaming "<path>.tmp" blocked every later
// write; and std::filesystem::exists threw on a too-long name.
TEST_F(KeyFileTest, RegressionLeftoverTempFileAndLongNamesGiveStatuses) {
  const std::filesystem::path path = Path("a.key");
  Overwrite(path.string() + ".tmp", "left by a crash");
  EXPECT_TRUE(WriteKeyFile(path, key_, "pw", kFastKdf).ok());
  const std::filesystem::path too_long = dir_.path() / std::string(300, 'k');
  EXPECT_EQ(WriteKeyFile(too_long, key_, "pw", kFastKdf).code(), ErrorCode::kIoError);
  EXPECT_FALSE(ReadKeyFile(too_long, "pw").ok());
}

TEST_F(KeyFileTest, OversizedFileIsRefusedUnread) {
  const std::filesystem::path path = Path("big.key");
  Overwrite(path, std::string(kMaxKeyFileBytes + 1, ' '));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_EQ(ReadKeyFile(path, "x").status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace city
