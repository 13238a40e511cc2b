// The client HTTP/1.1 API server (Boost.Beast): routes registered by the node, JSON in and
// out, hard limits on everything a client controls, and one error shape for every failure:
//   { "error": { "code": "<stable snake_case code>", "message": "<for people>" } }
// Statuses: 400 bad input, 404 unknown path, 405 known path with another method, 408 a client
// too slow to send its request, 413 too large (body or headers), 429 overloaded (connection
// or in-flight cap), 500 a handler failed, 503 not ready (or a handler that did not answer
// in time). Binds to 127.0.0.1 unless told otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "city/net/tls.h"
#include "city/status.h"

namespace boost::asio {
class io_context;
}

namespace city::net {

class MetricsRegistry;

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as received: path and query, still encoded
  std::string path;                            // percent-decoded, without the query string
  std::map<std::string, std::string> query;    // percent-decoded; a repeated name keeps the last
  std::map<std::string, std::string> params;   // captured by the route's {name} segments
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // the client's IP ("127.0.0.1", "::1"); "" when unknown

  // The body as JSON: kInvalidArgument (answered with 400) when it does not parse.
  Result<nlohmann::json> JsonBody() const;
  // A query parameter, or `fallback` when absent.
  std::string QueryOr(std::string_view name, std::string_view fallback) const;
};

// JSON text as every answer writes it: compact, invalid UTF-8 replaced by U+FFFD (a handler
// echoing bad bytes does not throw).
std::string DumpJson(const nlohmann::json& value);

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers

  static HttpResponse Json(const nlohmann::json& value, int status = 200);
  static HttpResponse Text(std::string body, std::string content_type = "text/plain");
  // The error object above, with `code` as given (e.g. "not_found").
  static HttpResponse Error(int status, std::string_view code, std::string_view message);
  // A failed Status as an error: the code is ErrorCodeName(status.code()); the HTTP status
  // follows the code (invalid_argument, malformed -> 400; not_found -> 404; too_large -> 413;
  // bad_signature -> 400; unauthenticated -> 401; permission_denied -> 403;
  // already_exists -> 409; pruned -> 410; anything else -> 500).
  static HttpResponse FromStatus(const Status& status);
};

// Called exactly once per request, from any thread; later calls are ignored. A handler that
// never calls it is answered with 503 "timeout" after HttpServerOptions::handler_timeout.
using HttpResponder = std::function<void(HttpResponse)>;
using AsyncHttpHandler = std::function<void(const HttpRequest&, HttpResponder)>;
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct RouteOptions {
  // Served while the server is not ready (health and metrics); other routes answer 503.
  bool available_when_not_ready = false;
};

// Maps (method, path) to handlers. A pattern is a path whose segments may be "{name}",
// capturing one whole non-empty segment into HttpRequest::params, e.g. "/v1/blocks/{height}".
// Literal segments win over captures. Registering the same (method, pattern) twice is a
// programmer error (asserted).
class Router {
 public:
  void Get(std::string_view pattern, HttpHandler handler, RouteOptions options = {});
  void Post(std::string_view pattern, HttpHandler handler, RouteOptions options = {});
  void Add(std::string_view method, std::string_view pattern, AsyncHttpHandler handler,
           RouteOptions options = {});

  struct Match {
    const AsyncHttpHandler* handler = nullptr;  // null: see status
    RouteOptions options;
    std::map<std::string, std::string> params;
    int status = 200;  // 404 no such path, 405 the path exists for other methods
  };
  Match Find(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    AsyncHttpHandler handler;
    RouteOptions options;
  };
  std::vector<Route> routes_;
};

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;                  // 0: an ephemeral port (see HttpServer::port)
  size_t max_connections = 256;       // beyond it: 429, then close
  size_t max_connections_per_ip = 0;  // from one client address; 0: no cap of its own
  // Names a request's Host header may carry (without the port, lower case); empty: any. A
  // browser page elsewhere that reaches a local node through DNS rebinding sends its own
  // name, and is refused with 403 "host_not_allowed". A request without Host passes.
  std::vector<std::string> allowed_hosts;
  // A request with a body must declare "Content-Type: application/json", or 415: a web
  // page can send a cross-site "simple" POST (text/plain) without asking first.
  bool require_json_body = false;
  // Requests one client address may make per second, with bursts up to twice that; beyond
  // it: 429 "rate_limited" with Retry-After. 0: no limit. Addresses in
  // rate_limit_exempt (e.g. the operator's own loopback) are not limited.
  double requests_per_second_per_ip = 0;
  std::vector<std::string> rate_limit_exempt;
  // An answer larger than this is not sent: 500 "response_too_large" (a handler that pages
  // by bytes never gets there; this is the bound for one that does not).
  size_t max_response_bytes = 64 * 1024 * 1024;
  // Every connection speaks TLS with this certificate (https only; a plain request is
  // dropped at the handshake). Unset: plain HTTP.
  std::optional<TlsServerFiles> tls;
  size_t max_requests_in_flight = 1024;     // handlers not yet answered; beyond it: 429
  size_t max_header_bytes = 16 * 1024;      // beyond it: 413
  size_t max_body_bytes = 8 * 1024 * 1024;  // beyond it: 413 (checked on Content-Length first)
  // The whole request (headers and body) must arrive within this: 408, then close.
  std::chrono::milliseconds request_timeout{10'000};
  // A keep-alive connection idle this long between requests is closed.
  std::chrono::milliseconds idle_timeout{30'000};
  // A handler must answer within this (long-polls answer before it): 503 "timeout".
  std::chrono::milliseconds handler_timeout{60'000};
  // Writing a response must finish within this, or the connection is dropped.
  std::chrono::milliseconds write_timeout{10'000};
};

struct HttpServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over the connection cap
  uint64_t connections_open = 0;
  uint64_t requests = 0;
  uint64_t responses_4xx = 0;
  uint64_t responses_5xx = 0;
  uint64_t rate_limited = 0;  // requests refused by requests_per_second_per_ip
};

class HttpServer {
 public:
  // Binds and starts accepting on `io`, whose threads then run the handlers. Errors name
  // the address: kIoError "127.0.0.1:8080 is already in use", kInvalidArgument for an
  // address that does not parse. With `metrics`, the server reports its counters there
  // (city_http_*), sharing the registry as PeerNetwork does.
  static Result<std::unique_ptr<HttpServer>> Start(
      boost::asio::io_context& io, HttpServerOptions options, Router router,
      std::shared_ptr<MetricsRegistry> metrics = nullptr);
  ~HttpServer();  // stops first

  uint16_t port() const;
  // "127.0.0.1:8080"
  std::string address() const;

  // Until ready, routes not marked available_when_not_ready answer 503 "not_ready".
  // Starts ready. Thread-safe.
  void SetReady(bool ready);

  // Stops accepting and closes every connection. Handlers already running may still call
  // their responders; those calls are ignored. Thread-safe; idempotent.
  void Stop();

  HttpServerStats stats() const;  // thread-safe

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace city::net
