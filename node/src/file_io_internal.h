// Small public files of a node's home (config.toml, genesis.json): read with a size bound
// without hanging on a FIFO, and written once, atomically and durably.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "city/crypto/private_file.h"
#include "city/status.h"

namespace city::node::internal {

// The whole file (city/crypto/private_file.h), with `not_found` as the message when absent.
inline Result<std::string> ReadBoundedFile(const std::filesystem::path& path, size_t max_bytes,
                                           std::string_view kind, const std::string& not_found) {
  Result<std::string> text = ReadSmallFile(path, max_bytes, kind);
  if (!text.ok() && text.status().code() == ErrorCode::kNotFound) {
    return Status(ErrorCode::kNotFound, not_found);
  }
  return text;
}

// Written once, atomically and durably (city/crypto/private_file.h).
using city::WriteNewFile;

}  // namespace city::node::internal
