// Sealing and opening of link frames; the wire format is in frame.h.
#include "city/net/frame.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "city/net/handshake.h"

namespace city::net {
namespace {

static_assert(crypto_aead_chacha20poly1305_IETF_ABYTES == kFrameTagBytes);
static_assert(crypto_aead_chacha20poly1305_IETF_NPUBBYTES == 12);
static_assert(crypto_aead_chacha20poly1305_IETF_KEYBYTES == kSessionKeyBytes);

using Nonce = std::array<uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES>;

Nonce NonceFor(uint64_t counter) {
  Nonce nonce{};
  for (size_t i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(counter >> (8 * i));
  return nonce;
}

std::array<uint8_t, kFrameLengthBytes> EncodeLength(uint32_t length) {
  return {static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
          static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 24)};
}

uint32_t DecodeLength(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

// The smallest ciphertext: a kind byte and the tag.
constexpr size_t kMinCiphertext = 1 + kFrameTagBytes;

size_t ClampMaximum(size_t max_frame_bytes) {
  return std::min<size_t>(max_frame_bytes, std::numeric_limits<uint32_t>::max());
}

}  // namespace

FrameSealer::FrameSealer(SecretBytes key, size_t max_frame_bytes)
    : key_(std::move(key)), max_frame_bytes_(ClampMaximum(max_frame_bytes)) {}

Result<Bytes> FrameSealer::Seal(FrameKind kind, ByteSpan body) {
  size_t ciphertext_size = kMinCiphertext + body.size();
  if (body.size() > max_frame_bytes_ || ciphertext_size > max_frame_bytes_) {
    return Status(ErrorCode::kTooLarge, "frame of " + std::to_string(ciphertext_size) +
                                            " bytes is above the maximum of " +
                                            std::to_string(max_frame_bytes_));
  }
  if (kind == FrameKind::kKeepAlive && !body.empty()) {
    return Status(ErrorCode::kInvalidArgument, "a keep-alive frame has no body");
  }
  if (counter_ == std::numeric_limits<uint64_t>::max()) {
    return Status(ErrorCode::kInternal, "frame counter exhausted; the link must be renewed");
  }
  auto length = EncodeLength(static_cast<uint32_t>(ciphertext_size));
  Bytes wire(kFrameLengthBytes + ciphertext_size);
  std::copy(length.begin(), length.end(), wire.begin());
  // The plaintext (kind || body) is laid out where the ciphertext goes; libsodium encrypts
  // in place.
  uint8_t* plaintext = wire.data() + kFrameLengthBytes;
  plaintext[0] = static_cast<uint8_t>(kind);
  if (!body.empty()) std::memcpy(plaintext + 1, body.data(), body.size());
  Nonce nonce = NonceFor(counter_++);
  unsigned long long written = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, &written, plaintext, 1 + body.size(),
                                            length.data(), length.size(), nullptr, nonce.data(),
                                            key_.data());
  return wire;
}

FrameDecoder::FrameDecoder(SecretBytes key, size_t max_frame_bytes)
    : key_(std::move(key)), max_frame_bytes_(ClampMaximum(max_frame_bytes)) {}

Status FrameDecoder::Feed(ByteSpan bytes, std::vector<Frame>& out) {
  if (failed_) return Status(ErrorCode::kInternal, "frame decoder used after a failure");
  size_t consumed = 0;
  auto fail = [&](Status status) {
    failed_ = true;
    buffer_.clear();
    return status;
  };
  while (consumed < bytes.size() || buffer_.size() >= kFrameLengthBytes) {
    // The length prefix, from the buffer or straight from the input.
    if (buffer_.size() < kFrameLengthBytes) {
      size_t take = std::min(kFrameLengthBytes - buffer_.size(), bytes.size() - consumed);
      buffer_.insert(buffer_.end(), bytes.begin() + consumed, bytes.begin() + consumed + take);
      consumed += take;
      if (buffer_.size() < kFrameLengthBytes) break;
    }
    uint32_t length = DecodeLength(buffer_.data());
    if (length > max_frame_bytes_) {
      return fail(Status(ErrorCode::kTooLarge, "frame of " + std::to_string(length) +
                                                   " bytes is above the maximum of " +
                                                   std::to_string(max_frame_bytes_)));
    }
    if (length < kMinCiphertext) {
      return fail(Status(ErrorCode::kMalformed,
                         "frame of " + std::to_string(length) + " bytes cannot hold a tag"));
    }
    size_t have = buffer_.size() - kFrameLengthBytes;
    size_t take = std::min<size_t>(length - have, bytes.size() - consumed);
    if (have == 0 && take == length) {
      // The whole frame is in the input: open it there, without copying.
      Status opened = OpenOne(buffer_, bytes.subspan(consumed, length), out);
      consumed += length;
      buffer_.clear();
      if (!opened.ok()) return fail(opened);
      continue;
    }
    buffer_.insert(buffer_.end(), bytes.begin() + consumed, bytes.begin() + consumed + take);
    consumed += take;
    if (buffer_.size() - kFrameLengthBytes < length) break;  // wait for more bytes
    Status opened = OpenOne(ByteSpan(buffer_).first(kFrameLengthBytes),
                            ByteSpan(buffer_).subspan(kFrameLengthBytes), out);
    buffer_.clear();
    if (!opened.ok()) return fail(opened);
  }
  return Status::Ok();
}

Status FrameDecoder::OpenOne(ByteSpan length_prefix, ByteSpan ciphertext, std::vector<Frame>& out) {
  Bytes plaintext(ciphertext.size() - kFrameTagBytes);
  Nonce nonce = NonceFor(counter_);
  unsigned long long written = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(
          plaintext.data(), &written, nullptr, ciphertext.data(), ciphertext.size(),
          length_prefix.data(), kFrameLengthBytes, nonce.data(), key_.data()) != 0) {
    return Status(ErrorCode::kUnauthenticated,
                  "frame " + std::to_string(counter_) +
                      " does not authenticate (altered, replayed or reordered)");
  }
  ++counter_;
  Frame frame;
  switch (plaintext[0]) {
    case static_cast<uint8_t>(FrameKind::kKeepAlive):
      if (plaintext.size() != 1) return Status(ErrorCode::kMalformed, "keep-alive with a body");
      frame.kind = FrameKind::kKeepAlive;
      break;
    case static_cast<uint8_t>(FrameKind::kMessage):
      frame.kind = FrameKind::kMessage;
      frame.body.assign(plaintext.begin() + 1, plaintext.end());
      break;
    default:
      return Status(ErrorCode::kMalformed, "unknown frame kind " + std::to_string(plaintext[0]));
  }
  out.push_back(std::move(frame));
  return Status::Ok();
}

}  // namespace city::net
