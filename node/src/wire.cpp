// Encoding of node-to-node messages (the format is in wire.h).
#include "wire.h"

#include "city/ledger/limits.h"

namespace city::node {
namespace {

enum Kind : uint8_t {
  kTransactions = 0x10,
  kSyncRequest = 0x11,
  kSyncReply = 0x12,
  kChainStatus = 0x13,
};

struct CertifiedBlockCodec {
  CertifiedBlock value;
  void EncodeTo(ledger::Encoder& encoder) const {
    value.block.EncodeTo(encoder);
    value.certificate.EncodeTo(encoder);
  }
  static CertifiedBlockCodec DecodeFrom(ledger::Decoder& decoder) {
    CertifiedBlockCodec out;
    out.value.block = ledger::Block::DecodeFrom(decoder);
    out.value.certificate = ledger::QuorumCert::DecodeFrom(decoder);
    return out;
  }
};

struct TxCodec {
  ledger::Transaction value;
  void EncodeTo(ledger::Encoder& encoder) const { value.EncodeTo(encoder); }
  static TxCodec DecodeFrom(ledger::Decoder& decoder) {
    return {ledger::Transaction::DecodeFrom(decoder)};
  }
};

// Lets the generic Encode/Decode of ledger/codec.h frame a whole message.
struct Frame {
  static constexpr size_t kMaxEncodedSize = ledger::kMaxFrameBytes;
  NodeMessage message;

  void EncodeTo(ledger::Encoder& encoder) const {
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, TxGossip>) {
            encoder.U8(kTransactions);
            std::vector<TxCodec> txs;
            txs.reserve(m.transactions.size());
            for (const auto& tx : m.transactions) txs.push_back({tx});
            encoder.List(txs);
          } else if constexpr (std::is_same_v<T, SyncRequest>) {
            encoder.U8(kSyncRequest);
            encoder.U64(m.from_height);
            encoder.U32(m.max_blocks);
          } else if constexpr (std::is_same_v<T, SyncReply>) {
            encoder.U8(kSyncReply);
            encoder.U64(m.committed_height);
            encoder.U64(m.lowest_height);
            std::vector<CertifiedBlockCodec> blocks;
            blocks.reserve(m.blocks.size());
            for (const auto& b : m.blocks) blocks.push_back({b});
            encoder.List(blocks);
          } else {
            encoder.U8(kChainStatus);
            encoder.U64(m.committed_height);
          }
        },
        message);
  }

  static Frame DecodeFrom(ledger::Decoder& decoder) {
    uint8_t kind = 0;
    decoder.U8(kind);
    switch (kind) {
      case kTransactions: {
        std::vector<TxCodec> txs;
        decoder.List(txs, kMaxGossipTransactions, ledger::Transaction::kMinEncodedSize,
                     "gossiped transactions");
        if (txs.empty()) decoder.Fail(ErrorCode::kMalformed, "gossip", "carries no transaction");
        TxGossip gossip;
        gossip.transactions.reserve(txs.size());
        for (auto& tx : txs) gossip.transactions.push_back(std::move(tx.value));
        return {std::move(gossip)};
      }
      case kSyncRequest: {
        SyncRequest request;
        decoder.U64(request.from_height);
        decoder.U32(request.max_blocks);
        if (request.max_blocks == 0 || request.max_blocks > kMaxSyncBlocks) {
          decoder.Fail(ErrorCode::kMalformed, "sync request", "asks for 0 or too many blocks");
        }
        return {request};
      }
      case kSyncReply: {
        SyncReply reply;
        decoder.U64(reply.committed_height);
        decoder.U64(reply.lowest_height);
        if (reply.lowest_height > reply.committed_height) {
          decoder.Fail(ErrorCode::kMalformed, "sync reply", "holds blocks from above its tip");
        }
        std::vector<CertifiedBlockCodec> blocks;
        decoder.List(blocks, kMaxSyncBlocks, 64, "synced blocks");
        reply.blocks.reserve(blocks.size());
        for (auto& b : blocks) reply.blocks.push_back(std::move(b.value));
        return {std::move(reply)};
      }
      case kChainStatus: {
        ChainStatus status;
        decoder.U64(status.committed_height);
        return {status};
      }
      default:
        decoder.Fail(ErrorCode::kMalformed, "node message", "has an unknown kind");
    }
  }
};

}  // namespace

bool IsNodeMessage(ByteSpan bytes) { return bytes.size() >= 2 && bytes[1] >= kTransactions; }

Bytes EncodeNodeMessage(const NodeMessage& message) { return ledger::Encode(Frame{message}); }

Result<NodeMessage> DecodeNodeMessage(ByteSpan bytes) {
  Result<Frame> frame = ledger::Decode<Frame>(bytes);
  if (!frame.ok()) return frame.status();
  return std::move(frame->message);
}

}  // namespace city::node
