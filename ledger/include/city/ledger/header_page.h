// A page of certified headers, with block bodies when asked: the binary form of
// GET /v1/headers (?format=binary). The items are the JSON page's, in the canonical encoding:
// an auditor reading megabytes of blocks decodes them without a JSON parse or hex.
#pragma once

#include <optional>
#include <vector>

#include "city/ledger/codec.h"
#include "city/ledger/types.h"

namespace city::ledger {

// The most items a page holds (the node stops at this many, or at its block byte budget).
inline constexpr size_t kMaxHeaderPageItems = 1'000;

struct HeaderPageItem {
  enum class Body : uint8_t {
    kNone = 0,      // not asked for, or height 0
    kBlock = 1,     // `block` holds its encoding
    kRedacted = 2,  // the reader may not read this block whole
  };

  uint64_t height = 0;
  Bytes header;       // the encoded BlockHeader
  Bytes certificate;  // the encoded QuorumCert certifying it; empty at height 0 (the genesis)
  Body body = Body::kNone;
  Bytes block;  // the encoded Block, when body is kBlock

  void EncodeTo(Encoder& encoder) const;
  static HeaderPageItem DecodeFrom(Decoder& decoder);
  friend bool operator==(const HeaderPageItem&, const HeaderPageItem&) = default;
};

struct HeaderPage {
  // Whatever the HTTP client let through; each field is bounded by its own limit too.
  static constexpr size_t kMaxEncodedSize = 512ull * 1024 * 1024;

  uint64_t tip = 0;                   // the node's committed height when it answered
  std::optional<uint64_t> next_from;  // the first height of the next page, if one is due
  std::vector<HeaderPageItem> items;  // consecutive heights

  void EncodeTo(Encoder& encoder) const;
  static HeaderPage DecodeFrom(Decoder& decoder);
  friend bool operator==(const HeaderPage&, const HeaderPage&) = default;
};

}  // namespace city::ledger
