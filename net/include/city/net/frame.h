// Encrypted, length-prefixed frames: what flows over a validator link after the handshake.
// Pure (no sockets), so the decoder is tested and fuzzed on its own.
//
// Wire format of one frame:
//   u32 LE length L || ciphertext (L bytes)
//   ciphertext = ChaCha20-Poly1305-IETF(key, nonce = u64 LE counter || 4 zero bytes,
//                                       associated data = the 4 length bytes, plaintext)
//   plaintext  = u8 kind || body        (L = 1 + body size + 16)
// Each direction has its own key and counter, starting at 0 and rising by one per frame, so
// a replayed, reordered, dropped or altered frame fails authentication and ends the link.
// L is checked against the maximum before any byte of the body is buffered.
#pragma once

#include <cstdint>
#include <vector>

#include "city/crypto/bytes.h"
#include "city/crypto/ed25519.h"

namespace city::net {

inline constexpr size_t kFrameLengthBytes = 4;
inline constexpr size_t kFrameTagBytes = 16;
inline constexpr size_t kFrameOverheadBytes = kFrameLengthBytes + 1 + kFrameTagBytes;

enum class FrameKind : uint8_t {
  kKeepAlive = 0,  // empty body; proves the peer is alive when there is nothing to say
  kMessage = 1,    // the body is handed to the node
};

struct Frame {
  FrameKind kind = FrameKind::kMessage;
  Bytes body;
};

// Seals outgoing frames under one direction's key.
class FrameSealer {
 public:
  // key: kSessionKeyBytes. max_frame_bytes bounds L (the ciphertext size).
  FrameSealer(SecretBytes key, size_t max_frame_bytes);

  // The frame's wire bytes. kTooLarge if the body does not fit; kInvalidArgument for a
  // keep-alive with a body; kInternal once the counter is exhausted (2^64 frames: the link
  // must end rather than reuse a nonce). A refused frame uses no counter.
  Result<Bytes> Seal(FrameKind kind, ByteSpan body);
  uint64_t frames_sealed() const { return counter_; }

 private:
  SecretBytes key_;
  size_t max_frame_bytes_;
  uint64_t counter_ = 0;
};

// Reassembles and opens incoming frames from a byte stream cut anywhere.
class FrameDecoder {
 public:
  FrameDecoder(SecretBytes key, size_t max_frame_bytes);

  // Appends bytes read from the socket and moves every complete frame into `out`. Any error
  // is final (the link must end): kTooLarge for a length above the maximum; kMalformed for
  // a length too short for a kind byte and a tag, an unknown kind, or a keep-alive with a
  // body; kUnauthenticated for a frame that does not open under the next counter. Frames
  // completed before the bad one are still in `out`.
  Status Feed(ByteSpan bytes, std::vector<Frame>& out);

  // Bytes of an unfinished frame are buffered: the peer is in the middle of a frame.
  bool mid_frame() const { return !buffer_.empty(); }
  // Never more than the maximum frame plus its length prefix.
  size_t buffered_bytes() const { return buffer_.size(); }
  uint64_t frames_opened() const { return counter_; }

 private:
  Status OpenOne(ByteSpan length_prefix, ByteSpan ciphertext, std::vector<Frame>& out);

  SecretBytes key_;
  size_t max_frame_bytes_;
  uint64_t counter_ = 0;
  bool failed_ = false;
  Bytes buffer_;
};

}  // namespace city::net
