// A whole validator (Node::Start on a real home: LevelDB, sockets on 127.0.0.1) driven
// through its client API: submit, long-poll, rejections with reasons, blocks, headers,
// proofs, metrics, restart and the home lock.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "city/contracts/accounts.h"
#include "city/contracts/emr.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/crypto/keyfile.h"
#include "city/ledger/header_page.h"
#include "city/ledger/merkle.h"
#include "city/ledger/smt.h"
#include "city/net/http_client.h"
#include "city/net/signed_request.h"
#include "city/node/backup.h"
#include "city/node/home.h"
#include "city/node/json_views.h"
#include "city/node/node.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

using Json = nlohmann::json;

// Two consecutive free loopback ports (links, API).
uint16_t FreePortPair() {
  namespace asio = boost::asio;
  asio::io_context io;
  for (int attempt = 0; attempt < 200; ++attempt) {
    asio::ip::tcp::acceptor first(io, {asio::ip::address_v4::loopback(), 0});
    const uint16_t port = first.local_endpoint().port();
    if (port >= 65534) continue;
    boost::system::error_code ec;
    asio::ip::tcp::acceptor second(io);
    second.open(asio::ip::tcp::v4(), ec);
    second.bind({asio::ip::address_v4::loopback(), static_cast<uint16_t>(port + 1)}, ec);
    if (!ec) return port;
  }
  return 0;
}

class NodeApiTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    TestnetOptions options;
    options.out = dir_->path() / "net";
    options.validators = 1;
    options.chain_id = "city-node-test";
    options.base_port = FreePortPair();
    ASSERT_NE(options.base_port, 0);
    Result<TestnetLayout> layout = CreateTestnet(options);
    ASSERT_TRUE(layout.ok()) << layout.status().ToString();
    layout_ = new TestnetLayout(std::move(*layout));
  }
  static void TearDownTestSuite() {
    delete layout_;
    delete dir_;
  }

  void SetUp() override { StartNode(); }

  void StartNode() {
    Result<std::unique_ptr<Node>> node = Node::Start(layout_->homes[0]);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    node_ = std::move(*node);
    Result<net::HttpUrl> url = net::ParseHttpUrl(node_->info().api_url);
    ASSERT_TRUE(url.ok());
    client_ = std::make_unique<net::HttpClient>(*url);
  }

  KeyPair Key(std::string_view name) {
    for (const ClientKey& k : layout_->client_keys) {
      if (k.name == name) {
        Result<KeyPair> key = ReadKeyFile(k.file, kDevKeyPassphrase);
        EXPECT_TRUE(key.ok()) << key.status().ToString();
        return std::move(*key);
      }
    }
    ADD_FAILURE() << "no client key " << name;
    return KeyPair::Generate();
  }

  Json Get(const std::string& target, int expect_status = 200) {
    Result<net::HttpReply> reply = client_->Get(target);
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return nullptr;
    EXPECT_EQ(reply->status, expect_status) << target << ": " << reply->body;
    return Json::parse(reply->body, nullptr, false);
  }
  // A GET signed by `reader` (city/net/signed_request.h), or unsigned without one.
  Result<net::HttpReply> GetRaw(const KeyPair* reader, const std::string& target) {
    if (reader == nullptr) return client_->Get(target);
    Result<net::HttpUrl> url = net::ParseHttpUrl(node_->info().api_url);
    net::HttpClientOptions options;
    options.signer = net::MakeRequestSigner(
        std::make_shared<const KeyPair>(KeyPair::FromSeed(reader->seed())), "city-node-test");
    net::HttpClient signed_client(*url, options);
    return signed_client.Get(target);
  }
  Json GetAs(const KeyPair& reader, const std::string& target, int expect_status = 200) {
    Result<net::HttpReply> reply = GetRaw(&reader, target);
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return nullptr;
    EXPECT_EQ(reply->status, expect_status) << target << ": " << reply->body;
    return Json::parse(reply->body, nullptr, false);
  }
  // GET /v1/headers?format=binary&... decoded (ledger/header_page.h).
  ledger::HeaderPage BinaryPage(const KeyPair* reader, const std::string& query) {
    Result<net::HttpReply> reply = GetRaw(reader, "/v1/headers?format=binary&" + query);
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return {};
    EXPECT_EQ(reply->status, 200) << query << ": " << reply->body;
    Result<ledger::HeaderPage> page = ledger::Decode<ledger::HeaderPage>(
        ByteSpan(reinterpret_cast<const uint8_t*>(reply->body.data()), reply->body.size()));
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? std::move(*page) : ledger::HeaderPage{};
  }
  // A POST signed by `reader`: the status and the parsed body.
  std::pair<int, Json> PostAs(const KeyPair& reader, const std::string& target, const Json& body) {
    Result<net::HttpUrl> url = net::ParseHttpUrl(node_->info().api_url);
    net::HttpClientOptions options;
    options.signer = net::MakeRequestSigner(
        std::make_shared<const KeyPair>(KeyPair::FromSeed(reader.seed())), "city-node-test");
    net::HttpClient signed_client(*url, options);
    Result<net::HttpReply> reply = signed_client.Post(target, body.dump());
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return {0, nullptr};
    return {reply->status, Json::parse(reply->body, nullptr, false)};
  }
  std::pair<int, Json> Post(const std::string& target, const Json& body) {
    Result<net::HttpReply> reply = client_->Post(target, body.dump());
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return {0, nullptr};
    return {reply->status, Json::parse(reply->body, nullptr, false)};
  }

  uint64_t Height() { return Get("/v1/status")["height"].get<uint64_t>(); }

  ledger::Transaction Transfer(const KeyPair& from, const PublicKey& to, uint64_t amount,
                               uint64_t nonce) {
    ledger::Transaction tx;
    tx.chain_id = "city-node-test";
    tx.nonce = nonce;
    tx.expiry_height = Height() + 100;
    tx.contract = "ubi";
    tx.method = "transfer";
    tx.args = contracts::EncodeArgs(contracts::UbiTransferArgs{to, amount});
    tx.Sign(from);
    return tx;
  }

  static std::string Hex(const ledger::Transaction& tx) { return ToHex(ledger::Encode(tx)); }

  // The registrar enrols or revokes `accounts` (method "enrol" or "revoke") in one batch
  // and waits until all of it committed; the results' codes, in order.
  std::vector<std::string> Registrar(const std::string& method,
                                     const std::vector<PublicKey>& accounts) {
    const KeyPair registrar = Key("registrar");
    uint64_t nonce =
        Get("/v1/accounts/" + EncodeAddress(registrar.public_key()))["pending_next_nonce"]
            .get<uint64_t>();
    Json batch = Json::array();
    std::vector<Hash256> ids;
    for (const PublicKey& account : accounts) {
      ledger::Transaction tx;
      tx.chain_id = "city-node-test";
      tx.nonce = nonce++;
      tx.expiry_height = Height() + 100;
      tx.contract = "accounts";
      tx.method = method;
      tx.args = contracts::EncodeArgs(contracts::EnrolArgs{account});
      tx.Sign(registrar);
      batch.push_back(Hex(tx));
      ids.push_back(tx.Id());
    }
    auto [status, body] = Post("/v1/txs", {{"txs", batch}});
    EXPECT_EQ(status, 202) << body.dump();
    std::vector<std::string> codes;
    for (const Hash256& id : ids) {
      const Json done = Get("/v1/tx/" + id.ToHex() + "?wait_ms=10000");
      codes.push_back(done.value("status", "") == "committed"
                          ? done["result"].value("code_name", done["result"].dump())
                          : done.dump());
    }
    return codes;
  }

  static test::TempDir* dir_;
  static TestnetLayout* layout_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<net::HttpClient> client_;
};

test::TempDir* NodeApiTest::dir_ = nullptr;
TestnetLayout* NodeApiTest::layout_ = nullptr;

std::string UrlEncoded(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

double Metric(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

TEST_F(NodeApiTest, TransferCommitsOnceVerifiedOnceAndIsQueryable) {
  const KeyPair citizen = Key("citizen");
  const KeyPair patient = Key("patient");
  const Json before = Get("/v1/accounts/" + EncodeAddress(citizen.public_key()));
  const uint64_t nonce = before["next_nonce"].get<uint64_t>();
  const std::string metrics_before = client_->Get("/metrics")->body;

  const ledger::Transaction tx = Transfer(citizen, patient.public_key(), 25, nonce);
  auto [status, submitted] = Post("/v1/tx", {{"tx", Hex(tx)}});
  ASSERT_EQ(status, 202) << submitted.dump();
  EXPECT_EQ(submitted["status"], "pending");
  EXPECT_EQ(submitted["id"], tx.Id().ToHex());

  const Json committed = Get("/v1/tx/" + tx.Id().ToHex() + "?wait_ms=15000");
  ASSERT_EQ(committed["status"], "committed") << committed.dump();
  EXPECT_TRUE(committed["result"]["ok"].get<bool>()) << committed.dump();
  EXPECT_GE(committed["height"].get<uint64_t>(), 1u);

  const Json after = Get("/v1/accounts/" + EncodeAddress(citizen.public_key()));
  EXPECT_EQ(after["next_nonce"].get<uint64_t>(), nonce + 1);
  const Json balance =
      GetAs(patient, "/v1/query/ubi/balance?params=" +
                         Json({{"account", EncodeAddress(patient.public_key())}}).dump());
  EXPECT_GE(balance["result"]["balance"].get<uint64_t>(), 1'000'025u) << balance.dump();

  // The signature ran libsodium once; the proposal check and execution used the cache.
  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_EQ(
      Metric(metrics, "city_verify_signatures") - Metric(metrics_before, "city_verify_signatures"),
      1);
  EXPECT_GE(
      Metric(metrics, "city_verify_cache_hits") - Metric(metrics_before, "city_verify_cache_hits"),
      1);
  EXPECT_GE(Metric(metrics, "city_committed_transactions_total"), 1);
}

TEST_F(NodeApiTest, BadTransactionsAreRejectedWithTheirReasonAndNothingCommits) {
  const KeyPair citizen = Key("citizen");
  const PublicKey to = Key("patient").public_key();
  const uint64_t nonce =
      Get("/v1/accounts/" + EncodeAddress(citizen.public_key()))["next_nonce"].get<uint64_t>();

  auto expect_rejected = [&](const ledger::Transaction& tx, int http, const std::string& code,
                             const std::string& later_status = "rejected") {
    auto [status, body] = Post("/v1/tx", {{"tx", Hex(tx)}});
    EXPECT_EQ(status, http) << code << ": " << body.dump();
    EXPECT_EQ(body["error"]["code"], code) << body.dump();
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    const Json later = Get("/v1/tx/" + tx.Id().ToHex());
    EXPECT_EQ(later["status"], later_status) << later.dump();
    if (later_status == "rejected") {
      EXPECT_EQ(later["error"]["code"], code);
    }
  };

  // A forged signature is refused, but not remembered against the id (which does not cover
  // the signature): a forgery must not mark the genuine transaction rejected.
  ledger::Transaction bad_signature = Transfer(citizen, to, 1, nonce);
  bad_signature.signature.bytes[5] ^= 0x01;
  expect_rejected(bad_signature, 400, "bad_signature", "unknown");

  ledger::Transaction wrong_chain = Transfer(citizen, to, 1, nonce);
  wrong_chain.chain_id = "another-chain";
  wrong_chain.Sign(citizen);
  expect_rejected(wrong_chain, 400, "wrong_chain");

  ledger::Transaction expired = Transfer(citizen, to, 1, nonce);
  expired.expiry_height = 0;
  expired.Sign(citizen);
  expect_rejected(expired, 400, "expired");

  // Commit one, then replay it and reuse its nonce.
  const ledger::Transaction good = Transfer(citizen, to, 2, nonce);
  ASSERT_EQ(Post("/v1/tx", {{"tx", Hex(good)}}).first, 202);
  ASSERT_EQ(Get("/v1/tx/" + good.Id().ToHex() + "?wait_ms=15000")["status"], "committed");
  auto [replay_status, replay] = Post("/v1/tx", {{"tx", Hex(good)}});
  EXPECT_EQ(replay_status, 409);
  EXPECT_EQ(replay["error"]["code"], "already_committed");
  expect_rejected(Transfer(citizen, to, 3, nonce), 409, "nonce_used");

  // Not even a transaction: refused before anything else.
  auto [hex_status, hex] = Post("/v1/tx", {{"tx", "zz"}});
  EXPECT_EQ(hex_status, 400);
  auto [shape_status, shape] = Post("/v1/tx", {{"transaction", Hex(good)}});
  EXPECT_EQ(shape_status, 400);

  EXPECT_EQ(Get("/v1/accounts/" + EncodeAddress(citizen.public_key()))["next_nonce"], nonce + 1);
}

TEST_F(NodeApiTest, HeadersLinkUpAndStateProofsVerifyAgainstACertifiedHeader) {
  const KeyPair citizen = Key("citizen");
  // Wait for a few blocks so the range has something in it.
  for (int i = 0; i < 100 && Height() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Json range = Get("/v1/headers?from=0&to=1000");
  const Json& headers = range["headers"];
  ASSERT_GE(headers.size(), 3u);
  for (size_t i = 1; i < headers.size(); ++i) {
    EXPECT_EQ(headers[i]["header"]["parent_hash"], headers[i - 1]["header"]["hash"]) << i;
    EXPECT_EQ(headers[i]["certificate"]["block_hash"], headers[i]["header"]["hash"]) << i;
  }
  const Json latest = GetAs(Key("auditor"), "/v1/blocks/latest");
  EXPECT_EQ(latest["certificate"]["block_hash"], latest["block"]["header"]["hash"]);

  Bytes key(contracts::kUbi.begin(), contracts::kUbi.end());
  const std::string suffix = "/balance/";
  key.insert(key.end(), suffix.begin(), suffix.end());
  key.insert(key.end(), citizen.public_key().bytes.begin(), citizen.public_key().bytes.end());
  // Proofs verify for a reader allowed the key: the auditor.
  const Json proved = GetAs(Key("auditor"), "/v1/state?key=" + ToHex(key) + "&prove=true");
  ASSERT_TRUE(proved.contains("proof")) << proved.dump();
  Result<Bytes> proof_bytes = FromHex(proved["proof"]["proof"].get<std::string>());
  ASSERT_TRUE(proof_bytes.ok());
  Result<ledger::StateProof> proof = ledger::Decode<ledger::StateProof>(*proof_bytes);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  Result<Bytes> root_bytes =
      FromHex(proved["certified"]["header"]["state_root"].get<std::string>());
  ASSERT_TRUE(root_bytes.ok());
  Hash256 root;
  std::copy(root_bytes->begin(), root_bytes->end(), root.bytes.begin());
  ASSERT_FALSE(proved["proof"]["value"].is_null()) << "the citizen was funded at genesis";
  Result<Bytes> value = FromHex(proved["proof"]["value"].get<std::string>());
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(ledger::VerifyStateProof(root, key, ByteSpan(*value), *proof).ok());
  Bytes forged = *value;
  forged[0] ^= 1;
  EXPECT_FALSE(ledger::VerifyStateProof(root, key, ByteSpan(forged), *proof).ok());
}

TEST_F(NodeApiTest, LongPollsAnswerOnTheNextBlockAndErrorsHaveOneShape) {
  const uint64_t tip = Height();
  const Json next = Get("/v1/subscribe/blocks?after=" + std::to_string(tip) + "&wait_ms=10000");
  ASSERT_GE(next["blocks"].size(), 1u) << next.dump();
  EXPECT_EQ(next["blocks"][0]["height"], tip + 1);
  // Where the next page starts: after the last block sent.
  EXPECT_EQ(next["next_after"], next["blocks"].back()["height"]) << next.dump();

  // A client that moved here from a node further ahead waits for this one, and gets an
  // empty page if it does not catch up within the wait; far ahead is refused.
  const uint64_t now = Height();
  const Json ahead =
      Get("/v1/subscribe/blocks?after=" + std::to_string(now + 500) + "&wait_ms=200");
  EXPECT_TRUE(ahead["blocks"].empty()) << ahead.dump();
  EXPECT_EQ(ahead["next_after"], now + 500);
  EXPECT_EQ(Get("/v1/subscribe/blocks?after=" + std::to_string(now + 20'000), 400)["error"]["code"],
            "invalid_argument");
  const Json events_ahead =
      GetAs(Key("auditor"), "/v1/subscribe/events?contract=ubi&after=" + std::to_string(now + 500) +
                                "&wait_ms=200");
  EXPECT_TRUE(events_ahead["events"].empty()) << events_ahead.dump();
  EXPECT_EQ(events_ahead["next_after"], now + 500) << "a waiting client is never sent back";

  EXPECT_EQ(Get("/v1/blocks/999999999", 404)["error"]["code"], "not_found");
  EXPECT_EQ(Get("/v1/blocks/abc", 400)["error"]["code"], "invalid_argument");
  EXPECT_EQ(Get("/v1/tx/1234", 400)["error"]["code"], "invalid_argument");
  EXPECT_EQ(Get("/v1/accounts/city1notanaddress", 400)["error"]["code"], "invalid_argument");
  EXPECT_EQ(Get("/v1/query/ubi/nosuchquery", 404)["error"]["code"], "not_found");
  EXPECT_EQ(Get("/v1/nosuchroute", 404)["error"]["code"], "not_found");
  EXPECT_EQ(Get("/v1/subscribe/events?contract=nosuch", 400)["error"]["code"], "invalid_argument");
  EXPECT_EQ(Get("/v1/subscribe/blocks?after=18446744073709551615", 400)["error"]["code"],
            "invalid_argument");
  EXPECT_EQ(GetAs(Key("auditor"), "/v1/subscribe/events?contract=ubi&after=18446744073709551615",
                  400)["error"]["code"],
            "invalid_argument");
  EXPECT_EQ(GetAs(Key("citizen"),
                  "/v1/accounts/" + EncodeAddress(Key("citizen").public_key()) + "/history?limit=0",
                  400)["error"]["code"],
            "invalid_argument");
  EXPECT_TRUE(Get("/healthz")["ok"].get<bool>());
  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_GE(Metric(metrics, "city_height"), 1);
  EXPECT_GE(Metric(metrics, "city_consensus_round_ms"), 0);  // -1: not exported
  EXPECT_GE(Metric(metrics, "city_heap_in_use_bytes"), 0);
  EXPECT_GE(Metric(metrics, "city_heap_free_bytes"), 0);
  EXPECT_GE(Metric(metrics, "city_heap_trims"), 0);
}

// The attack that once crashed a lone validator: thousands of signed transfers from fresh
// keys whose nonces leave a gap, so none can run. The node neither recurses (it used to
// overflow its stack proposing empty blocks back to back) nor rushes out empty blocks for
// them, keeps committing what can run, and refuses a sender past its limit with 429 and a
// retry hint.
// The fill attack against one node: fresh keys send transactions behind a nonce gap. The
// nonce window bounds what each may hold, the node neither crashes nor spins empty blocks,
// a runnable transaction still gets in and commits, and the gapped ones are evicted.
TEST_F(NodeApiTest, GappedFloodIsBoundedEvictedAndCannotKeepARunnableTransactionOut) {
  const uint64_t expiry = Height() + 1000;
  auto gapped = [&](const KeyPair& from, uint64_t nonce) {
    ledger::Transaction tx;
    tx.chain_id = "city-node-test";
    tx.nonce = nonce;
    tx.expiry_height = expiry;
    tx.contract = "ubi";
    tx.method = "transfer";
    tx.args = contracts::EncodeArgs(contracts::UbiTransferArgs{from.public_key(), 1});
    tx.Sign(from);
    return tx;
  };
  constexpr uint64_t kWindow = 256;  // [mempool] max_nonce_ahead's default
  std::vector<KeyPair> senders;
  for (int k = 0; k < 3; ++k) senders.push_back(KeyPair::Generate());
  // Enrolled: an unknown sender is refused before any of this (its own test below).
  std::vector<PublicKey> keys;
  for (const KeyPair& sender : senders) keys.push_back(sender.public_key());
  ASSERT_EQ(Registrar("enrol", keys), std::vector<std::string>(3, "ok"));
  for (const KeyPair& sender : senders) {
    Json batch = Json::array();
    for (uint64_t nonce = 1; nonce <= 1000; ++nonce) batch.push_back(Hex(gapped(sender, nonce)));
    auto [status, body] = Post("/v1/txs", {{"txs", batch}});
    ASSERT_EQ(status, 202) << body.dump();
    ASSERT_EQ(body["accepted"], kWindow) << body.dump().substr(0, 400);
    EXPECT_EQ(body["results"][kWindow]["error"]["code"], "nonce_gap");
  }
  EXPECT_EQ(Get("/v1/status")["mempool_gapped"], 3 * kWindow);
  const uint64_t before = Height();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const uint64_t after = Height();
  EXPECT_GT(after, before) << "the validator stopped committing";
  // An idle chain proposes every idle_block_interval_ms (400 ms); a spin makes hundreds.
  EXPECT_LE(after - before, 20u) << "empty blocks back to back for transactions that cannot run";

  // The sender's quota is not what keeps its runnable transaction out.
  const ledger::Transaction runnable = gapped(senders[0], 0);
  auto [status, body] = Post("/v1/tx", {{"tx", Hex(runnable)}});
  ASSERT_EQ(status, 202) << body.dump();
  const Json committed = Get("/v1/tx/" + runnable.Id().ToHex() + "?wait_ms=10000");
  EXPECT_EQ(committed["status"], "committed") << committed.dump();

  // Every gapped one of the other senders leaves 30 heights after it came.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Get("/v1/status")["mempool_gapped"] != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(Get("/v1/status")["mempool_gapped"], 0) << Get("/v1/status").dump();
  EXPECT_GE(Get("/v1/status")["mempool_evicted"].get<uint64_t>(), 2 * kWindow);
}

// A permissioned ledger: a key nobody enrolled is refused at intake, nothing of it is stored
// and no nonce is used; enrolled, it may submit; revoked, it is refused again.
TEST_F(NodeApiTest, AnUnknownSenderIsRefusedAtIntakeUntilARegistrarEnrolsIt) {
  const KeyPair stranger = KeyPair::Generate();
  const std::string account = "/v1/accounts/" + EncodeAddress(stranger.public_key());
  EXPECT_EQ(GetAs(stranger, account)["enrolled"], "none");
  const ledger::Transaction first = Transfer(stranger, stranger.public_key(), 1, 0);
  auto [status, body] = Post("/v1/tx", {{"tx", Hex(first)}});
  EXPECT_EQ(status, 403) << body.dump();
  EXPECT_EQ(body["error"]["code"], "unknown_sender") << body.dump();
  EXPECT_EQ(Get("/v1/tx/" + first.Id().ToHex())["error"]["code"], "unknown_sender");
  EXPECT_EQ(Get(account)["next_nonce"], 0);

  ASSERT_EQ(Registrar("enrol", {stranger.public_key()}), std::vector<std::string>{"ok"});
  EXPECT_EQ(GetAs(stranger, account)["enrolled"], "registry");
  // Enrolling twice is refused by the contract.
  EXPECT_EQ(Registrar("enrol", {stranger.public_key()}),
            std::vector<std::string>{"already_exists"});
  auto [accepted, accepted_body] = Post("/v1/tx", {{"tx", Hex(first)}});
  ASSERT_EQ(accepted, 202) << accepted_body.dump();
  const Json committed = Get("/v1/tx/" + first.Id().ToHex() + "?wait_ms=10000");
  EXPECT_EQ(committed["status"], "committed") << committed.dump();
  EXPECT_EQ(Get(account)["next_nonce"], 1);

  ASSERT_EQ(Registrar("revoke", {stranger.public_key()}), std::vector<std::string>{"ok"});
  EXPECT_EQ(GetAs(stranger, account)["enrolled"], "none");
  auto [refused, refused_body] =
      Post("/v1/tx", {{"tx", Hex(Transfer(stranger, stranger.public_key(), 1, 1))}});
  EXPECT_EQ(refused, 403) << refused_body.dump();
}

// A web page may POST text/plain anywhere without asking: the node wants JSON declared.
TEST_F(NodeApiTest, APostThatDoesNotDeclareJsonIs415) {
  const KeyPair citizen = Key("citizen");
  const std::string body =
      Json{{"tx", Hex(Transfer(citizen, citizen.public_key(), 1, 1'000'000))}}.dump();
  Result<net::HttpReply> plain = client_->Request("POST", "/v1/tx", body, "text/plain");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->status, 415) << plain->body;
  EXPECT_NE(plain->body.find("unsupported_media_type"), std::string::npos) << plain->body;
}

// [consensus] max_block_cost caps what one proposal asks of every validator: at 5 units a
// block, and 2 per transfer (one for the call, one for its first KiB of arguments), no block
// holds more than two of them, however many wait.
TEST_F(NodeApiTest, ProposalsStayWithinTheirExecutionCostCap) {
  const std::filesystem::path config = layout_->homes[0] / "config.toml";
  std::stringstream original;
  original << std::ifstream(config).rdbuf();
  std::string capped = original.str();
  const size_t at = capped.find("max_block_cost = ");
  ASSERT_NE(at, std::string::npos) << "config.toml has no max_block_cost line";
  capped.replace(at, capped.find('\n', at) - at, "max_block_cost = 5");
  node_->Stop();
  ASSERT_TRUE(node_->Wait().ok());
  node_.reset();
  std::ofstream(config) << capped;
  StartNode();

  const KeyPair citizen = Key("citizen");
  const KeyPair patient = Key("patient");
  const uint64_t nonce =
      Get("/v1/accounts/" + EncodeAddress(citizen.public_key()))["next_nonce"].get<uint64_t>();
  std::vector<ledger::Transaction> txs;
  Json batch = Json::array();
  for (uint64_t i = 0; i < 7; ++i) {
    txs.push_back(Transfer(citizen, patient.public_key(), 1, nonce + i));
    batch.push_back(Hex(txs.back()));
  }
  auto [status, submitted] = Post("/v1/txs", {{"txs", batch}});
  ASSERT_EQ(status, 202) << submitted.dump();
  std::map<uint64_t, int> per_height;
  for (const ledger::Transaction& tx : txs) {
    const Json committed = Get("/v1/tx/" + tx.Id().ToHex() + "?wait_ms=15000");
    ASSERT_EQ(committed["status"], "committed") << committed.dump();
    ++per_height[committed["height"].get<uint64_t>()];
  }
  for (const auto& [height, count] : per_height) {
    EXPECT_LE(count, 2) << "block " << height << " exceeds the cost cap";
  }
  EXPECT_GE(per_height.size(), 4u);

  node_->Stop();
  ASSERT_TRUE(node_->Wait().ok());
  node_.reset();
  std::ofstream(config) << original.str();
  StartNode();
}

TEST_F(NodeApiTest, RestartKeepsEverythingCommittedAndTheHomeIsLockedWhileRunning) {
  Result<std::unique_ptr<Node>> second = Node::Start(layout_->homes[0]);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("locked by another cityd"), std::string::npos)
      << second.status().ToString();

  for (int i = 0; i < 100 && Height() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Json before = GetAs(Key("auditor"), "/v1/blocks/latest");
  const uint64_t height = before["height"].get<uint64_t>();
  node_->Stop();
  EXPECT_TRUE(node_->Wait().ok());
  node_.reset();
  StartNode();
  const Json again = GetAs(Key("auditor"), "/v1/blocks/" + std::to_string(height));
  EXPECT_EQ(again["block"]["header"]["hash"], before["block"]["header"]["hash"]);
  for (int i = 0; i < 200 && Height() <= height; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(Height(), height) << "the restarted validator commits again";
}

// The read policy (node/src/read_policy.h) through real HTTP: anonymous readers get 401 for
// what is not public, signed ones 403 for what is not theirs, and each kind of reader sees
// its own part: the patient its consents, the grantee the consents given to it, the auditor
// everything, the node's operator its raw blocks.
TEST_F(NodeApiTest, EachReaderSeesItsOwnPartAndNoMore) {
  const KeyPair patient = Key("patient");
  const KeyPair clinician = Key("clinician");
  const KeyPair auditor = Key("auditor");
  const KeyPair citizen = Key("citizen");
  Result<KeyPair> operator_key = ReadValidatorKey(layout_->homes[0] / "validator.key");
  ASSERT_TRUE(operator_key.ok()) << operator_key.status().ToString();

  ledger::Transaction grant;
  grant.chain_id = "city-node-test";
  grant.nonce = Get("/v1/accounts/" + EncodeAddress(patient.public_key()))["pending_next_nonce"]
                    .get<uint64_t>();
  grant.expiry_height = Height() + 100;
  grant.contract = "emr";
  grant.method = "grant_consent";
  grant.args = contracts::EncodeArgs(contracts::GrantConsentArgs{
      patient.public_key(), clinician.public_key(), {{"lab"}}, "TREAT", 0, UINT64_MAX / 2, 1});
  grant.Sign(patient);
  ASSERT_EQ(Post("/v1/tx", {{"tx", Hex(grant)}}).first, 202);
  const std::string tx_path = "/v1/tx/" + grant.Id().ToHex();
  const Json done = Get(tx_path + "?wait_ms=15000");
  ASSERT_EQ(done["status"], "committed") << done.dump();
  ASSERT_TRUE(done["result"]["ok"].get<bool>()) << done.dump();

  // The status is anyone's who knows the id; the arguments and events are the sender's.
  EXPECT_TRUE(done["transaction"].is_null());
  EXPECT_TRUE(done.value("redacted", false));
  EXPECT_FALSE(done["result"].contains("events"));
  const Json own = GetAs(patient, tx_path);
  EXPECT_EQ(own["transaction"]["method"], "grant_consent") << own.dump();
  EXPECT_EQ(own["result"]["events"].size(), 1u);
  EXPECT_TRUE(GetAs(citizen, tx_path)["transaction"].is_null());

  const std::string consents =
      "/v1/query/emr/consents?params=" +
      UrlEncoded(Json({{"patient", EncodeAddress(patient.public_key())}}).dump());
  EXPECT_EQ(Get(consents, 401)["error"]["code"], "unauthenticated");
  // Anyone else signed gets the part given to them: here nothing.
  EXPECT_TRUE(GetAs(citizen, consents)["result"]["consents"].empty());
  const Json mine = GetAs(patient, consents);
  ASSERT_GE(mine["result"]["consents"].size(), 1u) << mine.dump();
  const uint64_t consent_id = mine["result"]["consents"].back()["id"].get<uint64_t>();
  // The grantee sees the patient's consents that name it, and no other.
  const Json granted = GetAs(clinician, consents);
  ASSERT_GE(granted["result"]["consents"].size(), 1u) << granted.dump();
  for (const Json& consent : granted["result"]["consents"]) {
    EXPECT_EQ(consent["grantee"], EncodeAddress(clinician.public_key()));
  }
  const std::string by_id =
      "/v1/query/emr/consent?params=" + UrlEncoded(Json({{"id", consent_id}}).dump());
  EXPECT_EQ(GetAs(clinician, by_id)["result"]["id"], consent_id);
  EXPECT_EQ(GetAs(patient, by_id)["result"]["id"], consent_id);
  EXPECT_EQ(GetAs(citizen, by_id, 403)["error"]["code"], "read_forbidden");
  EXPECT_EQ(Get(by_id, 401)["error"]["code"], "unauthenticated");
  const std::string accesses =
      "/v1/query/emr/accesses?params=" +
      UrlEncoded(Json({{"patient", EncodeAddress(patient.public_key())}}).dump());
  EXPECT_EQ(GetAs(clinician, accesses, 403)["error"]["code"], "read_forbidden");
  EXPECT_EQ(GetAs(patient, accesses)["result"]["patient"], EncodeAddress(patient.public_key()));
  EXPECT_EQ(GetAs(patient, "/v1/query/emr/flagged", 403)["error"]["code"], "read_forbidden");
  EXPECT_TRUE(GetAs(auditor, "/v1/query/emr/flagged")["result"].contains("flagged"));
  EXPECT_EQ(Get("/v1/query/emr/records?params={}", 400)["error"]["code"], "invalid_argument");

  // Raw data of a private contract: the auditor and this node's operator, nobody else.
  const std::string block = "/v1/blocks/" + std::to_string(done["height"].get<uint64_t>());
  // Anyone else gets it redacted: ids and signed hashes (tx_root still checks), no
  // arguments, results or encoding; the sender sees its own transaction in it.
  const Json redacted = Get(block);
  EXPECT_TRUE(redacted.value("redacted", false)) << redacted.dump();
  EXPECT_FALSE(redacted["block"].contains("encoded"));
  std::vector<Hash256> signed_hashes;
  bool listed = false;
  for (const Json& tx : redacted["block"]["transactions"]) {
    EXPECT_FALSE(tx.contains("args")) << tx.dump();
    signed_hashes.push_back(*Hash256::FromHex(tx["signed_hash"].get<std::string>()));
    listed |= tx["id"] == grant.Id().ToHex();
  }
  EXPECT_TRUE(listed);
  EXPECT_EQ(ledger::MerkleRoot(signed_hashes).ToHex(), redacted["block"]["header"]["tx_root"]);
  for (const Json& result : redacted["results"]) EXPECT_TRUE(result.is_null());
  bool own_shown = false;
  const Json as_sender = GetAs(patient, block);
  for (const Json& tx : as_sender["block"]["transactions"]) {
    own_shown |= tx["id"] == grant.Id().ToHex() && tx.contains("args");
  }
  EXPECT_TRUE(own_shown);
  const Json full = GetAs(*operator_key, block);
  EXPECT_FALSE(full.contains("redacted"));
  EXPECT_TRUE(full["block"].contains("encoded"));
  EXPECT_EQ(full["block"], GetAs(auditor, block)["block"]);
  // A page of headers with their bodies keeps the same rule: the encoding for those who may
  // read the block whole, the word redacted for everyone else.
  const uint64_t private_height = done["height"].get<uint64_t>();
  const std::string page = "/v1/headers?bodies=true&from=" + std::to_string(private_height) +
                           "&to=" + std::to_string(private_height);
  const Json hidden = Get(page)["headers"].at(0);
  EXPECT_TRUE(hidden.value("block_redacted", false)) << hidden.dump();
  EXPECT_FALSE(hidden.contains("encoded_block"));
  EXPECT_FALSE(GetAs(patient, page)["headers"].at(0).contains("encoded_block"));
  const Json shown = GetAs(auditor, page)["headers"].at(0);
  EXPECT_EQ(shown.value("encoded_block", ""), full["block"]["encoded"].get<std::string>());
  EXPECT_FALSE(shown.contains("block_redacted"));
  EXPECT_FALSE(
      GetAs(auditor, "/v1/headers?from=1&to=1")["headers"].at(0).contains("encoded_block"));
  // The ids of a block's transactions are anyone's (the redacted view lists them): a client
  // following commits gets them with the headers, unsigned.
  const std::string follow =
      "/v1/subscribe/blocks?wait_ms=0&after=" + std::to_string(private_height - 1);
  const Json followed = Get(follow + "&tx_ids=true")["blocks"].at(0);
  EXPECT_EQ(followed["height"], private_height);
  const Json ids = followed.value("tx_ids", Json::array());
  EXPECT_NE(std::find(ids.begin(), ids.end(), Json(grant.Id().ToHex())), ids.end())
      << followed.dump();
  EXPECT_EQ(ids.size(), redacted["block"]["transactions"].size());
  EXPECT_FALSE(Get(follow)["blocks"].at(0).contains("tx_ids"));
  // Only "true" asks for more; a range past the tip is an empty page; a long range with
  // bodies pages on from where it stopped, each block once.
  EXPECT_FALSE(GetAs(auditor, "/v1/headers?bodies=1&from=1&to=1")["headers"].at(0).contains(
      "encoded_block"));
  EXPECT_FALSE(Get(follow + "&tx_ids=yes")["blocks"].at(0).contains("tx_ids"));
  const uint64_t now = Height();
  EXPECT_TRUE(
      GetAs(auditor, "/v1/headers?bodies=true&from=" + std::to_string(now + 5))["headers"].empty());
  EXPECT_EQ(GetAs(auditor,
                  "/v1/headers?bodies=true&from=" + std::to_string(now) +
                      "&to=" + std::to_string(now - 1),
                  400)["error"]["code"],
            "invalid_argument");
  const Json all = GetAs(auditor, "/v1/headers?bodies=true&from=0&to=" + std::to_string(now));
  ASSERT_EQ(all["headers"].size(), now + 1) << "a small chain fits one page";
  EXPECT_FALSE(all["headers"].at(0).contains("encoded_block")) << "the genesis has no body";
  for (uint64_t h = 1; h <= now; ++h) {
    const Json& item = all["headers"].at(h);
    ASSERT_EQ(item["height"], h);
    Result<Bytes> bytes = FromHex(item.value("encoded_block", ""));
    ASSERT_TRUE(bytes.ok()) << item.dump();
    Result<ledger::Block> decoded = ledger::Decode<ledger::Block>(*bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(ToHex(ledger::Encode(decoded->header)), item["encoded_header"]);
  }
  EXPECT_TRUE(all["next_from"].is_null());
  // The binary page holds the same bytes, under the same reading rule.
  const std::string range = "from=0&to=" + std::to_string(now);
  const ledger::HeaderPage binary = BinaryPage(&auditor, "bodies=true&" + range);
  EXPECT_EQ(binary.tip, now);
  EXPECT_FALSE(binary.next_from.has_value());
  ASSERT_EQ(binary.items.size(), now + 1);
  EXPECT_EQ(binary.items[0].body, ledger::HeaderPageItem::Body::kNone) << "the genesis";
  EXPECT_TRUE(binary.items[0].certificate.empty());
  for (uint64_t h = 0; h <= now; ++h) {
    const ledger::HeaderPageItem& item = binary.items[h];
    const Json& json = all["headers"].at(h);
    ASSERT_EQ(item.height, h);
    EXPECT_EQ(ToHex(item.header), json["encoded_header"]);
    if (h == 0) continue;
    EXPECT_EQ(ToHex(item.certificate), json["encoded_certificate"]);
    EXPECT_EQ(item.body, ledger::HeaderPageItem::Body::kBlock);
    EXPECT_EQ(ToHex(item.block), json["encoded_block"]);
  }
  const std::string private_range =
      "bodies=true&from=" + std::to_string(private_height) + "&to=" + std::to_string(now);
  const ledger::HeaderPage anonymous = BinaryPage(nullptr, private_range);
  ASSERT_FALSE(anonymous.items.empty());
  EXPECT_EQ(anonymous.items[0].body, ledger::HeaderPageItem::Body::kRedacted);
  EXPECT_TRUE(anonymous.items[0].block.empty());
  EXPECT_EQ(BinaryPage(&auditor, private_range).items.at(0).body,
            ledger::HeaderPageItem::Body::kBlock);
  const ledger::HeaderPage headers_only = BinaryPage(&auditor, "from=0&to=1");
  ASSERT_EQ(headers_only.items.size(), 2u);
  EXPECT_EQ(headers_only.items[1].body, ledger::HeaderPageItem::Body::kNone);
  EXPECT_EQ(headers_only.next_from, std::nullopt);
  EXPECT_EQ(BinaryPage(&auditor, "from=0&to=0").next_from, std::nullopt);
  EXPECT_EQ(BinaryPage(&auditor, "from=" + std::to_string(now + 5)).items.size(), 0u);
  EXPECT_EQ(GetAs(auditor, "/v1/headers?format=xml&from=0", 400)["error"]["code"],
            "invalid_argument");
  EXPECT_EQ(Get("/v1/subscribe/events?contract=emr&after=0&wait_ms=0", 401)["error"]["code"],
            "unauthenticated");
  EXPECT_TRUE(
      GetAs(auditor, "/v1/subscribe/events?contract=emr&after=0&wait_ms=0")["events"].is_array());
  EXPECT_EQ(Get("/v1/index/emr/consents?key=" + patient.public_key().ToHex(), 401)["error"]["code"],
            "unauthenticated");
  EXPECT_EQ(GetAs(citizen, "/v1/accounts/" + EncodeAddress(patient.public_key()) + "/history",
                  403)["error"]["code"],
            "read_forbidden");
  EXPECT_TRUE(Get("/v1/accounts/" + EncodeAddress(patient.public_key()))["enrolled"].is_null());
  // Raw state of a private contract is a full reader's, with or without a proof, and so is
  // its history; a public key's proof is anyone's (its neighbours in the tree are public,
  // ledger/smt.h).
  const std::string private_key = ToHex(AsBytes(std::string_view("ubi/balance/anyone")));
  for (const std::string& target :
       {"/v1/state?key=" + private_key, "/v1/state?key=" + private_key + "&prove=true",
        "/v1/history/key?key=" + private_key}) {
    EXPECT_EQ(Get(target, 401)["error"]["code"], "unauthenticated") << target;
    EXPECT_EQ(GetAs(citizen, target, 403)["error"]["code"], "read_forbidden") << target;
  }
  const Json public_proof =
      Get("/v1/state?key=" + ToHex(AsBytes(std::string_view("governance/nobody"))) + "&prove=true");
  EXPECT_TRUE(public_proof.contains("proof")) << public_proof.dump();

  // Public: headers, status, the UBI supply, governance.
  EXPECT_TRUE(Get("/v1/query/ubi/supply")["result"].contains("supply"));
  EXPECT_EQ(Get("/v1/query/ubi/balance?params=" +
                    UrlEncoded(Json({{"account", EncodeAddress(citizen.public_key())}}).dump()),
                401)["error"]["code"],
            "unauthenticated");
  EXPECT_GE(Get("/v1/query/governance/role_count?params=" +
                UrlEncoded(Json({{"role", "auditor"}}).dump()))["result"]["holders"],
            1);
  EXPECT_GE(Get("/v1/headers?from=0&to=2")["headers"].size(), 1u);
}

// Signed requests under abuse: every way to get the signature wrong is refused with 401
// and a stable code, on any route, and changes nothing.
TEST_F(NodeApiTest, ForgedStaleReplayedAndMalformedSignaturesAreRefused) {
  const KeyPair auditor = Key("auditor");
  Result<net::HttpUrl> url = net::ParseHttpUrl(node_->info().api_url);
  ASSERT_TRUE(url.ok());
  auto send = [&](std::map<std::string, std::string> headers, const std::string& target) {
    net::HttpClientOptions options;
    options.signer = [headers](std::string_view, std::string_view, std::string_view) {
      return headers;
    };
    net::HttpClient client(*url, options);
    Result<net::HttpReply> reply = client.Get(target);
    EXPECT_TRUE(reply.ok());
    return std::pair{reply->status, Json::parse(reply->body, nullptr, false)};
  };
  const uint64_t now =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  net::RequestNonce nonce{};
  uint8_t counter = 0;
  auto sign = [&](std::string_view chain, std::string_view target, uint64_t time_ms) {
    nonce[0] = ++counter;
    return net::SignRequest(auditor, chain, "GET", target, "", time_ms, nonce);
  };
  const std::string target = "/v1/query/emr/flagged";
  auto expect = [&](std::pair<int, Json> got, int status, const std::string& code) {
    EXPECT_EQ(got.first, status) << got.second.dump();
    EXPECT_EQ(got.second["error"]["code"], code) << got.second.dump();
  };

  const auto good = sign("city-node-test", target, now);
  EXPECT_EQ(send(good, target).first, 200);
  expect(send(good, target), 401, "replayed_request");
  // Signed for another path, another chain, or with a flipped bit.
  expect(send(sign("city-node-test", "/v1/query/emr/flagged?x=1", now), target), 401,
         "bad_request_signature");
  expect(send(sign("another-chain", target, now), target), 401, "bad_request_signature");
  auto flipped = sign("city-node-test", target, now);
  flipped[std::string(net::kSignatureHeader)][0] =
      flipped[std::string(net::kSignatureHeader)][0] == '0' ? '1' : '0';
  expect(send(flipped, target), 401, "bad_request_signature");
  // A time outside the skew window, before or after.
  expect(send(sign("city-node-test", target, now - 120'000), target), 401, "clock_skew");
  expect(send(sign("city-node-test", target, now + 120'000), target), 401, "clock_skew");
  // Half a signature, or garbage in a header, on a public route too.
  auto partial = sign("city-node-test", "/v1/status", now);
  partial.erase(std::string(net::kNonceHeader));
  expect(send(partial, "/v1/status"), 401, "malformed_signature");
  for (const char* header : {"x-city-account", "x-city-time", "x-city-nonce", "x-city-signature"}) {
    auto bad = sign("city-node-test", target, now);
    bad[header] = "not-valid";
    expect(send(bad, target), 401, "malformed_signature");
  }
  // The node still answers properly signed requests.
  EXPECT_EQ(send(sign("city-node-test", target, now), target).first, 200);
}

// The operator's backup (city/node/backup.h): its own key only, into a new absolute
// directory, one at a time; what it writes is the store at one block, as its manifest says.
TEST_F(NodeApiTest, OnlyTheNodesOwnKeyBacksItUpIntoANewDirectory) {
  Result<KeyPair> node_key = ReadValidatorKey(layout_->homes[0] / "validator.key");
  ASSERT_TRUE(node_key.ok()) << node_key.status().ToString();
  const std::filesystem::path out = dir_->path() / "backup";
  const Json body = {{"out", out.string()}};
  EXPECT_EQ(Post("/v1/admin/backup", body).first, 401);
  EXPECT_EQ(Get("/v1/admin/backup", 401)["error"]["code"], "unauthenticated");
  const auto [as_auditor, refused] = PostAs(Key("auditor"), "/v1/admin/backup", body);
  EXPECT_EQ(as_auditor, 403) << refused.dump();
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(GetAs(*node_key, "/v1/admin/backup")["state"], "idle");

  for (const Json& bad :
       {Json{{"out", "relative/dir"}}, Json{{"out", 7}}, Json::object(),
        Json{{"out", (dir_->path() / "no" / "parent").string()}},
        Json{{"out", (dir_->path() / ".." / "up").string()}},
        Json{{"out", std::string("/tmp/a\0b", 8)}}, Json{{"out", "/" + std::string(5000, 'x')}}}) {
    EXPECT_EQ(PostAs(*node_key, "/v1/admin/backup", bad).first, 400) << bad.dump();
  }
  EXPECT_EQ(PostAs(*node_key, "/v1/admin/backup", Json{{"out", dir_->path().string()}}).first, 409)
      << "an existing directory";

  const auto [started, report] = PostAs(*node_key, "/v1/admin/backup", body);
  ASSERT_EQ(started, 202) << report.dump();
  Json done;
  for (int i = 0; i < 200; ++i) {
    done = GetAs(*node_key, "/v1/admin/backup");
    if (done["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["dir"], out.string());
  const Json& manifest = done["manifest"];
  EXPECT_EQ(manifest["chain_id"], "city-node-test");
  EXPECT_LE(manifest["height"].get<uint64_t>(), Height());
  Result<ledger::StoreCopyInfo> found = ledger::LedgerStore::Inspect(BackupData(out));
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->content_hash.ToHex(), manifest["content_hash"]);
  EXPECT_EQ(found->tip.height, manifest["height"]);
  EXPECT_EQ(std::filesystem::status(out).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all)
      << "the copy holds private contracts' raw state: the owner's only";
  EXPECT_EQ(PostAs(*node_key, "/v1/admin/backup", body).first, 409) << "the same place again";

  // The manifest is the node's, signed with its key: a changed field, or another signer, and
  // a restore refuses it before it looks at anything else.
  Result<BackupManifest> signed_manifest = ManifestFromJson(manifest);
  ASSERT_TRUE(signed_manifest.ok()) << signed_manifest.status().ToString();
  EXPECT_TRUE(signed_manifest->SignatureValid());
  EXPECT_EQ(signed_manifest->signer, node_key->public_key());
  BackupManifest changed = *signed_manifest;
  changed.store.tip.height += 1;
  EXPECT_FALSE(changed.SignatureValid());
  const std::filesystem::path forged = dir_->path() / "forged";
  std::filesystem::create_directories(forged);
  const KeyPair stranger = KeyPair::Generate();
  changed.Sign(stranger);
  ASSERT_TRUE(changed.SignatureValid());
  std::ofstream(BackupManifestFile(forged)) << ManifestToJson(changed).dump();
  HomePaths home{layout_->homes[0]};
  Result<BackupManifest> refused_restore = RestoreBackup(forged, home, true, 1);
  EXPECT_EQ(refused_restore.status().code(), ErrorCode::kBadSignature)
      << refused_restore.status().ToString();
  EXPECT_NE(refused_restore.status().message().find("neither this home's validator"),
            std::string::npos);

  // A manifest that is not one: missing, garbage, a format from elsewhere, a field of the
  // wrong kind, megabytes. Each is refused with what is wrong, before anything is read.
  const std::filesystem::path bad = dir_->path() / "bad";
  std::filesystem::create_directories(bad);
  EXPECT_EQ(RestoreBackup(bad, home, true, 1).status().code(), ErrorCode::kNotFound);
  Json wrong_kind = ManifestToJson(*signed_manifest);
  wrong_kind["height"] = "12";
  Json future = ManifestToJson(*signed_manifest);
  future["format"] = 9;
  const std::vector<std::pair<std::string, ErrorCode>> manifests = {
      {"not json {", ErrorCode::kInvalidArgument},
      {"[1, 2]", ErrorCode::kInvalidArgument},
      {wrong_kind.dump(), ErrorCode::kInvalidArgument},
      {future.dump(), ErrorCode::kInvalidArgument},
      {std::string(200 * 1024, ' '), ErrorCode::kTooLarge}};
  for (const auto& [text, code] : manifests) {
    std::filesystem::remove(BackupManifestFile(bad));
    std::ofstream(BackupManifestFile(bad)) << text;
    Result<BackupManifest> refused = RestoreBackup(bad, home, true, 1);
    EXPECT_EQ(refused.status().code(), code)
        << text.substr(0, 40) << ": " << refused.status().ToString();
  }
}

}  // namespace
}  // namespace city::node
