// Result codes of contract calls. Stable: they are stored in TxResult::code and reach clients.
// 0 is success; 1-99 are the engine's and shared by every contract; each contract has its own
// range: governance 100-199, ubi 200-299, emr 300-399, logistics 400-499.
#pragma once

#include <cstdint>
#include <string_view>

namespace city::contracts {

enum class Code : uint32_t {
  kOk = 0,
  kBadNonce = 1,  // not the sender's next nonce (the nonce is not consumed)
  kExpired = 2,   // past its expiry height (the nonce is not consumed)
  kUnknownContract = 3,
  kUnknownMethod = 4,
  kBadArguments = 5,      // arguments do not decode, or break a rule of the method
  kPermissionDenied = 6,  // the caller lacks the role, or is not the subject
  kNotFound = 7,
  kAlreadyExists = 8,
  kInvalidState = 9,  // the object is not in a state that allows this (e.g. suspended)
  kInsufficientFunds = 10,
  kOverflow = 11,       // an amount would leave the 64-bit range
  kLimitExceeded = 12,  // a per-object bound (e.g. pallet size) would be exceeded
  kUnknownSender = 13,  // the sender is not enrolled (accounts.h; the nonce is not consumed)
};

std::string_view CodeName(uint32_t code);

}  // namespace city::contracts
