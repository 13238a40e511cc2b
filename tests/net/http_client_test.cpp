// The blocking HTTP client: URL parsing, and its failures against real loopback listeners
// (refused, silent, closing, oversized, not HTTP), each with the message a person reads.
#include "city/net/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "city/net/http_server.h"

namespace city::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// An HTTP server on an ephemeral loopback port with its own io thread.
class TestServer {
 public:
  TestServer(Router router, HttpServerOptions options) {
    auto started = HttpServer::Start(io_, std::move(options), std::move(router));
    if (!started.ok()) {
      ADD_FAILURE() << started.status().ToString();
      return;
    }
    server_ = std::move(started).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() {
    server_.reset();
    work_.reset();
    thread_.join();
  }
  HttpServer& server() { return *server_; }
  HttpUrl url() const { return HttpUrl{"127.0.0.1", server_->port(), ""}; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// A listening POSIX socket on 127.0.0.1 that the test drives by hand (or never accepts on).
class RawListener {
 public:
  RawListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(fd_, 8);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~RawListener() { Close(); }
  RawListener(const RawListener&) = delete;
  RawListener& operator=(const RawListener&) = delete;

  uint16_t port() const { return port_; }
  int Accept() { return ::accept(fd_, nullptr, nullptr); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

HttpClient ClientFor(uint16_t port, std::chrono::milliseconds timeout = 5s,
                     size_t max_response_bytes = 64 * 1024 * 1024) {
  HttpClientOptions options;
  options.timeout = timeout;
  options.max_response_bytes = max_response_bytes;
  return HttpClient(HttpUrl{"127.0.0.1", port, ""}, options);
}

// ---- URLs ----

TEST(HttpUrlParse, AcceptsTheDocumentedForms) {
  struct Case {
    std::string url;
    std::string host;
    uint16_t port;
    std::string base_path;
  };
  const std::vector<Case> cases = {
      {"http://127.0.0.1:8080", "127.0.0.1", 8080, ""},
      {"http://localhost:8080/api", "localhost", 8080, "/api"},
      {"http://localhost:8080/api/", "localhost", 8080, "/api"},
      {"127.0.0.1:8080", "127.0.0.1", 8080, ""},
      {"HTTP://node-1.city.example/", "node-1.city.example", 80, ""},
      {"http://[::1]:9000/v", "::1", 9000, "/v"},
      {"[::1]", "::1", 80, ""},
      {"https://node.example", "node.example", 443, ""},
      {"https://127.0.0.1:8443/api", "127.0.0.1", 8443, "/api"},
  };
  for (const Case& c : cases) {
    const auto url = ParseHttpUrl(c.url);
    ASSERT_TRUE(url.ok()) << c.url << ": " << url.status().ToString();
    EXPECT_EQ(url->host, c.host) << c.url;
    EXPECT_EQ(url->port, c.port) << c.url;
    EXPECT_EQ(url->base_path, c.base_path) << c.url;
    EXPECT_EQ(url->tls, c.url.starts_with("https://")) << c.url;
  }
}

TEST(HttpUrlParse, RejectsWithAMessageNamingTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"httpx://127.0.0.1:8080", "unsupported scheme 'httpx'"},
      {"ftp://host", "unsupported scheme 'ftp'"},
      {"http://127.0.0.1:99999", "bad port '99999'"},
      {"http://127.0.0.1:0", "bad port '0'"},
      {"http://127.0.0.1:80x", "bad port '80x'"},
      {"http://127.0.0.1:", "bad port ''"},
      {"http://", "no host"},
      {"", "no host"},
      {"http://bad host:80", "bad host 'bad host'"},
      {"http://::1:8080", "IPv6 address without brackets"},
      {"http://[::1", "unterminated IPv6"},
      {"http://[not:v6]:80", "bad IPv6 address"},
      {"http://user@host", "user information"},
      {"http://host/x?y=1", "query or fragment"},
  };
  for (const auto& [url, problem] : cases) {
    const auto parsed = ParseHttpUrl(url);
    ASSERT_FALSE(parsed.ok()) << url;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument) << url;
    EXPECT_NE(parsed.status().message().find(problem), std::string::npos)
        << url << " -> " << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("'" + url + "'"), std::string::npos)
        << "the message quotes the URL: " << parsed.status().message();
  }
}

// ---- transport failures ----

TEST(HttpClientErrors, ConnectionRefusedNamesTheAddress) {
  uint16_t port = 0;
  {
    RawListener listener;  // a port that was just free, closed again
    port = listener.port();
  }
  HttpClient client = ClientFor(port);
  const auto reply = client.Get("/x");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kIoError);
  EXPECT_EQ(reply.status().message(),
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST(HttpClientErrors, ListenerThatNeverAnswersTimesOut) {
  RawListener listener;  // the kernel completes the handshake; nobody ever reads
  HttpClient client = ClientFor(listener.port(), 300ms);
  const Clock::time_point start = Clock::now();
  const auto reply = client.Get("/x");
  const auto waited = Clock::now() - start;
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kIoError);
  EXPECT_EQ(reply.status().message(), "timed out after 300 ms");
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
}

TEST(HttpClientErrors, HandlerThatNeverAnswersTimesOutAndTheClientRecovers) {
  std::atomic<bool> silent{true};
  std::vector<HttpResponder> parked;
  std::mutex parked_mutex;
  Router router;
  router.Add("GET", "/maybe", [&](const HttpRequest&, HttpResponder respond) {
    if (!silent) {
      respond(HttpResponse::Text("answered"));
      return;
    }
    std::lock_guard lock(parked_mutex);
    parked.push_back(std::move(respond));
  });
  TestServer server(std::move(router), HttpServerOptions{});
  HttpClient client = ClientFor(server.server().port(), 300ms);
  const auto timed_out = client.Get("/maybe");
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.status().message(), "timed out after 300 ms");

  // The timed-out connection is abandoned; the next request uses a fresh one.
  silent = false;
  const auto answered = client.Get("/maybe");
  ASSERT_TRUE(answered.ok()) << answered.status().ToString();
  EXPECT_EQ(answered->body, "answered");
  EXPECT_EQ(server.server().stats().connections_accepted, 2u);
}

TEST(HttpClientErrors, ReconnectsOnceWhenTheServerClosedAKeptAliveConnection) {
  Router router;
  router.Get("/x", [](const HttpRequest&) { return HttpResponse::Text("ok"); });
  HttpServerOptions options;
  options.idle_timeout = 100ms;
  TestServer server(std::move(router), options);
  HttpClient client(server.url());
  ASSERT_TRUE(client.Get("/x").ok());
  // Wait until the server has dropped the idle connection the client still holds.
  const Clock::time_point deadline = Clock::now() + 5s;
  while (server.server().stats().connections_open != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(server.server().stats().connections_open, 0u);
  for (int i = 0; i < 2; ++i) {
    const auto reply = client.Get("/x");
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ(reply->body, "ok");
  }
  EXPECT_EQ(server.server().stats().connections_accepted, 2u);
  EXPECT_EQ(server.server().stats().requests, 3u);
}

TEST(HttpClientErrors, ReplyOverTheMaximumIsTooLarge) {
  Router router;
  router.Get("/big",
             [](const HttpRequest&) { return HttpResponse::Text(std::string(64 * 1024, 'b')); });
  router.Get("/small", [](const HttpRequest&) { return HttpResponse::Text("s"); });
  TestServer server(std::move(router), HttpServerOptions{});
  HttpClient client = ClientFor(server.server().port(), 5s, 1024);
  const auto big = client.Get("/big");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), ErrorCode::kTooLarge);
  EXPECT_NE(big.status().message().find("exceeds 1024 bytes"), std::string::npos)
      << big.status().message();
  const auto small = client.Get("/small");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->body, "s");
}

TEST(HttpClientErrors, ReplyThatIsNotHttpIsMalformed) {
  RawListener listener;
  std::thread peer([&listener] {
    const int fd = listener.Accept();
    if (fd < 0) return;
    char buffer[1024];
    (void)::recv(fd, buffer, sizeof(buffer), 0);
    const std::string junk = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    (void)::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    ::close(fd);
  });
  HttpClient client = ClientFor(listener.port());
  const auto reply = client.Get("/x");
  peer.join();
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kMalformed) << reply.status().ToString();
}

// ---- requests ----

TEST(HttpClientRequests, BasePathMethodBodyAndHeaders) {
  Router router;
  router.Add("PUT", "/api/v1/items/{id}", [](const HttpRequest& request, HttpResponder respond) {
    HttpResponse response = HttpResponse::Json({{"id", request.params.at("id")},
                                                {"body", request.body},
                                                {"type", request.headers.at("content-type")},
                                                {"host", request.headers.at("host")}});
    response.headers["X-Item"] = request.params.at("id");
    respond(std::move(response));
  });
  TestServer server(std::move(router), HttpServerOptions{});
  HttpUrl url = server.url();
  url.base_path = "/api";
  HttpClient client(url);
  const auto reply = client.Request("PUT", "/v1/items/9", "payload", "text/plain");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->content_type, "application/json");
  EXPECT_EQ(reply->headers.at("x-item"), "9");
  const auto json = nlohmann::json::parse(reply->body);
  EXPECT_EQ(json["body"], "payload");
  EXPECT_EQ(json["type"], "text/plain");
  EXPECT_EQ(json["host"], "127.0.0.1:" + std::to_string(url.port));

  // Moving a client keeps its connection.
  HttpClient moved = std::move(client);
  ASSERT_TRUE(moved.Request("PUT", "/v1/items/10", "", "text/plain").ok());
  EXPECT_EQ(server.server().stats().connections_accepted, 1u);
}

TEST(HttpClientRequests, RefusesTargetsAndMethodsThatWouldBreakTheRequestLine) {
  HttpClient client = ClientFor(1);  // never contacted
  EXPECT_EQ(client.Get("/a b").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Get("/a\r\nX: y").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Request("GE T", "/", "", "").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace city::net
