// Bounded decoding of canonical bytes; the format is documented in codec.h.
#include "city/ledger/codec.h"

#include <cereal/details/helpers.hpp>

namespace city::ledger {

void Encoder::Blob(ByteSpan v) {
  U32(static_cast<uint32_t>(v.size()));
  archive_(cereal::binary_data(v.data(), v.size()));
}

void Encoder::Text(std::string_view v) { Blob(AsBytes(v)); }

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

Bytes Decoder::Blob(size_t max_size, const char* field) {
  const uint32_t size = U32();
  if (size > max_size) {
    Fail(ErrorCode::kTooLarge, field,
         "is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(max_size));
  }
  Need(size, field);
  Bytes out(size);
  archive_(cereal::binary_data(out.data(), out.size()));
  return out;
}

std::string Decoder::Text(size_t max_size, const char* field) {
  Bytes raw = Blob(max_size, field);
  return std::string(raw.begin(), raw.end());
}

bool Decoder::Flag(const char* field) {
  const uint8_t flag = U8();
  if (flag > 1) Fail(ErrorCode::kMalformed, field, "flag must be 0 or 1");
  return flag == 1;
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
  } catch (const cereal::Exception& error) {
    return Status(ErrorCode::kMalformed, error.what());
  }
  return Status::Ok();
}

}  // namespace city::ledger
