// A small file written durably and atomically: the consensus safety state lives in one, and
// the node saves it before every vote, timeout and proposal leaves, so saving is on the
// critical path of every round.
//
// Format v2: two equal slots of C bytes each (C a multiple of 4096), the file exactly 2C:
//   slot = "CITYSAF2" ‖ u64 LE sequence ‖ u32 LE payload length ‖ payload ‖
//          TaggedHash("city.safety.file.v2", everything before it in the slot) ‖ padding
// The valid slot with the higher sequence is the state. A SafetyFile's first save writes the
// whole file atomically (a temp file, fsync, rename, fsync of the directory) with its state in
// slot 0; every later save overwrites the other slot in place and fdatasyncs it: one flush of
// blocks the file already owns, instead of a new file, a rename and two flushes. A crash
// during an in-place save tears only the slot being written, whose state never counted as
// saved, and the other slot still holds the last saved state whole. A payload that outgrows
// the slots makes the save rewrite the file atomically with larger ones.
//
// Format v1 ("CITYSAF1" ‖ u32 LE length ‖ payload ‖ TaggedHash("city.safety.file.v1", …),
// the whole file) is still read; the first save replaces it with v2.
#pragma once

#include <filesystem>
#include <optional>

#include "city/crypto/bytes.h"
#include "city/status.h"

namespace city::ledger {

inline constexpr size_t kMaxSafetyFileBytes = 1 << 20;

class SafetyFile {
 public:
  explicit SafetyFile(std::filesystem::path path) : path_(std::move(path)) {}
  ~SafetyFile();
  SafetyFile(const SafetyFile&) = delete;
  SafetyFile& operator=(const SafetyFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Durable once it returns kOk. After a failed save the next one rewrites the whole file.
  Status Save(ByteSpan payload);
  // nullopt when no file exists yet; kCorruption for a truncated or altered file (no slot
  // valid); kPermissionDenied when others may read or write it (it must be 0600).
  // `damaged_slot` (if given) tells whether the other slot was written and is not whole: a
  // save torn by a crash, or a disk that altered it. The two cannot be told apart, and in the
  // second case the state loaded is one save older than the last, so the caller must not
  // sign from it as if nothing happened (the node recovers its rounds from its peers). No
  // format can notice a disk that acknowledges a flush and then loses the write: like the
  // rename of v1, this one relies on fdatasync.
  Result<std::optional<Bytes>> Load(bool* damaged_slot = nullptr) const;

 private:
  Status Rewrite(ByteSpan payload);
  void Close();

  std::filesystem::path path_;
  // After a whole-file write: the file open for in-place saves, its slot size, the slot
  // holding the last saved state and that state's sequence.
  int fd_ = -1;
  size_t slot_bytes_ = 0;
  size_t current_slot_ = 0;
  uint64_t sequence_ = 0;
};

}  // namespace city::ledger
