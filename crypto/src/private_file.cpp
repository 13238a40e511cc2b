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

Result<std::string> ReadPrivateFile(const std::filesystem::path& path, size_t max_bytes,
                                    std::string_view kind) {
  // O_NONBLOCK: opening a FIFO planted at the path must not hang; no effect on files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
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
    status = Corrupt(path, kind, "not a regular file");
  } else if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    status = Status(ErrorCode::kPermissionDenied,
                    std::string(kind) + " " + path.string() + " has permissions " + mode +
                        ", which let other users read it; run: chmod 600 " + path.string());
  } else if (info.st_size > static_cast<off_t>(max_bytes)) {
    status = Corrupt(path, kind, "larger than " + std::to_string(max_bytes) + " bytes");
  } else {
    contents.resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < contents.size()) {
      const ssize_t got = ::read(fd, contents.data() + done, contents.size() - done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        status = IoErrorFromErrno("cannot read", path);
        break;
      }
      if (got == 0) {
        status = Corrupt(path, kind, "shrank while being read");
        break;
      }
      done += static_cast<size_t>(got);
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
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

}  // namespace city
