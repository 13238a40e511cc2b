// Bad transactions are refused at the API with their reason code, on their own and in a
// batch, and nothing of them commits: the sender's nonce does not move.
#include <gtest/gtest.h>

#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "test_util.h"

namespace city::testnet {
namespace {

using contracts::EncodeArgs;
using contracts::kUbi;
using contracts::UbiTransferArgs;

struct BadCase {
  std::string name;
  ledger::Transaction tx;
  std::vector<int> http_statuses;  // any of these
  std::string code;                // "" for "any code"
  std::string message_has;         // a word the message must contain ("" for none)
};

bool Contains(const std::string& text, const std::string& word) {
  return text.find(word) != std::string::npos;
}

TEST_F(SharedNetTest, BadTransactionsAreRejectedWithTheirReasonAndNothingCommits) {
  LocalNet& net = SharedNet();
  const KeyPair& sender = net.Key("auditor");  // no other test sends from it
  const PublicKey to = net.Key("citizen").public_key();
  const Bytes transfer = EncodeArgs(UbiTransferArgs{to, 7});
  net.ForgetNonce(sender);
  const std::optional<uint64_t> first = net.CommittedNonce(0, sender.public_key());
  ASSERT_TRUE(first.has_value());

  // A good transfer, committed: what the replays replay.
  const ledger::Transaction good = net.SignedTx(sender, kUbi, "transfer", transfer, *first);
  ApiReply accepted = net.Submit(1, good);
  ASSERT_EQ(accepted.status, 202) << accepted.Describe();
  const Json committed = net.WaitTx(1, good.Id(), 30s);
  ASSERT_TRUE(CommittedOk(committed));
  const uint64_t next = *first + 1;
  ASSERT_TRUE(LocalNet::WaitFor(
      [&] {
        for (size_t n : net.AllNodes()) {
          if (net.CommittedNonce(n, sender.public_key()) != next) return false;
        }
        return true;
      },
      10s));
  // Below every node's tip, so that whichever node gets it, it has expired there.
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), 3, 20s)) << net.Describe();
  const uint64_t tip = net.MaxHeight(net.AllNodes()).value_or(0);
  const uint64_t expired_at = net.MinHeight(net.AllNodes()).value_or(3) - 1;

  std::vector<BadCase> cases;
  {
    ledger::Transaction tx = net.SignedTx(sender, kUbi, "transfer", transfer, next);
    tx.signature.bytes[10] ^= 0x04;
    cases.push_back({"flipped signature bit", tx, {400}, "bad_signature", "signature"});
  }
  cases.push_back({"replay of a committed transaction", good, {409}, "already_committed", ""});
  cases.push_back(
      {"new transaction reusing a used nonce",
       net.SignedTx(sender, kUbi, "transfer", EncodeArgs(UbiTransferArgs{to, 8}), *first),
       {409},
       "nonce_used",
       "nonce"});
  cases.push_back({"expiry height below the tip",
                   net.SignedTx(sender, kUbi, "transfer", transfer, next, expired_at),
                   {400},
                   "expired",
                   "expiry"});
  // Far beyond every node's horizon (20,000 heights by default), whichever node gets it.
  cases.push_back({"expiry height beyond the horizon",
                   net.SignedTx(sender, kUbi, "transfer", transfer, next, tip + 1'000'000),
                   {400},
                   "expiry_too_far",
                   "expiry"});
  cases.push_back({"a sender nobody enrolled",
                   net.SignedTx(KeyPair::Generate(), kUbi, "transfer", transfer, 0),
                   {403},
                   "unknown_sender",
                   "enrol"});
  cases.push_back({"another chain's id",
                   net.SignedTx(sender, kUbi, "transfer", transfer, next, std::nullopt,
                                std::string("city-elsewhere")),
                   {400},
                   "wrong_chain",
                   "city-elsewhere"});
  cases.push_back({"args over 60 KiB",
                   net.SignedTx(sender, kUbi, "transfer", Bytes(61 * 1024, 0x42), next),
                   {400, 413},
                   "",
                   ""});

  for (size_t k = 0; k < cases.size(); ++k) {
    const BadCase& c = cases[k];
    SCOPED_TRACE(c.name);
    const size_t node = k % net.size();
    ApiReply reply = net.Submit(node, c.tx);
    EXPECT_TRUE(std::find(c.http_statuses.begin(), c.http_statuses.end(), reply.status) !=
                c.http_statuses.end())
        << reply.Describe();
    const std::string code = ErrorCodeOf(reply);
    const std::string message = reply.body.is_object() && reply.body.contains("error")
                                    ? reply.body["error"].value("message", "")
                                    : "";
    if (!c.code.empty()) {
      EXPECT_EQ(code, c.code) << reply.Describe();
    }
    EXPECT_FALSE(code.empty()) << reply.Describe();
    EXPECT_FALSE(message.empty()) << reply.Describe();
    if (!c.message_has.empty()) {
      EXPECT_TRUE(Contains(message, c.message_has)) << message;
    }
    if (c.name == "args over 60 KiB") {
      // Whichever layer refuses it (decoding or the stateless checks), it says what is too big.
      EXPECT_TRUE(Contains(message, "bytes") || Contains(message, "size") ||
                  Contains(message, "large"))
          << message;
    }
    std::fprintf(stderr, "  %-38s -> HTTP %d %s: %s\n", c.name.c_str(), reply.status, code.c_str(),
                 message.c_str());
  }

  // The same through the batch endpoint, mixed with nothing good: one result each, in order.
  std::vector<ledger::Transaction> batch;
  for (size_t k = 0; k + 1 < cases.size(); ++k) batch.push_back(cases[k].tx);
  ApiReply batched = net.SubmitBatch(2, batch);
  ASSERT_EQ(batched.status, 202) << batched.Describe();
  EXPECT_EQ(batched.body.value("accepted", -1), 0) << batched.Describe();
  EXPECT_EQ(batched.body.value("rejected", -1), int(batch.size())) << batched.Describe();
  const Json results = batched.body.value("results", Json::array());
  ASSERT_EQ(results.size(), batch.size()) << batched.Describe();
  for (size_t k = 0; k < batch.size(); ++k) {
    EXPECT_EQ(results[k].value("accepted", true), false) << cases[k].name;
    EXPECT_EQ(results[k].value("status", ""), "rejected") << cases[k].name;
    EXPECT_EQ(results[k].value("id", ""), batch[k].Id().ToHex()) << cases[k].name;
    EXPECT_EQ(results[k]["error"].value("code", ""), cases[k].code) << cases[k].name;
  }

  // Not a decodable transaction at all.
  ApiReply garbage = net.Post(3, "/v1/tx", Json{{"tx", "00deadbeef"}});
  EXPECT_EQ(garbage.status, 400) << garbage.Describe();
  EXPECT_FALSE(ErrorCodeOf(garbage).empty()) << garbage.Describe();
  ApiReply not_hex = net.Post(3, "/v1/tx", Json{{"tx", "not hex"}});
  EXPECT_EQ(not_hex.status, 400) << not_hex.Describe();
  EXPECT_FALSE(ErrorCodeOf(not_hex).empty()) << not_hex.Describe();

  // A few blocks later nothing of it has committed anywhere, and the nonce has not moved.
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), tip + 3, 20s)) << net.Describe();
  for (size_t n : net.AllNodes()) {
    EXPECT_EQ(net.CommittedNonce(n, sender.public_key()), next) << "node " << n;
    ApiReply account = net.Get(n, "/v1/accounts/" + EncodeAddress(sender.public_key()));
    EXPECT_EQ(account.body.value("pending_next_nonce", uint64_t(0)), next) << "node " << n;
    for (const BadCase& c : cases) {
      ApiReply tx = net.Get(n, "/v1/tx/" + c.tx.Id().ToHex());
      ASSERT_TRUE(tx.ok()) << tx.Describe();
      if (c.tx.Id() == good.Id()) {
        // Committed once, where it was: the replay changed nothing.
        EXPECT_EQ(tx.body.value("height", uint64_t(0)), committed.value("height", uint64_t(1)))
            << c.name << " on node " << n;
        EXPECT_EQ(tx.body.value("index", uint64_t(0)), committed.value("index", uint64_t(1)))
            << c.name << " on node " << n;
        continue;
      }
      EXPECT_NE(tx.body.value("status", ""), "committed") << c.name << " on node " << n;
      EXPECT_NE(tx.body.value("status", ""), "pending") << c.name << " on node " << n;
    }
  }
}

}  // namespace
}  // namespace city::testnet
