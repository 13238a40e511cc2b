// `cityctl audit verify-chain` trusts the genesis file, not the node: a chain captured from a
// real validator verifies when served as it is, and every tampered copy (a header byte, a
// certificate signature, a certificate moved from another height, a transaction signature
// inside a block) fails, naming the height and what is wrong.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>

#include "city/ledger/codec.h"
#include "city/ledger/header_page.h"
#include "city/ledger/types.h"
#include "city/net/http_server.h"
#include "cityctl_runner.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

// Its ports stay clear of 27600-27607, where other work runs a network of its own.
constexpr uint64_t kSeed = 0xC17C'7202;
constexpr size_t kHeadersPerPage = 4;  // small, so that the auditor pages

// What a node served: /v1/status, /v1/genesis, every /v1/headers item and /v1/blocks/{h}
// (whose encoding the stand-in serves as ?bodies=true does).
struct CapturedChain {
  uint64_t tip = 0;
  Json status;
  std::string genesis;              // the body as served
  std::vector<Json> headers;        // the /v1/headers items, index = height (0..tip)
  std::map<uint64_t, Json> blocks;  // GET /v1/blocks/{h} bodies, 1..tip
  bool cut_binary_pages = false;    // serve ?format=binary pages without their last byte
};

// A stand-in node on an ephemeral 127.0.0.1 port serving a CapturedChain through the routes
// verify-chain reads. The chain can be swapped between runs.
class ChainServer {
 public:
  ChainServer() : work_(boost::asio::make_work_guard(io_)) {
    net::Router router;
    router.Get("/v1/status", [this](const net::HttpRequest&) {
      return net::HttpResponse::Json(Chain()->status);
    });
    router.Get("/v1/genesis", [this](const net::HttpRequest&) {
      return net::HttpResponse::Text(Chain()->genesis, "application/json");
    });
    router.Get("/v1/headers", [this](const net::HttpRequest& request) { return Headers(request); });
    router.Get("/v1/blocks/{height}", [this](const net::HttpRequest& request) {
      const std::shared_ptr<const CapturedChain> chain = Chain();
      const std::string& text = request.params.at("height");
      const uint64_t height =
          text == "latest" ? chain->tip : std::strtoull(text.c_str(), nullptr, 10);
      auto it = chain->blocks.find(height);
      if (it == chain->blocks.end()) {
        return net::HttpResponse::Error(404, "not_found", "no committed block at height " + text);
      }
      return net::HttpResponse::Json(it->second);
    });
    Result<std::unique_ptr<net::HttpServer>> started =
        net::HttpServer::Start(io_, net::HttpServerOptions{}, std::move(router));
    if (!started.ok()) throw std::runtime_error("test node: " + started.status().ToString());
    server_ = std::move(started).value();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~ChainServer() {
    server_.reset();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  uint16_t port() const { return server_->port(); }

  void Serve(CapturedChain chain) {
    std::lock_guard lock(mutex_);
    chain_ = std::make_shared<const CapturedChain>(std::move(chain));
  }

 private:
  std::shared_ptr<const CapturedChain> Chain() {
    std::lock_guard lock(mutex_);
    return chain_;
  }

  // As the node answers: the items from..min(to, tip), a page at a time, and next_from.
  net::HttpResponse Headers(const net::HttpRequest& request) {
    const std::shared_ptr<const CapturedChain> chain = Chain();
    const uint64_t from = std::strtoull(request.QueryOr("from", "0").c_str(), nullptr, 10);
    const uint64_t to = std::min<uint64_t>(
        std::strtoull(request.QueryOr("to", std::to_string(chain->tip)).c_str(), nullptr, 10),
        chain->tip);
    Json items = Json::array();
    uint64_t h = from;
    const bool bodies = request.QueryOr("bodies", "false") == "true";
    for (; h <= to && items.size() < kHeadersPerPage; ++h) {
      Json item = chain->headers.at(h);
      // With bodies, each block's encoding from its /v1/blocks/{h} answer (as tampered).
      if (bodies && h > 0) {
        const Json& block = chain->blocks.at(h);
        if (block.value("redacted", false)) {
          item["block_redacted"] = true;
        } else {
          item["encoded_block"] = block["block"]["encoded"];
        }
      }
      items.push_back(std::move(item));
    }
    const std::optional<uint64_t> next_from = h <= to ? std::optional<uint64_t>(h) : std::nullopt;
    if (request.QueryOr("format", "json") == "binary") {
      return Binary(items, next_from, chain->tip, chain->cut_binary_pages);
    }
    return net::HttpResponse::Json(Json{{"headers", items},
                                        {"next_from", next_from ? Json(*next_from) : Json(nullptr)},
                                        {"tip", chain->tip}});
  }

  // The same items in the binary page the node serves for ?format=binary (as tampered: the
  // bytes are the captured hex fields).
  static net::HttpResponse Binary(const Json& items, std::optional<uint64_t> next_from,
                                  uint64_t tip, bool cut) {
    auto bytes = [](const Json& item, const char* field) {
      return item.contains(field) ? FromHex(item.at(field).get<std::string>()).value() : Bytes{};
    };
    ledger::HeaderPage page{tip, next_from, {}};
    for (const Json& item : items) {
      ledger::HeaderPageItem& out = page.items.emplace_back();
      out.height = item.value("height", uint64_t{0});
      out.header = bytes(item, "encoded_header");
      out.certificate = bytes(item, "encoded_certificate");
      if (item.contains("encoded_block")) {
        out.body = ledger::HeaderPageItem::Body::kBlock;
        out.block = bytes(item, "encoded_block");
      } else if (item.value("block_redacted", false)) {
        out.body = ledger::HeaderPageItem::Body::kRedacted;
      }
    }
    Bytes encoded = ledger::Encode(page);
    if (cut) encoded.pop_back();
    return net::HttpResponse::Text(std::string(encoded.begin(), encoded.end()),
                                   "application/octet-stream");
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::shared_ptr<const CapturedChain> chain_ =
      std::make_shared<const CapturedChain>();  // guarded by mutex_
};

// GETs `target` from node 0, signed by the testnet's auditor (who may read every block
// whole): the parsed body (an EXPECT failure and null when it fails).
Json Fetch(LocalNet& net, const std::string& target) {
  const ApiReply reply = net.GetAs("auditor", 0, target, 30s);
  EXPECT_TRUE(reply.ok() && reply.body.is_object()) << target << ": " << reply.Describe();
  return reply.ok() ? reply.body : Json();
}

void Capture(LocalNet& net, CapturedChain* chain) {
  chain->status = Fetch(net, "/v1/status");
  ASSERT_TRUE(chain->status.is_object());
  chain->tip = chain->status.at("height").get<uint64_t>();
  const ApiReply genesis = net.Get(0, "/v1/genesis");
  ASSERT_TRUE(genesis.ok()) << genesis.Describe();
  chain->genesis = genesis.raw;
  while (chain->headers.size() <= chain->tip) {
    const Json page = Fetch(net, "/v1/headers?from=" + std::to_string(chain->headers.size()) +
                                     "&to=" + std::to_string(chain->tip));
    ASSERT_FALSE(page.value("headers", Json::array()).empty()) << page.dump();
    for (const Json& item : page["headers"]) {
      ASSERT_EQ(item.value("height", uint64_t(0)), chain->headers.size()) << item.dump();
      chain->headers.push_back(item);
    }
  }
  for (uint64_t h = 1; h <= chain->tip; ++h) {
    chain->blocks[h] = Fetch(net, "/v1/blocks/" + std::to_string(h));
    ASSERT_TRUE(chain->blocks[h].is_object());
  }
}

// Decodes the hex field `field` of `object` as a T, lets `change` alter it, and writes it back
// re-encoded; succeeds when exactly one byte of the encoding changed.
template <typename T, typename Change>
::testing::AssertionResult ChangeOneByte(Json& object, const std::string& field, Change change) {
  Result<Bytes> bytes = FromHex(object.at(field).get<std::string>());
  if (!bytes.ok()) return ::testing::AssertionFailure() << field << " is not hex";
  Result<T> decoded = ledger::Decode<T>(*bytes);
  if (!decoded.ok()) {
    return ::testing::AssertionFailure() << field << ": " << decoded.status().ToString();
  }
  change(decoded.value());
  const Bytes again = ledger::Encode(decoded.value());
  object[field] = ToHex(again);
  size_t differing = 0;
  for (size_t i = 0; i < std::min(again.size(), bytes->size()); ++i) {
    differing += again[i] != (*bytes)[i];
  }
  if (again.size() != bytes->size() || differing != 1) {
    return ::testing::AssertionFailure() << field << ": " << differing << " bytes changed";
  }
  return ::testing::AssertionSuccess();
}

// The height of the first block with a transaction, or 0.
uint64_t FirstBlockWithTransaction(const CapturedChain& chain) {
  for (const auto& [height, body] : chain.blocks) {
    if (!body["block"].value("transactions", Json::array()).empty()) return height;
  }
  return 0;
}

class CliTamperTest : public ::testing::Test {
 protected:
  // verify-chain against the stand-in node serving `chain`, trusting the honest genesis file.
  CtlRun Verify(const CapturedChain& chain, bool blocks) {
    server_->Serve(chain);
    std::vector<std::string> args = {"audit", "verify-chain", "--genesis", genesis_file_.string()};
    if (blocks) args.push_back("--blocks");
    return ctl_->RunJson(args);
  }

  // verify-chain fails on `chain`, naming `height` and `what` in the message and the height in
  // the JSON error object.
  void ExpectRefused(const std::string& variant, const CapturedChain& chain, bool blocks,
                     uint64_t height, const std::string& what) {
    SCOPED_TRACE(variant);
    const CtlRun run = Verify(chain, blocks);
    ASSERT_TRUE(FailedCleanly(run));
    const std::string message = run.json["error"].value("message", "");
    EXPECT_NE(run.err().find("height " + std::to_string(height) + ":"), std::string::npos)
        << run.Describe();
    EXPECT_NE(message.find(what), std::string::npos) << "expected '" << what << "' in: " << message;
    EXPECT_EQ(run.json["error"].value("height", Json()), height) << run.Describe();
    EXPECT_EQ(run.json["error"].value("verified_through", Json()), height - 1) << run.Describe();
    std::fprintf(stderr, "[cli] %-34s -> %s", variant.c_str(), run.err().c_str());
  }

  std::unique_ptr<ChainServer> server_;
  std::unique_ptr<Cityctl> ctl_;
  fs::path genesis_file_;
};

TEST_F(CliTamperTest, VerifyChainRefusesEveryTamperedCopyNamingTheHeight) {
  LocalNetOptions options;
  options.validators = 1;
  options.seed = kSeed;
  LocalNet net(options);
  ASSERT_FALSE(net.api_port(0) >= 27600 && net.api_port(0) <= 27607) << net.Describe();
  const fs::path scratch = net.dir() / "cityctl";
  fs::create_directories(scratch);
  genesis_file_ = net.home(0) / "genesis.json";

  // A transaction, so that some block has one; then a few more blocks.
  Cityctl user(LocalUrl(net.api_port(0)), net.dir() / "net", scratch);
  user.Set("CITYCTL_PASSPHRASE", "citydev");
  const CtlRun paid = user.RunJson({"tx", "ubi", "transfer", "--to", "receiver", "--amount", "1",
                                    "--from", "citizen", "--wait", "--wait-timeout", "90"});
  ASSERT_TRUE(Succeeded(paid));
  const uint64_t tx_height = paid.json.value("height", uint64_t(0));
  ASSERT_GT(tx_height, 0u) << paid.Describe();
  ASSERT_TRUE(net.WaitHeight({0}, tx_height + 6, 60s)) << net.Describe();

  CapturedChain honest;
  ASSERT_NO_FATAL_FAILURE(Capture(net, &honest));
  EXPECT_EQ(net.Stop(0), 0) << "the validator stops on SIGTERM";
  ASSERT_EQ(FirstBlockWithTransaction(honest), tx_height);
  const uint64_t tip = honest.tip;
  std::fprintf(stderr, "[cli] captured heights 0..%llu, a transaction at %llu\n",
               static_cast<unsigned long long>(tip), static_cast<unsigned long long>(tx_height));

  server_ = std::make_unique<ChainServer>();
  ctl_ = std::make_unique<Cityctl>(LocalUrl(server_->port()), scratch, scratch);

  // Honest: every header and (with --blocks) every block verifies.
  for (const bool blocks : {false, true}) {
    const CtlRun run = Verify(honest, blocks);
    ASSERT_TRUE(Succeeded(run));
    EXPECT_EQ(run.json.value("ok", false), true) << run.Describe();
    EXPECT_EQ(run.json.value("to", uint64_t(0)), tip) << run.Describe();
    EXPECT_EQ(run.json.value("headers", uint64_t(0)), tip + 1) << run.Describe();
    EXPECT_EQ(run.json.value("blocks", uint64_t(1)), blocks ? tip : 0) << run.Describe();
    EXPECT_GE(run.json.value("signatures", uint64_t(0)), tip) << run.Describe();
  }

  {
    const uint64_t h = tip - 1;
    CapturedChain chain = honest;
    ASSERT_TRUE(ChangeOneByte<ledger::BlockHeader>(
        chain.headers[h], "encoded_header",
        [](ledger::BlockHeader& header) { header.state_root.bytes[7] ^= 0x10; }));
    ExpectRefused("one header byte flipped", chain, false, h, "certificate is for block");
  }
  {
    const uint64_t h = tip - 2;
    CapturedChain chain = honest;
    ASSERT_TRUE(ChangeOneByte<ledger::QuorumCert>(
        chain.headers[h], "encoded_certificate",
        [](ledger::QuorumCert& cert) { cert.signatures.at(0).signature.bytes[20] ^= 0x01; }));
    ExpectRefused("a certificate signature byte flipped", chain, false, h, "signature");
  }
  {
    const uint64_t h = tip - 3;
    CapturedChain chain = honest;
    chain.headers[h]["certificate"] = honest.headers[h + 1]["certificate"];
    chain.headers[h]["encoded_certificate"] = honest.headers[h + 1]["encoded_certificate"];
    ExpectRefused("the next height's certificate", chain, false, h, "certificate");
  }
  {
    CapturedChain chain = honest;
    ASSERT_TRUE(ChangeOneByte<ledger::Block>(
        chain.blocks[tx_height]["block"], "encoded",
        [](ledger::Block& block) { block.transactions.at(0).signature.bytes[33] ^= 0x80; }));
    // The headers alone cannot show it; the block bodies do.
    const CtlRun headers_only = Verify(chain, false);
    EXPECT_TRUE(Succeeded(headers_only));
    ExpectRefused("a transaction signature in a block", chain, true, tx_height, "transaction");
  }
  {
    CapturedChain chain = honest;
    chain.cut_binary_pages = true;
    const CtlRun run = Verify(chain, true);
    ASSERT_TRUE(FailedCleanly(run));
    EXPECT_NE(run.json["error"].value("message", "").find("does not decode"), std::string::npos)
        << run.Describe();
  }
}

}  // namespace
}  // namespace city::testnet
