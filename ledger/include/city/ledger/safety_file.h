// A small file written durably and atomically: the consensus safety state lives in one, and
// the node saves it before every vote leaves.
//
// Format: "CITYSAF1", u32 LE payload length, the payload, then
// TaggedHash("city.safety.file.v1", everything before it). Saving writes a temp file in the same
// directory (mode 0600), fsyncs it, renames it over the old file and fsyncs the directory, so after
// a crash the file holds either the old or the new contents, whole.
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

  const std::filesystem::path& path() const { return path_; }
  // Durable once it returns kOk.
  Status Save(ByteSpan payload) const;
  // nullopt when no file exists yet; kCorruption for a truncated or altered file;
  // kPermissionDenied when others may read or write it (it must be 0600).
  Result<std::optional<Bytes>> Load() const;

 private:
  std::filesystem::path path_;
};

}  // namespace city::ledger
