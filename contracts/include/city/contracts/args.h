// Helpers for contract argument structs and stored records: each lists its fields once in a
// static Fields(visitor, object) template (the ledger codec's pattern, ledger/codec.h) and
// gets its canonical encoding from CITY_CONTRACT_CODEC.
#pragma once

#include <optional>
#include <string>

#include "city/contracts/contract.h"
#include "city/crypto/address.h"
#include "city/ledger/codec.h"

#define CITY_CONTRACT_CODEC(Type)                                                   \
  void EncodeTo(::city::ledger::Encoder& encoder) const { Fields(encoder, *this); } \
  static Type DecodeFrom(::city::ledger::Decoder& decoder) {                        \
    Type object;                                                                    \
    Fields(decoder, object);                                                        \
    return object;                                                                  \
  }                                                                                 \
  [[maybe_unused]] static constexpr size_t kMaxEncodedSize = ::city::ledger::kMaxArgsBytes

namespace city::contracts {

// A stored record of type T under `key`, or nullopt; a record that does not decode means the
// database is damaged (only the contract writes its key space).
template <typename T>
std::optional<T> LoadRecord(const std::optional<Bytes>& stored) {
  if (!stored) return std::nullopt;
  Result<T> decoded = ledger::Decode<T>(*stored, ledger::kMaxArgsBytes);
  if (!decoded.ok()) throw StorageFailure{{ErrorCode::kCorruption, decoded.status().message()}};
  return std::move(decoded).value();
}

// Fixed-width big-endian u64 (sortable), for counters and ids inside keys.
std::string U64Key(uint64_t value);
Bytes U64Value(uint64_t value);
std::optional<uint64_t> ReadU64Value(const std::optional<Bytes>& stored);

// A genesis state write of `contract`'s key space: "<contract>/<key>" = value.
ledger::StateWrite GenesisStateWrite(std::string_view contract, std::string_view key, Bytes value);

// A page request from query parameters {"cursor": hex, "limit": n, "newest_first": bool}.
Result<ledger::PageRequest> PageFromJson(const Json& params);
Json PageToJson(const std::optional<Bytes>& next_cursor);
// A public key from {"<field>": "city1..."}.
Result<PublicKey> AccountFromJson(const Json& params, const char* field);

}  // namespace city::contracts
