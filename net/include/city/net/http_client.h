// A small blocking HTTP/1.1 client (Boost.Beast) for cityctl, tests and benchmarks: one
// keep-alive connection to one server, a deadline on every request, bounded responses.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "city/net/tls.h"
#include "city/status.h"

namespace city::net {

struct HttpUrl {
  std::string host;  // a name or an IPv4/IPv6 literal (without brackets)
  uint16_t port = 80;
  std::string base_path;  // without a trailing '/', often empty
  bool tls = false;       // https
};
// "http://127.0.0.1:8080", "https://node.example:8443/api", "127.0.0.1:8080" (http). Another
// scheme, a bad port or garbage is kInvalidArgument with a message naming the problem.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
};

// Headers to add to one request, given what it sends: the method, the full target (base
// path included, as the server receives it) and the body. For signed requests.
using HttpRequestSigner = std::function<std::map<std::string, std::string>(
    std::string_view method, std::string_view target, std::string_view body)>;

struct HttpClientOptions {
  std::chrono::milliseconds timeout{10'000};  // per request: connect, send and receive
  size_t max_response_bytes = 64 * 1024 * 1024;
  HttpRequestSigner signer;  // optional
  TlsClientTrust trust;      // for https URLs
};

// Not thread-safe: one client per thread. Reconnects when the server closed the connection.
class HttpClient {
 public:
  explicit HttpClient(HttpUrl url, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // `target` is appended to the URL's base path, e.g. "/v1/status?x=1". Any reply, whatever
  // its status, is a success; failures are transport errors: kIoError "cannot connect to
  // 127.0.0.1:8080: Connection refused", "timed out after 10000 ms", kTooLarge for a reply
  // above the maximum, kMalformed for one that is not HTTP.
  Result<HttpReply> Get(std::string_view target);
  Result<HttpReply> Post(std::string_view target, std::string_view body,
                         std::string_view content_type = "application/json");
  Result<HttpReply> Request(std::string_view method, std::string_view target, std::string_view body,
                            std::string_view content_type);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace city::net
