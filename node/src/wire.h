// Node-to-node messages beyond consensus, on the same validator links. Format: the ledger's
// canonical encoding (codec.h) of a u8 kind then the body; consensus uses kinds 0x01-0x06,
// these use 0x10 and up, so one look at the kind byte tells the two apart.
//   0x10 transactions  u32 count (1..kMaxGossipTransactions), each a Transaction
//   0x11 sync request  u64 from_height, u32 max_blocks (1..kMaxSyncBlocks)
//   0x12 sync reply    u64 sender's committed height, u32 count, each a Block then the
//                      QuorumCert certifying it (the sender's stored certificate)
//   0x13 chain status  u64 sender's committed height
#pragma once

#include <variant>
#include <vector>

#include "city/consensus/sync_messages.h"
#include "city/ledger/types.h"

namespace city::node {

inline constexpr size_t kMaxGossipTransactions = 1'000;
inline constexpr size_t kMaxSyncBlocks = 256;
// A reply stops adding blocks once it passes this size (a frame must hold it).
inline constexpr size_t kSyncReplyBudgetBytes = 8 * 1024 * 1024;

struct TxGossip {
  std::vector<ledger::Transaction> transactions;
};
// Block sync's messages (consensus/block_sync.h), carried on validator links.
using consensus::CertifiedBlock;
using consensus::SyncReply;
using consensus::SyncRequest;
struct ChainStatus {
  uint64_t committed_height = 0;
};

using NodeMessage = std::variant<TxGossip, SyncRequest, SyncReply, ChainStatus>;

// True when `bytes` holds a node message rather than a consensus one.
bool IsNodeMessage(ByteSpan bytes);
Bytes EncodeNodeMessage(const NodeMessage& message);
// kMalformed / kTooLarge for anything a peer could send wrong; never a crash.
Result<NodeMessage> DecodeNodeMessage(ByteSpan bytes);

}  // namespace city::node
