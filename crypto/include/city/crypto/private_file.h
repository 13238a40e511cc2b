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

// Writes a new file with `mode` (e.g. 0600): a temporary file in the same directory, fsynced,
// then linked into place. link() rather than rename(): it fails when the target appeared
// meanwhile, so a race cannot clobber a file the caller refuses to overwrite. Then the
// directory is synced. kAlreadyExists when `path` exists (even as a dangling symlink).
Status WriteNewFile(const std::filesystem::path& path, std::string_view contents, unsigned mode);

// The same, replacing `path` if it exists (rename()): a reader sees the old file or the new
// one, never a part; after a crash, one of the two.
Status ReplaceFile(const std::filesystem::path& path, std::string_view contents, unsigned mode);

// A small file anyone may read (a config, a genesis file), whole: without hanging on a FIFO,
// bounded even if it grows meanwhile. kNotFound when absent; kInvalidArgument when it is not
// a regular file; kTooLarge past max_bytes; kIoError when the OS refuses.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes,
                                  std::string_view kind);

// fsync of the directory holding `path`, so a create or rename in it survives a crash.
Status SyncParentDirectory(const std::filesystem::path& path);

// kIoError "<what> <path>: <strerror(errno)>".
Status IoErrorFromErrno(std::string_view what, const std::filesystem::path& path);

}  // namespace city
