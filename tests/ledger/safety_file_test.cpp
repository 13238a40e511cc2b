// SafetyFile: the documented format, round trips, refusal of every truncation and bit flip,
// a missing file, and the file mode.
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

TEST_F(SafetyFileTest, FileHasTheDocumentedFormat) {
  const Bytes payload = test_payload_;
  CITY_ASSERT_OK(file_.Save(payload));
  const Bytes bytes = ReadAll(file_.path());
  ASSERT_EQ(bytes.size(), 8 + 4 + payload.size() + 32);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "CITYSAF1");
  const uint32_t length = bytes[8] | bytes[9] << 8 | bytes[10] << 16 | uint32_t{bytes[11]} << 24;
  EXPECT_EQ(length, payload.size());
  EXPECT_EQ(Bytes(bytes.begin() + 12, bytes.end() - 32), payload);
  // safety_file.h says "BLAKE2b-256 of everything before it"; the file uses the tagged form
  // (H(u8 len(tag) || tag || data)), like every other hash the ledger stores.
  const Hash256 checksum =
      TaggedHash("city.safety.file.v1", ByteSpan(bytes).first(bytes.size() - 32));
  EXPECT_EQ(Bytes(bytes.end() - 32, bytes.end()),
            Bytes(checksum.bytes.begin(), checksum.bytes.end()));
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
  for (size_t i = 0; i < whole.size(); ++i) {
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
  // A length field claiming 4 GiB: refused, not allocated.
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
