// The binary page of certified headers (header_page.h).
#include "city/ledger/header_page.h"

#include "codec_internal.h"

namespace city::ledger {
namespace {

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<HeaderPageItem, Visitor>& item) {
  v.U64(item.height);
  v.Blob(item.header, BlockHeader::kMaxEncodedSize, "page header");
  v.Blob(item.certificate, QuorumCert::kMaxEncodedSize, "page certificate");
  uint8_t body = static_cast<uint8_t>(item.body);
  v.U8(body);
  if constexpr (!Visitor::kEncoding) {
    if (body > static_cast<uint8_t>(HeaderPageItem::Body::kRedacted)) {
      Decoder::Fail(ErrorCode::kMalformed, "page body", "must be 0, 1 or 2");
    }
    item.body = static_cast<HeaderPageItem::Body>(body);
  }
  if (item.body == HeaderPageItem::Body::kBlock) {
    v.Blob(item.block, kMaxBlockBytes, "page block");
  } else if constexpr (!Visitor::kEncoding) {
    item.block.clear();
  }
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<HeaderPage, Visitor>& page) {
  v.U64(page.tip);
  // A height, optional: the flag byte of codec.h, then the value.
  uint8_t has_next = page.next_from.has_value() ? 1 : 0;
  v.U8(has_next);
  if constexpr (Visitor::kEncoding) {
    if (page.next_from) v.U64(*page.next_from);
  } else {
    if (has_next > 1) Decoder::Fail(ErrorCode::kMalformed, "page next_from", "flag must be 0 or 1");
    page.next_from.reset();
    if (has_next == 1) v.U64(page.next_from.emplace());
  }
  // An item is at least its height, two lengths and the body byte.
  v.List(page.items, kMaxHeaderPageItems, 8 + 4 + 4 + 1, "page items");
}

}  // namespace

CITY_LEDGER_CODEC(HeaderPageItem)
CITY_LEDGER_CODEC(HeaderPage)

}  // namespace city::ledger
