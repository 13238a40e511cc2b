// A leveldb::Env over the real one whose writable files fail on demand, for fail-stop tests;
// and a plain LevelDB database that is not a ledger store. Compiled apart (without RTTI, as
// Debian builds LevelDB) so that test files need no LevelDB headers.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace leveldb {
class Env;
}

namespace city::test {

class FaultEnv {
 public:
  FaultEnv();
  ~FaultEnv();
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;

  leveldb::Env* env() const;
  // While set, Append and Flush on every writable file fail (and write nothing).
  void FailWrites(bool on);
  // While set, Sync on every writable file fails (after the data reached the file).
  void FailSyncs(bool on);
  // How many calls failed because of the flags so far.
  int injected_failures() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Creates a LevelDB database at `dir` holding a few keys of its own.
void CreateForeignLevelDb(const std::filesystem::path& dir);

// One raw record of the (closed) LevelDB database at `dir`: read, or replaced (nullopt
// deletes it). For tests that damage a store's records on purpose; throws on errors.
std::optional<std::string> ReadRawRecord(const std::filesystem::path& dir, const std::string& key);
void WriteRawRecord(const std::filesystem::path& dir, const std::string& key,
                    const std::optional<std::string>& value);

}  // namespace city::test
