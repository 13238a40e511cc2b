// Bounded decoding of canonical bytes; the format is documented in codec.h.
#include "city/ledger/codec.h"

#include <new>

namespace city::ledger {

void Decoder::Fail(ErrorCode code, const char* field, const std::string& what) {
  throw DecodeError{code, std::string(field) + " " + what};
}

void Decoder::Need(size_t bytes, const char* field) {
  if (bytes > remaining()) {
    Fail(ErrorCode::kMalformed, field,
         "needs " + std::to_string(bytes) + " bytes but only " + std::to_string(remaining()) +
             " remain");
  }
}

void Decoder::Blob(Bytes& out, size_t max_size, const char* field) {
  uint32_t size = 0;
  U32(size);
  if (size > max_size) {
    Fail(ErrorCode::kTooLarge, field,
         "is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(max_size));
  }
  Need(size, field);
  out.assign(in_.begin() + position_, in_.begin() + position_ + size);
  position_ += size;
}

void Decoder::Text(std::string& out, size_t max_size, const char* field) {
  Bytes raw;
  Blob(raw, max_size, field);
  out.assign(raw.begin(), raw.end());
}

Status DecodeFrame(ByteSpan bytes, size_t max_size, void (*body)(Decoder&, void*), void* out) {
  if (bytes.size() > max_size) {
    return Status(
        ErrorCode::kTooLarge,
        std::to_string(bytes.size()) + " bytes is over the limit of " + std::to_string(max_size));
  }
  if (bytes.empty() || bytes[0] != 0x01) {
    return Status(ErrorCode::kMalformed, "encoding must start with the little-endian flag 0x01");
  }
  try {
    Decoder decoder(bytes);
    body(decoder, out);
    if (decoder.remaining() != 0) {
      return Status(ErrorCode::kMalformed,
                    std::to_string(decoder.remaining()) + " trailing bytes after the object");
    }
  } catch (const DecodeError& error) {
    return Status(error.code, error.message);
  } catch (const std::bad_alloc&) {
    // Every list's count is bounded by the bytes left, but a large input may still hold more
    // small elements than memory allows: refused like any other oversized input.
    return Status(ErrorCode::kTooLarge, "the encoding decodes to more than memory holds");
  }
  return Status::Ok();
}

}  // namespace city::ledger
