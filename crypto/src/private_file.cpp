// Reading and durably writing files only their owner may access (private_file.h).
#include "city/crypto/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace city {
namespace {

Status Corrupt(const std::filesystem::path& path, std::string_view kind, const std::string& what) {
  return Status(ErrorCode::kCorruption,
                path.string() + " is not a valid " + std::string(kind) + ": " + what);
}

}  // namespace

Status IoErrorFromErrno(std::string_view what, const std::filesystem::path& path) {
  return Status(ErrorCode::kIoError,
                std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

namespace {

enum class Access { kAnyone, kOwnerOnly };

Status TooLarge(const std::filesystem::path& path, std::string_view kind, size_t max_bytes,
                Access access) {
  const std::string what = "larger than " + std::to_string(max_bytes) + " bytes";
  return access == Access::kOwnerOnly
             ? Corrupt(path, kind, what)
             : Status(ErrorCode::kTooLarge,
                      std::string(kind) + " " + path.string() + " is " + what);
}

// The whole file, bounded by max_bytes even if it grows while being read.
Result<std::string> ReadWhole(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view kind, Access access) {
  // O_NONBLOCK: opening a FIFO planted at the path must not hang; no effect on files.
  // O_NOFOLLOW for secrets: a symlink planted at the path must not redirect the read.
  const int flags =
      O_RDONLY | O_CLOEXEC | O_NONBLOCK | (access == Access::kOwnerOnly ? O_NOFOLLOW : 0);
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    if (errno == ENOENT) {
      return Status(ErrorCode::kNotFound, "no " + std::string(kind) + " at " + path.string());
    }
    return IoErrorFromErrno("cannot open", path);
  }
  struct stat info {};
  std::string contents;
  Status status;
  if (::fstat(fd, &info) != 0) {
    status = IoErrorFromErrno("cannot stat", path);
  } else if (!S_ISREG(info.st_mode)) {
    status = access == Access::kOwnerOnly
                 ? Corrupt(path, kind, "not a regular file")
                 : Status(ErrorCode::kInvalidArgument,
                          std::string(kind) + " " + path.string() + " is not a regular file");
  } else if (access == Access::kOwnerOnly && (info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    status = Status(ErrorCode::kPermissionDenied,
                    std::string(kind) + " " + path.string() + " has permissions " + mode +
                        ", which let other users read it; run: chmod 600 " + path.string());
  } else if (info.st_size > static_cast<off_t>(max_bytes)) {
    status = TooLarge(path, kind, max_bytes, access);
  } else {
    // One byte past the size fstat gave, so a file growing meanwhile is still bounded.
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
    if (status.ok() && done > max_bytes) status = TooLarge(path, kind, max_bytes, access);
    contents.resize(done);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

}  // namespace

Result<std::string> ReadPrivateFile(const std::filesystem::path& path, size_t max_bytes,
                                    std::string_view kind) {
  return ReadWhole(path, max_bytes, kind, Access::kOwnerOnly);
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes,
                                  std::string_view kind) {
  return ReadWhole(path, max_bytes, kind, Access::kAnyone);
}

Status SyncParentDirectory(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return IoErrorFromErrno("cannot open directory", dir);
  const bool synced = ::fsync(dir_fd) == 0;
  Status status = synced ? Status::Ok() : IoErrorFromErrno("cannot fsync directory", dir);
  ::close(dir_fd);
  return status;
}

namespace {

// `contents` in a new temporary file beside `path` (a unique name: one left behind by a crash
// must not block later writes), with `mode`, fsynced; then `place(temp)` puts it in position.
// The temporary name is always removed.
template <typename Place>
Status WriteThroughTemporary(const std::filesystem::path& path, std::string_view contents,
                             unsigned mode, Place place) {
  std::string temp_name = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp_name.data());
  if (fd < 0) return IoErrorFromErrno("cannot create a temporary file for", path);
  const std::filesystem::path temp = temp_name;
  Status status;
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0)
    status = IoErrorFromErrno("cannot set the mode of", temp);
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
  if (status.ok()) status = place(temp);
  ::unlink(temp.c_str());
  if (status.ok()) status = SyncParentDirectory(path);
  return status;
}

}  // namespace

Status WriteNewFile(const std::filesystem::path& path, std::string_view contents, unsigned mode) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    return Status(ErrorCode::kAlreadyExists, "refusing to overwrite " + path.string());
  }
  return WriteThroughTemporary(path, contents, mode, [&](const std::filesystem::path& temp) {
    if (::link(temp.c_str(), path.c_str()) == 0) return Status::Ok();
    return errno == EEXIST
               ? Status(ErrorCode::kAlreadyExists, "refusing to overwrite " + path.string())
               : IoErrorFromErrno("cannot create", path);
  });
}

Status ReplaceFile(const std::filesystem::path& path, std::string_view contents, unsigned mode) {
  return WriteThroughTemporary(path, contents, mode, [&](const std::filesystem::path& temp) {
    if (::rename(temp.c_str(), path.c_str()) == 0) return Status::Ok();
    return IoErrorFromErrno("cannot replace", path);
  });
}

}  // namespace city
