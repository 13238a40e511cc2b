// Damaged and foreign directories: Open names the problem and never hands back a store that
// silently lost or reset data; Create never overwrites; a held store cannot be opened twice.
#include <gtest/gtest.h>

#include <fstream>

#include "city/ledger/store.h"
#include "ledger/fault_env.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

namespace fs = std::filesystem;
using test::Must;

constexpr uint64_t kBlocks = 20;

Bytes ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<fs::path> FilesMatching(const fs::path& dir, std::string_view fragment) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find(fragment) != std::string::npos) {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

fs::path Largest(const std::vector<fs::path>& files) {
  fs::path best;
  uintmax_t size = 0;
  for (const fs::path& file : files) {
    if (fs::file_size(file) >= size) {
      size = fs::file_size(file);
      best = file;
    }
  }
  return best;
}

bool IsDetectedDamage(ErrorCode code) {
  return code == ErrorCode::kCorruption || code == ErrorCode::kIoError;
}

// What the damaged store did with reads of data that exists: answered right, refused with a
// corruption error, or answered wrong (a wrong value, or "not found").
struct ScanResult {
  int detected = 0;
  int wrong = 0;
  std::string first_wrong;
};

template <typename T, typename U>
void Count(ScanResult& scan, const Result<T>& result, const U& expected, const std::string& what) {
  if (result.ok()) {
    if (!(*result == expected)) {
      if (scan.wrong++ == 0) scan.first_wrong = what + ": wrong value";
    }
  } else if (IsDetectedDamage(result.status().code())) {
    ++scan.detected;
  } else if (scan.wrong++ == 0) {
    scan.first_wrong = what + ": " + result.status().ToString();
  }
}

class StoreCorruptionTest : public ::testing::Test {
 protected:
  // One pristine store for the suite: kBlocks blocks, closed, reopened once so that LevelDB
  // moved its log into a table file, then a few more blocks left in the log.
  static void SetUpTestSuite() {
    pristine_ = new test::TempDir();
    replay_ = new test::ChainReplay();
    requests_ = new std::vector<CommitRequest>();
    const fs::path dir = pristine_->path() / "store";
    auto store = Must(LedgerStore::Create(dir, test::ChainGenesis()));
    for (uint64_t h = 1; h <= kBlocks; ++h) {
      requests_->push_back(replay_->Advance());
      (void)Must(store->Commit(requests_->back()));
    }
    store.reset();
    store = Must(LedgerStore::Open(dir));
    store.reset();
  }
  static void TearDownTestSuite() {
    delete requests_;
    delete replay_;
    delete pristine_;
  }

  void SetUp() override {
    dir_ = tmp_.path() / "store";
    fs::copy(pristine_->path() / "store", dir_, fs::copy_options::recursive);
  }

  // Reads everything the store should hold and sorts the answers.
  ScanResult Scan(const LedgerStore& store) {
    ScanResult scan;
    const StoreTip tip = store.tip();
    if (tip.height != kBlocks || tip.block_hash != replay_->hash(kBlocks) ||
        tip.state_root != test::ExpectedRoot(replay_->state())) {
      ++scan.wrong;
      scan.first_wrong = "tip is height " + std::to_string(tip.height);
    }
    for (uint64_t h = 1; h <= kBlocks; ++h) {
      const CommitRequest& request = (*requests_)[h - 1];
      const std::string at = " at " + std::to_string(h);
      Count(scan, store.GetBlock(h), request.block, "GetBlock" + at);
      Count(scan, store.GetCertificate(h), request.certificate, "GetCertificate" + at);
      Count(scan, store.GetResults(h), request.results, "GetResults" + at);
      Count(scan, store.HeightOf(request.block.Hash()), h, "HeightOf" + at);
      for (const Transaction& tx : request.block.transactions) {
        const Result<TxRecord> record = store.GetTransaction(tx.Id());
        Result<Transaction> got = record.ok() ? Result<Transaction>(record->transaction)
                                              : Result<Transaction>(record.status());
        Count(scan, got, tx, "GetTransaction" + at);
      }
    }
    for (uint64_t k = 0; k < test::kChainKeySpace; ++k) {
      const Bytes key = test::ChainKey(k);
      const auto it = replay_->state().find(key);
      const std::optional<Bytes> expected =
          it == replay_->state().end() ? std::nullopt : std::optional<Bytes>(it->second);
      Count(scan, store.GetState(key), expected, "GetState " + std::to_string(k));
      const Result<StateAt> at = store.ProveState(key, kBlocks);
      if (at.ok()) {
        const bool good = at->value == expected &&
                          at->root == test::ExpectedRoot(replay_->state()) &&
                          test::VerifyStateAt(at->root, key, *at).ok();
        if (!good && scan.wrong++ == 0) scan.first_wrong = "ProveState " + std::to_string(k);
      } else if (IsDetectedDamage(at.status().code())) {
        ++scan.detected;
      } else if (scan.wrong++ == 0) {
        scan.first_wrong = "ProveState " + std::to_string(k) + ": " + at.status().ToString();
      }
    }
    return scan;
  }

  // The damage is refused by Open with a corruption error, and stays refused: a second Open
  // fails too, and Create will not build a new store over it.
  void ExpectOpenRefuses(std::string_view what, bool require_corruption_code = true) {
    SCOPED_TRACE(what);
    const auto opened = LedgerStore::Open(dir_);
    ASSERT_FALSE(opened.ok()) << "a damaged store opened at height " << (*opened)->tip().height;
    EXPECT_FALSE(opened.status().message().empty());
    if (require_corruption_code) {
      EXPECT_EQ(opened.status().code(), ErrorCode::kCorruption) << opened.status().ToString();
    } else {
      EXPECT_TRUE(IsDetectedDamage(opened.status().code())) << opened.status().ToString();
    }
    ExpectStaysRefused();
  }

  void ExpectStaysRefused() {
    EXPECT_FALSE(LedgerStore::Open(dir_).ok()) << "a second Open succeeded";
    EXPECT_FALSE(LedgerStore::Create(dir_, test::ChainGenesis()).ok())
        << "Create overwrote a damaged store";
  }

  // Damage that Open may not notice (it does not read every record): Open refuses, or the
  // store it opens reports the damage where it reads it and never answers wrong.
  void ExpectRefusedOrDetected(std::string_view what, bool must_detect) {
    SCOPED_TRACE(what);
    auto opened = LedgerStore::Open(dir_);
    if (!opened.ok()) {
      EXPECT_TRUE(IsDetectedDamage(opened.status().code())) << opened.status().ToString();
      ExpectStaysRefused();
      return;
    }
    const ScanResult scan = Scan(**opened);
    EXPECT_EQ(scan.wrong, 0) << "first: " << scan.first_wrong;
    if (must_detect) {
      EXPECT_GT(scan.detected, 0) << "damaged data read back as if whole";
    }
  }

  static test::TempDir* pristine_;
  static test::ChainReplay* replay_;
  static std::vector<CommitRequest>* requests_;
  test::TempDir tmp_;
  fs::path dir_;
};

test::TempDir* StoreCorruptionTest::pristine_ = nullptr;
test::ChainReplay* StoreCorruptionTest::replay_ = nullptr;
std::vector<CommitRequest>* StoreCorruptionTest::requests_ = nullptr;

TEST_F(StoreCorruptionTest, PristineCopyOpensWhole) {
  ASSERT_FALSE(FilesMatching(dir_, ".ldb").empty()) << "no table file to damage";
  auto store = Must(LedgerStore::Open(dir_));
  const ScanResult scan = Scan(*store);
  EXPECT_EQ(scan.wrong, 0) << scan.first_wrong;
  EXPECT_EQ(scan.detected, 0);
}

TEST_F(StoreCorruptionTest, TruncatedTableFilesAreCorruption) {
  const auto tables = FilesMatching(dir_, ".ldb");
  ASSERT_FALSE(tables.empty());
  for (const fs::path& table : tables) fs::resize_file(table, fs::file_size(table) / 2);
  // LevelDB reports a table shorter than its MANIFEST entry as an I/O error ("Invalid
  // argument" from the read past the end), which the store passes on as io_error.
  ExpectOpenRefuses("every table truncated to half", /*require_corruption_code=*/false);
}

TEST_F(StoreCorruptionTest, EmptiedTableFilesAreCorruption) {
  for (const fs::path& table : FilesMatching(dir_, ".ldb")) fs::resize_file(table, 0);
  ExpectOpenRefuses("every table emptied", /*require_corruption_code=*/false);
}

TEST_F(StoreCorruptionTest, GarbledTableFilesAreDetected) {
  for (const fs::path& table : FilesMatching(dir_, ".ldb")) {
    Bytes bytes = ReadAll(table);
    for (size_t i = bytes.size() / 3; i < 2 * bytes.size() / 3; ++i) bytes[i] ^= 0x5a;
    WriteAll(table, bytes);
  }
  ExpectRefusedOrDetected("middle third of every table garbled", /*must_detect=*/true);
}

TEST_F(StoreCorruptionTest, TableFooterGarbledIsCorruption) {
  for (const fs::path& table : FilesMatching(dir_, ".ldb")) {
    Bytes bytes = ReadAll(table);
    for (size_t i = bytes.size() - 8; i < bytes.size(); ++i) bytes[i] ^= 0xff;  // magic
    WriteAll(table, bytes);
  }
  ExpectOpenRefuses("table magic number garbled");
}

// One flipped bit anywhere in the largest table: refused, or reported where read; never a
// wrong answer (LevelDB must be asked to verify checksums).
TEST_F(StoreCorruptionTest, BitFlipsInATableNeverReadBackWrong) {
  const fs::path table = Largest(FilesMatching(dir_, ".ldb"));
  ASSERT_FALSE(table.empty());
  const Bytes original = ReadAll(table);
  constexpr int kFlips = 12;
  for (int i = 0; i < kFlips; ++i) {
    const size_t at = (original.size() - 1) * i / (kFlips - 1);
    Bytes flipped = original;
    flipped[at] ^= static_cast<uint8_t>(1u << (i % 8));
    WriteAll(table, flipped);
    ExpectRefusedOrDetected("bit " + std::to_string(i % 8) + " of byte " + std::to_string(at) +
                                " of " + std::to_string(original.size()),
                            /*must_detect=*/false);
  }
}

TEST_F(StoreCorruptionTest, GarbledLogIsCorruption) {
  // Blocks committed after the last reopen live only in the log.
  {
    auto store = Must(LedgerStore::Open(dir_));
    test::ChainReplay replay = *replay_;
    for (int i = 0; i < 10; ++i) (void)Must(store->Commit(replay.Advance()));
  }
  const fs::path log = Largest(FilesMatching(dir_, ".log"));
  ASSERT_FALSE(log.empty());
  Bytes bytes = ReadAll(log);
  ASSERT_GT(bytes.size(), 1000u) << "the log holds no blocks";
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; ++i) bytes[i] ^= 0xff;
  WriteAll(log, bytes);
  ExpectOpenRefuses("16 bytes in the middle of the log garbled");
}

TEST_F(StoreCorruptionTest, EmptiedManifestIsCorruption) {
  const auto manifests = FilesMatching(dir_, "MANIFEST-");
  ASSERT_FALSE(manifests.empty());
  for (const fs::path& manifest : manifests) fs::resize_file(manifest, 0);
  ExpectOpenRefuses("MANIFEST emptied");
}

TEST_F(StoreCorruptionTest, GarbledManifestIsCorruption) {
  for (const fs::path& manifest : FilesMatching(dir_, "MANIFEST-")) {
    Bytes bytes = ReadAll(manifest);
    for (size_t i = 7; i < bytes.size(); i += 5) bytes[i] ^= 0x21;  // past the first header
    WriteAll(manifest, bytes);
  }
  ExpectOpenRefuses("MANIFEST garbled");
}

TEST_F(StoreCorruptionTest, TruncatedManifestIsRefusedOrHarmless) {
  for (const fs::path& manifest : FilesMatching(dir_, "MANIFEST-")) {
    fs::resize_file(manifest, fs::file_size(manifest) / 2);
  }
  ExpectRefusedOrDetected("MANIFEST truncated to half", /*must_detect=*/false);
}

TEST_F(StoreCorruptionTest, MissingCurrentIsCorruption) {
  fs::remove(dir_ / "CURRENT");
  ExpectOpenRefuses("CURRENT deleted");
}

TEST_F(StoreCorruptionTest, EmptyCurrentIsCorruption) {
  WriteAll(dir_ / "CURRENT", {});
  ExpectOpenRefuses("CURRENT emptied");
}

TEST_F(StoreCorruptionTest, CurrentNamingAMissingManifestIsRefused) {
  WriteAll(dir_ / "CURRENT", test::ToBytes("MANIFEST-999999\n"));
  ExpectOpenRefuses("CURRENT names a missing MANIFEST", /*require_corruption_code=*/false);
}

TEST_F(StoreCorruptionTest, GarbledCurrentIsRefused) {
  WriteAll(dir_ / "CURRENT", test::ToBytes("\x01\x02garbage"));
  ExpectOpenRefuses("CURRENT garbled", /*require_corruption_code=*/false);
}

// Records named in the layout at the top of ledger/src/store.cpp: 'M' "format" holds the
// format version in its last four bytes.
TEST_F(StoreCorruptionTest, OtherFormatVersionIsInvalidArgument) {
  const std::optional<std::string> format = test::ReadRawRecord(dir_, "Mformat");
  ASSERT_TRUE(format.has_value()) << "no format record where store.cpp documents it";
  ASSERT_GE(format->size(), 4u);
  // The version before (its state roots differ, ledger/store.h) and the one after, and the
  // current one in the wrong byte order.
  for (const std::string& version :
       {std::string("\0\0\0\x01", 4), std::string("\0\0\0\x03", 4), std::string("\x02\0\0\0", 4)}) {
    test::WriteRawRecord(dir_, "Mformat", format->substr(0, format->size() - 4) + version);
    const auto opened = LedgerStore::Open(dir_);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), ErrorCode::kInvalidArgument) << opened.status().ToString();
  }
}

TEST_F(StoreCorruptionTest, MissingOrGarbledFormatRecordIsCorruption) {
  const std::optional<std::string> format = test::ReadRawRecord(dir_, "Mformat");
  ASSERT_TRUE(format.has_value());
  test::WriteRawRecord(dir_, "Mformat", "garbage");
  ExpectOpenRefuses("format record garbled");
  test::WriteRawRecord(dir_, "Mformat", std::nullopt);
  ExpectOpenRefuses("format record deleted");
}

TEST_F(StoreCorruptionTest, MissingTipRecordIsCorruption) {
  ASSERT_TRUE(test::ReadRawRecord(dir_, "Mtip").has_value());
  test::WriteRawRecord(dir_, "Mtip", std::nullopt);
  ExpectOpenRefuses("tip record deleted");
}

TEST_F(StoreCorruptionTest, TipPointingPastTheLastBlockIsCorruption) {
  std::optional<std::string> tip = test::ReadRawRecord(dir_, "Mtip");
  ASSERT_TRUE(tip.has_value());
  ASSERT_EQ(tip->size(), 8u + 32u) << "tip is h || block hash";
  (*tip)[7] = static_cast<char>((*tip)[7] + 1);  // height + 1 (big-endian, as keys)
  test::WriteRawRecord(dir_, "Mtip", tip);
  ExpectOpenRefuses("tip one past the last block");
}

TEST(StoreDirectories, MissingDirectoryIsNotFoundAndNotCreated) {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "nothing-here";
  const auto opened = LedgerStore::Open(dir);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kNotFound) << opened.status().ToString();
  EXPECT_FALSE(fs::exists(dir));
}

TEST(StoreDirectories, EmptyDirectoryIsNotFound) {
  test::TempDir tmp;
  const auto opened = LedgerStore::Open(tmp.path());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kNotFound) << opened.status().ToString();
}

TEST(StoreDirectories, DirectoryOfRandomFilesIsRefusedAndLeftAlone) {
  test::TempDir tmp;
  WriteAll(tmp.path() / "notes.txt", test::ToBytes("shopping list"));
  Bytes noise(5000);
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>(test::Mix(i));
  WriteAll(tmp.path() / "000005.ldb", noise);
  const auto opened = LedgerStore::Open(tmp.path());
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().code() == ErrorCode::kNotFound ||
              opened.status().code() == ErrorCode::kCorruption)
      << opened.status().ToString();
  EXPECT_EQ(ReadAll(tmp.path() / "notes.txt"), test::ToBytes("shopping list"));
  EXPECT_EQ(ReadAll(tmp.path() / "000005.ldb"), noise);
  EXPECT_FALSE(LedgerStore::Create(tmp.path(), test::ChainGenesis()).ok());
  EXPECT_EQ(ReadAll(tmp.path() / "notes.txt"), test::ToBytes("shopping list"));
}

TEST(StoreDirectories, LevelDbWithoutOurMetadataIsRefused) {
  test::TempDir tmp;
  test::CreateForeignLevelDb(tmp.path() / "db");
  const auto opened = LedgerStore::Open(tmp.path() / "db");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kCorruption) << opened.status().ToString();
  EXPECT_FALSE(LedgerStore::Create(tmp.path() / "db", test::ChainGenesis()).ok());
}

TEST(StoreDirectories, CreateRefusesANonEmptyDirectory) {
  test::TempDir tmp;
  WriteAll(tmp.path() / "keep.me", test::ToBytes("precious"));
  const auto created = LedgerStore::Create(tmp.path(), test::ChainGenesis());
  ASSERT_FALSE(created.ok());
  EXPECT_FALSE(created.status().message().empty());
  EXPECT_EQ(ReadAll(tmp.path() / "keep.me"), test::ToBytes("precious"));
}

TEST(StoreDirectories, CreateRefusesAnExistingStoreAndLeavesItWhole) {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "store";
  test::ChainReplay replay;
  {
    auto store = Must(LedgerStore::Create(dir, test::ChainGenesis()));
    for (int i = 0; i < 3; ++i) (void)Must(store->Commit(replay.Advance()));
  }
  Genesis other = test::ChainGenesis();
  other.block_hash = TaggedHash("another.genesis", {});
  EXPECT_FALSE(LedgerStore::Create(dir, other).ok());
  EXPECT_FALSE(LedgerStore::Create(dir, test::ChainGenesis()).ok());
  auto store = Must(LedgerStore::Open(dir));
  EXPECT_EQ(store->tip().height, 3u);
  EXPECT_EQ(store->tip().block_hash, replay.hash(3));
  EXPECT_EQ(store->genesis_hash(), test::TestGenesisHash());
}

TEST(StoreDirectories, CreateInAnEmptyDirectoryWorks) {
  test::TempDir tmp;
  auto store = Must(LedgerStore::Create(tmp.path(), test::ChainGenesis()));
  EXPECT_EQ(store->tip().height, 0u);
}

TEST(StoreDirectories, OpenWhileAnotherStoreHoldsItIsRefused) {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "store";
  auto holder = Must(LedgerStore::Create(dir, test::ChainGenesis()));
  const auto second = LedgerStore::Open(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kIoError) << second.status().ToString();
  EXPECT_FALSE(LedgerStore::Create(dir, test::ChainGenesis()).ok());
  // The holder is unharmed, and once it is gone the store opens.
  test::ChainReplay replay;
  (void)Must(holder->Commit(replay.Advance()));
  holder.reset();
  auto reopened = Must(LedgerStore::Open(dir));
  EXPECT_EQ(reopened->tip().height, 1u);
}

TEST(StoreDirectories, AFileInPlaceOfTheDirectoryIsRefused) {
  test::TempDir tmp;
  WriteAll(tmp.path() / "file", test::ToBytes("x"));
  EXPECT_FALSE(LedgerStore::Open(tmp.path() / "file").ok());
  EXPECT_FALSE(LedgerStore::Create(tmp.path() / "file", test::ChainGenesis()).ok());
  EXPECT_EQ(ReadAll(tmp.path() / "file"), test::ToBytes("x"));
}

}  // namespace
}  // namespace city::ledger
