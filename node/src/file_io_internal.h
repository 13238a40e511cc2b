// Small public files of a node's home (config.toml, genesis.json): read with a size bound
// without hanging on a FIFO, and written once, atomically and durably.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>

#include "city/crypto/private_file.h"
#include "city/status.h"

namespace city::node::internal {

// The whole file. kNotFound with `not_found` when absent; kTooLarge past max_bytes;
// kInvalidArgument when it is not a regular file; kIoError when the OS refuses.
inline Result<std::string> ReadBoundedFile(const std::filesystem::path& path, size_t max_bytes,
                                           std::string_view kind, const std::string& not_found) {
  // O_NONBLOCK: opening a FIFO planted at the path must not hang; no effect on files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return Status(ErrorCode::kNotFound, not_found);
    return IoErrorFromErrno("cannot open", path);
  }
  struct stat info {};
  std::string contents;
  Status status;
  if (::fstat(fd, &info) != 0) {
    status = IoErrorFromErrno("cannot stat", path);
  } else if (!S_ISREG(info.st_mode)) {
    status = Status(ErrorCode::kInvalidArgument,
                    std::string(kind) + " " + path.string() + " is not a regular file");
  } else if (info.st_size > static_cast<off_t>(max_bytes)) {
    status =
        Status(ErrorCode::kTooLarge, std::string(kind) + " " + path.string() + " is larger than " +
                                         std::to_string(max_bytes) + " bytes");
  } else {
    // Read one byte past the size fstat gave, so a file growing meanwhile is still bounded.
    contents.resize(static_cast<size_t>(info.st_size) + 1);
    size_t done = 0;
    while (done < contents.size()) {
      const ssize_t got = ::read(fd, contents.data() + done, contents.size() - done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        status = IoErrorFromErrno("cannot read", path);
        break;
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    if (status.ok() && done > max_bytes) {
      status = Status(ErrorCode::kTooLarge, std::string(kind) + " " + path.string() +
                                                " is larger than " + std::to_string(max_bytes) +
                                                " bytes");
    }
    contents.resize(done);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

// Writes a new file with `mode`: a temporary file in the same directory, fsynced, then
// linked into place. link() rather than rename(): it fails when the target appeared
// meanwhile, so a race cannot clobber a file we refuse to overwrite. kAlreadyExists when
// `path` exists (even as a dangling symlink).
inline Status WriteNewFile(const std::filesystem::path& path, std::string_view contents,
                           mode_t mode) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    return Status(ErrorCode::kAlreadyExists, "refusing to overwrite " + path.string());
  }
  // A unique temporary name: one left behind by a crash must not block later writes.
  std::string temp_name = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp_name.data());
  if (fd < 0) return IoErrorFromErrno("cannot create a temporary file for", path);
  const std::filesystem::path temp = temp_name;
  Status status;
  if (::fchmod(fd, mode) != 0) status = IoErrorFromErrno("cannot set the mode of", temp);
  size_t done = 0;
  while (status.ok() && done < contents.size()) {
    const ssize_t wrote = ::write(fd, contents.data() + done, contents.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      status = IoErrorFromErrno("cannot write", temp);
      break;
    }
    done += static_cast<size_t>(wrote);
  }
  if (status.ok() && ::fsync(fd) != 0) status = IoErrorFromErrno("cannot fsync", temp);
  ::close(fd);
  if (status.ok() && ::link(temp.c_str(), path.c_str()) != 0) {
    status = errno == EEXIST
                 ? Status(ErrorCode::kAlreadyExists, "refusing to overwrite " + path.string())
                 : IoErrorFromErrno("cannot create", path);
  }
  ::unlink(temp.c_str());
  if (status.ok()) status = SyncParentDirectory(path);
  return status;
}

}  // namespace city::node::internal
