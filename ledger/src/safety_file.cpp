// Durable, atomic small files for the consensus safety state (safety_file.h).
#include "city/ledger/safety_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "city/crypto/hash.h"
#include "city/crypto/private_file.h"

namespace city::ledger {
namespace {

constexpr std::string_view kMagic = "CITYSAF1";
constexpr std::string_view kChecksumTag = "city.safety.file.v1";
constexpr size_t kHeaderBytes = 8 + 4;
constexpr size_t kChecksumBytes = 32;

Status Corrupt(const std::filesystem::path& path, const std::string& what) {
  return {ErrorCode::kCorruption, "safety state file " + path.string() + " is damaged: " + what +
                                      "; refusing to guess the last vote (restore it or "
                                      "re-create the validator's state deliberately)"};
}

bool WriteAll(int fd, const Bytes& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t wrote = ::write(fd, data.data() + done, data.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

}  // namespace

Status SafetyFile::Save(ByteSpan payload) const {
  if (payload.size() > kMaxSafetyFileBytes) {
    return {ErrorCode::kTooLarge, "safety state is larger than the file limit"};
  }
  Bytes contents(kMagic.begin(), kMagic.end());
  const uint32_t size = static_cast<uint32_t>(payload.size());
  for (int shift = 0; shift < 32; shift += 8) contents.push_back(uint8_t(size >> shift));
  contents.insert(contents.end(), payload.begin(), payload.end());
  const Hash256 checksum = TaggedHash(kChecksumTag, contents);
  contents.insert(contents.end(), checksum.bytes.begin(), checksum.bytes.end());

  // A crash can leave the temp file behind; the next save truncates and reuses it.
  const std::filesystem::path temp = path_.string() + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IoErrorFromErrno("cannot create", temp);
  const bool written = ::fchmod(fd, 0600) == 0 && WriteAll(fd, contents) && ::fsync(fd) == 0;
  Status status = written ? Status::Ok() : IoErrorFromErrno("cannot write", temp);
  ::close(fd);
  if (status.ok() && ::rename(temp.c_str(), path_.c_str()) != 0) {
    status = IoErrorFromErrno("cannot rename into place", path_);
  }
  if (status.ok()) status = SyncParentDirectory(path_);
  return status;
}

Result<std::optional<Bytes>> SafetyFile::Load() const {
  Result<std::string> text =
      ReadPrivateFile(path_, kMaxSafetyFileBytes + kHeaderBytes + kChecksumBytes, "safety file");
  if (!text.ok()) {
    if (text.status().code() == ErrorCode::kNotFound) return std::optional<Bytes>();
    return text.status();
  }
  const Bytes contents(text->begin(), text->end());
  if (contents.size() < kHeaderBytes + kChecksumBytes) return Corrupt(path_, "truncated");
  if (!std::equal(kMagic.begin(), kMagic.end(), contents.begin())) {
    return Corrupt(path_, "wrong magic (not a CityLedger safety file)");
  }
  uint32_t size = 0;
  for (int i = 3; i >= 0; --i) size = (size << 8) | contents[8 + static_cast<size_t>(i)];
  if (contents.size() != kHeaderBytes + size + kChecksumBytes) {
    return Corrupt(path_, "length does not match its header (truncated?)");
  }
  const ByteSpan body(contents.data(), kHeaderBytes + size);
  const Hash256 checksum = TaggedHash(kChecksumTag, body);
  if (!std::equal(checksum.bytes.begin(), checksum.bytes.end(), contents.begin() + body.size())) {
    return Corrupt(path_, "checksum mismatch");
  }
  return std::optional<Bytes>(
      Bytes(contents.begin() + kHeaderBytes, contents.end() - kChecksumBytes));
}

}  // namespace city::ledger
