// Wire encoding of consensus messages (the format is in messages.h).
#include "city/consensus/messages.h"

namespace city::consensus {
namespace {

enum Kind : uint8_t {
  kProposal = 1,
  kVote = 2,
  kTimeout = 3,
  kBlockRequest = 4,
  kBlockResponse = 5,
  kSyncCerts = 6,
  kCertsRequest = 7,
};

// Lets the generic Encode/Decode of ledger/codec.h frame a whole message.
struct Frame {
  static constexpr size_t kMaxEncodedSize = ledger::kMaxFrameBytes;
  Message message;

  void EncodeTo(ledger::Encoder& encoder) const {
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, Proposal>) {
            encoder.U8(kProposal);
            m.block.EncodeTo(encoder);
          } else if constexpr (std::is_same_v<T, ledger::Vote>) {
            encoder.U8(kVote);
            m.EncodeTo(encoder);
          } else if constexpr (std::is_same_v<T, ledger::Timeout>) {
            encoder.U8(kTimeout);
            m.EncodeTo(encoder);
          } else if constexpr (std::is_same_v<T, BlockRequest>) {
            encoder.U8(kBlockRequest);
            encoder.Fixed(m.hash);
          } else if constexpr (std::is_same_v<T, BlockResponse>) {
            encoder.U8(kBlockResponse);
            m.block.EncodeTo(encoder);
          } else if constexpr (std::is_same_v<T, CertsRequest>) {
            encoder.U8(kCertsRequest);
          } else {
            encoder.U8(kSyncCerts);
            encoder.Optional(m.high_qc, "sync high_qc");
            encoder.Optional(m.last_tc, "sync last_tc");
          }
        },
        message);
  }

  static Frame DecodeFrom(ledger::Decoder& decoder) {
    uint8_t kind = 0;
    decoder.U8(kind);
    switch (kind) {
      case kProposal:
        return {Proposal{ledger::Block::DecodeFrom(decoder)}};
      case kVote:
        return {ledger::Vote::DecodeFrom(decoder)};
      case kTimeout:
        return {ledger::Timeout::DecodeFrom(decoder)};
      case kBlockRequest: {
        BlockRequest request;
        decoder.Fixed(request.hash);
        return {request};
      }
      case kBlockResponse:
        return {BlockResponse{ledger::Block::DecodeFrom(decoder)}};
      case kSyncCerts: {
        SyncCerts sync;
        decoder.Optional(sync.high_qc, "sync high_qc");
        decoder.Optional(sync.last_tc, "sync last_tc");
        return {std::move(sync)};
      }
      case kCertsRequest:
        return {CertsRequest{}};
      default:
        ledger::Decoder::Fail(ErrorCode::kMalformed, "message",
                              "has unknown kind " + std::to_string(kind));
    }
  }
};

}  // namespace

Bytes EncodeMessage(const Message& message) { return ledger::Encode(Frame{message}); }

Result<Message> DecodeMessage(ByteSpan bytes) {
  Result<Frame> frame = ledger::Decode<Frame>(bytes);
  if (!frame.ok()) return frame.status();
  return std::move(frame->message);
}

const char* MessageKindName(const Message& message) {
  static constexpr const char* kNames[] = {"proposal",      "vote",           "timeout",
                                           "block_request", "block_response", "sync_certs",
                                           "certs_request"};
  return kNames[message.index()];
}

std::optional<uint64_t> EpochOf(const Message& message) {
  if (const auto* p = std::get_if<Proposal>(&message)) return p->block.header.epoch;
  if (const auto* v = std::get_if<ledger::Vote>(&message)) return v->data.epoch;
  if (const auto* t = std::get_if<ledger::Timeout>(&message)) return t->data.epoch;
  if (const auto* c = std::get_if<SyncCerts>(&message)) {
    if (c->high_qc) return c->high_qc->data.epoch;
  }
  return std::nullopt;
}

}  // namespace city::consensus
