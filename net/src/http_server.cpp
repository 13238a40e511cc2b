// The client HTTP/1.1 API server: routing, request decoding, and one Beast session per
// connection that enforces every limit in HttpServerOptions and answers every failure in JSON.
#include "city/net/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <cassert>
#include <limits>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "beast.h"
#include "city/net/metrics.h"
#include "city/net/rate_limiter.h"
#include "http_internal.h"
#include "tls_internal.h"

namespace city::net {

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// After an error response the rest of the request is read and discarded for a moment, so
// that closing with unread data does not reset the connection before the client reads the
// answer. Bounded in both time and bytes.
constexpr std::chrono::milliseconds kLingerTime{500};
constexpr size_t kMaxLingerBytes = 1024 * 1024;

std::string EndpointName(const tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

std::string Millis(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

}  // namespace

namespace http_internal {

// What the server holds of a session, whatever its stream (plain TCP or TLS).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  virtual void Refuse(std::string why) = 0;
  virtual void CloseSoon() = 0;
};
template <typename Stream>
class HttpSession;

// One request handed to a handler: whoever answers first (the responder, the handler timeout,
// a throwing handler, the connection closing) claims it and gives back its in-flight slot.
struct PendingRequest {
  explicit PendingRequest(std::shared_ptr<std::atomic<size_t>> in_flight)
      : in_flight(std::move(in_flight)) {}
  bool Claim() {
    if (answered.exchange(true, std::memory_order_acq_rel)) return false;
    in_flight->fetch_sub(1, std::memory_order_relaxed);
    return true;
  }
  std::atomic<bool> answered{false};
  // Not the server itself: a responder kept by a handler must not keep io objects alive.
  std::shared_ptr<std::atomic<size_t>> in_flight;
};

struct ServerMetrics {
  std::array<Counter*, 4> responses{};  // by status class, 2xx .. 5xx
  Counter* refused = nullptr;
  Counter* rate_limited = nullptr;
  Gauge* open = nullptr;
  Histogram* latency = nullptr;
};

}  // namespace http_internal

using http_internal::HttpSession;
using http_internal::SessionBase;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, HttpServerOptions options, Router router)
      : io(io),
        options(std::move(options)),
        router(std::move(router)),
        acceptor(asio::make_strand(io)),
        accept_retry(acceptor.get_executor()) {
    if (this->options.requests_per_second_per_ip > 0) {
      limiter.emplace(this->options.requests_per_second_per_ip,
                      2 * this->options.requests_per_second_per_ip);
    }
  }

  // Whether a request from `remote_address` is within its rate (and counts it).
  bool WithinRate(const std::string& remote_address) {
    if (!limiter) return true;
    const auto& exempt = options.rate_limit_exempt;
    if (std::find(exempt.begin(), exempt.end(), remote_address) != exempt.end()) return true;
    if (limiter->Allow(remote_address)) return true;
    rate_limited.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(metrics_mutex);
    if (metrics) metrics->rate_limited->Increment();
    return false;
  }

  void DoAccept();
  void OnAccept(const beast::error_code& ec, tcp::socket socket);
  bool Register(const std::shared_ptr<SessionBase>& session);
  void Unregister(const SessionBase* session);
  void ReleaseConnection(const std::string& remote_address);
  void RecordResponse(int status, std::optional<Clock::duration> latency);
  void Stop();

  asio::io_context& io;
  const HttpServerOptions options;
  const Router router;
  tcp::acceptor acceptor;           // used on its strand only
  asio::steady_timer accept_retry;  // same strand
  tcp::endpoint endpoint;
  std::atomic<bool> stopped{false};
  std::atomic<bool> ready{true};
  std::shared_ptr<std::atomic<size_t>> in_flight = std::make_shared<std::atomic<size_t>>(0);
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses_4xx{0};
  std::atomic<uint64_t> responses_5xx{0};
  std::atomic<uint64_t> rate_limited{0};
  std::optional<RateLimiter> limiter;  // when requests_per_second_per_ip > 0

  std::mutex sessions_mutex;
  // Every live session (refusals included), so that Stop can close them.
  std::unordered_map<const SessionBase*, std::weak_ptr<SessionBase>> sessions;  // sessions_mutex
  std::optional<asio::ssl::context> tls;  // when options.tls: every connection speaks TLS

  // Open connections and the gauge change together under this lock, so that Stop can take
  // this server's share back out of the gauge exactly.
  std::mutex metrics_mutex;
  std::atomic<uint64_t> connections_open{0};            // written under metrics_mutex
  std::unordered_map<std::string, size_t> open_per_ip;  // metrics_mutex
  std::optional<http_internal::ServerMetrics> metrics;  // metrics_mutex; reset by Stop
  std::shared_ptr<MetricsRegistry> registry;            // what `metrics` points into
};

namespace http_internal {

// One accepted connection, over plain TCP (beast::tcp_stream) or TLS (TlsStream). Everything
// but the responder runs on the socket's strand.
template <typename Stream>
class HttpSession : public SessionBase, public std::enable_shared_from_this<HttpSession<Stream>> {
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;
  using std::enable_shared_from_this<HttpSession<Stream>>::weak_from_this;

 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... StreamArgs>
  HttpSession(std::shared_ptr<HttpServer::Impl> server, bool counted, std::string remote_address,
              tcp::socket socket, StreamArgs&... stream_args)
      : server_(std::move(server)),
        options_(server_->options),
        stream_(std::move(socket), stream_args...),
        request_timer_(stream_.get_executor()),
        handler_timer_(stream_.get_executor()),
        counted_(counted),
        remote_address_(std::move(remote_address)) {}

  ~HttpSession() override {
    if (counted_) server_->ReleaseConnection(remote_address_);
    server_->Unregister(this);
  }

  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void Start() override {
    Post([this] { Handshake([this] { ReadRequest(); }); });
  }
  // Over a connection cap: say so, then close.
  void Refuse(std::string why) override {
    Post([this, why = std::move(why)] {
      Handshake([this, why] {
        WriteResponse(HttpResponse::Error(429, "overloaded", why), /*keep_alive=*/false);
      });
    });
  }
  void CloseSoon() override {
    Post([this] { Close(); });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  // TLS first (within the request timeout: a client that never finishes it is dropped), then
  // `next`. Over plain TCP, `next` at once.
  template <typename F>
  void Handshake(F next) {
    if constexpr (!kTls) {
      next();
    } else {
      Lowest().expires_after(options_.request_timeout);
      stream_.async_handshake(
          asio::ssl::stream_base::server,
          [self = shared_from_this(), next = std::move(next)](beast::error_code ec) mutable {
            self->Guarded([&] {
              if (ec || self->closed_) {
                self->Close();  // not TLS, or not in time: nobody to answer
                return;
              }
              self->Lowest().expires_never();
              next();
            });
          });
    }
  }

  template <typename F>
  void Post(F work) {
    asio::post(stream_.get_executor(),
               [self = shared_from_this(), work = std::move(work)]() { self->Guarded(work); });
  }

  // Nothing may escape into Asio's run(): a failure here ends this connection only.
  template <typename F>
  void Guarded(const F& work) noexcept {
    try {
      work();
    } catch (const std::exception& e) {
      spdlog::warn("http: closing a connection after an error: {}", e.what());
      Close();
    } catch (...) {
      Close();
    }
  }

  void ReadRequest() {
    if (closed_) return;
    parser_.emplace();
    ConfigureParser(*parser_, options_);
    continue_sent_ = false;
    ContinueReading();
  }

  // Parses what is buffered, then reads what is missing: the header first (so that an
  // oversized Content-Length or an "Expect: 100-continue" is handled before the body is
  // sent), then the body.
  void ContinueReading() {
    // A request already buffered (pipelined, or read while idle) needs no timer or read.
    beast::error_code ec;
    if (ParseBuffered(ec)) {
      OnRead(ec);
      return;
    }
    if (!reading_) {
      reading_ = true;
      request_timed_out_ = false;
      const uint64_t read_id = ++read_id_;
      // The request timeout is our own timer rather than the stream's, because the stream's
      // closes the socket and a slow client is owed a 408.
      request_timer_.expires_after(options_.request_timeout);
      request_timer_.async_wait([self = shared_from_this(), read_id](beast::error_code timer_ec) {
        self->Guarded([&] { self->OnRequestTimer(timer_ec, read_id); });
      });
    }
    Lowest().expires_never();
    if (!parser_->is_header_done()) {
      http::async_read_header(stream_, buffer_, *parser_,
                              [self = shared_from_this()](beast::error_code read_ec, size_t) {
                                self->Guarded([&] {
                                  if (read_ec || self->closed_) {
                                    self->OnRead(read_ec);
                                  } else {
                                    self->ContinueReading();
                                  }
                                });
                              });
      return;
    }
    if (WantsContinue()) {
      // curl and others wait (a second, for curl) for this before sending a large body.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      continue_sent_ = true;
      Lowest().expires_after(options_.write_timeout);
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code write_ec, size_t) {
                          self->Guarded([&] {
                            if (write_ec || self->closed_) {
                              self->OnRead(write_ec);
                            } else {
                              self->ContinueReading();
                            }
                          });
                        });
      return;
    }
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code read_ec, size_t) {
                       self->Guarded([&] { self->OnRead(read_ec); });
                     });
  }

  bool WantsContinue() const {
    if (continue_sent_ || parser_->is_done()) return false;
    const auto& message = parser_->get();
    return message.version() >= 11 && Lower(message[http::field::expect]) == "100-continue";
  }

  // True when the buffered bytes complete the request or are an error.
  bool ParseBuffered(beast::error_code& ec) {
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        return false;
      }
      if (ec) return true;
      if (used == 0) return false;
    }
    return parser_->is_done();
  }

  void OnRequestTimer(beast::error_code ec, uint64_t read_id) {
    if (ec || closed_ || !reading_ || read_id != read_id_) return;
    request_timed_out_ = true;
    Lowest().cancel();
  }

  void OnRead(beast::error_code ec) {
    if (reading_) {
      reading_ = false;
      request_timer_.cancel();
    }
    if (closed_) return;
    if (parser_->is_header_done()) version_ = parser_->get().version();
    if (ec && request_timed_out_) {
      WriteResponse(HttpResponse::Error(
                        408, "request_timeout",
                        "the request did not arrive within " + Millis(options_.request_timeout)),
                    /*keep_alive=*/false);
      return;
    }
    if (ec) {
      std::optional<HttpResponse> answer = ParseErrorResponse(ec, options_);
      if (answer) {
        WriteResponse(std::move(*answer), /*keep_alive=*/false);
      } else {
        Close();  // the client left or the read was cancelled: nobody to answer
      }
      return;
    }
    OnRequest();
  }

  void OnRequest() {
    keep_alive_ = parser_->get().keep_alive();
    started_ = Clock::now();
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    const uint64_t id = ++request_id_;
    Result<HttpRequest> decoded = ToHttpRequest(parser_->release());
    if (!decoded.ok()) {
      WriteResponse(HttpResponse::Error(400, "bad_request", decoded.status().message()),
                    keep_alive_);
      return;
    }
    HttpRequest& request = *decoded;
    request.remote_address = remote_address_;
    Router::Match match = server_->router.Find(request.method, request.path);
    if (auto refusal = RouteRefusal(request, match, server_->ready.load(std::memory_order_relaxed),
                                    options_)) {
      WriteResponse(std::move(*refusal), keep_alive_);
      return;
    }
    if (!server_->WithinRate(remote_address_)) {
      HttpResponse refusal = HttpResponse::Error(
          429, "rate_limited",
          "too many requests from " + remote_address_ + " (at most " +
              std::to_string(static_cast<uint64_t>(options_.requests_per_second_per_ip)) +
              " a second)");
      refusal.headers["Retry-After"] = "1";
      WriteResponse(std::move(refusal), keep_alive_);
      return;
    }
    if (server_->in_flight->fetch_add(1, std::memory_order_relaxed) >=
        options_.max_requests_in_flight) {
      server_->in_flight->fetch_sub(1, std::memory_order_relaxed);
      WriteResponse(HttpResponse::Error(429, "overloaded",
                                        "too many requests in flight (at most " +
                                            std::to_string(options_.max_requests_in_flight) + ")"),
                    keep_alive_);
      return;
    }
    request.params = std::move(match.params);
    auto pending = std::make_shared<PendingRequest>(server_->in_flight);
    pending_ = pending;
    awaiting_response_ = true;

    HttpResponder respond = [weak = weak_from_this(), pending, id](HttpResponse response) {
      if (!pending->Claim()) return;
      const std::shared_ptr<HttpSession<Stream>> self = weak.lock();
      if (!self) return;
      // Inline when the handler answers on this strand; otherwise queued onto it.
      asio::dispatch(self->stream_.get_executor(),
                     [self, id, response = std::move(response)]() mutable {
                       self->Guarded([&] { self->Deliver(id, std::move(response)); });
                     });
    };
    try {
      (*match.handler)(request, std::move(respond));
    } catch (const std::exception& e) {
      spdlog::warn("http: handler for {} {} threw: {}", request.method, request.path, e.what());
      if (pending->Claim()) Deliver(id, HttpResponse::Error(500, "internal", kHandlerFailed));
      return;
    } catch (...) {
      spdlog::warn("http: handler for {} {} threw", request.method, request.path);
      if (pending->Claim()) Deliver(id, HttpResponse::Error(500, "internal", kHandlerFailed));
      return;
    }
    if (awaiting_response_ && request_id_ == id && !closed_) {
      handler_timer_.expires_after(options_.handler_timeout);
      handler_timer_.async_wait([self = shared_from_this(), id](beast::error_code ec) {
        self->Guarded([&] { self->OnHandlerTimeout(ec, id); });
      });
    }
  }

  void OnHandlerTimeout(beast::error_code ec, uint64_t id) {
    if (ec || closed_ || id != request_id_ || !awaiting_response_) return;
    if (pending_->Claim()) {
      Deliver(id, HttpResponse::Error(
                      503, "timeout",
                      "the handler did not answer within " + Millis(options_.handler_timeout)));
    }
  }

  void Deliver(uint64_t id, HttpResponse response) {
    if (closed_ || id != request_id_ || !awaiting_response_) return;
    awaiting_response_ = false;
    pending_.reset();
    handler_timer_.cancel();
    WriteResponse(std::move(response), keep_alive_);
  }

  void WriteResponse(HttpResponse response, bool keep_alive) {
    if (closed_) return;
    if (response.body.size() > options_.max_response_bytes) {
      spdlog::warn("http: an answer of {} bytes is over the {} byte cap", response.body.size(),
                   options_.max_response_bytes);
      response = HttpResponse::Error(500, "response_too_large",
                                     "the answer is larger than this node sends (" +
                                         std::to_string(options_.max_response_bytes) +
                                         " bytes); ask for a smaller page");
    }
    keep_alive = keep_alive && !server_->stopped.load(std::memory_order_relaxed);
    response_ =
        std::make_unique<BeastResponse>(ToBeastResponse(std::move(response), version_, keep_alive));
    // Counted before the write, so that a client holding its answer also sees it counted.
    std::optional<Clock::duration> latency;
    if (started_) latency = Clock::now() - *started_;
    started_.reset();
    server_->RecordResponse(response_->result_int(), latency);
    Lowest().expires_after(options_.write_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->Guarded([&] { self->OnWrite(ec); });
                      });
  }

  void OnWrite(beast::error_code ec) {
    Lowest().expires_never();
    const bool keep_alive = response_->keep_alive();
    response_.reset();
    if (closed_) return;
    if (ec) {
      Close();
    } else if (!keep_alive) {
      LingeringClose();
    } else {
      WaitForNextRequest();
    }
  }

  void WaitForNextRequest() {
    if (buffer_.size() > 0) {
      ReadRequest();
      return;
    }
    // Idle between requests: the stream's own timeout closes the socket, which is all an idle
    // connection needs.
    Lowest().expires_after(options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->Guarded([&] { self->OnIdleRead(ec, n); });
                            });
  }

  void OnIdleRead(beast::error_code ec, size_t n) {
    if (closed_) return;
    if (ec) {
      Close();
      return;
    }
    Lowest().expires_never();
    buffer_.commit(n);
    ReadRequest();
  }

  void LingeringClose() {
    if (closed_) return;
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      Close();
      return;
    }
    buffer_.clear();
    // One deadline for the whole drain: the stream's timer covers every read started after it.
    Lowest().expires_after(std::min(kLingerTime, options_.write_timeout));
    Drain();
  }

  void Drain() {
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->Guarded([&] {
                                self->drained_ += n;
                                if (ec || self->drained_ >= kMaxLingerBytes) {
                                  self->Close();
                                } else if (!self->closed_) {
                                  self->Drain();
                                }
                              });
                            });
  }

  void Close() noexcept {
    if (closed_) return;
    closed_ = true;
    reading_ = false;
    awaiting_response_ = false;
    if (pending_) {
      pending_->Claim();  // the slot is free even if the handler never answers
      pending_.reset();
    }
    try {
      request_timer_.cancel();
      handler_timer_.cancel();
    } catch (...) {
      // Timer cancellation only throws on OS failures; the socket close below still runs.
    }
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
    if (counted_) {
      counted_ = false;
      server_->ReleaseConnection(remote_address_);
    }
  }

  const std::shared_ptr<HttpServer::Impl> server_;
  const HttpServerOptions& options_;  // the server's, alive as long as server_
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  asio::steady_timer request_timer_;
  asio::steady_timer handler_timer_;
  uint64_t read_id_ = 0;  // tells a stale request timer from the current one
  bool reading_ = false;  // a request is being read, under request_timer_
  bool request_timed_out_ = false;
  bool continue_sent_ = false;
  uint64_t request_id_ = 0;
  bool awaiting_response_ = false;
  std::shared_ptr<PendingRequest> pending_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  std::optional<Clock::time_point> started_;
  std::unique_ptr<BeastResponse> response_;  // alive while it is written
  size_t drained_ = 0;
  bool closed_ = false;
  bool counted_;                      // holds one of the server's connection slots
  const std::string remote_address_;  // the client's IP, read once at accept
};

}  // namespace http_internal

// ---- server ----

void HttpServer::Impl::DoAccept() {
  acceptor.async_accept(asio::make_strand(io),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          try {
                            self->OnAccept(ec, std::move(socket));
                          } catch (const std::exception& e) {
                            // Out of memory or descriptors while setting up one connection: drop
                            // it, keep accepting.
                            spdlog::warn("http: accepting a connection failed: {}", e.what());
                            if (!self->stopped.load()) self->DoAccept();
                          }
                        });
}

void HttpServer::Impl::OnAccept(const beast::error_code& ec, tcp::socket socket) {
  if (stopped.load()) return;
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: back off briefly rather than spin on the error.
    accept_retry.expires_after(std::chrono::milliseconds(50));
    accept_retry.async_wait([self = shared_from_this()](beast::error_code timer_ec) {
      if (!timer_ec && !self->stopped.load()) self->DoAccept();
    });
    return;
  }
  beast::error_code option_ec;
  socket.set_option(tcp::no_delay(true), option_ec);  // small responses go out at once
  std::string remote_address;
  if (const auto remote = socket.remote_endpoint(option_ec); !option_ec) {
    remote_address = remote.address().to_string();
  }
  std::shared_ptr<SessionBase> session;
  bool counted = false;
  std::string refusal;
  {
    std::lock_guard lock(metrics_mutex);
    const size_t from_ip = open_per_ip.contains(remote_address) ? open_per_ip[remote_address] : 0;
    if (connections_open.load() >= options.max_connections) {
      refusal = "too many connections (at most " + std::to_string(options.max_connections) + ")";
    } else if (options.max_connections_per_ip != 0 && from_ip >= options.max_connections_per_ip) {
      refusal = "too many connections from " + remote_address + " (at most " +
                std::to_string(options.max_connections_per_ip) + " per address)";
    } else {
      counted = true;
      connections_open.fetch_add(1);
      ++open_per_ip[remote_address];
      if (metrics) metrics->open->Add(1);
    }
    if (!counted && metrics) metrics->refused->Increment();
  }
  if (counted) {
    connections_accepted.fetch_add(1, std::memory_order_relaxed);
  } else {
    connections_refused.fetch_add(1, std::memory_order_relaxed);
  }
  if (tls) {
    session = std::make_shared<HttpSession<TlsStream>>(
        shared_from_this(), counted, std::move(remote_address), std::move(socket), *tls);
  } else {
    session = std::make_shared<HttpSession<beast::tcp_stream>>(
        shared_from_this(), counted, std::move(remote_address), std::move(socket));
  }
  if (Register(session)) {
    if (counted) {
      session->Start();
    } else {
      session->Refuse(std::move(refusal));
    }
  }
  DoAccept();
}

bool HttpServer::Impl::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard lock(sessions_mutex);
  // Checked under the lock Stop takes to collect sessions: either Stop sees this session or
  // this sees Stop.
  if (stopped.load()) return false;
  sessions.emplace(session.get(), session);
  return true;
}

void HttpServer::Impl::Unregister(const SessionBase* session) {
  std::lock_guard lock(sessions_mutex);
  sessions.erase(session);
}

void HttpServer::Impl::ReleaseConnection(const std::string& remote_address) {
  std::lock_guard lock(metrics_mutex);
  connections_open.fetch_sub(1);
  if (auto it = open_per_ip.find(remote_address); it != open_per_ip.end() && --it->second == 0) {
    open_per_ip.erase(it);
  }
  if (metrics) metrics->open->Add(-1);
}

void HttpServer::Impl::RecordResponse(int status, std::optional<Clock::duration> latency) {
  if (status >= 500) {
    responses_5xx.fetch_add(1, std::memory_order_relaxed);
  } else if (status >= 400) {
    responses_4xx.fetch_add(1, std::memory_order_relaxed);
  }
  std::lock_guard lock(metrics_mutex);
  if (!metrics) return;
  const int status_class = status / 100;
  if (status_class >= 2 && status_class <= 5) metrics->responses[status_class - 2]->Increment();
  if (latency) metrics->latency->Observe(std::chrono::duration<double>(*latency).count());
}

void HttpServer::Impl::Stop() {
  if (stopped.exchange(true)) return;
  asio::post(acceptor.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor.close(ec);
    self->accept_retry.cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(sessions_mutex);
    for (const auto& [key, weak] : sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (const auto& session : live) session->CloseSoon();
  // After this nothing touches the registry, which may go away with the server.
  std::lock_guard lock(metrics_mutex);
  if (metrics) metrics->open->Add(-static_cast<double>(connections_open.load()));
  metrics.reset();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(asio::io_context& io,
                                                      HttpServerOptions options, Router router,
                                                      std::shared_ptr<MetricsRegistry> metrics) {
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.bind_address, ec);
  if (ec) {
    return Status(ErrorCode::kInvalidArgument,
                  "cannot parse the bind address '" + options.bind_address + "'");
  }
  const tcp::endpoint endpoint(address, options.port);
  const std::string name = EndpointName(endpoint);
  auto impl = std::make_shared<Impl>(io, std::move(options), std::move(router));
  if (impl->options.tls) {
    Result<asio::ssl::context> context = ServerTlsContext(*impl->options.tls);
    if (!context.ok()) return context.status();
    impl->tls.emplace(std::move(*context));
  }
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) {
    return Status(ErrorCode::kIoError, "cannot open a socket for " + name + ": " + ec.message());
  }
  // Lets a restarted node bind while old connections sit in TIME_WAIT; a live listener on
  // the port still makes bind fail on Linux.
  if (impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return Status(ErrorCode::kIoError, "cannot configure " + name + ": " + ec.message());
  }
  if (impl->acceptor.bind(endpoint, ec); ec) {
    if (ec == asio::error::address_in_use) {
      return Status(ErrorCode::kIoError, name + " is already in use");
    }
    return Status(ErrorCode::kIoError, "cannot bind " + name + ": " + ec.message());
  }
  if (impl->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Status(ErrorCode::kIoError, "cannot listen on " + name + ": " + ec.message());
  }
  impl->endpoint = impl->acceptor.local_endpoint(ec);
  if (ec) return Status(ErrorCode::kIoError, "cannot read the address of " + name);

  if (metrics != nullptr) {
    http_internal::ServerMetrics m;
    static constexpr std::array<std::string_view, 4> kClasses = {"2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < kClasses.size(); ++i) {
      m.responses[i] =
          &metrics->GetCounter("city_http_requests_total", "HTTP responses sent, by status class",
                               {{"class", std::string(kClasses[i])}});
    }
    m.refused = &metrics->GetCounter("city_http_connections_refused_total",
                                     "HTTP connections refused over the connection cap");
    m.rate_limited = &metrics->GetCounter(
        "city_http_rate_limited_total", "HTTP requests refused over the per-address request rate");
    m.open = &metrics->GetGauge("city_http_connections_open", "HTTP connections open");
    m.latency =
        &metrics->GetHistogram("city_http_request_duration_seconds",
                               "Time from a request's arrival until its response is ready to send",
                               LatencyBucketsSeconds());
    std::lock_guard lock(impl->metrics_mutex);
    impl->metrics = m;
    impl->registry = std::move(metrics);
  }

  impl->DoAccept();
  // The constructor is private (servers exist only started), so make_unique cannot reach it.
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (impl_) impl_->Stop();
}

uint16_t HttpServer::port() const { return impl_->endpoint.port(); }

std::string HttpServer::address() const { return EndpointName(impl_->endpoint); }

void HttpServer::SetReady(bool ready) { impl_->ready.store(ready); }

void HttpServer::Stop() { impl_->Stop(); }

HttpServerStats HttpServer::stats() const {
  HttpServerStats stats;
  stats.connections_accepted = impl_->connections_accepted.load();
  stats.connections_refused = impl_->connections_refused.load();
  stats.connections_open = impl_->connections_open.load();
  stats.requests = impl_->requests.load();
  stats.responses_4xx = impl_->responses_4xx.load();
  stats.responses_5xx = impl_->responses_5xx.load();
  stats.rate_limited = impl_->rate_limited.load();
  return stats;
}

}  // namespace city::net
