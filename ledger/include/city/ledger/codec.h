// Canonical binary encoding of ledger objects: the bytes of cereal's portable binary archive.
//
// Format (every hashed, signed, stored or sent object):
//   - The encoding of a top-level object begins with the byte 0x01: cereal's portable
//     archive flag for little-endian. Decoders reject any other first byte, so there is one
//     encoding per object.
//   - Integers: fixed width, little-endian (u8, u16, u32, u64).
//   - Hashes, keys, signatures: their raw bytes, no length.
//   - Byte strings and text: u32 length, then the bytes; each field has its own maximum.
//   - Lists: u32 count, then the elements; each list has a maximum count. A list of hashes
//     or keys is the same: u32 count, then their raw bytes.
//   - Optional values: a u8 flag, 0 (absent) or 1 (present, value follows); nothing else.
//   - Nested objects are written inline, fields in declaration order, with no flag byte.
//   - No bytes may follow the top-level object.
// Decoding checks every length against the bytes that remain before allocating, so a
// forged length cannot make it allocate more than the input could hold.
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "city/crypto/bytes.h"
#include "city/ledger/limits.h"

namespace city::ledger {

// Raised inside decoders only; Decode() turns it into a Status. Never crosses the module.
struct DecodeError {
  ErrorCode code;
  std::string message;
};

// Encoder and Decoder offer the same calls, so each type lists its fields once, in a
// `Fields(visitor, object)` function that serves both directions: encoding and decoding can
// never disagree on order. Limits and field names matter only when decoding.
class Encoder {
 public:
  static constexpr bool kEncoding = true;

  // Writes the bytes cereal's portable binary archive would (its 0x01 little-endian flag,
  // then fixed-width little-endian integers and raw bytes) straight into `out`: a stream and
  // an archive per object cost more than the encoding itself, on every id and hash.
  explicit Encoder(Bytes& out) : out_(out) { out_.push_back(1); }

  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v) { LittleEndian(v); }
  void U64(uint64_t v) { LittleEndian(v); }
  template <typename D, size_t N>
  void Fixed(const FixedBytes<D, N>& v) {
    Append(v.bytes.data(), N);
  }
  void Blob(ByteSpan v, size_t /*max_size*/ = 0, const char* /*field*/ = "") {
    U32(static_cast<uint32_t>(v.size()));
    Append(v.data(), v.size());
  }
  void Text(std::string_view v, size_t max_size = 0, const char* field = "") {
    Blob(AsBytes(v), max_size, field);
  }
  template <typename T>
  void Object(const T& object) {
    object.EncodeTo(*this);
  }
  template <typename T>
  void Optional(const std::optional<T>& value, const char* /*field*/) {
    U8(value.has_value() ? 1 : 0);
    if (value) Object(*value);
  }
  template <typename T>
  void List(const std::vector<T>& items, size_t /*max_count*/ = 0, size_t /*min_element_size*/ = 0,
            const char* /*field*/ = "") {
    U32(static_cast<uint32_t>(items.size()));
    for (const T& item : items) Object(item);
  }
  // Lists whose canonical form is sorted by `signer`, strictly (certificates).
  template <typename T>
  void SignerList(const std::vector<T>& items, size_t max_count, size_t min_element_size,
                  const char* field) {
    List(items, max_count, min_element_size, field);
  }
  // Lists of hashes or keys.
  template <typename D>
  void FixedList(const std::vector<D>& items, size_t /*max_count*/, const char* /*field*/) {
    U32(static_cast<uint32_t>(items.size()));
    for (const D& item : items) Fixed(item);
  }

 private:
  template <typename T>
  void LittleEndian(T v) {
    uint8_t bytes[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<uint8_t>(v >> (8 * i));
    Append(bytes, sizeof(T));
  }
  void Append(const uint8_t* data, size_t size) {
    if (size == 0) return;
    const size_t at = out_.size();
    out_.resize(at + size);
    std::memcpy(out_.data() + at, data, size);
  }

  Bytes& out_;
};

class Decoder {
 public:
  static constexpr bool kEncoding = false;

  // Call only after checking the leading 0x01 (Decode() does), which it skips. Reads the
  // bytes in place, as cereal's portable binary archive would on a little-endian stream.
  explicit Decoder(ByteSpan in) : in_(in.subspan(in.empty() ? 0 : 1)) {}

  void U8(uint8_t& v) { Read(v); }
  void U32(uint32_t& v) { Read(v); }
  void U64(uint64_t& v) { Read(v); }
  template <typename D, size_t N>
  void Fixed(FixedBytes<D, N>& v) {
    Need(N, "fixed-size field");
    std::memcpy(v.bytes.data(), in_.data() + position_, N);
    position_ += N;
  }
  void Blob(Bytes& out, size_t max_size, const char* field);
  void Text(std::string& out, size_t max_size, const char* field);
  template <typename T>
  void Object(T& object) {
    object = T::DecodeFrom(*this);
  }
  template <typename T>
  void Optional(std::optional<T>& value, const char* field) {
    uint8_t flag = 0;
    U8(flag);
    if (flag > 1) Fail(ErrorCode::kMalformed, field, "flag must be 0 or 1");
    value.reset();
    if (flag == 1) Object(value.emplace());
  }
  // min_element_size bounds the count by the bytes that remain before anything is reserved.
  template <typename T>
  void List(std::vector<T>& items, size_t max_count, size_t min_element_size, const char* field) {
    uint32_t count = 0;
    U32(count);
    if (count > max_count) Fail(ErrorCode::kTooLarge, field, "has too many elements");
    Need(static_cast<size_t>(count) * min_element_size, field);
    items.clear();
    items.reserve(count);
    for (uint32_t i = 0; i < count; ++i) items.push_back(T::DecodeFrom(*this));
  }
  template <typename T>
  void SignerList(std::vector<T>& items, size_t max_count, size_t min_element_size,
                  const char* field) {
    List(items, max_count, min_element_size, field);
    for (size_t i = 1; i < items.size(); ++i) {
      if (!(items[i - 1].signer < items[i].signer)) {
        Fail(ErrorCode::kMalformed, field, "must be sorted by signer without duplicates");
      }
    }
  }

  template <typename D, size_t N = D::kSize>
  void FixedList(std::vector<D>& items, size_t max_count, const char* field) {
    uint32_t count = 0;
    U32(count);
    if (count > max_count) Fail(ErrorCode::kTooLarge, field, "has too many elements");
    Need(static_cast<size_t>(count) * N, field);
    items.assign(count, D{});
    for (D& item : items) Fixed(item);
  }

  size_t remaining() const { return in_.size() - position_; }
  [[noreturn]] static void Fail(ErrorCode code, const char* field, const std::string& what);

 private:
  template <typename T>
  void Read(T& v) {
    Need(sizeof(T), "integer");
    v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= T(in_[position_ + i]) << (8 * i);
    position_ += sizeof(T);
  }
  void Need(size_t bytes, const char* field);

  ByteSpan in_;
  size_t position_ = 0;
};

// The object type a Fields() visitor works on: const when encoding, mutable when decoding.
template <typename T, typename Visitor>
using FieldsOf = std::conditional_t<Visitor::kEncoding, const T, T>;

// The canonical encoding of a top-level object (with the leading 0x01).
template <typename T>
Bytes Encode(const T& object) {
  Bytes out;
  {
    Encoder encoder(out);  // writes the 0x01 flag
    object.EncodeTo(encoder);
  }
  return out;
}

// Checks the flag byte and the frame limit, decodes, and insists on no trailing bytes.
Status DecodeFrame(ByteSpan bytes, size_t max_size, void (*body)(Decoder&, void*), void* out);

template <typename T>
Result<T> Decode(ByteSpan bytes, size_t max_size = T::kMaxEncodedSize) {
  std::optional<T> decoded;
  Status status = DecodeFrame(
      bytes, max_size,
      [](Decoder& decoder, void* out) {
        static_cast<std::optional<T>*>(out)->emplace(T::DecodeFrom(decoder));
      },
      &decoded);
  if (!status.ok()) return status;
  return std::move(*decoded);
}

}  // namespace city::ledger
