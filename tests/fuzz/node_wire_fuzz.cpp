// libFuzzer target for node-to-node messages (gossip, sync, status): refused, or re-encoded
// to the same bytes.
#include <cstdlib>

#include "wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const city::ByteSpan input(data, size);
  city::Result<city::node::NodeMessage> message = city::node::DecodeNodeMessage(input);
  if (!message.ok()) return 0;
  const city::Bytes again = city::node::EncodeNodeMessage(*message);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  return 0;
}
