// The codec writes and reads the bytes of cereal's portable binary archive (little-endian)
// without a stream per object (codec.h). These properties hold it to cereal itself: any
// sequence of fields encodes to exactly what the archive writes, and what the archive writes
// decodes to the same fields.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cereal/archives/portable_binary.hpp>
#include <sstream>
#include <variant>

#include "city/ledger/codec.h"
#include "city/ledger/types.h"

namespace city::ledger {
namespace {

using Field = std::variant<uint8_t, uint32_t, uint64_t, Hash256, Bytes>;

Field ArbitraryField() {
  switch (*rc::gen::inRange(0, 5)) {
    case 0:
      return *rc::gen::arbitrary<uint8_t>();
    case 1:
      return *rc::gen::arbitrary<uint32_t>();
    case 2:
      return *rc::gen::arbitrary<uint64_t>();
    case 3: {
      Hash256 hash;
      hash.bytes = *rc::gen::arbitrary<decltype(hash.bytes)>();
      return hash;
    }
    default:
      return *rc::gen::arbitrary<Bytes>();
  }
}

Bytes CerealBytes(const std::vector<Field>& fields) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive archive(
        out, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    for (const Field& field : fields) {
      if (const Hash256* hash = std::get_if<Hash256>(&field)) {
        archive(cereal::binary_data(hash->bytes.data(), hash->bytes.size()));
      } else if (const Bytes* bytes = std::get_if<Bytes>(&field)) {
        archive(static_cast<uint32_t>(bytes->size()));
        archive(cereal::binary_data(bytes->data(), bytes->size()));
      } else if (const auto* v8 = std::get_if<uint8_t>(&field)) {
        archive(*v8);
      } else if (const auto* v32 = std::get_if<uint32_t>(&field)) {
        archive(*v32);
      } else if (const auto* v64 = std::get_if<uint64_t>(&field)) {
        archive(*v64);
      }
    }
  }
  const std::string text = out.str();
  return Bytes(text.begin(), text.end());
}

RC_GTEST_PROP(CodecCereal, EncoderWritesTheArchivesBytes, ()) {
  const std::vector<Field> fields =
      *rc::gen::container<std::vector<Field>>(rc::gen::exec([] { return ArbitraryField(); }));
  Bytes ours;
  {
    Encoder encoder(ours);
    for (const Field& field : fields) {
      if (const auto* v = std::get_if<uint8_t>(&field)) encoder.U8(*v);
      if (const auto* v = std::get_if<uint32_t>(&field)) encoder.U32(*v);
      if (const auto* v = std::get_if<uint64_t>(&field)) encoder.U64(*v);
      if (const auto* v = std::get_if<Hash256>(&field)) encoder.Fixed(*v);
      if (const auto* v = std::get_if<Bytes>(&field)) encoder.Blob(*v);
    }
  }
  RC_ASSERT(ours == CerealBytes(fields));
}

RC_GTEST_PROP(CodecCereal, DecoderReadsTheArchivesBytes, ()) {
  const std::vector<Field> fields =
      *rc::gen::container<std::vector<Field>>(rc::gen::exec([] { return ArbitraryField(); }));
  const Bytes bytes = CerealBytes(fields);
  RC_ASSERT(!bytes.empty());
  RC_ASSERT(bytes[0] == 0x01);
  Decoder decoder(bytes);
  for (const Field& field : fields) {
    if (const auto* v = std::get_if<uint8_t>(&field)) {
      uint8_t read = 0;
      decoder.U8(read);
      RC_ASSERT(read == *v);
    } else if (const auto* v = std::get_if<uint32_t>(&field)) {
      uint32_t read = 0;
      decoder.U32(read);
      RC_ASSERT(read == *v);
    } else if (const auto* v = std::get_if<uint64_t>(&field)) {
      uint64_t read = 0;
      decoder.U64(read);
      RC_ASSERT(read == *v);
    } else if (const auto* v = std::get_if<Hash256>(&field)) {
      Hash256 read;
      decoder.Fixed(read);
      RC_ASSERT(read == *v);
    } else if (const auto* v = std::get_if<Bytes>(&field)) {
      Bytes read;
      decoder.Blob(read, v->size(), "blob");
      RC_ASSERT(read == *v);
    }
  }
  RC_ASSERT(decoder.remaining() == 0u);
}

// A length or integer cut short is refused, not read past the end.
TEST(CodecCereal, ReadsPastTheEndAreRefused) {
  const Bytes bytes{0x01, 0x05, 0x00, 0x00};  // a u32 with one byte missing
  Decoder decoder(bytes);
  uint32_t value = 0;
  EXPECT_THROW(decoder.U32(value), DecodeError);
  const Bytes blob{0x01, 0x04, 0x00, 0x00, 0x00, 0xaa};  // 4 bytes announced, 1 there
  Decoder blob_decoder(blob);
  Bytes out;
  EXPECT_THROW(blob_decoder.Blob(out, 100, "blob"), DecodeError);
}

}  // namespace
}  // namespace city::ledger
