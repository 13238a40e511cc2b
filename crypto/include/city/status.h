// Status and Result<T>: how every CityLedger module reports a failure a caller must handle.
// Codes are stable (they reach clients as strings); messages are for people.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace city {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kInvalidArgument,   // the caller's input breaks a rule
  kMalformed,         // bytes that do not decode into the expected object
  kTooLarge,          // a size limit was exceeded
  kBadSignature,      // a signature or certificate does not verify
  kNotFound,          // no such file, key or object
  kAlreadyExists,     // refusing to overwrite
  kPermissionDenied,  // file modes or roles do not allow this
  kUnauthenticated,   // wrong passphrase, or tampered authenticated data
  kCorruption,        // stored data is damaged or not ours
  kIoError,           // the operating system refused
  kInternal,          // a bug: a rule the code relies on did not hold
  kPruned,            // it existed, and retention deleted it (pruned blocks or history)
};

// The stable, lower-case name of a code, e.g. "bad_signature".
std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "bad_signature: vote from 3f1c.. does not verify"
  std::string ToString() const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status. Reading the value of a failed Result is a programmer
// error (asserted), so callers check ok() first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "a Result built from a Status must be an error");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(state_);
  }

  T& value() & {
    assert(ok());
    return std::get<T>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> state_;
};

}  // namespace city
