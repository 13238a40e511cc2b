// libFuzzer target for consensus message frames: refused, or re-encoded to the same bytes.
#include <cstdlib>

#include "city/consensus/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const city::ByteSpan input(data, size);
  city::Result<city::consensus::Message> message = city::consensus::DecodeMessage(input);
  if (!message.ok()) return 0;
  const city::Bytes again = city::consensus::EncodeMessage(*message);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  return 0;
}
