// HTTP requests/s for a small JSON GET over keep-alive loopback connections (HttpServer and
// HttpClient), beside a plain TCP request/response of the same byte sizes on the same loopback:
// "vs_tcp" is the HTTP rate as a fraction of that baseline's.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "city/net/http_client.h"
#include "city/net/http_server.h"

namespace city::bench {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What a status route answers: small, typical of the API.
nlohmann::json StatusBody() {
  return {{"chain_id", "city-main"},
          {"height", 1234567},
          {"round", 3},
          {"ready", true},
          {"validators", 4}};
}

// The HTTP server under test, on one io thread (the node's API thread), for the whole run.
class HttpFixture {
 public:
  HttpFixture() {
    net::Router router;
    router.Get("/v1/status",
               [](const net::HttpRequest&) { return net::HttpResponse::Json(StatusBody()); });
    auto started = net::HttpServer::Start(io_, {}, std::move(router));
    if (!started.ok()) std::abort();
    server_ = std::move(started).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~HttpFixture() {
    server_.reset();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return server_->port(); }

  // The bytes of one request and one response on the wire, for the baseline to match.
  std::pair<size_t, size_t> WireSizes() const {
    const std::string request =
        "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port()) +
        "\r\nUser-Agent: city-http-client\r\n\r\n";
    const std::string body = StatusBody().dump();
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    return {request.size(), response.size()};
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
};

HttpFixture& Http() {
  static HttpFixture fixture;
  return fixture;
}

// The baseline: read a fixed-size request, write a fixed-size response, with the same async
// machinery (one io thread, one async read and write per request) but no HTTP.
class EchoFixture {
 public:
  EchoFixture(size_t request_size, size_t response_size)
      : request_size_(request_size),
        response_(response_size, 'r'),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~EchoFixture() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  size_t request_size() const { return request_size_; }
  size_t response_size() const { return response_.size(); }

 private:
  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(tcp::socket s, EchoFixture& f) : socket(std::move(s)), fixture(f) {}
    void Read() {
      buffer.resize(fixture.request_size_);
      asio::async_read(socket, asio::buffer(buffer),
                       [self = shared_from_this()](boost::system::error_code ec, size_t) {
                         if (!ec) self->Write();
                       });
    }
    void Write() {
      asio::async_write(socket, asio::buffer(fixture.response_),
                        [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          if (!ec) self->Read();
                        });
    }
    tcp::socket socket;
    EchoFixture& fixture;
    std::string buffer;
  };

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      boost::system::error_code option_ec;
      socket.set_option(tcp::no_delay(true), option_ec);
      std::make_shared<Connection>(std::move(socket), *this)->Read();
      Accept();
    });
  }

  size_t request_size_;
  std::string response_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

EchoFixture& Echo() {
  static EchoFixture fixture(Http().WireSizes().first, Http().WireSizes().second);
  return fixture;
}

// The baseline's total rate per thread count, from its last run, for the HTTP ratio.
std::mutex baseline_mutex;
std::map<int, double> baseline_rate;

// A blocking loopback client socket: write the request, read the response, nothing else.
class EchoClient {
 public:
  explicit EchoClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~EchoClient() { ::close(fd_); }
  EchoClient(const EchoClient&) = delete;
  EchoClient& operator=(const EchoClient&) = delete;

  bool RoundTrip(const std::string& request, std::string& response) {
    if (!ok_ || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
                    static_cast<ssize_t>(request.size())) {
      return false;
    }
    size_t got = 0;
    while (got < response.size()) {
      const ssize_t n = ::recv(fd_, response.data() + got, response.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

void BM_TcpEchoBaseline(benchmark::State& state) {
  EchoFixture& echo = Echo();
  if (state.thread_index() == 0) {
    std::lock_guard lock(baseline_mutex);
    baseline_rate[state.threads()] = 0;
  }
  EchoClient client(echo.port());
  const std::string request(echo.request_size(), 'q');
  std::string response(echo.response_size(), '\0');
  const Clock::time_point start = Clock::now();
  for (auto _ : state) {
    if (!client.RoundTrip(request, response)) {
      state.SkipWithError("echo round trip failed");
      break;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  state.counters["req/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["bytes/req"] =
      benchmark::Counter(static_cast<double>(echo.request_size() + echo.response_size()),
                         benchmark::Counter::kAvgThreads);
  if (seconds > 0) {
    std::lock_guard lock(baseline_mutex);
    baseline_rate[state.threads()] += static_cast<double>(state.iterations()) / seconds;
  }
}

void BM_HttpGetJson(benchmark::State& state) {
  HttpFixture& http = Http();
  net::HttpClient client(net::HttpUrl{"127.0.0.1", http.port(), ""});
  // Connect before timing: the benchmark is about requests on a kept-alive connection.
  if (auto warm = client.Get("/v1/status"); !warm.ok()) {
    state.SkipWithError(warm.status().ToString().c_str());
    return;
  }
  size_t bytes = 0;
  const Clock::time_point start = Clock::now();
  for (auto _ : state) {
    auto reply = client.Get("/v1/status");
    if (!reply.ok() || reply->status != 200) {
      state.SkipWithError("HTTP request failed");
      break;
    }
    bytes = reply->body.size();
    benchmark::DoNotOptimize(reply->body.data());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  state.counters["req/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["body_bytes"] =
      benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgThreads);
  double baseline = 0;
  {
    std::lock_guard lock(baseline_mutex);
    if (const auto it = baseline_rate.find(state.threads()); it != baseline_rate.end()) {
      baseline = it->second;
    }
  }
  // Each thread's share of the total HTTP rate over the total baseline rate: summed over
  // threads (the default), it is the ratio of the totals.
  if (baseline > 0 && seconds > 0) {
    state.counters["vs_tcp"] = static_cast<double>(state.iterations()) / seconds / baseline;
  }
}

// The baseline runs first so that the HTTP runs can report against it.
BENCHMARK(BM_TcpEchoBaseline)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_HttpGetJson)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace city::bench
