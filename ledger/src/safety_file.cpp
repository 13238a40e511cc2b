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

constexpr std::string_view kMagicV1 = "CITYSAF1";
constexpr std::string_view kChecksumTagV1 = "city.safety.file.v1";
constexpr size_t kHeaderBytesV1 = 8 + 4;

constexpr std::string_view kMagic = "CITYSAF2";
constexpr std::string_view kChecksumTag = "city.safety.file.v2";
constexpr size_t kHeaderBytes = 8 + 8 + 4;  // magic, sequence, length
constexpr size_t kChecksumBytes = 32;
constexpr size_t kSlotAlign = 4096;
constexpr size_t kMaxSlotBytes =
    (kHeaderBytes + kMaxSafetyFileBytes + kChecksumBytes + kSlotAlign - 1) / kSlotAlign *
    kSlotAlign;

Status Corrupt(const std::filesystem::path& path, const std::string& what) {
  return {ErrorCode::kCorruption, "safety state file " + path.string() + " is damaged: " + what +
                                      "; refusing to guess the last vote (restore it or "
                                      "re-create the validator's state deliberately)"};
}

uint64_t ReadLe(const Bytes& bytes, size_t at, size_t width) {
  uint64_t value = 0;
  for (size_t i = width; i-- > 0;) value = (value << 8) | bytes[at + i];
  return value;
}

void AppendLe(Bytes& out, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

// One slot's record: header, payload, checksum (no padding).
Bytes Record(uint64_t sequence, ByteSpan payload) {
  Bytes record(kMagic.begin(), kMagic.end());
  AppendLe(record, sequence, 8);
  AppendLe(record, payload.size(), 4);
  record.insert(record.end(), payload.begin(), payload.end());
  const Hash256 checksum = TaggedHash(kChecksumTag, record);
  record.insert(record.end(), checksum.bytes.begin(), checksum.bytes.end());
  return record;
}

struct SlotState {
  uint64_t sequence = 0;
  Bytes payload;
};

// The state a slot holds, or nullopt when it holds none whole.
std::optional<SlotState> ParseSlot(const Bytes& contents, size_t begin, size_t size) {
  if (size < kHeaderBytes + kChecksumBytes ||
      !std::equal(kMagic.begin(), kMagic.end(), contents.begin() + begin)) {
    return std::nullopt;
  }
  const uint64_t length = ReadLe(contents, begin + 16, 4);
  if (length > kMaxSafetyFileBytes || kHeaderBytes + length + kChecksumBytes > size) {
    return std::nullopt;
  }
  const ByteSpan body(contents.data() + begin, kHeaderBytes + length);
  const Hash256 checksum = TaggedHash(kChecksumTag, body);
  if (!std::equal(checksum.bytes.begin(), checksum.bytes.end(),
                  contents.begin() + begin + body.size())) {
    return std::nullopt;
  }
  return SlotState{ReadLe(contents, begin + 8, 8), Bytes(body.begin() + kHeaderBytes, body.end())};
}

Result<std::optional<Bytes>> LoadV1(const std::filesystem::path& path, const Bytes& contents) {
  if (contents.size() < kHeaderBytesV1 + kChecksumBytes) return Corrupt(path, "truncated");
  const uint64_t size = ReadLe(contents, 8, 4);
  if (contents.size() != kHeaderBytesV1 + size + kChecksumBytes) {
    return Corrupt(path, "length does not match its header (truncated?)");
  }
  const ByteSpan body(contents.data(), kHeaderBytesV1 + size);
  const Hash256 checksum = TaggedHash(kChecksumTagV1, body);
  if (!std::equal(checksum.bytes.begin(), checksum.bytes.end(), contents.begin() + body.size())) {
    return Corrupt(path, "checksum mismatch");
  }
  return std::optional<Bytes>(
      Bytes(contents.begin() + kHeaderBytesV1, contents.end() - kChecksumBytes));
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

bool PwriteAll(int fd, const Bytes& data, size_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t wrote =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

}  // namespace

SafetyFile::~SafetyFile() { Close(); }

void SafetyFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status SafetyFile::Save(ByteSpan payload) {
  if (payload.size() > kMaxSafetyFileBytes) {
    return {ErrorCode::kTooLarge, "safety state is larger than the file limit"};
  }
  const Bytes record = Record(sequence_ + 1, payload);
  if (fd_ < 0 || record.size() > slot_bytes_) return Rewrite(payload);
  const size_t slot = 1 - current_slot_;
  // fchmod: owner-only even if someone widened it meanwhile (Load refuses it otherwise).
  if (::fchmod(fd_, 0600) != 0 || !PwriteAll(fd_, record, slot * slot_bytes_) ||
      ::fdatasync(fd_) != 0) {
    Status status = IoErrorFromErrno("cannot write", path_);
    Close();  // the next save rewrites the whole file rather than trust this one
    return status;
  }
  current_slot_ = slot;
  ++sequence_;
  return Status::Ok();
}

Status SafetyFile::Rewrite(ByteSpan payload) {
  Close();
  const Bytes record = Record(sequence_ + 1, payload);
  // Room for the state to grow to twice its size before the next rewrite.
  const size_t slot_bytes = std::min(
      kMaxSlotBytes,
      std::max(kSlotAlign, (2 * record.size() + kSlotAlign - 1) / kSlotAlign * kSlotAlign));
  Bytes contents = record;
  contents.resize(2 * slot_bytes, 0);

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
  if (!status.ok()) return status;
  ++sequence_;
  slot_bytes_ = slot_bytes;
  current_slot_ = 0;
  // Saved. Without the file open, the next save simply rewrites it again.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  return Status::Ok();
}

Result<std::optional<Bytes>> SafetyFile::Load(bool* damaged_slot) const {
  if (damaged_slot != nullptr) *damaged_slot = false;
  Result<std::string> text = ReadPrivateFile(path_, 2 * kMaxSlotBytes, "safety file");
  if (!text.ok()) {
    if (text.status().code() == ErrorCode::kNotFound) return std::optional<Bytes>();
    return text.status();
  }
  const Bytes contents(text->begin(), text->end());
  if (contents.size() >= kMagicV1.size() &&
      std::equal(kMagicV1.begin(), kMagicV1.end(), contents.begin())) {
    return LoadV1(path_, contents);
  }
  if (contents.empty() || contents.size() % (2 * kSlotAlign) != 0) {
    return Corrupt(path_, "its size is not two whole slots (truncated?)");
  }
  const size_t slot_bytes = contents.size() / 2;
  std::optional<SlotState> best;
  bool damaged = false;
  for (size_t slot = 0; slot < 2; ++slot) {
    std::optional<SlotState> state = ParseSlot(contents, slot * slot_bytes, slot_bytes);
    if (!state) {
      // The second slot all zero was never written (a whole-file write leaves it so) and is
      // not damage; the first one always holds a record.
      const auto begin = contents.begin() + static_cast<ptrdiff_t>(slot * slot_bytes);
      damaged = damaged || slot == 0 ||
                std::any_of(begin, begin + static_cast<ptrdiff_t>(slot_bytes),
                            [](uint8_t byte) { return byte != 0; });
    } else if (!best || state->sequence > best->sequence) {
      best = std::move(state);
    }
  }
  if (!best) return Corrupt(path_, "no slot holds a whole state (altered, or not a safety file)");
  if (damaged_slot != nullptr) *damaged_slot = damaged;
  return std::optional<Bytes>(std::move(best->payload));
}

}  // namespace city::ledger
