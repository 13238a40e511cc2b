// FaultEnv: writable files that fail once told to. Built with -fno-rtti (see fault_env.h).
#include "ledger/fault_env.h"

#include <leveldb/db.h>
#include <leveldb/env.h>

#include <atomic>
#include <stdexcept>

namespace city::test {

class FaultEnv::Impl : public leveldb::EnvWrapper {
 public:
  Impl() : leveldb::EnvWrapper(leveldb::Env::Default()) {}

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** out) override {
    return Wrap(target()->NewWritableFile(name, out), out);
  }
  leveldb::Status NewAppendableFile(const std::string& name, leveldb::WritableFile** out) override {
    return Wrap(target()->NewAppendableFile(name, out), out);
  }

  std::atomic<bool> fail_writes{false};
  std::atomic<bool> fail_syncs{false};
  std::atomic<int> failures{0};

 private:
  class File : public leveldb::WritableFile {
   public:
    File(Impl& env, leveldb::WritableFile* base) : env_(env), base_(base) {}
    ~File() override { delete base_; }

    leveldb::Status Append(const leveldb::Slice& data) override {
      if (env_.fail_writes) return env_.Injected("append");
      return base_->Append(data);
    }
    leveldb::Status Flush() override {
      if (env_.fail_writes) return env_.Injected("flush");
      return base_->Flush();
    }
    leveldb::Status Sync() override {
      if (env_.fail_writes || env_.fail_syncs) return env_.Injected("sync");
      return base_->Sync();
    }
    leveldb::Status Close() override { return base_->Close(); }

   private:
    Impl& env_;
    leveldb::WritableFile* base_;  // owned (LevelDB's interface hands out raw pointers)
  };

  leveldb::Status Wrap(leveldb::Status status, leveldb::WritableFile** out) {
    if (status.ok()) *out = new File(*this, *out);
    return status;
  }
  leveldb::Status Injected(const char* what) {
    ++failures;
    return leveldb::Status::IOError("injected fault", what);
  }
};

FaultEnv::FaultEnv() : impl_(std::make_unique<Impl>()) {}
FaultEnv::~FaultEnv() = default;
leveldb::Env* FaultEnv::env() const { return impl_.get(); }
void FaultEnv::FailWrites(bool on) { impl_->fail_writes = on; }
void FaultEnv::FailSyncs(bool on) { impl_->fail_syncs = on; }
int FaultEnv::injected_failures() const { return impl_->failures; }

namespace {

std::unique_ptr<leveldb::DB> OpenRaw(const std::filesystem::path& dir, bool create) {
  leveldb::Options options;
  options.create_if_missing = create;
  options.paranoid_checks = true;
  leveldb::DB* raw = nullptr;
  const leveldb::Status status = leveldb::DB::Open(options, dir.string(), &raw);
  if (!status.ok()) throw std::runtime_error("leveldb open: " + status.ToString());
  return std::unique_ptr<leveldb::DB>(raw);
}

void Check(const leveldb::Status& status, const char* what) {
  if (!status.ok()) throw std::runtime_error(std::string(what) + ": " + status.ToString());
}

}  // namespace

void CreateForeignLevelDb(const std::filesystem::path& dir) {
  std::unique_ptr<leveldb::DB> db = OpenRaw(dir, true);
  leveldb::WriteOptions sync;
  sync.sync = true;
  for (int i = 0; i < 100; ++i) {
    Check(db->Put(sync, "someone-else/" + std::to_string(i), "value " + std::to_string(i)),
          "leveldb put");
  }
}

std::optional<std::string> ReadRawRecord(const std::filesystem::path& dir, const std::string& key) {
  std::unique_ptr<leveldb::DB> db = OpenRaw(dir, false);
  std::string value;
  const leveldb::Status status = db->Get(leveldb::ReadOptions(), key, &value);
  if (status.IsNotFound()) return std::nullopt;
  Check(status, "leveldb get");
  return value;
}

void WriteRawRecord(const std::filesystem::path& dir, const std::string& key,
                    const std::optional<std::string>& value) {
  std::unique_ptr<leveldb::DB> db = OpenRaw(dir, false);
  leveldb::WriteOptions sync;
  sync.sync = true;
  Check(value ? db->Put(sync, key, *value) : db->Delete(sync, key), "leveldb write");
}

}  // namespace city::test
