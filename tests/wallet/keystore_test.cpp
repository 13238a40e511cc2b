// The key store (wallet/keystore.h): names, a private directory of encrypted files, and
// import/export that check the passphrase and never overwrite. Most keys are written at the
// least Argon2 cost (kCheapKdf) so that opening them is free; Create pays the real cost.
#include "city/wallet/keystore.h"

#include <gtest/gtest.h>

#include "city/crypto/keyfile.h"
#include "wallet/cli_runner.h"

namespace city::test {
namespace {

namespace fs = std::filesystem;
using wallet::StoredKey;

constexpr char kPassphrase[] = "open sesame";

// A store at TMP/keys (not yet created) and a place for files outside it.
class KeyStoreFixture : public ::testing::Test {
 protected:
  fs::path dir() const { return tmp_.path() / "keys"; }
  fs::path outside(const std::string& name) const { return tmp_.path() / name; }

  TempDir tmp_;
  wallet::KeyStore store_{tmp_.path() / "keys"};
};
using KeyStore = KeyStoreFixture;

std::vector<std::string> NamesOf(const std::vector<StoredKey>& keys) {
  std::vector<std::string> names;
  for (const StoredKey& key : keys) names.push_back(key.name);
  return names;
}

TEST_F(KeyStore, NamesAreOneTo64OfLowerCaseDigitsDashAndUnderscore) {
  for (const std::string& name :
       std::vector<std::string>{"a", "alice", "key-2_b", "0", std::string(64, 'z')}) {
    EXPECT_TRUE(wallet::KeyStore::CheckName(name).ok()) << name;
  }
  for (const std::string& name : std::vector<std::string>{
           "", "Alice", "a.b", "../x", "a/b", "a b", "caf\xc3\xa9", ".key", std::string(65, 'z')}) {
    const Status status = wallet::KeyStore::CheckName(name);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_NE(status.message().find("bad key name '" + name + "'"), std::string::npos)
        << status.message();
  }
  // Every entry point checks the name before touching a file.
  EXPECT_EQ(store_.Find("../x").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_.Load("../x", kPassphrase).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_.Create("../x", kPassphrase).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_.Delete("../x").code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir()));
  EXPECT_FALSE(fs::exists(outside("x.key")));
}

TEST_F(KeyStore, CreateWritesAPrivateFileInAPrivateDirectoryAndRefusesATakenName) {
  const Result<StoredKey> created = store_.Create("alice", kPassphrase);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->name, "alice");
  EXPECT_EQ(created->path, dir() / "alice.key");
  EXPECT_EQ(store_.PathOf("alice"), dir() / "alice.key");
  EXPECT_EQ(ModeOf(created->path), 0600u);
  EXPECT_EQ(ModeOf(dir()), 0700u);

  const Result<StoredKey> found = store_.Find("alice");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->public_key, created->public_key);
  const Result<KeyPair> loaded = store_.Load("alice", kPassphrase);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->public_key(), created->public_key);

  const std::string before = ReadFileText(created->path);
  const Result<StoredKey> again = store_.Create("alice", "another");
  EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("a key named alice already exists"), std::string::npos)
      << again.status().message();
  EXPECT_EQ(ReadFileText(created->path), before);
}

TEST_F(KeyStore, WrongPassphraseIsUnauthenticatedAndNamesTheKey) {
  WriteTestKey(dir(), "alice", 1, kPassphrase);
  const Result<KeyPair> loaded = store_.Load("alice", "open sesame!");
  EXPECT_EQ(loaded.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(loaded.status().message(), "wrong passphrase for key alice");

  const Status exported = store_.Export("alice", outside("out.key"), "nope");
  EXPECT_EQ(exported.code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(exported.message(), "wrong passphrase for key alice");
  EXPECT_FALSE(fs::exists(outside("out.key")));
}

TEST_F(KeyStore, FindAndLoadOfAMissingKeyAreNotFound) {
  EXPECT_EQ(store_.Find("nobody").status().code(), ErrorCode::kNotFound);
  const Result<KeyPair> loaded = store_.Load("nobody", kPassphrase);
  EXPECT_EQ(loaded.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(loaded.status().message().find("no key named nobody in " + dir().string()),
            std::string::npos)
      << loaded.status().message();
  EXPECT_EQ(store_.Delete("nobody").code(), ErrorCode::kNotFound);
}

TEST_F(KeyStore, ListIsSortedByNameAndSkipsWhatIsNotAKey) {
  const Result<std::vector<StoredKey>> none = store_.List();  // no directory yet
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  const KeyPair zed = WriteTestKey(dir(), "zed", 3, kPassphrase);
  const KeyPair alice = WriteTestKey(dir(), "alice", 1, kPassphrase);
  WriteTestKey(dir(), "bob", 2, "bob's own");
  WriteTestKey(dir(), "Upper", 4, kPassphrase);  // a key file, but not a key name
  { std::ofstream(dir() / "notes.txt") << "hello"; }
  { std::ofstream(dir() / "junk.key") << "not a key file"; }
  fs::create_directory(dir() / "sub.key");

  const Result<std::vector<StoredKey>> listed = store_.List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(NamesOf(*listed), (std::vector<std::string>{"alice", "bob", "zed"}));
  EXPECT_EQ(listed->front().public_key, alice.public_key());
  EXPECT_EQ(listed->front().path, dir() / "alice.key");
  EXPECT_EQ(listed->back().public_key, zed.public_key());
}

TEST_F(KeyStore, ImportChecksThePassphraseAndCopiesTheFileAsItIs) {
  const KeyPair key = WriteTestKey(tmp_.path(), "elsewhere", 7, kPassphrase);
  const fs::path file = outside("elsewhere.key");

  const Result<StoredKey> refused = store_.Import("carol", file, "wrong");
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(refused.status().message(), "wrong passphrase for " + file.string());
  EXPECT_FALSE(fs::exists(dir() / "carol.key"));
  EXPECT_EQ(store_.Import("carol", outside("missing.key"), kPassphrase).status().code(),
            ErrorCode::kNotFound);

  const Result<StoredKey> imported = store_.Import("carol", file, kPassphrase);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->public_key, key.public_key());
  EXPECT_EQ(ReadFileText(dir() / "carol.key"), ReadFileText(file));
  EXPECT_EQ(ModeOf(dir() / "carol.key"), 0600u);
  EXPECT_EQ(ModeOf(dir()), 0700u);

  EXPECT_EQ(store_.Import("carol", file, kPassphrase).status().code(), ErrorCode::kAlreadyExists);
}

TEST_F(KeyStore, ExportWritesTheEncryptedFileAndNeverOverwrites) {
  WriteTestKey(dir(), "alice", 1, kPassphrase);
  const fs::path out = outside("backup.key");
  ASSERT_TRUE(store_.Export("alice", out, kPassphrase).ok());
  EXPECT_EQ(ReadFileText(out), ReadFileText(dir() / "alice.key"));
  EXPECT_EQ(ModeOf(out), 0600u);

  const fs::path occupied = outside("occupied");
  { std::ofstream(occupied) << "keep me"; }
  const Status again = store_.Export("alice", occupied, kPassphrase);
  EXPECT_EQ(again.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.message(), occupied.string() + " already exists; not overwriting");
  EXPECT_EQ(ReadFileText(occupied), "keep me");
  EXPECT_EQ(store_.Export("nobody", outside("none.key"), kPassphrase).code(), ErrorCode::kNotFound);
}

TEST_F(KeyStore, DeleteRemovesOnlyThatKey) {
  WriteTestKey(dir(), "alice", 1, kPassphrase);
  WriteTestKey(dir(), "bob", 2, kPassphrase);
  ASSERT_TRUE(store_.Delete("alice").ok());
  EXPECT_FALSE(fs::exists(dir() / "alice.key"));
  EXPECT_EQ(store_.Find("alice").status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_.Find("bob").ok());
  EXPECT_EQ(store_.Delete("alice").code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace city::test
