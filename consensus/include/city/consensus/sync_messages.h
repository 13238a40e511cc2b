// Block sync's messages (block_sync.h), apart so that whatever only encodes or decodes them
// (the node's wire format and its fuzzer) needs the ledger's types and nothing else.
#pragma once

#include <cstdint>
#include <vector>

#include "city/ledger/types.h"

namespace city::consensus {

struct SyncRequest {
  uint64_t from_height = 0;
  uint32_t max_blocks = 0;
};
struct CertifiedBlock {
  ledger::Block block;
  ledger::QuorumCert certificate;  // the sender's stored certificate of this block
};
struct SyncReply {
  uint64_t committed_height = 0;  // the sender's
  // The lowest height the sender holds blocks from (0: every one); it prunes older blocks
  // ([storage] retain_blocks), so a reply without the blocks asked for below it is no stall.
  uint64_t lowest_height = 0;
  std::vector<CertifiedBlock> blocks;
};

}  // namespace city::consensus
