// Where a person's passphrase comes from: a file, an environment variable or the terminal
// (without echo), in that order. cityctl (key passphrases) and `cityd init` (the operator
// key) both ask here, so both take the same file format and refuse the same way.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "city/status.h"

namespace city {

struct PassphraseSource {
  std::filesystem::path file;   // one line (a trailing newline is dropped); empty: none
  std::string env_var;          // e.g. CITYCTL_PASSPHRASE; empty: none
  std::string prompt;           // shown on /dev/tty
  bool confirm = false;         // a prompt asks twice and the two must agree
  std::string how_to_give_one;  // said when there is no terminal: "use --passphrase-file"
};

// kInvalidArgument when there is no source (no file, no variable, no terminal) or the two
// prompted differ; the file's errors (ReadSmallFile) otherwise.
Result<std::string> ObtainPassphrase(const PassphraseSource& source);

}  // namespace city
