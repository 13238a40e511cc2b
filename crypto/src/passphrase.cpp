// Passphrase sources (passphrase.h).
#include "city/crypto/passphrase.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "city/crypto/private_file.h"

namespace city {
namespace {

constexpr size_t kMaxPassphraseFileBytes = 4096;

std::string TrimLineEnd(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// One line from the terminal, without echo.
Result<std::string> PromptHidden(const std::string& prompt, const std::string& how_to_give_one) {
  std::FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) {
    return Status(ErrorCode::kInvalidArgument,
                  "no passphrase and no terminal to ask on: " + how_to_give_one);
  }
  const int fd = fileno(tty);
  termios saved{};
  const bool have_termios = ::tcgetattr(fd, &saved) == 0;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::fputs(prompt.c_str(), tty);
  std::fflush(tty);
  std::string line;
  for (int c = std::fgetc(tty); c != EOF && c != '\n'; c = std::fgetc(tty)) {
    line.push_back(static_cast<char>(c));
  }
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &saved);
  std::fputs("\n", tty);
  std::fclose(tty);
  return TrimLineEnd(std::move(line));
}

}  // namespace

Result<std::string> ObtainPassphrase(const PassphraseSource& source) {
  if (!source.file.empty()) {
    Result<std::string> text =
        ReadSmallFile(source.file, kMaxPassphraseFileBytes, "passphrase file");
    if (!text.ok()) return text.status();
    return TrimLineEnd(*text);
  }
  if (!source.env_var.empty()) {
    if (const char* env = std::getenv(source.env_var.c_str()); env != nullptr) {
      return std::string(env);
    }
  }
  Result<std::string> first = PromptHidden(source.prompt, source.how_to_give_one);
  if (!first.ok() || !source.confirm) return first;
  Result<std::string> second = PromptHidden("Repeat the passphrase: ", source.how_to_give_one);
  if (!second.ok()) return second;
  if (*first != *second) return Status(ErrorCode::kInvalidArgument, "the passphrases differ");
  return first;
}

}  // namespace city
