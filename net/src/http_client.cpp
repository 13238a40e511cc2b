// The blocking HTTP/1.1 client: async Beast operations on a private io_context, run until
// they finish or the request's deadline passes, so a silent server costs a timeout, not a hang.
#include "city/net/http_client.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <limits>
#include <optional>
#include <vector>

#include "beast.h"
#include "tls_internal.h"

namespace city::net {

namespace {

// Headers of a reply are small; this bounds them independently of a large body allowance.
constexpr size_t kMaxReplyHeaderBytes = 64 * 1024;

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Visible ASCII only: a space, CR or LF in a target would end the request line early.
bool IsTargetText(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

bool ValidHeaderValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

// The peer closed a kept-alive connection (an idle timeout on its side, a restart).
bool PeerClosed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  const std::string quoted = "'" + std::string(url) + "'";
  const auto invalid = [&](std::string problem) {
    return Status(ErrorCode::kInvalidArgument, problem + " in URL " + quoted);
  };
  std::string_view rest = url;
  bool tls = false;
  if (const size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    const std::string scheme = Lower(rest.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") {
      return invalid("unsupported scheme '" + scheme + "' (http or https)");
    }
    tls = scheme == "https";
    rest.remove_prefix(scheme_end + 3);
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid("a query or fragment");
  }
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return invalid("user information");

  HttpUrl result;
  result.tls = tls;
  result.port = tls ? 443 : 80;
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("an unterminated IPv6 address");
    result.host = std::string(authority.substr(1, close - 1));
    beast::error_code ec;
    asio::ip::make_address_v6(result.host, ec);
    if (ec) return invalid("a bad IPv6 address '" + result.host + "'");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("text after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return invalid("an IPv6 address without brackets");
    }
    result.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (result.host.empty()) return invalid("no host");
    if (!std::all_of(result.host.begin(), result.host.end(), IsHostChar)) {
      return invalid("a bad host '" + result.host + "'");
    }
  }
  if (port_text) {
    uint32_t port = 0;
    const bool digits = !port_text->empty() && port_text->size() <= 5 &&
                        std::all_of(port_text->begin(), port_text->end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      for (const char c : *port_text) port = port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (!digits || port == 0 || port > 65535) {
      return invalid("a bad port '" + std::string(*port_text) + "'");
    }
    result.port = static_cast<uint16_t>(port);
  }
  if (!IsTargetText(path)) return invalid("a bad path");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  result.base_path = std::string(path);
  return result;
}

struct HttpClient::Impl {
  Impl(HttpUrl url_in, HttpClientOptions options_in)
      : url(std::move(url_in)),
        options(options_in),
        authority(url.host.find(':') != std::string::npos
                      ? "[" + url.host + "]:" + std::to_string(url.port)
                      : url.host + ":" + std::to_string(url.port)),
        resolver(io) {
    if (url.tls) {
      Result<asio::ssl::context> context = ClientTlsContext(options.trust);
      if (context.ok()) {
        tls_context.emplace(std::move(*context));
      } else {
        tls_problem = context.status();
      }
    }
  }

  Result<HttpReply> Request(std::string_view method, std::string_view target, std::string_view body,
                            std::string_view content_type);
  Status Connect(Clock::time_point deadline);
  void Disconnect();
  Status TimedOut() const {
    return Status(ErrorCode::kIoError,
                  "timed out after " + std::to_string(options.timeout.count()) + " ms");
  }

  // Runs the private io_context until nothing is pending: every operation started on the
  // stream carries the request's deadline, so this returns by then.
  void RunAll() {
    io.restart();
    io.run();
  }

  // The connection: plain, or TLS over it once connected to an https URL.
  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  template <typename F>
  void OnStream(F&& use) {
    if (secure) {
      use(*secure);
    } else {
      use(*plain);
    }
  }
  Status Handshake(Clock::time_point deadline);

  const HttpUrl url;
  const HttpClientOptions options;
  const std::string authority;  // "host:port", for messages and the Host header
  asio::io_context io;
  tcp::resolver resolver;
  std::optional<asio::ssl::context> tls_context;  // https
  Status tls_problem;                             // why there is none, for an https URL
  std::optional<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool connected = false;
};

Status HttpClient::Impl::Handshake(Clock::time_point deadline) {
  secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*plain), *tls_context);
  plain.reset();
  SSL* ssl = secure->native_handle();
  beast::error_code ec;
  asio::ip::make_address(url.host, ec);  // ec set: a DNS name, not an IP literal
  // The certificate must name the host of the URL: its DNS name (also sent as SNI) or its IP.
  const bool named = ec ? SSL_set_tlsext_host_name(ssl, url.host.c_str()) == 1 &&
                              SSL_set1_host(ssl, url.host.c_str()) == 1
                        : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) == 1;
  if (!named) return Status(ErrorCode::kInvalidArgument, "cannot check TLS for host " + url.host);
  beast::error_code handshake_ec;
  Lowest().expires_at(deadline);
  secure->async_handshake(asio::ssl::stream_base::client,
                          [&handshake_ec](beast::error_code result) { handshake_ec = result; });
  RunAll();
  if (!handshake_ec) return Status::Ok();
  if (handshake_ec == beast::error::timeout) return TimedOut();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return Status(ErrorCode::kUnauthenticated,
                  "the TLS certificate of " + authority + " is not trusted: " +
                      X509_verify_cert_error_string(verify) + " (see --ca-file)");
  }
  return Status(ErrorCode::kIoError,
                "TLS handshake with " + authority + " failed: " + handshake_ec.message());
}

Status HttpClient::Impl::Connect(Clock::time_point deadline) {
  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  const asio::ip::address literal = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(literal, url.port);
  } else {
    // The resolver has no deadline of its own: wait for it only until ours.
    struct Resolved {
      bool done = false;
      beast::error_code ec;
      tcp::resolver::results_type results;
    };
    auto resolved = std::make_shared<Resolved>();
    resolver.async_resolve(
        url.host, std::to_string(url.port),
        [resolved](beast::error_code resolve_ec, tcp::resolver::results_type results) {
          resolved->done = true;
          resolved->ec = resolve_ec;
          resolved->results = std::move(results);
        });
    io.restart();
    while (!resolved->done && Clock::now() < deadline) io.run_one_until(deadline);
    if (!resolved->done) {
      // The late completion lands in `resolved`, which it keeps alive.
      resolver.cancel();
      return TimedOut();
    }
    if (resolved->ec) {
      return Status(ErrorCode::kIoError,
                    "cannot resolve " + url.host + ": " + resolved->ec.message());
    }
    for (const auto& entry : resolved->results) endpoints.push_back(entry.endpoint());
  }

  if (url.tls && !tls_context) return tls_problem;
  beast::error_code connect_ec = asio::error::host_not_found;
  plain.emplace(io);
  secure.reset();
  plain->expires_at(deadline);
  plain->async_connect(endpoints, [&connect_ec](beast::error_code result, const tcp::endpoint&) {
    connect_ec = result;
  });
  RunAll();
  if (connect_ec) {
    Disconnect();
    if (connect_ec == beast::error::timeout) return TimedOut();
    return Status(ErrorCode::kIoError,
                  "cannot connect to " + authority + ": " + connect_ec.message());
  }
  beast::error_code option_ec;
  plain->socket().set_option(tcp::no_delay(true), option_ec);  // requests are small
  buffer.clear();
  if (url.tls) {
    if (Status handshake = Handshake(deadline); !handshake.ok()) {
      Disconnect();
      return handshake;
    }
  }
  connected = true;
  return Status::Ok();
}

void HttpClient::Impl::Disconnect() {
  if (plain || secure) {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }
  secure.reset();
  plain.reset();
  buffer.clear();
  connected = false;
}

Result<HttpReply> HttpClient::Impl::Request(std::string_view method, std::string_view target,
                                            std::string_view body, std::string_view content_type) {
  const Clock::time_point deadline = Clock::now() + options.timeout;
  if (method.empty() || !std::all_of(method.begin(), method.end(), IsTokenChar)) {
    return Status(ErrorCode::kInvalidArgument, "bad HTTP method '" + std::string(method) + "'");
  }
  std::string full_target = url.base_path;
  if (target.empty() || target.front() != '/') full_target += '/';
  full_target += target;
  if (!IsTargetText(full_target)) {
    return Status(ErrorCode::kInvalidArgument, "bad request target '" + full_target + "'");
  }
  if (!ValidHeaderValue(content_type)) {
    return Status(ErrorCode::kInvalidArgument, "bad content type");
  }

  http::request<http::string_body> request;
  request.method_string(method);
  request.target(full_target);
  request.version(11);
  request.set(http::field::host, authority);
  request.set(http::field::user_agent, "city-http-client");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request.set(http::field::content_type, content_type);
  }
  if (options.signer) {
    for (const auto& [name, value] : options.signer(method, full_target, body)) {
      if (!ValidHeaderValue(value)) return Status(ErrorCode::kInvalidArgument, "bad header value");
      request.set(name, value);
    }
  }
  request.body() = std::string(body);
  request.keep_alive(true);
  request.prepare_payload();

  // A kept-alive connection the server has since closed fails on first use; that one case
  // is retried once on a fresh connection, within the same deadline.
  for (int attempt = 0;; ++attempt) {
    const bool reused = connected;
    if (!connected) {
      if (Status status = Connect(deadline); !status.ok()) return status;
    }

    beast::error_code write_ec;
    Lowest().expires_at(deadline);
    OnStream([&](auto& stream) {
      http::async_write(stream, request,
                        [&write_ec](beast::error_code ec, size_t) { write_ec = ec; });
    });
    RunAll();
    if (write_ec) {
      Disconnect();
      if (write_ec == beast::error::timeout) return TimedOut();
      if (reused && attempt == 0 && PeerClosed(write_ec)) continue;
      return Status(ErrorCode::kIoError, "cannot send to " + authority + ": " + write_ec.message());
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(static_cast<uint64_t>(options.max_response_bytes));
    parser.header_limit(static_cast<uint32_t>(
        std::min(kMaxReplyHeaderBytes, std::max<size_t>(options.max_response_bytes, 1024))));
    if (method == "HEAD") parser.skip(true);
    beast::error_code read_ec;
    Lowest().expires_at(deadline);
    // The header first, on its own: Beast 1.74's eager response parser (the one async_read
    // uses) lets a Content-Length above body_limit through when header and body arrive
    // together, so the length is checked here before any of the body is read.
    OnStream([&](auto& stream) {
      http::async_read_header(stream, buffer, parser,
                              [&read_ec](beast::error_code ec, size_t) { read_ec = ec; });
    });
    RunAll();
    if (!read_ec && parser.content_length() &&
        *parser.content_length() > options.max_response_bytes) {
      read_ec = http::error::body_limit;
    }
    // The rest of a small reply is usually in the buffer already: parse it without a read.
    while (!read_ec && !parser.is_done() && buffer.size() > 0) {
      const size_t used = parser.put(buffer.data(), read_ec);
      buffer.consume(used);
      if (read_ec == http::error::need_more) {
        read_ec = {};
        break;
      }
      if (used == 0) break;
    }
    if (!read_ec && !parser.is_done()) {
      OnStream([&](auto& stream) {
        http::async_read(stream, buffer, parser,
                         [&read_ec](beast::error_code ec, size_t) { read_ec = ec; });
      });
      RunAll();
    }
    if (read_ec) {
      const bool got_some = parser.got_some();
      Disconnect();
      if (read_ec == beast::error::timeout) return TimedOut();
      if (reused && attempt == 0 && !got_some && PeerClosed(read_ec)) continue;
      if (read_ec == http::error::body_limit || read_ec == http::error::header_limit ||
          read_ec == http::error::buffer_overflow) {
        return Status(ErrorCode::kTooLarge, "the reply from " + authority + " exceeds " +
                                                std::to_string(options.max_response_bytes) +
                                                " bytes");
      }
      if (read_ec == http::error::end_of_stream || read_ec == http::error::partial_message) {
        return Status(ErrorCode::kIoError,
                      authority + " closed the connection before replying in full");
      }
      if (read_ec.category() == http::make_error_code(http::error::bad_status).category()) {
        return Status(ErrorCode::kMalformed,
                      "the reply from " + authority + " is not HTTP: " + read_ec.message());
      }
      return Status(ErrorCode::kIoError,
                    "cannot read from " + authority + ": " + read_ec.message());
    }

    http::response<http::string_body> response = parser.release();
    HttpReply reply;
    reply.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
      auto [it, inserted] =
          reply.headers.emplace(Lower(field.name_string()), std::string(field.value()));
      if (!inserted) {
        it->second += ", ";
        it->second += field.value();
      }
    }
    if (const auto it = reply.headers.find("content-type"); it != reply.headers.end()) {
      reply.content_type = it->second;
    }
    reply.body = std::move(response.body());
    if (!response.keep_alive()) Disconnect();
    return reply;
  }
}

HttpClient::HttpClient(HttpUrl url, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(url), options)) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpReply> HttpClient::Get(std::string_view target) {
  return Request("GET", target, "", "");
}

Result<HttpReply> HttpClient::Post(std::string_view target, std::string_view body,
                                   std::string_view content_type) {
  return Request("POST", target, body, content_type);
}

Result<HttpReply> HttpClient::Request(std::string_view method, std::string_view target,
                                      std::string_view body, std::string_view content_type) {
  if (!impl_) return Status(ErrorCode::kInternal, "this HTTP client was moved from");
  try {
    return impl_->Request(method, target, body, content_type);
  } catch (const std::exception& e) {
    // Beast and Asio report through error codes here; what is left is allocation failure.
    impl_->Disconnect();
    return Status(ErrorCode::kInternal, std::string("HTTP request failed: ") + e.what());
  }
}

}  // namespace city::net
