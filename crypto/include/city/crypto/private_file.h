// Files only their owner may read (key files, the consensus safety state): read without
// following symlinks, hanging on a FIFO or trusting the size, and written durably.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "city/status.h"

namespace city {

// The whole file. `kind` names it in errors ("key file"). kNotFound when absent;
// kPermissionDenied when group or others may access it; kCorruption when it is not a
// regular file or is larger than max_bytes.
Result<std::string> ReadPrivateFile(const std::filesystem::path& path, size_t max_bytes,
                                    std::string_view kind);

// fsync of the directory holding `path`, so a create or rename in it survives a crash.
Status SyncParentDirectory(const std::filesystem::path& path);

// kIoError "<what> <path>: <strerror(errno)>".
Status IoErrorFromErrno(std::string_view what, const std::filesystem::path& path);

}  // namespace city
