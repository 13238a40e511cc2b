// cityctl's node client (wallet/node_client.h) against a small real HTTP server on 127.0.0.1:
// what a 2xx gives, how a node's error object and a transport failure become a Status a person
// can act on, and the per-call timeout of long-polls.
#include "city/wallet/node_client.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "city/net/http_server.h"
#include "wallet/cli_runner.h"

namespace city::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using wallet::Json;

// The routes of a pretend node: a status, an echo, a refusal, a body that is not JSON, and a
// slow answer.
net::Router PretendNode() {
  net::Router router;
  router.Get("/v1/status", [](const net::HttpRequest&) {
    return net::HttpResponse::Json({{"chain_id", "city-test"}, {"height", 42}});
  });
  router.Get("/v1/echo", [](const net::HttpRequest& request) {
    return net::HttpResponse::Json({{"q", request.QueryOr("q", "")}});
  });
  router.Post("/v1/echo", [](const net::HttpRequest& request) {
    Result<Json> body = request.JsonBody();
    if (!body.ok()) return net::HttpResponse::FromStatus(body.status());
    return net::HttpResponse::Json({{"got", *body}});
  });
  router.Post("/v1/tx", [](const net::HttpRequest&) {
    return net::HttpResponse::Error(409, "nonce_used", "nonce 3 of city1abc is already used");
  });
  router.Get("/v1/text",
             [](const net::HttpRequest&) { return net::HttpResponse::Text("surely not JSON"); });
  router.Get("/v1/slow", [](const net::HttpRequest&) {
    std::this_thread::sleep_for(400ms);
    return net::HttpResponse::Json({{"late", true}});
  });
  return router;
}

// The pretend node on an ephemeral port, its io_context run by two threads (so that a slow
// handler does not hold up the others).
class NodeClientFixture : public ::testing::Test {
 protected:
  NodeClientFixture() {
    auto started = net::HttpServer::Start(io_, net::HttpServerOptions{}, PretendNode());
    if (!started.ok()) throw std::runtime_error(started.status().ToString());
    server_ = std::move(started).value();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~NodeClientFixture() override {
    server_.reset();
    work_.reset();
    for (std::thread& thread : threads_) thread.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  std::unique_ptr<wallet::NodeClient> Connect(std::chrono::milliseconds timeout = 5s) {
    Result<std::unique_ptr<wallet::NodeClient>> client =
        wallet::NodeClient::Connect(url(), timeout);
    if (!client.ok()) throw std::runtime_error(client.status().ToString());
    return std::move(client).value();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<net::HttpServer> server_;
  std::vector<std::thread> threads_;
};
using NodeClient = NodeClientFixture;

TEST_F(NodeClient, ReturnsTheJsonBodyOfA2xx) {
  std::unique_ptr<wallet::NodeClient> client = Connect();
  EXPECT_EQ(client->url(), url());
  const Result<Json> status = client->Get("/v1/status");
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(*status, (Json{{"chain_id", "city-test"}, {"height", 42}}));

  const Result<Json> posted = client->Post("/v1/echo", Json{{"tx", "00ff"}});
  ASSERT_TRUE(posted.ok()) << posted.status().ToString();
  EXPECT_EQ(*posted, (Json{{"got", {{"tx", "00ff"}}}}));

  const Result<Json> echoed = client->Get("/v1/echo?q=" + wallet::UrlEncode("urn:epc:id/a b&c=d"));
  ASSERT_TRUE(echoed.ok()) << echoed.status().ToString();
  EXPECT_EQ(*echoed, (Json{{"q", "urn:epc:id/a b&c=d"}}));
}

TEST_F(NodeClient, TheNodesErrorCarriesItsCodeAndMessage) {
  std::unique_ptr<wallet::NodeClient> client = Connect();
  const Result<Json> refused = client->Post("/v1/tx", Json{{"tx", "00"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "the node refused: nonce_used: nonce 3 of city1abc is already used (HTTP 409)");
  EXPECT_EQ(client->last_error().http_status, 409);
  EXPECT_EQ(client->last_error().code, "nonce_used");
  EXPECT_EQ(client->last_error().message, "nonce 3 of city1abc is already used");

  // A path the node does not serve: the server's own error object, as kNotFound.
  const Result<Json> missing = client->Get("/v1/nothing-here");
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(client->last_error().http_status, 404);
  EXPECT_NE(missing.status().message().find("(HTTP 404)"), std::string::npos)
      << missing.status().message();

  // The next success forgets the last error.
  ASSERT_TRUE(client->Get("/v1/status").ok());
  EXPECT_EQ(client->last_error().http_status, 0);
  EXPECT_EQ(client->last_error().code, "");
}

TEST_F(NodeClient, ABodyThatIsNotJsonIsMalformed) {
  std::unique_ptr<wallet::NodeClient> client = Connect();
  const Result<Json> parsed = client->Get("/v1/text");
  EXPECT_EQ(parsed.status().code(), ErrorCode::kMalformed);
  EXPECT_NE(parsed.status().message().find("the node at " + url()), std::string::npos)
      << parsed.status().message();

  const Result<std::string> text = client->GetText("/v1/text");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "surely not JSON");
}

TEST_F(NodeClient, ALongPollHasItsOwnTimeout) {
  std::unique_ptr<wallet::NodeClient> client = Connect(150ms);
  const Result<Json> hurried = client->Get("/v1/slow");
  EXPECT_FALSE(hurried.ok());
  EXPECT_EQ(client->last_error().http_status, 0);

  const Result<Json> patient = client->Get("/v1/slow", 5s);
  ASSERT_TRUE(patient.ok()) << patient.status().ToString();
  EXPECT_EQ(*patient, (Json{{"late", true}}));
  // The client's own connection still works after the failure.
  EXPECT_TRUE(client->Get("/v1/status").ok());
}

TEST(NodeClientTransport, ConnectionRefusedNamesTheUrl) {
  const RefusingPort nobody_listens;
  Result<std::unique_ptr<wallet::NodeClient>> client =
      wallet::NodeClient::Connect(nobody_listens.url(), 2s);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const Result<Json> status = (*client)->Get("/v1/status");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), ErrorCode::kIoError);
  EXPECT_TRUE(status.status().message().starts_with("cannot reach the node at " +
                                                    nobody_listens.url() + ": "))
      << status.status().message();
  EXPECT_NE(status.status().message().find("is cityd running?"), std::string::npos);
  EXPECT_EQ((*client)->last_error().http_status, 0);
  EXPECT_EQ((*client)->last_error().code, "");
  EXPECT_FALSE((*client)->last_error().message.empty());
}

TEST(NodeClientTransport, OnlyHttpAndHttpsUrlsAreAccepted) {
  for (const std::string url : {"gopher://127.0.0.1:26601", "ftp://x", "http://127.0.0.1:99999"}) {
    const Result<std::unique_ptr<wallet::NodeClient>> client = wallet::NodeClient::Connect(url, 1s);
    EXPECT_EQ(client.status().code(), ErrorCode::kInvalidArgument) << url;
    EXPECT_TRUE(client.status().message().starts_with("bad --node '" + url + "': "))
        << client.status().message();
  }
}

TEST(NodeClientUrlEncode, EncodesAllButUnreservedCharacters) {
  EXPECT_EQ(wallet::UrlEncode(""), "");
  EXPECT_EQ(wallet::UrlEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(wallet::UrlEncode("a/b"), "a%2Fb");
  EXPECT_EQ(wallet::UrlEncode("urn:epc:id:sgtin:1.2"), "urn%3Aepc%3Aid%3Asgtin%3A1.2");
  EXPECT_EQ(wallet::UrlEncode("a b&c=d?e#f%"), "a%20b%26c%3Dd%3Fe%23f%25");
  EXPECT_EQ(wallet::UrlEncode("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(wallet::UrlEncode(std::string_view("\0\xff", 2)), "%00%FF");
}

}  // namespace
}  // namespace city::test
