// Node-to-node messages (node/src/wire.h): round trips, and refusal of what a peer could
// send wrong, without a crash.
#include "wire.h"

#include <gtest/gtest.h>

#include "city/consensus/messages.h"
#include "support/chain_fixtures.h"

namespace city::node {
namespace {

TEST(NodeWire, EveryMessageRoundTripsAndIsToldApartFromConsensus) {
  const ledger::CommitRequest first = test::ChainCommit(1, test::TestGenesisHash());
  const ledger::CommitRequest second = test::ChainCommit(2, first.block.Hash());
  const std::vector<NodeMessage> messages = {
      TxGossip{first.block.transactions},
      SyncRequest{17, 256},
      SyncReply{42, 7, {{first.block, first.certificate}, {second.block, second.certificate}}},
      ChainStatus{99},
  };
  for (const NodeMessage& message : messages) {
    const Bytes bytes = EncodeNodeMessage(message);
    EXPECT_TRUE(IsNodeMessage(bytes));
    Result<NodeMessage> decoded = DecodeNodeMessage(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(EncodeNodeMessage(*decoded), bytes);
    EXPECT_EQ(decoded->index(), message.index());
  }
  Result<NodeMessage> decoded = DecodeNodeMessage(EncodeNodeMessage(messages[2]));
  ASSERT_TRUE(decoded.ok());
  const SyncReply& reply = std::get<SyncReply>(*decoded);
  ASSERT_EQ(reply.blocks.size(), 2u);
  EXPECT_EQ(reply.committed_height, 42u);
  EXPECT_EQ(reply.lowest_height, 7u);
  EXPECT_EQ(reply.blocks[1].block, second.block);
  EXPECT_EQ(reply.blocks[1].certificate, second.certificate);

  const Bytes vote = consensus::EncodeMessage(consensus::BlockRequest{first.block.Hash()});
  EXPECT_FALSE(IsNodeMessage(vote));
}

TEST(NodeWire, MalformedMessagesAreRefused) {
  Bytes gossip =
      EncodeNodeMessage(TxGossip{test::ChainCommit(1, test::TestGenesisHash()).block.transactions});
  for (size_t cut = 0; cut < gossip.size(); cut += 7) {
    Bytes truncated(gossip.begin(), gossip.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_FALSE(DecodeNodeMessage(truncated).ok()) << cut;
  }
  Bytes trailing = gossip;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeNodeMessage(trailing).ok());

  Bytes unknown = EncodeNodeMessage(ChainStatus{1});
  unknown[1] = 0x7f;
  EXPECT_FALSE(DecodeNodeMessage(unknown).ok());

  EXPECT_FALSE(DecodeNodeMessage(EncodeNodeMessage(SyncRequest{1, 0})).ok());
  EXPECT_FALSE(DecodeNodeMessage(EncodeNodeMessage(SyncRequest{1, kMaxSyncBlocks + 1})).ok());
  EXPECT_FALSE(DecodeNodeMessage(EncodeNodeMessage(TxGossip{})).ok()) << "empty gossip";

  // A count far beyond the bytes present is refused before anything is allocated.
  // A sender cannot hold blocks only from above its own tip.
  EXPECT_FALSE(DecodeNodeMessage(EncodeNodeMessage(SyncReply{5, 6, {}})).ok());
  EXPECT_TRUE(DecodeNodeMessage(EncodeNodeMessage(SyncReply{5, 5, {}})).ok());

  Bytes huge = EncodeNodeMessage(SyncReply{1, 0, {}});
  huge[huge.size() - 4] = 0xff;
  huge[huge.size() - 3] = 0xff;
  Result<NodeMessage> refused = DecodeNodeMessage(huge);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace city::node
