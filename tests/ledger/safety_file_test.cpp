// SafetyFile: the documented format, round trips, refusal of every truncation and bit flip,
// a torn in-place save, the older format, a missing file, and the file mode.
#include "city/ledger/safety_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "ledger/store_test_util.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::Must;

Bytes ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes `bytes` as an owner-only file, as Save would leave it.
void WriteAll(const std::filesystem::path& path, const Bytes& bytes) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

Bytes Payload(size_t n) {
  Bytes payload(n);
  for (size_t i = 0; i < n; ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  return payload;
}

class SafetyFileTest : public ::testing::Test {
 protected:
  test::TempDir tmp_;
  SafetyFile file_{tmp_.path() / "safety"};
  const Bytes test_payload_ = Payload(77);
};

TEST_F(SafetyFileTest, MissingFileLoadsAsNothing) {
  const std::optional<Bytes> loaded = Must(file_.Load());
  EXPECT_FALSE(loaded.has_value());
}

TEST_F(SafetyFileTest, SaveThenLoadRoundTrips) {
  for (const size_t n : {0, 1, 100, 4096, 100'000}) {
    CITY_ASSERT_OK(file_.Save(Payload(n)));
    const std::optional<Bytes> loaded = Must(file_.Load());
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(*loaded, Payload(n)) << n;
  }
  // A second SafetyFile on the same path sees the same contents.
  EXPECT_EQ(Must(SafetyFile(file_.path()).Load()), Payload(100'000));
}

uint64_t Le(const Bytes& bytes, size_t at, size_t width) {
  uint64_t value = 0;
  for (size_t i = width; i-- > 0;) value = (value << 8) | bytes[at + i];
  return value;
}

// The slot's record: "CITYSAF2", sequence, length, payload, checksum.
void ExpectSlot(const Bytes& bytes, size_t begin, uint64_t sequence, const Bytes& payload) {
  EXPECT_EQ(std::string(bytes.begin() + begin, bytes.begin() + begin + 8), "CITYSAF2");
  EXPECT_EQ(Le(bytes, begin + 8, 8), sequence);
  ASSERT_EQ(Le(bytes, begin + 16, 4), payload.size());
  const auto body = bytes.begin() + static_cast<ptrdiff_t>(begin);
  EXPECT_EQ(Bytes(body + 20, body + 20 + static_cast<ptrdiff_t>(payload.size())), payload);
  // safety_file.h: the tagged hash (H(u8 len(tag) || tag || data)) of the slot before it.
  const Hash256 checksum =
      TaggedHash("city.safety.file.v2", ByteSpan(bytes).subspan(begin, 20 + payload.size()));
  const auto stored = body + 20 + static_cast<ptrdiff_t>(payload.size());
  EXPECT_EQ(Bytes(stored, stored + 32), Bytes(checksum.bytes.begin(), checksum.bytes.end()));
}

TEST_F(SafetyFileTest, FileHasTheDocumentedFormat) {
  const Bytes payload = test_payload_;
  CITY_ASSERT_OK(file_.Save(payload));
  Bytes bytes = ReadAll(file_.path());
  ASSERT_EQ(bytes.size(), 2 * 4096u);  // two slots, the state in the first
  ExpectSlot(bytes, 0, 1, payload);
  EXPECT_EQ(Bytes(bytes.begin() + 4096, bytes.end()), Bytes(4096, 0));
  bool damaged = true;
  EXPECT_EQ(Must(file_.Load(&damaged)), payload);
  EXPECT_FALSE(damaged);  // a slot never written is not a damaged one
  // The next saves alternate between the slots in place, each with the next sequence.
  CITY_ASSERT_OK(file_.Save(Payload(5)));
  bytes = ReadAll(file_.path());
  ASSERT_EQ(bytes.size(), 2 * 4096u);
  ExpectSlot(bytes, 0, 1, payload);
  ExpectSlot(bytes, 4096, 2, Payload(5));
  CITY_ASSERT_OK(file_.Save(Payload(6)));
  ExpectSlot(ReadAll(file_.path()), 0, 3, Payload(6));
  EXPECT_EQ(Must(file_.Load()), Payload(6));
}

TEST_F(SafetyFileTest, ATornInPlaceSaveLeavesTheLastSavedState) {
  CITY_ASSERT_OK(file_.Save(Payload(40)));  // slot 0, sequence 1
  CITY_ASSERT_OK(file_.Save(Payload(50)));  // slot 1, sequence 2
  // The next save writes slot 0 and the machine dies halfway through it: whatever part of
  // the new record reached the disk, the state saved last is what loads.
  const Bytes whole = ReadAll(file_.path());
  const Bytes next = [&] {
    SafetyFile other(tmp_.path() / "scratch");
    EXPECT_TRUE(other.Save(Payload(60)).ok());  // a record of sequence 1 ...
    return ReadAll(other.path());
  }();
  for (const size_t torn : {1, 8, 20, 60, 100}) {
    Bytes bytes = whole;
    std::copy(next.begin(), next.begin() + static_cast<ptrdiff_t>(torn), bytes.begin());
    bytes[8] = 3;  // ... renumbered as the third save's, which was cut off
    WriteAll(file_.path(), bytes);
    bool damaged = false;
    EXPECT_EQ(Must(file_.Load(&damaged)), Payload(50)) << "torn after " << torn << " bytes";
    EXPECT_TRUE(damaged) << "torn after " << torn << " bytes";
  }
  bool damaged = true;
  WriteAll(file_.path(), whole);
  EXPECT_EQ(Must(file_.Load(&damaged)), Payload(50));
  EXPECT_FALSE(damaged);
  // Both slots damaged: nothing is guessed.
  Bytes both = whole;
  both[30] ^= 1;
  both[4096 + 30] ^= 1;
  WriteAll(file_.path(), both);
  EXPECT_EQ(file_.Load().status().code(), ErrorCode::kCorruption);
}

TEST_F(SafetyFileTest, TheOlderFormatLoadsAndTheNextSaveReplacesIt) {
  // v1: "CITYSAF1", u32 LE length, payload, TaggedHash("city.safety.file.v1", all before).
  Bytes v1 = {'C', 'I', 'T', 'Y', 'S', 'A', 'F', '1', 77, 0, 0, 0};
  v1.insert(v1.end(), test_payload_.begin(), test_payload_.end());
  const Hash256 checksum = TaggedHash("city.safety.file.v1", v1);
  v1.insert(v1.end(), checksum.bytes.begin(), checksum.bytes.end());
  WriteAll(file_.path(), v1);
  EXPECT_EQ(Must(file_.Load()), test_payload_);
  Bytes altered = v1;
  altered[20] ^= 1;
  WriteAll(file_.path(), altered);
  EXPECT_EQ(file_.Load().status().code(), ErrorCode::kCorruption);
  CITY_ASSERT_OK(file_.Save(Payload(9)));
  EXPECT_EQ(ReadAll(file_.path()).size(), 2 * 4096u);
  EXPECT_EQ(Must(file_.Load()), Payload(9));
}

TEST_F(SafetyFileTest, AStateThatOutgrowsItsSlotsRewritesTheFile) {
  CITY_ASSERT_OK(file_.Save(Payload(100)));
  CITY_ASSERT_OK(file_.Save(Payload(200)));
  CITY_ASSERT_OK(file_.Save(Payload(50'000)));
  EXPECT_GE(ReadAll(file_.path()).size(), 2 * 50'000u);
  EXPECT_EQ(Must(SafetyFile(file_.path()).Load()), Payload(50'000));
  CITY_ASSERT_OK(file_.Save(Payload(10)));  // in place again, in the larger slots
  EXPECT_EQ(Must(SafetyFile(file_.path()).Load()), Payload(10));
}

TEST_F(SafetyFileTest, EveryTruncationIsCorruption) {
  CITY_ASSERT_OK(file_.Save(test_payload_));
  const Bytes whole = ReadAll(file_.path());
  for (size_t n = 0; n < whole.size(); ++n) {
    WriteAll(file_.path(), Bytes(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(n)));
    const Result<std::optional<Bytes>> loaded = file_.Load();
    EXPECT_EQ(loaded.status().code(), ErrorCode::kCorruption) << "truncated to " << n;
  }
}

TEST_F(SafetyFileTest, EveryBitFlipIsCorruption) {
  CITY_ASSERT_OK(file_.Save(test_payload_));
  const Bytes whole = ReadAll(file_.path());
  // Every bit of the record (the rest of the slot is padding, and the other slot is empty).
  const size_t record = 20 + test_payload_.size() + 32;
  for (size_t i = 0; i < record; ++i) {
    for (const uint8_t mask : {0x01, 0x80}) {
      Bytes flipped = whole;
      flipped[i] ^= mask;
      WriteAll(file_.path(), flipped);
      const Result<std::optional<Bytes>> loaded = file_.Load();
      EXPECT_FALSE(loaded.ok()) << "byte " << i;
      EXPECT_EQ(loaded.status().code(), ErrorCode::kCorruption) << "byte " << i;
    }
  }
}

TEST_F(SafetyFileTest, TrailingBytesAreCorruption) {
  CITY_ASSERT_OK(file_.Save(test_payload_));
  Bytes longer = ReadAll(file_.path());
  longer.push_back(0);
  WriteAll(file_.path(), longer);
  EXPECT_EQ(file_.Load().status().code(), ErrorCode::kCorruption);
}

TEST_F(SafetyFileTest, OverlongLengthIsRefusedWithoutReadingIt) {
  // A length field claiming 4 GiB: refused, not allocated. (The v1 form; a v2 slot's length
  // is checked against the slot it stands in.)
  Bytes forged = {'C', 'I', 'T', 'Y', 'S', 'A', 'F', '1', 0xff, 0xff, 0xff, 0xff};
  const Hash256 checksum = TaggedHash("city.safety.file.v1", forged);
  forged.insert(forged.end(), checksum.bytes.begin(), checksum.bytes.end());
  WriteAll(file_.path(), forged);
  EXPECT_EQ(file_.Load().status().code(), ErrorCode::kCorruption);
}

TEST_F(SafetyFileTest, FileIsOwnerOnlyAndNoTempFileRemains) {
  CITY_ASSERT_OK(file_.Save(test_payload_));
  struct stat st {};
  ASSERT_EQ(::stat(file_.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Saving over a file with wider permissions leaves an owner-only file.
  ASSERT_EQ(::chmod(file_.path().c_str(), 0644), 0);
  CITY_ASSERT_OK(file_.Save(Payload(10)));
  ASSERT_EQ(::stat(file_.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp_.path())) {
    ++entries;
    EXPECT_EQ(entry.path(), file_.path());
  }
  EXPECT_EQ(entries, 1u);
}

TEST_F(SafetyFileTest, FileOthersCanReadIsRefused) {
  CITY_ASSERT_OK(file_.Save(test_payload_));
  ASSERT_EQ(::chmod(file_.path().c_str(), 0644), 0);
  EXPECT_EQ(file_.Load().status().code(), ErrorCode::kPermissionDenied);
}

TEST_F(SafetyFileTest, TooLargePayloadIsRefusedAndKeepsTheOldFile) {
  CITY_ASSERT_OK(file_.Save(test_payload_));
  EXPECT_FALSE(file_.Save(Bytes(kMaxSafetyFileBytes + 1, 0x11)).ok());
  EXPECT_EQ(Must(file_.Load()), test_payload_);
}

TEST_F(SafetyFileTest, OversizedFileIsRefusedOnLoad) {
  WriteAll(file_.path(), Bytes(kMaxSafetyFileBytes + 100, 0x11));
  EXPECT_FALSE(file_.Load().ok());
}

TEST_F(SafetyFileTest, MissingDirectoryFailsToSave) {
  SafetyFile nowhere(tmp_.path() / "no" / "such" / "dir" / "safety");
  EXPECT_FALSE(nowhere.Save(Payload(5)).ok());
}

TEST_F(SafetyFileTest, DirectoryInThePlaceOfTheFileIsAnError) {
  std::filesystem::create_directory(file_.path());
  EXPECT_FALSE(file_.Load().ok());
}

}  // namespace
}  // namespace city::ledger
