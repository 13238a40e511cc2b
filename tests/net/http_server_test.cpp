// The HTTP API server over real loopback sockets: routing, limits, timeouts, caps, readiness,
// handler failures, keep-alive and shutdown. Raw sockets send what a well-behaved client would not.
#include "city/net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "city/net/http_client.h"
#include "city/net/metrics.h"
#include "http_internal.h"  // the fuzz target's socket-free path

namespace city::net {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Options with short timeouts so that the timeout tests stay fast.
HttpServerOptions TestOptions() {
  HttpServerOptions options;
  options.request_timeout = 2s;
  options.idle_timeout = 5s;
  options.handler_timeout = 5s;
  options.write_timeout = 2s;
  return options;
}

// A server on an ephemeral loopback port, its io_context run by two threads (handlers and
// sessions must cope with more than one).
class TestServer {
 public:
  explicit TestServer(Router router, HttpServerOptions options = TestOptions(),
                      std::shared_ptr<MetricsRegistry> metrics = nullptr) {
    auto started = HttpServer::Start(io_, std::move(options), std::move(router), metrics);
    if (!started.ok()) {
      ADD_FAILURE() << started.status().ToString();
      return;
    }
    server_ = std::move(started).value();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  ~TestServer() {
    server_.reset();
    work_.reset();
    // After Stop nothing may stay pending: the threads must run out of work by themselves.
    const Clock::time_point deadline = Clock::now() + 5s;
    while (!io_.stopped() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    if (!io_.stopped()) {
      ADD_FAILURE() << "the io_context still had work 5 s after the server stopped";
      io_.stop();
    }
    for (auto& thread : threads_) thread.join();
  }

  HttpServer& server() { return *server_; }
  uint16_t port() const { return server_->port(); }
  HttpClient Client(std::chrono::milliseconds timeout = 5s) const {
    HttpClientOptions options;
    options.timeout = timeout;
    return HttpClient(HttpUrl{"127.0.0.1", server_->port(), ""}, options);
  }
  void DestroyServer() { server_.reset(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
};

struct RawReply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  bool keep_alive = false;
};

// A plain POSIX socket, so that tests can send broken bytes and stall mid-request; every read
// gives up after 5 s so a broken server fails the test instead of hanging it.
class RawConnection {
 public:
  // `from`: the local address to connect from (any of 127.0.0.0/8 reaches the loopback).
  explicit RawConnection(uint16_t port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (from != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &local.sin_addr);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // The next response; nullopt if the connection ended (or 5 s passed) first.
  // Send, then Read: nullopt when either fails.
  std::optional<RawReply> Ask(std::string_view request) {
    if (!Send(request)) return std::nullopt;
    return Read();
  }

  std::optional<RawReply> Read() {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    while (true) {
      if (!pending_.empty()) {
        boost::beast::error_code ec;
        const size_t used = parser.put(asio::buffer(pending_.data(), pending_.size()), ec);
        pending_.erase(0, used);
        if (ec && ec != http::error::need_more) return std::nullopt;
        if (parser.is_done()) break;
        if (!ec && used > 0) continue;
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return std::nullopt;
      pending_.append(chunk, static_cast<size_t>(n));
    }
    RawReply reply;
    const auto& message = parser.get();
    reply.status = static_cast<int>(message.result_int());
    reply.body = message.body();
    reply.keep_alive = message.keep_alive();
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    return reply;
  }

  // True when the server closes the connection (EOF or reset) within 5 s, after any bytes
  // still in flight.
  bool ClosedByServer() {
    char chunk[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

// The error object every failure carries.
void ExpectError(const RawReply& reply, int status, const std::string& code) {
  EXPECT_EQ(reply.status, status);
  EXPECT_EQ(reply.headers.count("content-type") ? reply.headers.at("content-type") : "",
            "application/json");
  const auto json = nlohmann::json::parse(reply.body, nullptr, false);
  ASSERT_TRUE(json.is_object()) << reply.body;
  ASSERT_EQ(json.size(), 1u) << reply.body;
  ASSERT_TRUE(json.contains("error")) << reply.body;
  EXPECT_EQ(json["error"].size(), 2u) << reply.body;
  EXPECT_EQ(json["error"].value("code", ""), code) << reply.body;
  EXPECT_TRUE(json["error"]["message"].is_string()) << reply.body;
}

void ExpectError(const Result<HttpReply>& reply, int status, const std::string& code) {
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ExpectError(RawReply{reply->status, reply->body, reply->headers, true}, status, code);
}

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra_headers) +
         "\r\n";
}

// Runs a synchronous handler found by the router, as the server would.
HttpResponse Call(const Router::Match& match, HttpRequest request = {}) {
  HttpResponse out;
  request.params = match.params;
  (*match.handler)(request, [&out](HttpResponse response) { out = std::move(response); });
  return out;
}

HttpHandler Answer(std::string text) {
  return [text](const HttpRequest&) { return HttpResponse::Text(text); };
}

// ---- routing ----

TEST(HttpRouter, LiteralSegmentWinsOverCaptureInEitherRegistrationOrder) {
  for (const bool literal_first : {true, false}) {
    Router router;
    if (literal_first) router.Get("/v1/blocks/latest", Answer("literal"));
    router.Get("/v1/blocks/{height}", Answer("capture"));
    if (!literal_first) router.Get("/v1/blocks/latest", Answer("literal"));

    const Router::Match latest = router.Find("GET", "/v1/blocks/latest");
    ASSERT_NE(latest.handler, nullptr);
    EXPECT_EQ(Call(latest).body, "literal");
    EXPECT_TRUE(latest.params.empty());

    const Router::Match height = router.Find("GET", "/v1/blocks/42");
    ASSERT_NE(height.handler, nullptr);
    EXPECT_EQ(Call(height).body, "capture");
    EXPECT_EQ(height.params.at("height"), "42");
  }
}

TEST(HttpRouter, UnknownPathIs404AndAnotherMethodIs405) {
  Router router;
  router.Get("/v1/status", Answer("ok"));
  router.Post("/v1/tx", Answer("ok"));
  router.Get("/v1/accounts/{id}/history", Answer("ok"));
  EXPECT_EQ(router.Find("GET", "/v1/nope").status, 404);
  EXPECT_EQ(router.Find("POST", "/v1/status").status, 405);
  EXPECT_EQ(router.Find("GET", "/v1/tx").status, 405);
  EXPECT_EQ(router.Find("get", "/v1/status").status, 405) << "methods are case-sensitive";
  // A capture takes exactly one non-empty segment.
  EXPECT_EQ(router.Find("GET", "/v1/accounts//history").status, 404);
  EXPECT_EQ(router.Find("GET", "/v1/accounts/a/b/history").status, 404);
  EXPECT_EQ(router.Find("GET", "/v1/status/").status, 404);
  const auto match = router.Find("GET", "/v1/accounts/city1xyz/history");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(match.params.at("id"), "city1xyz");
}

TEST(HttpRouter, AMethodsOwnCaptureBeatsAnotherMethodsLiteral) {
  Router router;
  router.Get("/a/{x}", Answer("get"));
  router.Post("/a/b", Answer("post"));
  const auto match = router.Find("GET", "/a/b");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(match.params.at("x"), "b");
}

TEST(HttpServerRouting, DecodesPathQueryAndParams) {
  Router router;
  router.Get("/v1/items/{id}", [](const HttpRequest& request) {
    return HttpResponse::Json(
        {{"path", request.path},
         {"id", request.params.at("id")},
         {"x", request.QueryOr("x", "none")},
         {"y", request.QueryOr("y", "none")},
         {"z", request.QueryOr("z", "none")},
         {"flag", request.QueryOr("flag", "none")},
         {"missing", request.QueryOr("missing", "fallback")},
         {"header",
          request.headers.count("x-city-test") ? request.headers.at("x-city-test") : ""}});
  });
  TestServer server(std::move(router));
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(
      Get("/v1/items/a%20b?x=1&y=hello+world&x=2&z=%2F%3d&flag", "X-City-Test: yes\r\n")));
  const auto reply = connection.Read();
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, 200) << reply->body;
  const auto json = nlohmann::json::parse(reply->body);
  EXPECT_EQ(json["path"], "/v1/items/a b");
  EXPECT_EQ(json["id"], "a b");
  EXPECT_EQ(json["x"], "2") << "a repeated name keeps the last";
  EXPECT_EQ(json["y"], "hello world");
  EXPECT_EQ(json["z"], "/=");
  EXPECT_EQ(json["flag"], "");
  EXPECT_EQ(json["missing"], "fallback");
  EXPECT_EQ(json["header"], "yes") << "header names are lower-cased";

  // Broken percent-encoding is the client's error.
  ASSERT_TRUE(connection.Send(Get("/v1/items/a%zz")));
  const auto bad = connection.Read();
  ASSERT_TRUE(bad.has_value());
  ExpectError(*bad, 400, "bad_request");
  ASSERT_TRUE(connection.Send(Get("/v1/items/a?q=%00")));
  const auto nul = connection.Read();
  ASSERT_TRUE(nul.has_value());
  ExpectError(*nul, 400, "bad_request");
}

TEST(HttpServerRouting, UnknownPathAndWrongMethodAnswerTheErrorObject) {
  Router router;
  router.Get("/v1/status", Answer("ok"));
  TestServer server(std::move(router));
  HttpClient client = server.Client();
  const auto missing = client.Get("/nope");
  ExpectError(missing, 404, "not_found");
  // The exact shape, byte for byte.
  EXPECT_EQ(missing->body, R"({"error":{"code":"not_found","message":"no route for /nope"}})");
  ExpectError(client.Post("/v1/status", "{}"), 405, "method_not_allowed");
  const auto ok = client.Get("/v1/status");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "ok");
  EXPECT_EQ(ok->content_type, "text/plain");
}

TEST(HttpServerJson, BodyRoundTripsAndBadJsonIs400) {
  Router router;
  router.Post("/echo", [](const HttpRequest& request) {
    auto body = request.JsonBody();
    if (!body.ok()) return HttpResponse::FromStatus(body.status());
    return HttpResponse::Json({{"got", *body}}, 201);
  });
  TestServer server(std::move(router));
  HttpClient client = server.Client();
  const nlohmann::json value = {{"name", "Zoë"}, {"n", 12345678901234LL}, {"list", {1, 2, 3}}};
  const auto reply = client.Post("/echo", value.dump());
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->status, 201);
  EXPECT_EQ(reply->content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(reply->body)["got"], value);

  ExpectError(client.Post("/echo", "{\"unterminated\": "), 400, "invalid_argument");
  // Deep nesting is refused before anything recursive sees it.
  ExpectError(client.Post("/echo", std::string(10'000, '[') + std::string(10'000, ']')), 400,
              "invalid_argument");
}

TEST(HttpServerResponses, FromStatusMapsEveryCode) {
  const std::vector<std::pair<ErrorCode, int>> expected = {
      {ErrorCode::kInvalidArgument, 400},  {ErrorCode::kMalformed, 400},
      {ErrorCode::kBadSignature, 400},     {ErrorCode::kNotFound, 404},
      {ErrorCode::kTooLarge, 413},         {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kPermissionDenied, 403}, {ErrorCode::kAlreadyExists, 409},
      {ErrorCode::kCorruption, 500},       {ErrorCode::kIoError, 500},
      {ErrorCode::kInternal, 500},         {ErrorCode::kPruned, 410}};
  for (const auto& [code, http_status] : expected) {
    const HttpResponse response = HttpResponse::FromStatus(Status(code, "why"));
    EXPECT_EQ(response.status, http_status) << ErrorCodeName(code);
    const auto json = nlohmann::json::parse(response.body);
    EXPECT_EQ(json["error"]["code"], std::string(ErrorCodeName(code)));
    EXPECT_EQ(json["error"]["message"], "why");
  }
}

TEST(HttpServerResponses, HandlerHeadersCannotSplitTheResponse) {
  Router router;
  router.Get("/inject", [](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text("body");
    response.headers["X-Good"] = "fine";
    response.headers["X-Bad"] = "a\r\nInjected: yes";
    response.headers["Bad Name"] = "x";
    response.headers["Content-Length"] = "9999";
    return response;
  });
  router.Get("/weird-status", [](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text("x");
    response.status = 42;
    return response;
  });
  router.Get("/no-content", [](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text("ignored");
    response.status = 204;
    return response;
  });
  TestServer server(std::move(router));
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(Get("/inject")));
  const auto injected = connection.Read();
  ASSERT_TRUE(injected.has_value());
  EXPECT_EQ(injected->status, 200);
  EXPECT_EQ(injected->body, "body");
  EXPECT_EQ(injected->headers.at("x-good"), "fine");
  EXPECT_EQ(injected->headers.count("x-bad"), 0u);
  EXPECT_EQ(injected->headers.count("injected"), 0u);
  EXPECT_EQ(injected->headers.at("content-length"), "4");

  ASSERT_TRUE(connection.Send(Get("/weird-status")));
  const auto weird = connection.Read();
  ASSERT_TRUE(weird.has_value());
  ExpectError(*weird, 500, "internal");

  ASSERT_TRUE(connection.Send(Get("/no-content")));
  const auto empty = connection.Read();
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->status, 204);
  EXPECT_EQ(empty->body, "");
  // The connection is still in step: another request works.
  ASSERT_TRUE(connection.Send(Get("/inject")));
  ASSERT_TRUE(connection.Read().has_value());
}

// POST /echo answers with the request body.
Router EchoRouter() {
  Router router;
  router.Post("/echo", [](const HttpRequest& request) { return HttpResponse::Text(request.body); });
  return router;
}

// ---- malformed and oversized requests ----

TEST(HttpServerLimits, MalformedRequestsAre400AndClose) {
  Router router = EchoRouter();
  TestServer server(std::move(router));
  const std::vector<std::string> broken = {
      "\x01\x02\x03 garbage\r\n\r\n",
      "GET\r\n\r\n",
      "GET / HTTP/9.x\r\nHost: t\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 12abc\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
      "chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
  };
  for (const std::string& bytes : broken) {
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.Send(bytes));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value()) << bytes;
    ExpectError(*reply, 400, "bad_request");
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_TRUE(connection.ClosedByServer()) << bytes;
  }
  // A well-formed chunked request is fine.
  RawConnection connection(server.port());
  ASSERT_TRUE(
      connection.Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  const auto reply = connection.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "hello world");
}

TEST(HttpServerLimits, BodyOverTheLimitIs413AndTheServerCarriesOn) {
  Router router = EchoRouter();
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  TestServer server(std::move(router), options);

  {
    // Refused on the Content-Length alone: no body byte is ever sent.
    RawConnection connection(server.port());
    ASSERT_TRUE(
        connection.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    ExpectError(*reply, 413, "too_large");
    EXPECT_TRUE(connection.ClosedByServer());
  }
  {
    // Chunked: no length up front, refused once the chunks pass the limit.
    RawConnection connection(server.port());
    std::string request = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 8; ++i) request += "200\r\n" + std::string(512, 'x') + "\r\n";
    request += "0\r\n\r\n";
    ASSERT_TRUE(connection.Send(request));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    ExpectError(*reply, 413, "too_large");
    EXPECT_TRUE(connection.ClosedByServer());
  }
  // Exactly at the limit is accepted, and the server still serves.
  HttpClient client = server.Client();
  const auto at_limit = client.Post("/echo", std::string(1024, 'y'), "text/plain");
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().ToString();
  EXPECT_EQ(at_limit->status, 200);
  EXPECT_EQ(at_limit->body.size(), 1024u);
  ExpectError(client.Post("/echo", std::string(1025, 'y'), "text/plain"), 413, "too_large");
}

TEST(HttpServerLimits, ExpectContinueIsAnsweredBeforeTheBodyOrRefusedWith413) {
  Router router = EchoRouter();
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  TestServer server(std::move(router), options);
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  const auto interim = connection.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(connection.Send("hello"));
  const auto reply = connection.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "hello");

  // Too large: refused at once, with no invitation to send the body.
  ASSERT_TRUE(connection.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
  const auto refused = connection.Read();
  ASSERT_TRUE(refused.has_value());
  ExpectError(*refused, 413, "too_large");
}

TEST(HttpServerLimits, HeadersOverTheLimitAre413) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.max_header_bytes = 4096;
  TestServer server(std::move(router), options);
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(Get("/x", "X-Big: " + std::string(8192, 'a') + "\r\n")));
  const auto reply = connection.Read();
  ASSERT_TRUE(reply.has_value());
  ExpectError(*reply, 413, "too_large");
  EXPECT_TRUE(connection.ClosedByServer());

  HttpClient client = server.Client();
  const auto ok = client.Get("/x");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpServerTimeouts, SlowClientGets408WhileOthersAreServed) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.request_timeout = 300ms;
  TestServer server(std::move(router), options);

  RawConnection slow(server.port());
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(slow.Send("GET /x HTTP/1.1\r\nHost: t\r\n"));  // and never the blank line
  HttpClient client = server.Client();
  for (int i = 0; i < 5; ++i) {
    const auto reply = client.Get("/x");
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ(reply->status, 200);
  }
  const auto reply = slow.Read();
  const auto waited = Clock::now() - start;
  ASSERT_TRUE(reply.has_value());
  ExpectError(*reply, 408, "request_timeout");
  EXPECT_TRUE(slow.ClosedByServer());
  EXPECT_GE(waited, 250ms) << "answered before the timeout";
  EXPECT_LT(waited, 3s);

  // A body that stops halfway is just as slow.
  RawConnection half_body(server.port());
  ASSERT_TRUE(half_body.Send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  const auto body_reply = half_body.Read();
  ASSERT_TRUE(body_reply.has_value());
  ExpectError(*body_reply, 408, "request_timeout");
}

TEST(HttpServerTimeouts, IdleKeepAliveConnectionIsClosed) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.idle_timeout = 200ms;
  TestServer server(std::move(router), options);
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(Get("/x")));
  const auto reply = connection.Read();
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->keep_alive);
  const Clock::time_point start = Clock::now();
  EXPECT_TRUE(connection.ClosedByServer());
  EXPECT_GE(Clock::now() - start, 150ms);
}

// ---- concurrency and caps ----

TEST(HttpServerLoad, ManyConcurrentKeepAliveClientsAllGetTheirOwnAnswers) {
  Router router;
  router.Get("/v1/echo/{n}", [](const HttpRequest& request) {
    return HttpResponse::Json({{"n", request.params.at("n")}, {"i", request.QueryOr("i", "")}});
  });
  TestServer server(std::move(router));
  constexpr int kThreads = 64;
  constexpr int kRequests = 20;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client = server.Client();
      for (int i = 0; i < kRequests; ++i) {
        const auto reply = client.Get("/v1/echo/" + std::to_string(t) + "?i=" + std::to_string(i));
        if (!reply.ok() || reply->status != 200) continue;
        const auto json = nlohmann::json::parse(reply->body, nullptr, false);
        if (json.value("n", "") == std::to_string(t) && json.value("i", "") == std::to_string(i)) {
          ++good;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kRequests);
  const HttpServerStats stats = server.server().stats();
  EXPECT_EQ(stats.requests, uint64_t{kThreads * kRequests});
  EXPECT_EQ(stats.connections_accepted, uint64_t{kThreads}) << "each client kept its connection";
  EXPECT_EQ(stats.responses_4xx + stats.responses_5xx, 0u);
}

TEST(HttpServerLoad, ConnectionsOverTheCapGet429ThenServiceResumes) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.max_connections = 2;
  options.request_timeout = 10s;
  options.idle_timeout = 10s;
  TestServer server(std::move(router), options);

  // Two connections that have each completed a request hold both slots.
  auto first = std::make_unique<RawConnection>(server.port());
  RawConnection second(server.port());
  for (RawConnection* connection : {first.get(), &second}) {
    ASSERT_TRUE(connection->Send(Get("/x")));
    const auto reply = connection->Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 200);
  }
  RawConnection third(server.port());
  ASSERT_TRUE(third.connected()) << "accepted, not dropped";
  const auto refused = third.Read();
  ASSERT_TRUE(refused.has_value());
  ExpectError(*refused, 429, "overloaded");
  EXPECT_TRUE(third.ClosedByServer());
  EXPECT_EQ(server.server().stats().connections_refused, 1u);
  EXPECT_EQ(server.server().stats().connections_open, 2u);

  // Once one leaves, a new client is served (the server notices the close asynchronously).
  first.reset();
  const Clock::time_point deadline = Clock::now() + 5s;
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    HttpClient client = server.Client();
    const auto reply = client.Get("/x");
    status = reply.ok() ? reply->status : 0;
    if (status != 200) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(status, 200);
}

TEST(HttpServerLoad, OneAddressCannotTakeEveryConnection) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.max_connections = 10;
  options.max_connections_per_ip = 2;
  TestServer server(std::move(router), options);

  RawConnection first(server.port(), "127.0.0.1");
  RawConnection second(server.port(), "127.0.0.1");
  for (RawConnection* connection : {&first, &second}) {
    ASSERT_TRUE(connection->Send(Get("/x")));
    const auto reply = connection->Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 200);
  }
  RawConnection third(server.port(), "127.0.0.1");
  const auto refused = third.Read();
  ASSERT_TRUE(refused.has_value());
  ExpectError(*refused, 429, "overloaded");
  EXPECT_NE(refused->body.find("from 127.0.0.1"), std::string::npos) << refused->body;
  // Another client is served: the cap is per address, not global.
  RawConnection other(server.port(), "127.0.0.2");
  ASSERT_TRUE(other.Send(Get("/x")));
  const auto served = other.Read();
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->status, 200);
}

// Sends `count` requests one after the other on one connection from `source`; the statuses.
std::map<int, int> StatusesOf(uint16_t port, const char* source, int count,
                              std::optional<RawReply>* last_refusal = nullptr) {
  std::map<int, int> statuses;
  RawConnection connection(port, source);
  for (int i = 0; i < count; ++i) {
    const auto reply = connection.Ask(Get("/x"));
    if (!reply) break;
    ++statuses[reply->status];
    if (reply->status == 429 && last_refusal != nullptr) *last_refusal = reply;
  }
  return statuses;
}

TEST(HttpServerGuards, OneAddressOverItsRequestRateGets429WhileOthersAreServed) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.requests_per_second_per_ip = 5;  // bursts of 10
  options.rate_limit_exempt = {"127.0.0.3"};
  TestServer server(std::move(router), options);

  const auto started = std::chrono::steady_clock::now();
  std::optional<RawReply> refusal;
  std::map<int, int> flood = StatusesOf(server.port(), "127.0.0.1", 40, &refusal);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(flood[200], 10) << "the burst is served";
  EXPECT_LE(flood[200], 10 + static_cast<int>(5 * seconds) + 1) << "then 5 a second";
  EXPECT_GT(flood[429], 0);
  EXPECT_EQ(flood[200] + flood[429], 40) << "every request answered, on the same connection";
  ASSERT_TRUE(refusal.has_value());
  ExpectError(*refusal, 429, "rate_limited");
  EXPECT_EQ(refusal->headers.count("retry-after"), 1u);
  EXPECT_EQ(server.server().stats().rate_limited, static_cast<uint64_t>(flood[429]));

  // Another address has a bucket of its own; an exempt one has none.
  EXPECT_EQ(StatusesOf(server.port(), "127.0.0.2", 5)[200], 5);
  EXPECT_EQ(StatusesOf(server.port(), "127.0.0.3", 40)[200], 40);
  // The limited one is served again once its bucket refills.
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  EXPECT_GE(StatusesOf(server.port(), "127.0.0.1", 2)[200], 2);
}

TEST(HttpServerGuards, AnAnswerOverTheByteCapIsNotSent) {
  Router router;
  router.Get("/big", [](const HttpRequest&) { return HttpResponse::Text(std::string(5000, 'a')); });
  router.Get("/small", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.max_response_bytes = 4096;
  TestServer server(std::move(router), options);
  RawConnection connection(server.port());
  const auto big = connection.Ask(Get("/big"));
  ASSERT_TRUE(big.has_value());
  ExpectError(*big, 500, "response_too_large");
  const auto small = connection.Ask(Get("/small"));
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->status, 200) << "the connection and the server carry on";
}

TEST(HttpServerGuards, AHostOutsideTheAllowListIs403) {
  Router router;
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.allowed_hosts = {"localhost", "127.0.0.1"};
  TestServer server(std::move(router), options);
  auto status_for = [&](const std::string& request) {
    RawConnection connection(server.port());
    EXPECT_TRUE(connection.Send(request));
    const auto reply = connection.Read();
    return reply ? reply->status : 0;
  };
  auto with_host = [](const std::string& host) {
    return "GET /x HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  };
  EXPECT_EQ(status_for(with_host("localhost:8080")), 200);
  EXPECT_EQ(status_for(with_host("LocalHost")), 200);
  EXPECT_EQ(status_for(with_host("127.0.0.1:1")), 200);
  // A DNS-rebinding page sends its own name; an unlisted IPv6 literal is refused too.
  EXPECT_EQ(status_for(with_host("attacker.example")), 403);
  EXPECT_EQ(status_for(with_host("[::1]:8080")), 403);
  EXPECT_EQ(status_for(with_host("localhost.attacker.example")), 403);
  // No Host at all (HTTP/1.0 tools) is not a browser: it passes.
  EXPECT_EQ(status_for("GET /x HTTP/1.0\r\n\r\n"), 200);
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(with_host("attacker.example")));
  const auto refused = connection.Read();
  ASSERT_TRUE(refused.has_value());
  ExpectError(*refused, 403, "host_not_allowed");
}

TEST(HttpServerGuards, ABodyMustBeDeclaredJson) {
  Router router;
  router.Post("/x", [](const HttpRequest&) { return HttpResponse::Text("ok"); });
  router.Get("/y", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.require_json_body = true;
  TestServer server(std::move(router), options);
  auto post = [&](std::string_view type_header) {
    RawConnection connection(server.port());
    EXPECT_TRUE(connection.Send("POST /x HTTP/1.1\r\nHost: t\r\n" + std::string(type_header) +
                                "Content-Length: 2\r\n\r\n{}"));
    return connection.Read();
  };
  const auto plain = post("Content-Type: text/plain\r\n");
  ASSERT_TRUE(plain.has_value());
  ExpectError(*plain, 415, "unsupported_media_type");
  EXPECT_EQ(post("")->status, 415);
  EXPECT_EQ(post("Content-Type: application/json-seq\r\n")->status, 415);
  EXPECT_EQ(post("Content-Type: application/json\r\n")->status, 200);
  EXPECT_EQ(post("Content-Type: Application/JSON; charset=utf-8\r\n")->status, 200);
  // No body, nothing to declare.
  RawConnection get(server.port());
  ASSERT_TRUE(get.Send(Get("/y")));
  EXPECT_EQ(get.Read()->status, 200);
}

// Holds responders of async handlers until the test answers them from its own thread.
class ParkedResponders {
 public:
  void Park(HttpResponder respond) {
    std::lock_guard lock(mutex_);
    parked_.push_back(std::move(respond));
    changed_.notify_all();
  }
  bool WaitFor(size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return parked_.size() >= count; });
  }
  std::vector<HttpResponder> Take() {
    std::lock_guard lock(mutex_);
    std::vector<HttpResponder> out(parked_.begin(), parked_.end());
    parked_.clear();
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<HttpResponder> parked_;
};

TEST(HttpServerLoad, RequestsOverTheInFlightCapGet429) {
  ParkedResponders parked;
  Router router;
  router.Add("GET", "/park",
             [&parked](const HttpRequest&, HttpResponder respond) { parked.Park(respond); });
  HttpServerOptions options = TestOptions();
  options.max_requests_in_flight = 2;
  TestServer server(std::move(router), options);

  std::vector<int> statuses(2, 0);
  std::vector<std::thread> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.emplace_back([&, i] {
      HttpClient client = server.Client();
      const auto reply = client.Get("/park");
      statuses[static_cast<size_t>(i)] = reply.ok() ? reply->status : -1;
    });
  }
  ASSERT_TRUE(parked.WaitFor(2));
  HttpClient client = server.Client();
  ExpectError(client.Get("/park"), 429, "overloaded");

  // Answered from this thread, not an io thread.
  for (auto& respond : parked.Take()) respond(HttpResponse::Text("done"));
  for (auto& thread : waiting) thread.join();
  EXPECT_EQ(statuses, (std::vector<int>{200, 200}));

  // The slots came back.
  std::thread answer([&parked] {
    if (parked.WaitFor(1)) {
      for (auto& respond : parked.Take()) respond(HttpResponse::Text("again"));
    }
  });
  const auto again = client.Get("/park");
  answer.join();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(again->body, "again");
}

// ---- readiness and handler failures ----

TEST(HttpServerReadiness, NotReadyAnswers503ExceptForMarkedRoutes) {
  Router router;
  router.Get("/healthz", Answer("alive"), RouteOptions{.available_when_not_ready = true});
  router.Get("/v1/status", Answer("status"));
  TestServer server(std::move(router));
  HttpClient client = server.Client();
  server.server().SetReady(false);
  const auto health = client.Get("/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  ExpectError(client.Get("/v1/status"), 503, "not_ready");
  ExpectError(client.Get("/unknown"), 404, "not_found");
  server.server().SetReady(true);
  const auto status = client.Get("/v1/status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->status, 200);
}

TEST(HttpServerHandlers, HandlerThatNeverAnswersGets503TimeoutAndLateAnswersAreIgnored) {
  ParkedResponders parked;
  Router router;
  router.Add("GET", "/silent",
             [&parked](const HttpRequest&, HttpResponder respond) { parked.Park(respond); });
  router.Get("/x", Answer("ok"));
  HttpServerOptions options = TestOptions();
  options.handler_timeout = 200ms;
  options.max_requests_in_flight = 1;
  TestServer server(std::move(router), options);

  RawConnection connection(server.port());
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(connection.Send(Get("/silent")));
  const auto reply = connection.Read();
  ASSERT_TRUE(reply.has_value());
  ExpectError(*reply, 503, "timeout");
  EXPECT_GE(Clock::now() - start, 150ms);
  EXPECT_TRUE(reply->keep_alive);

  // The late answer (twice) writes nothing: the next reply on this connection is /x's.
  for (auto& respond : parked.Take()) {
    respond(HttpResponse::Text("late"));
    respond(HttpResponse::Text("later"));
  }
  ASSERT_TRUE(connection.Send(Get("/x")));
  const auto next = connection.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "ok") << "in-flight slot given back by the timeout";
}

TEST(HttpServerHandlers, ThrowingHandlerGets500AndTheServerLives) {
  Router router;
  router.Get("/throw", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("secret internal detail");
  });
  router.Add("GET", "/throw-anything", [](const HttpRequest&, HttpResponder) { throw 42; });
  router.Get("/x", Answer("ok"));
  TestServer server(std::move(router));
  HttpClient client = server.Client();
  const auto thrown = client.Get("/throw");
  ExpectError(thrown, 500, "internal");
  EXPECT_EQ(thrown->body.find("secret"), std::string::npos) << "no internals leak to clients";
  ExpectError(client.Get("/throw-anything"), 500, "internal");
  const auto ok = client.Get("/x");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(server.server().stats().responses_5xx, 2u);
}

TEST(HttpServerHandlers, ResponderMayBeCalledFromAnotherThread) {
  std::vector<std::thread> workers;
  std::mutex workers_mutex;
  Router router;
  router.Add("GET", "/later/{n}", [&](const HttpRequest& request, HttpResponder respond) {
    const std::string n = request.params.at("n");
    std::lock_guard lock(workers_mutex);
    workers.emplace_back([respond, n] {
      std::this_thread::sleep_for(5ms);
      respond(HttpResponse::Json({{"n", n}}));
    });
  });
  TestServer server(std::move(router));
  HttpClient client = server.Client();
  for (int i = 0; i < 10; ++i) {
    const auto reply = client.Get("/later/" + std::to_string(i));
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ(nlohmann::json::parse(reply->body)["n"], std::to_string(i));
  }
  std::lock_guard lock(workers_mutex);
  for (auto& worker : workers) worker.join();
}

// ---- keep-alive ----

TEST(HttpServerKeepAlive, SeveralRequestsShareOneConnectionIncludingPipelined) {
  Router router;
  router.Get("/n/{n}",
             [](const HttpRequest& request) { return HttpResponse::Text(request.params.at("n")); });
  TestServer server(std::move(router));
  RawConnection connection(server.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.Send(Get("/n/" + std::to_string(i))));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->body, std::to_string(i));
    EXPECT_TRUE(reply->keep_alive);
  }
  // Three requests in one write come back in order.
  ASSERT_TRUE(connection.Send(Get("/n/a") + Get("/n/b") + Get("/n/c")));
  for (const char* expected : {"a", "b", "c"}) {
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->body, expected);
  }
  EXPECT_EQ(server.server().stats().connections_accepted, 1u);
  EXPECT_EQ(server.server().stats().requests, 6u);
}

TEST(HttpServerKeepAlive, ConnectionCloseAndHttp10AreHonoured) {
  Router router;
  router.Get("/x", Answer("ok"));
  TestServer server(std::move(router));
  {
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.Send(Get("/x", "Connection: close\r\n")));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 200);
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_EQ(reply->headers.at("connection"), "close");
    EXPECT_TRUE(connection.ClosedByServer());
  }
  {
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.Send("GET /x HTTP/1.0\r\n\r\n"));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "ok");
    EXPECT_TRUE(connection.ClosedByServer()) << "HTTP/1.0 closes by default";
  }
  {
    RawConnection connection(server.port());
    ASSERT_TRUE(connection.Send("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto reply = connection.Read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_TRUE(reply->keep_alive);
    ASSERT_TRUE(connection.Send("GET /x HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(connection.Read().has_value());
    EXPECT_TRUE(connection.ClosedByServer());
  }
}

// ---- lifecycle ----

TEST(HttpServerLifecycle, StopClosesOpenConnectionsAndIgnoresLateResponders) {
  ParkedResponders parked;
  Router router;
  router.Add("GET", "/park",
             [&parked](const HttpRequest&, HttpResponder respond) { parked.Park(respond); });
  router.Get("/x", Answer("ok"));
  TestServer server(std::move(router));

  RawConnection idle(server.port());
  ASSERT_TRUE(idle.Send(Get("/x")));
  ASSERT_TRUE(idle.Read().has_value());
  RawConnection waiting(server.port());
  ASSERT_TRUE(waiting.Send(Get("/park")));
  ASSERT_TRUE(parked.WaitFor(1));
  RawConnection half(server.port());
  ASSERT_TRUE(half.Send("GET /x HTTP/1.1\r\n"));

  std::thread stopper([&server] { server.server().Stop(); });
  stopper.join();
  server.server().Stop();  // idempotent
  EXPECT_TRUE(idle.ClosedByServer());
  EXPECT_TRUE(waiting.ClosedByServer());
  EXPECT_TRUE(half.ClosedByServer());
  for (auto& respond : parked.Take()) respond(HttpResponse::Text("too late"));

  // No longer accepting: a new connection is refused or closed without an answer.
  RawConnection after(server.port());
  if (after.connected()) {
    after.Send(Get("/x"));
    EXPECT_FALSE(after.Read().has_value());
  }
}

TEST(HttpServerLifecycle, DestroyedAfterTheIoContextStoppedRunning) {
  ParkedResponders parked;
  HttpResponder kept;
  {
    asio::io_context io;
    Router router;
    router.Add("GET", "/park",
               [&parked](const HttpRequest&, HttpResponder respond) { parked.Park(respond); });
    auto started = HttpServer::Start(io, TestOptions(), std::move(router));
    ASSERT_TRUE(started.ok());
    std::unique_ptr<HttpServer> server = std::move(started).value();
    std::thread runner([&io] { io.run(); });
    RawConnection connection(server->port());
    ASSERT_TRUE(connection.Send(Get("/park")));
    ASSERT_TRUE(parked.WaitFor(1));
    kept = parked.Take().front();
    io.stop();
    runner.join();
    server.reset();  // must not wait for the io_context
  }
  // The io_context and server are gone; the responder outlived both and does nothing.
  kept(HttpResponse::Text("nobody listens"));
}

TEST(HttpServerLifecycle, PortInUseAndBadAddressAreReported) {
  TestServer first(Router{});
  asio::io_context io;
  HttpServerOptions options = TestOptions();
  options.port = first.port();
  const auto taken = HttpServer::Start(io, options, Router{});
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), ErrorCode::kIoError);
  EXPECT_EQ(taken.status().message(),
            "127.0.0.1:" + std::to_string(first.port()) + " is already in use");

  options.port = 0;
  options.bind_address = "not an address";
  const auto bad = HttpServer::Start(io, options, Router{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not an address"), std::string::npos);

  EXPECT_EQ(first.server().address(), "127.0.0.1:" + std::to_string(first.port()));
}

// ---- metrics ----

TEST(HttpServerMetrics, CountsResponsesByClassConnectionsAndLatency) {
  auto registry = std::make_shared<MetricsRegistry>();
  Router router;
  router.Get("/x", Answer("ok"));
  auto server = std::make_unique<TestServer>(std::move(router), TestOptions(), registry);
  {
    HttpClient client = server->Client();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Get("/x").ok());
    ASSERT_TRUE(client.Get("/missing").ok());
    EXPECT_EQ(registry->GetGauge("city_http_connections_open", "HTTP connections open").value(),
              1.0);
  }
  const std::string text = registry->RenderPrometheus();
  EXPECT_NE(text.find("city_http_requests_total{class=\"2xx\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("city_http_requests_total{class=\"4xx\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("city_http_request_duration_seconds_count 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE city_http_request_duration_seconds histogram\n"), std::string::npos);
  // Stopping takes the server's connections back out of the gauge; the registry outlives it.
  server.reset();
  EXPECT_EQ(registry->GetGauge("city_http_connections_open", "HTTP connections open").value(), 0.0);
}

// ---- the socket-free path the fuzz target drives ----

TEST(HttpInternal, RawRequestTakesTheServersPath) {
  Router router;
  router.Get("/v1/blocks/{height}", [](const HttpRequest& request) {
    return HttpResponse::Json({{"height", request.params.at("height")}});
  });
  HttpServerOptions options;
  options.max_body_bytes = 16;
  const auto ok = http_internal::HandleRawRequest(Get("/v1/blocks/7"), router, options);
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(ok.body(), R"({"height":"7"})");
  EXPECT_EQ(http_internal::HandleRawRequest("nonsense\r\n\r\n", router, options).result_int(),
            400u);
  EXPECT_EQ(http_internal::HandleRawRequest("GET /v1/blocks/7 HTTP/1.1\r\n", router, options)
                .result_int(),
            408u);
  EXPECT_EQ(http_internal::HandleRawRequest(
                "POST /v1/blocks/7 HTTP/1.1\r\nContent-Length: 17\r\n\r\n", router, options)
                .result_int(),
            413u);
  EXPECT_EQ(
      http_internal::HandleRawRequest(Get("/v1/blocks/7"), router, options, false).result_int(),
      503u);
}

}  // namespace
}  // namespace city::net
