// Shared helpers for contract records and query parameters (args.h).
#include "city/contracts/args.h"

namespace city::contracts {

std::string U64Key(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>(value >> (56 - 8 * i));
  return out;
}

Bytes U64Value(uint64_t value) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

std::optional<uint64_t> ReadU64Value(const std::optional<Bytes>& stored) {
  if (!stored) return std::nullopt;
  if (stored->size() != 8)
    throw StorageFailure{{ErrorCode::kCorruption, "a counter is not 8 bytes"}};
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | (*stored)[static_cast<size_t>(i)];
  return value;
}

Result<ledger::PageRequest> PageFromJson(const Json& params) {
  ledger::PageRequest page;
  if (!params.is_object())
    return Status{ErrorCode::kInvalidArgument, "parameters must be an object"};
  if (params.contains("cursor")) {
    Result<Bytes> cursor = FromHex(params.at("cursor").get<std::string>());
    if (!cursor.ok()) return Status{ErrorCode::kInvalidArgument, "cursor is not hex"};
    page.cursor = std::move(cursor).value();
  }
  if (params.contains("limit")) {
    const int64_t limit = params.at("limit").get<int64_t>();
    if (limit < 1 || limit > ledger::kMaxPageSize) {
      return Status{ErrorCode::kInvalidArgument,
                    "limit must be 1.." + std::to_string(ledger::kMaxPageSize)};
    }
    page.limit = static_cast<uint32_t>(limit);
  }
  if (params.contains("newest_first")) page.newest_first = params.at("newest_first").get<bool>();
  return page;
}

Json PageToJson(const std::optional<Bytes>& next_cursor) {
  return next_cursor ? Json(ToHex(*next_cursor)) : Json(nullptr);
}

Result<PublicKey> AccountFromJson(const Json& params, const char* field) {
  if (!params.is_object() || !params.contains(field)) {
    return Status{ErrorCode::kInvalidArgument, std::string("missing '") + field + "'"};
  }
  Result<PublicKey> key = DecodeAddress(params.at(field).get<std::string>());
  if (!key.ok()) {
    return Status{ErrorCode::kInvalidArgument,
                  std::string("'") + field + "' is not an address: " + key.status().message()};
  }
  return key;
}

ledger::StateWrite GenesisStateWrite(std::string_view contract, std::string_view key, Bytes value) {
  std::string full(contract);
  full.push_back('/');
  full.append(key);
  return {Bytes(full.begin(), full.end()), std::move(value), ledger::kNoTransaction};
}

}  // namespace city::contracts
