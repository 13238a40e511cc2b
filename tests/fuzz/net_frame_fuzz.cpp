// libFuzzer target fuzz_decode_net_frame: the link frame decoder on a peer's byte stream, cut
// into reads at fuzz-chosen points. Either raw bytes, or genuinely sealed frames that are then
// altered, spliced, replayed or dropped, so that valid frames are reached. The decoder must
// never crash, never buffer more than the maximum frame plus its prefix, stop at the first
// error for good, and return exactly what was sealed when nothing was altered.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "city/crypto/hash.h"
#include "city/net/frame.h"
#include "city/net/handshake.h"

namespace {

using city::Bytes;
using city::ByteSpan;
using city::net::Frame;
using city::net::FrameKind;

constexpr size_t kMaxFrame = 256;

// The key is a hash of the whole input. With one fixed key, the fuzzer learns genuine
// frames from one run (through comparisons) and splices them into another, which is a replay
// across sessions: real sessions never share a key, so it would be a false alarm here.
city::SecretBytes KeyFor(ByteSpan input) {
  city::SecretBytes key(city::net::kSessionKeyBytes);
  city::Hash256 digest = city::TaggedHash("fuzz.net.frame.key", input);
  std::memcpy(key.data(), digest.bytes.data(), key.size());
  return key;
}

void Check(bool condition) {
  if (!condition) std::abort();
}

struct Sealed {
  Bytes stream;
  std::vector<Frame> frames;
  std::vector<size_t> ends;  // where each frame ends in `stream`
};

// A few frames sealed under the fixed key, kinds and bodies chosen by the input.
Sealed SealSome(FuzzedDataProvider& input, ByteSpan whole_input) {
  city::net::FrameSealer sealer(KeyFor(whole_input), kMaxFrame);
  Sealed out;
  const size_t count = input.ConsumeIntegralInRange<size_t>(0, 8);
  for (size_t i = 0; i < count; ++i) {
    const bool keep_alive = input.ConsumeBool();
    const Bytes body =
        keep_alive
            ? Bytes{}
            : input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange<size_t>(0, kMaxFrame));
    const FrameKind kind = keep_alive ? FrameKind::kKeepAlive : FrameKind::kMessage;
    city::Result<Bytes> wire = sealer.Seal(kind, body);
    if (!wire.ok()) {
      Check(body.size() + city::net::kFrameOverheadBytes - city::net::kFrameLengthBytes >
            kMaxFrame);  // only a body too large may be refused
      continue;
    }
    out.stream.insert(out.stream.end(), wire->begin(), wire->end());
    out.frames.push_back(Frame{kind, body});
    out.ends.push_back(out.stream.size());
  }
  return out;
}

// Alters the stream as a network or an attacker could; true if any byte changed.
bool Alter(FuzzedDataProvider& input, Sealed& sealed) {
  Bytes& stream = sealed.stream;
  const Bytes original = stream;
  const size_t edits = input.ConsumeIntegralInRange<size_t>(0, 3);
  for (size_t i = 0; i < edits && !stream.empty(); ++i) {
    const size_t at = input.ConsumeIntegralInRange<size_t>(0, stream.size() - 1);
    switch (input.ConsumeIntegralInRange<int>(0, 4)) {
      case 0:  // flip bits
        stream[at] ^= input.ConsumeIntegral<uint8_t>();
        break;
      case 1: {  // splice in bytes
        const Bytes extra =
            input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange<size_t>(1, 64));
        stream.insert(stream.begin() + static_cast<std::ptrdiff_t>(at), extra.begin(), extra.end());
        break;
      }
      case 2: {  // cut bytes out
        const size_t length = input.ConsumeIntegralInRange<size_t>(1, stream.size() - at);
        stream.erase(stream.begin() + static_cast<std::ptrdiff_t>(at),
                     stream.begin() + static_cast<std::ptrdiff_t>(at + length));
        break;
      }
      case 3: {  // replay a whole frame at the end
        if (sealed.ends.empty()) break;
        const size_t which = input.ConsumeIntegralInRange<size_t>(0, sealed.ends.size() - 1);
        const size_t begin = which == 0 ? 0 : sealed.ends[which - 1];
        const Bytes copy(original.begin() + static_cast<std::ptrdiff_t>(begin),
                         original.begin() + static_cast<std::ptrdiff_t>(sealed.ends[which]));
        stream.insert(stream.end(), copy.begin(), copy.end());
        break;
      }
      default:  // truncate
        stream.resize(at);
        break;
    }
  }
  return stream != original;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const bool from_sealed = input.ConsumeBool();
  uint64_t cut_seed = input.ConsumeIntegral<uint64_t>() | 1;

  Sealed sealed;
  bool altered = true;
  if (from_sealed) {
    sealed = SealSome(input, ByteSpan(data, size));
    altered = Alter(input, sealed);
  } else {
    sealed.stream = input.ConsumeRemainingBytes<uint8_t>();
  }

  city::net::FrameDecoder decoder(KeyFor(ByteSpan(data, size)), kMaxFrame);
  std::vector<Frame> out;
  bool failed = false;
  size_t offset = 0;
  const ByteSpan stream(sealed.stream);
  while (offset < stream.size()) {
    cut_seed ^= cut_seed << 13;  // xorshift: read sizes from the seed, not the stream
    cut_seed ^= cut_seed >> 7;
    cut_seed ^= cut_seed << 17;
    const size_t chunk = std::min<size_t>(cut_seed % (2 * kMaxFrame + 8), stream.size() - offset);
    city::Status status = decoder.Feed(stream.subspan(offset, chunk), out);
    offset += chunk;
    Check(decoder.buffered_bytes() <= kMaxFrame + city::net::kFrameLengthBytes);
    if (!status.ok()) {
      failed = true;
      break;
    }
  }
  if (failed) {
    // Final: nothing more comes out, whatever follows.
    const size_t before = out.size();
    const uint64_t opened = decoder.frames_opened();
    Check(!decoder.Feed(stream, out).ok());
    Check(out.size() == before);
    Check(decoder.frames_opened() == opened);
  }
  Check(decoder.frames_opened() >= out.size());
  for (const Frame& frame : out) {
    Check(frame.kind == FrameKind::kMessage || frame.body.empty());
    Check(frame.body.size() + 1 + city::net::kFrameTagBytes <= kMaxFrame);
  }
  if (from_sealed && !altered) {
    Check(!failed);
    Check(out.size() == sealed.frames.size());
    for (size_t i = 0; i < out.size(); ++i) {
      Check(out[i].kind == sealed.frames[i].kind);
      Check(out[i].body == sealed.frames[i].body);
    }
  }
  if (from_sealed) {
    // Whatever came out is a prefix of what was sealed: nothing forged, nothing reordered.
    Check(out.size() <= sealed.frames.size());
    for (size_t i = 0; i < out.size(); ++i) {
      Check(out[i].kind == sealed.frames[i].kind && out[i].body == sealed.frames[i].body);
    }
  }
  return 0;
}
