// The client API's JSON shapes: every field of known objects with its value, a block's
// "encoded" that decodes back to the block, and transactions from hex refused for each flaw.
#include "city/node/json_views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "city/crypto/address.h"
#include "support/chain_fixtures.h"
#include "support/ledger_fixtures.h"

namespace city::node {
namespace {

using ::testing::HasSubstr;

std::set<std::string> KeysOf(const Json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

ledger::Transaction KnownTransaction() {
  return test::MakeTransaction(test::TestKey(42), 9, test::TestKey(43).public_key());
}

void ExpectTransaction(const Json& j, const ledger::Transaction& tx) {
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"id", "signed_hash", "chain_id", "sender",
                                              "sender_address", "nonce", "expiry_height",
                                              "contract", "method", "args", "signature", "size"}));
  EXPECT_EQ(j["id"], tx.Id().ToHex());
  EXPECT_EQ(j["signed_hash"], tx.SignedHash().ToHex());
  EXPECT_EQ(j["chain_id"], tx.chain_id);
  EXPECT_EQ(j["sender"], tx.sender.ToHex());
  EXPECT_EQ(j["sender_address"], EncodeAddress(tx.sender));
  EXPECT_EQ(j["nonce"], tx.nonce);
  EXPECT_EQ(j["expiry_height"], tx.expiry_height);
  EXPECT_EQ(j["contract"], tx.contract);
  EXPECT_EQ(j["method"], tx.method);
  EXPECT_EQ(j["args"], city::ToHex(tx.args));
  EXPECT_EQ(j["signature"], tx.signature.ToHex());
  EXPECT_EQ(j["size"], ledger::Encode(tx).size());
}

void ExpectQc(const Json& j, const ledger::QuorumCert& qc) {
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"epoch", "term", "round", "height", "block_hash",
                                              "signatures"}));
  EXPECT_EQ(j["epoch"], qc.data.epoch);
  EXPECT_EQ(j["term"], qc.data.term);
  EXPECT_EQ(j["round"], qc.data.round);
  EXPECT_EQ(j["height"], qc.data.height);
  EXPECT_EQ(j["block_hash"], qc.data.block_hash.ToHex());
  ASSERT_EQ(j["signatures"].size(), qc.signatures.size());
  for (size_t i = 0; i < qc.signatures.size(); ++i) {
    EXPECT_EQ(j["signatures"][i], (Json{{"signer", qc.signatures[i].signer.ToHex()},
                                        {"signature", qc.signatures[i].signature.ToHex()}}));
  }
}

TEST(JsonViewsHex, LowerCaseAndStrict) {
  const Bytes bytes = {0x00, 0xab, 0xCD, 0xff};
  EXPECT_EQ(ToHex(bytes), "00abcdff");
  EXPECT_EQ(*FromHex("00abcdff"), bytes);
  EXPECT_EQ(*FromHex("00ABCDFF"), bytes);
  EXPECT_TRUE(FromHex("")->empty());
  for (const char* bad : {"0", "abc", "0g", "0x00", " 00", "00 ", "+1"}) {
    EXPECT_EQ(FromHex(bad).status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(JsonViewsTransaction, EveryField) {
  const ledger::Transaction tx = KnownTransaction();
  const Json j = TransactionJson(tx);
  ExpectTransaction(j, tx);
  // Spelled out once, so a change in the helpers above cannot hide a change here.
  EXPECT_EQ(j["chain_id"], "city-test");
  EXPECT_EQ(j["nonce"], 9);
  EXPECT_EQ(j["expiry_height"], 1009);
  EXPECT_EQ(j["contract"], "ubi");
  EXPECT_EQ(j["method"], "transfer");
  EXPECT_EQ(j["args"].get<std::string>().size(), 2u * (32 + 8));
  EXPECT_EQ(j["args"].get<std::string>().substr(64), "0900000000000000");
  EXPECT_THAT(j["sender_address"].get<std::string>(), ::testing::StartsWith("city1"));
}

TEST(JsonViewsCertificates, QuorumCertEveryField) {
  const ledger::QuorumCert qc = test::CertifyAt(12, TaggedHash("city.test.block", {}));
  const Json j = QuorumCertJson(qc);
  ExpectQc(j, qc);
  EXPECT_EQ(j["height"], 12);
  EXPECT_EQ(j["round"], 12);
  EXPECT_EQ(j["term"], 1);
  EXPECT_EQ(j["signatures"].size(), 3u);
}

TEST(JsonViewsCertificates, TimeoutCertEveryField) {
  const auto keys = test::TestValidators(4);
  const ledger::TimeoutCert tc = ledger::TimeoutCert::FromTimeouts(test::SampleTimeouts(keys, 3));
  const Json j = TimeoutCertJson(tc);
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"epoch", "round", "high_qc", "entries"}));
  EXPECT_EQ(j["epoch"], tc.epoch);
  EXPECT_EQ(j["round"], 6);
  ExpectQc(j["high_qc"], tc.high_qc);
  ASSERT_EQ(j["entries"].size(), 3u);
  for (size_t i = 0; i < tc.entries.size(); ++i) {
    EXPECT_EQ(j["entries"][i], (Json{{"signer", tc.entries[i].signer.ToHex()},
                                     {"high_qc_round", tc.entries[i].high_qc_round},
                                     {"signature", tc.entries[i].signature.ToHex()}}));
  }
}

void ExpectHeader(const Json& j, const ledger::BlockHeader& h) {
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"hash", "chain_id", "epoch", "height", "term",
                                              "round", "parent_hash", "proposer", "timestamp_ms",
                                              "tx_root", "exec_height", "state_root", "result_root",
                                              "justify", "timeout_cert"}));
  EXPECT_EQ(j["hash"], h.Hash().ToHex());
  EXPECT_EQ(j["chain_id"], h.chain_id);
  EXPECT_EQ(j["epoch"], h.epoch);
  EXPECT_EQ(j["height"], h.height);
  EXPECT_EQ(j["term"], h.term);
  EXPECT_EQ(j["round"], h.round);
  EXPECT_EQ(j["parent_hash"], h.parent_hash.ToHex());
  EXPECT_EQ(j["proposer"], h.proposer.ToHex());
  EXPECT_EQ(j["timestamp_ms"], h.timestamp_ms);
  EXPECT_EQ(j["tx_root"], h.tx_root.ToHex());
  EXPECT_EQ(j["exec_height"], h.exec_height);
  EXPECT_EQ(j["state_root"], h.state_root.ToHex());
  EXPECT_EQ(j["result_root"], h.result_root.ToHex());
  ExpectQc(j["justify"], h.justify);
  if (h.timeout_cert) {
    EXPECT_EQ(j["timeout_cert"], TimeoutCertJson(*h.timeout_cert));
  } else {
    EXPECT_TRUE(j["timeout_cert"].is_null());
  }
}

TEST(JsonViewsBlock, HeaderEveryField) {
  const ledger::Block block = test::MakeBlock(5, TaggedHash("city.test.parent", {}), {});
  const Json j = HeaderJson(block.header);
  ExpectHeader(j, block.header);
  EXPECT_EQ(j["height"], 5);
  EXPECT_EQ(j["timestamp_ms"], 1'700'000'005'000u);
  EXPECT_EQ(j["exec_height"], 4);
  EXPECT_EQ(j["proposer"], test::ChainValidators()[1].public_key().ToHex());
  EXPECT_TRUE(j["timeout_cert"].is_null());

  const ledger::Block with_tc = test::SampleBlock(test::TestValidators(4), 2, true);
  ASSERT_TRUE(with_tc.header.timeout_cert.has_value());
  ExpectHeader(HeaderJson(with_tc.header), with_tc.header);
}

TEST(JsonViewsBlock, BlockEveryFieldAndEncodedDecodesBack) {
  std::vector<ledger::Transaction> txs;
  for (uint64_t n = 0; n < 3; ++n) {
    txs.push_back(
        test::MakeTransaction(test::ChainUser(n), n, test::ChainUser(n + 1).public_key()));
  }
  const ledger::Block block = test::MakeBlock(7, TaggedHash("city.test.parent", {}), txs);
  const Json j = BlockJson(block);
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"header", "signature", "transactions", "encoded"}));
  EXPECT_EQ(j["header"], HeaderJson(block.header));
  EXPECT_EQ(j["signature"], block.signature.ToHex());
  ASSERT_EQ(j["transactions"].size(), 3u);
  for (size_t i = 0; i < txs.size(); ++i) ExpectTransaction(j["transactions"][i], txs[i]);

  Result<Bytes> encoded = FromHex(j["encoded"].get<std::string>());
  ASSERT_TRUE(encoded.ok());
  Result<ledger::Block> decoded = ledger::Decode<ledger::Block>(*encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, block);
  EXPECT_EQ(decoded->Hash().ToHex(), j["header"]["hash"]);
}

TEST(JsonViewsResult, EveryField) {
  ledger::TxResult result;
  result.code = 0;
  result.events = {{"ubi", "transferred", {0x01, 0xfe}}, {"ubi", "burned", {}}};
  result.related_accounts = {test::TestKey(5).public_key(), test::TestKey(6).public_key()};
  const Json j = TxResultJson(result);
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"code", "code_name", "ok", "detail", "events",
                                              "related_accounts"}));
  EXPECT_EQ(j["code"], 0);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["detail"], "");
  EXPECT_EQ(j["events"],
            (Json::array({{{"contract", "ubi"}, {"name", "transferred"}, {"data", "01fe"}},
                          {{"contract", "ubi"}, {"name", "burned"}, {"data", ""}}})));
  EXPECT_EQ(j["related_accounts"], (Json::array({EncodeAddress(test::TestKey(5).public_key()),
                                                 EncodeAddress(test::TestKey(6).public_key())})));

  ledger::TxResult failed;
  failed.code = 201;
  failed.detail = "insufficient balance";
  const Json f = TxResultJson(failed);
  EXPECT_EQ(f["code"], 201);
  EXPECT_EQ(f["ok"], false);
  EXPECT_EQ(f["detail"], "insufficient balance");
  EXPECT_TRUE(f["events"].is_array() && f["events"].empty());
  EXPECT_TRUE(f["related_accounts"].is_array() && f["related_accounts"].empty());
}

TEST(JsonViewsStateProof, EveryFieldAndProofDecodesBack) {
  ledger::StateAt state;
  state.version = 42;
  state.root = TaggedHash("city.test.root", {});
  state.value = Bytes{0xde, 0xad};
  state.proof.siblings = {TaggedHash("a", {}), TaggedHash("b", {})};
  state.proof.other_leaf = ledger::SmtLeaf{TaggedHash("p", {}), TaggedHash("v", {})};
  const Bytes key = {'u', 'b', 'i', '/', 'x'};
  const Json j = StateProofJson(key, state);
  EXPECT_EQ(KeysOf(j), (std::set<std::string>{"key", "value", "version", "root", "proof"}));
  EXPECT_EQ(j["key"], "7562692f78");
  EXPECT_EQ(j["value"], "dead");
  EXPECT_EQ(j["version"], 42);
  EXPECT_EQ(j["root"], state.root.ToHex());
  Result<ledger::StateProof> proof =
      ledger::Decode<ledger::StateProof>(*FromHex(j["proof"].get<std::string>()));
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_EQ(*proof, state.proof);

  state.value.reset();
  EXPECT_TRUE(StateProofJson(key, state)["value"].is_null());
}

TEST(JsonViewsParse, AcceptsAValidTransaction) {
  const ledger::Transaction tx = KnownTransaction();
  const std::string hex = ToHex(ledger::Encode(tx));
  Result<ledger::Transaction> parsed = ParseTransactionHex(hex);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, tx);
  EXPECT_TRUE(parsed->VerifySignature());
}

TEST(JsonViewsParse, RefusesEachFlaw) {
  const std::string hex = ToHex(ledger::Encode(KnownTransaction()));
  struct Case {
    std::string what;
    std::string input;
    ErrorCode code;
  };
  std::string bad_digit = hex;
  bad_digit[10] = 'x';
  const std::vector<Case> cases = {
      {"odd length", hex.substr(0, hex.size() - 1), ErrorCode::kInvalidArgument},
      {"bad digit", bad_digit, ErrorCode::kInvalidArgument},
      {"trailing garbage", hex + "00", ErrorCode::kMalformed},
      {"truncated", hex.substr(0, hex.size() - 2), ErrorCode::kMalformed},
      {"empty", "", ErrorCode::kMalformed},
      {"wrong flag byte", std::string("02").append(hex, 2), ErrorCode::kMalformed},
      {"oversize", std::string(2 * ledger::kMaxTransactionBytes + 2, '0'), ErrorCode::kTooLarge},
  };
  for (const Case& c : cases) {
    Result<ledger::Transaction> parsed = ParseTransactionHex(c.input);
    ASSERT_FALSE(parsed.ok()) << c.what;
    EXPECT_EQ(parsed.status().code(), c.code) << c.what << ": " << parsed.status().ToString();
    EXPECT_THAT(parsed.status().message(), HasSubstr("transaction")) << c.what;
  }
}

TEST(JsonViewsParse, SizeIsCheckedBeforeTheDigits) {
  // Not hex at all, but too long: refused for its size without being decoded.
  Result<ledger::Transaction> parsed =
      ParseTransactionHex(std::string(2 * ledger::kMaxTransactionBytes + 1, 'z'));
  EXPECT_EQ(parsed.status().code(), ErrorCode::kTooLarge);
  // Exactly at the limit: decoded (and refused as malformed), not refused for its size.
  parsed = ParseTransactionHex(std::string(2 * ledger::kMaxTransactionBytes, '0'));
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
}

}  // namespace
}  // namespace city::node
