// Golden vectors: fixed keys and objects whose bytes, ids and signatures are pinned. If one
// of these fails, an encoding or hash changed: that breaks every stored block and every
// signature in the field, so it must be a deliberate, versioned decision, never an accident.
#include <gtest/gtest.h>

#include "city/ledger/merkle.h"
#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

namespace city::ledger {
namespace {

using test::kTestChain;

std::string HashOfEncoding(const Bytes& bytes) { return Blake2b256(bytes).ToHex(); }

// Written out by hand from the format in codec.h, independently of the encoder.
TEST(CodecGolden, VoteDataLayoutIsLittleEndianFixedWidth) {
  VoteData data{.epoch = 1, .term = 2, .round = 0x0102030405060708, .height = 4, .block_hash = {}};
  data.block_hash.bytes.fill(0xee);
  Bytes expected = {0x01};  // portable archive flag: little-endian
  const auto u64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) expected.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  u64(1);
  u64(2);
  u64(0x0102030405060708);
  u64(4);
  expected.insert(expected.end(), 32, 0xee);
  EXPECT_EQ(ToHex(Encode(data)), ToHex(expected));
}

TEST(CodecGolden, TransactionLayoutHasLengthPrefixedText) {
  Transaction tx;
  tx.chain_id = "c";
  tx.contract = "ubi";
  tx.method = "claim";
  tx.args = {0xaa};
  const std::string hex = ToHex(Encode(tx));
  EXPECT_EQ(hex.substr(0, 12), "010100000063");  // flag, u32 length 1, "c"
  EXPECT_EQ(ToHex(Encode(tx)).size(), 2 * (1 + Transaction::kMinEncodedSize + 1 + 3 + 5 + 1));
}

TEST(CodecGolden, Transaction) {
  const Transaction tx = test::SampleTransaction(test::TestKey(1));
  EXPECT_EQ(ToHex(Encode(tx)),
            "0109000000636974792d746573748a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b4"
            "0f6f5c0700000000000000e80300000000000003000000756269080000007472616e73666572600000005a"
            "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
            "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
            "5a5a5a5a5a5a5a5a5ae2bf37094372d661c1d75ddf909b552ec72f8b3fd4d8c7093cf0b09a1d5b6178a540"
            "8e025a4bde0c39430b8c4507a198fcda22d50f40a0b275052b07084f9207");
  EXPECT_EQ(tx.Id().ToHex(), "d12a6f30a46a4dcdd83ed206fef9b9b60cedb63d02ed152e932e308a09fc4023");
  EXPECT_EQ(tx.signature.ToHex(),
            "e2bf37094372d661c1d75ddf909b552ec72f8b3fd4d8c7093cf0b09a1d5b6178a5408e025a4bde0c39430b"
            "8c4507a198fcda22d50f40a0b275052b07084f9207");
  EXPECT_EQ(tx.SignedHash().ToHex(),
            "a033fb28e1026ff28bf4fd53e51cb13fabed7c1c5561479f082b0715e29d8206");
}

TEST(CodecGolden, Vote) {
  const Vote vote = Vote::Create(test::SampleVoteData(), kTestChain, test::TestKey(2));
  EXPECT_EQ(ToHex(Encode(vote)),
            "010000000000000000010000000000000005000000000000000500000000000000dcaf627585c338f64527"
            "80ac68c4d746e1b124ac3088c49392b2179c9c3ecfe78139770ea87d175f56a35466c34c7ecccb8d8a91b4"
            "ee37a25df60f5b8fc9b39438c601c1d088ba221c2c1856ad0ce999569da2efdf699f1b1632162c54e38164"
            "ed99fa34e6fd3e8f0dc8852e4f697da9f64501327b3f6e1ea6d5e968d139ff07");
  EXPECT_EQ(vote.data.Digest(kTestChain).ToHex(),
            "eac9843fece4163c9f23dbbeea41bd66628b3f55f36f6d635bbee08e7b0092a4");
}

TEST(CodecGolden, QuorumCert) {
  const QuorumCert qc = test::SampleQc(test::TestValidators(4), 3);
  EXPECT_EQ(HashOfEncoding(Encode(qc)),
            "60c858a9ca9f866db39a9f32858019823dc977ace987aef076c71b24c7475a98");
}

TEST(CodecGolden, TimeoutAndTimeoutCert) {
  const auto keys = test::TestValidators(4);
  const std::vector<Timeout> timeouts = test::SampleTimeouts(keys, 3);
  EXPECT_EQ(timeouts[0].data.Digest(kTestChain).ToHex(),
            "2d101f529cf519998868cd4749b788bdc39df81db7c23d927c01e57920d575c1");
  EXPECT_EQ(HashOfEncoding(Encode(timeouts[0])),
            "9487d109a4b486907cdb7669b89744790e6035b7b5719e0db45fd5595288272c");
  EXPECT_EQ(HashOfEncoding(Encode(TimeoutCert::FromTimeouts(timeouts))),
            "a01749b7f425ba1111ac1ee6a043297dcb3eecd05de93d8d536522cbad0e39d0");
}

TEST(CodecGolden, BlockWithTimeoutCert) {
  const Block block = test::SampleBlock(test::TestValidators(4), 3, true);
  EXPECT_EQ(block.header.tx_root.ToHex(),
            "8a41140fdb83aa9b9f676144821f7f88933d106a2b66307a995bc6ab72e34067");
  EXPECT_EQ(block.Hash().ToHex(),
            "9a7ed17ad0ae2413357079d7ed45490789de70b8fd716ac4c357c26c47ddac6b");
  EXPECT_EQ(block.signature.ToHex(),
            "c1a19d08d2307455e9535d0d2425b33daf924bd0855b7996c1d26851cf72b95f"
            "7963ec653f3ee6027e75e865972958da7e9de7796cbc32e6e1a413591f3e6f0c");
  EXPECT_EQ(HashOfEncoding(Encode(block)),
            "ab650a273648e92ec463fb006beec7ffc4fe9a6a37cea2187c2c4cc7450f6cec");
}

TEST(CodecGolden, MerkleRoots) {
  EXPECT_EQ(MerkleRoot({}).ToHex(),
            "177100e9de49c6670aaee250f6c77476535739be3a7ebd5d9548f6d2ed3a1448");
  const std::vector<Hash256> three = {Blake2b256(AsBytes("a")), Blake2b256(AsBytes("b")),
                                      Blake2b256(AsBytes("c"))};
  EXPECT_EQ(MerkleRoot(three).ToHex(),
            "5a1ed9883b6f10484b0b95bf842355b14fc266d569d14a482f1031ac803e8dde");
}

}  // namespace
}  // namespace city::ledger
