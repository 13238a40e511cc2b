// The HTTP API's messages without sockets: request decoding, routing, and the response as
// written on the wire (http_server.h, http_internal.h). The sessions are in http_server.cpp;
// this half is kept free of Asio's sockets and TLS so that the fuzz target builds it alone.
#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "city/net/http_server.h"
#include "http_internal.h"

namespace city::net {

namespace {

// Deeper JSON than any request of ours needs; the bound keeps recursive consumers of the parsed
// value (dump, destructors in older versions, handlers walking it) off the end of the stack.
constexpr size_t kMaxJsonDepth = 64;

bool WithinNesting(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// False for a '%' not followed by two hex digits, or for a decoded NUL (handlers pass these
// strings on; a NUL in a key or a file name is never what a client legitimately means).
bool PercentDecode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int high = HexValue(in[i + 1]);
      const int low = HexValue(in[i + 2]);
      if (high < 0 || low < 0) return false;
      const char decoded = static_cast<char>(high * 16 + low);
      if (decoded == '\0') return false;
      out += decoded;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

// Path segments after the leading '/': "/" has none, "/a/" has "a" and "".
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return segments;
  while (true) {
    const size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool IsCapture(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool ValidHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsTokenChar);
}

// No CR or LF (which would let a value start a new header or the body), no other controls.
bool ValidHeaderValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

// The server frames responses itself; a handler's header must not contradict it.
bool IsServerOwnedHeader(std::string_view name) {
  const std::string lower = Lower(name);
  return lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
         lower == "content-type" || lower == "keep-alive" || lower == "upgrade";
}

}  // namespace

// ---- requests and responses ----

Result<nlohmann::json> HttpRequest::JsonBody() const {
  if (!WithinNesting(body, kMaxJsonDepth)) {
    return Status(ErrorCode::kInvalidArgument,
                  "request body nests JSON deeper than " + std::to_string(kMaxJsonDepth));
  }
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return Status(ErrorCode::kInvalidArgument, "request body is not valid JSON");
  }
  return value;
}

std::string HttpRequest::QueryOr(std::string_view name, std::string_view fallback) const {
  const auto it = query.find(std::string(name));
  return it == query.end() ? std::string(fallback) : it->second;
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse HttpResponse::Json(const nlohmann::json& value, int status) {
  HttpResponse response;
  response.status = status;
  response.body = DumpJson(value);
  return response;
}

HttpResponse HttpResponse::Text(std::string body, std::string content_type) {
  HttpResponse response;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Error(int status, std::string_view code, std::string_view message) {
  return Json({{"error", {{"code", code}, {"message", message}}}}, status);
}

HttpResponse HttpResponse::FromStatus(const Status& status) {
  int http_status = 500;
  switch (status.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMalformed:
    case ErrorCode::kBadSignature:
      http_status = 400;
      break;
    case ErrorCode::kNotFound:
      http_status = 404;
      break;
    case ErrorCode::kTooLarge:
      http_status = 413;
      break;
    case ErrorCode::kUnauthenticated:
      http_status = 401;
      break;
    case ErrorCode::kPermissionDenied:
      http_status = 403;
      break;
    case ErrorCode::kAlreadyExists:
      http_status = 409;
      break;
    case ErrorCode::kPruned:
      http_status = 410;
      break;
    default:
      break;
  }
  return Error(http_status, ErrorCodeName(status.code()), status.message());
}

// ---- router ----

void Router::Get(std::string_view pattern, HttpHandler handler, RouteOptions options) {
  Add(
      "GET", pattern,
      [handler = std::move(handler)](const HttpRequest& request, HttpResponder respond) {
        respond(handler(request));
      },
      options);
}

void Router::Post(std::string_view pattern, HttpHandler handler, RouteOptions options) {
  Add(
      "POST", pattern,
      [handler = std::move(handler)](const HttpRequest& request, HttpResponder respond) {
        respond(handler(request));
      },
      options);
}

void Router::Add(std::string_view method, std::string_view pattern, AsyncHttpHandler handler,
                 RouteOptions options) {
  assert(!pattern.empty() && pattern.front() == '/' && "a route pattern starts with '/'");
  Route route;
  route.method = std::string(method);
  for (const std::string_view segment : SplitPath(pattern)) {
    assert((segment.find_first_of("{}") == std::string_view::npos || IsCapture(segment)) &&
           "a capture is a whole segment \"{name}\" with a name");
    route.segments.emplace_back(segment);
  }
  for ([[maybe_unused]] const Route& existing : routes_) {
    assert(!(existing.method == route.method &&
             std::equal(existing.segments.begin(), existing.segments.end(), route.segments.begin(),
                        route.segments.end(),
                        [](const std::string& a, const std::string& b) {
                          return a == b || (IsCapture(a) && IsCapture(b));
                        })) &&
           "route registered twice");
  }
  route.handler = std::move(handler);
  route.options = options;
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  const std::vector<std::string_view> segments = SplitPath(path);
  const auto matches = [&](const Route& route) {
    if (route.segments.size() != segments.size()) return false;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (IsCapture(route.segments[i])) {
        if (segments[i].empty()) return false;
      } else if (route.segments[i] != segments[i]) {
        return false;
      }
    }
    return true;
  };
  // Both match the same path: the first segment where they differ decides, literal first.
  const auto more_specific = [](const Route& a, const Route& b) {
    for (size_t i = 0; i < a.segments.size(); ++i) {
      const bool a_capture = IsCapture(a.segments[i]);
      const bool b_capture = IsCapture(b.segments[i]);
      if (a_capture != b_capture) return !a_capture;
    }
    return false;
  };

  Match match;
  const Route* best = nullptr;
  bool path_known = false;
  for (const Route& route : routes_) {
    if (!matches(route)) continue;
    path_known = true;
    if (route.method != method) continue;
    if (best == nullptr || more_specific(route, *best)) best = &route;
  }
  if (best == nullptr) {
    match.status = path_known ? 405 : 404;
    return match;
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = best->segments[i];
    if (IsCapture(segment)) {
      match.params[segment.substr(1, segment.size() - 2)] = std::string(segments[i]);
    }
  }
  match.handler = &best->handler;
  match.options = best->options;
  return match;
}

// ---- internals shared with the fuzz target ----

namespace http_internal {

void ConfigureParser(RequestParser& parser, const HttpServerOptions& options) {
  parser.header_limit(static_cast<uint32_t>(
      std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser.body_limit(static_cast<uint64_t>(options.max_body_bytes));
}

std::optional<HttpResponse> ParseErrorResponse(const beast::error_code& ec,
                                               const HttpServerOptions& options) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) {
    return std::nullopt;
  }
  switch (static_cast<http::error>(ec.value())) {
    case http::error::header_limit:
      return HttpResponse::Error(
          413, "too_large",
          "request headers exceed " + std::to_string(options.max_header_bytes) + " bytes");
    case http::error::body_limit:
    case http::error::buffer_overflow:
      return HttpResponse::Error(
          413, "too_large",
          "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes");
    case http::error::end_of_stream:
    case http::error::partial_message:
    case http::error::need_more:
    case http::error::need_buffer:
    case http::error::end_of_chunk:
    case http::error::stale_parser:
    case http::error::short_read:
      return std::nullopt;
    default:
      return HttpResponse::Error(400, "bad_request", "malformed request: " + ec.message());
  }
}

Result<HttpRequest> ToHttpRequest(BeastRequest message) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  const std::string_view target = message.target();
  if (target.empty() || target.front() != '/') {
    return Status(ErrorCode::kInvalidArgument, "the request target must be a path");
  }
  request.target = std::string(target);
  const size_t question = target.find('?');
  if (!PercentDecode(target.substr(0, question), /*plus_is_space=*/false, request.path)) {
    return Status(ErrorCode::kInvalidArgument, "bad percent-encoding in the path");
  }
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      const size_t equals = pair.find('=');
      std::string name;
      std::string value;
      const bool ok = PercentDecode(pair.substr(0, equals), /*plus_is_space=*/true, name) &&
                      (equals == std::string_view::npos ||
                       PercentDecode(pair.substr(equals + 1), /*plus_is_space=*/true, value));
      if (!ok) return Status(ErrorCode::kInvalidArgument, "bad percent-encoding in the query");
      request.query.insert_or_assign(std::move(name), std::move(value));
    }
  }
  for (const auto& field : message) {
    auto [it, inserted] =
        request.headers.emplace(Lower(field.name_string()), std::string(field.value()));
    // A repeated header is one comma-separated list (RFC 9110 section 5.3).
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  request.body = std::move(message.body());
  return request;
}

// The name in a Host header: "[::1]:8080" -> "::1", "Node.Example:80" -> "node.example".
std::string HostName(std::string_view host) {
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    host = host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return Lower(host);
}

bool DeclaresJson(const HttpRequest& request) {
  auto it = request.headers.find("content-type");
  if (it == request.headers.end()) return false;
  std::string_view type = it->second;
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return Lower(type) == "application/json";
}

std::optional<HttpResponse> RouteRefusal(const HttpRequest& request, const Router::Match& match,
                                         bool ready, const HttpServerOptions& options) {
  if (!options.allowed_hosts.empty()) {
    auto host = request.headers.find("host");
    if (host != request.headers.end()) {
      const std::string name = HostName(host->second);
      if (std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), name) ==
          options.allowed_hosts.end()) {
        return HttpResponse::Error(403, "host_not_allowed",
                                   "this node does not answer for the host '" + name + "'");
      }
    }
  }
  if (match.handler == nullptr) {
    if (match.status == 405) {
      return HttpResponse::Error(405, "method_not_allowed",
                                 request.method + " is not allowed on " + request.path);
    }
    return HttpResponse::Error(404, "not_found", "no route for " + request.path);
  }
  if (!ready && !match.options.available_when_not_ready) {
    return HttpResponse::Error(503, "not_ready", "the node is not ready yet");
  }
  if (options.require_json_body && !request.body.empty() && !DeclaresJson(request)) {
    return HttpResponse::Error(415, "unsupported_media_type",
                               "a request body must be sent as Content-Type: application/json");
  }
  return std::nullopt;
}

BeastResponse ToBeastResponse(HttpResponse response, unsigned version, bool keep_alive) {
  if (response.status < 200 || response.status > 599) {
    response = HttpResponse::Error(
        500, "internal", "the handler answered with status " + std::to_string(response.status));
  }
  BeastResponse out;
  out.version(version);
  out.result(static_cast<unsigned>(response.status));
  // These statuses have no body by definition (and Beast refuses to frame one).
  if (response.status == 204 || response.status == 304) {
    response.body.clear();
  } else if (!response.content_type.empty() && ValidHeaderValue(response.content_type)) {
    out.set(http::field::content_type, response.content_type);
  }
  for (const auto& [name, value] : response.headers) {
    if (!ValidHeaderName(name) || !ValidHeaderValue(value) || IsServerOwnedHeader(name)) {
      continue;
    }
    out.set(name, value);
  }
  out.body() = std::move(response.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

BeastResponse HandleRawRequest(std::string_view bytes, const Router& router,
                               const HttpServerOptions& options, bool ready) {
  RequestParser parser;
  ConfigureParser(parser, options);
  beast::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    const size_t used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(used);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec || used == 0) break;
  }
  const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
  if (ec) {
    std::optional<HttpResponse> answer = ParseErrorResponse(ec, options);
    if (!answer) answer = HttpResponse::Error(400, "bad_request", ec.message());
    return ToBeastResponse(std::move(*answer), version, false);
  }
  if (!parser.is_done()) {
    return ToBeastResponse(
        HttpResponse::Error(408, "request_timeout", "the request did not arrive in time"), version,
        false);
  }
  const bool keep_alive = parser.get().keep_alive();
  Result<HttpRequest> request = ToHttpRequest(parser.release());
  if (!request.ok()) {
    return ToBeastResponse(HttpResponse::Error(400, "bad_request", request.status().message()),
                           version, keep_alive);
  }
  Router::Match match = router.Find(request->method, request->path);
  if (auto refusal = RouteRefusal(*request, match, ready, options)) {
    return ToBeastResponse(std::move(*refusal), version, keep_alive);
  }
  request->params = std::move(match.params);
  // Shared, so that a handler keeping its responder cannot write through a dangling reference.
  auto answer = std::make_shared<std::optional<HttpResponse>>();
  try {
    (*match.handler)(*request, [answer](HttpResponse response) {
      if (!answer->has_value()) *answer = std::move(response);
    });
  } catch (...) {
    if (!answer->has_value()) *answer = HttpResponse::Error(500, "internal", kHandlerFailed);
  }
  if (!answer->has_value()) {
    *answer = HttpResponse::Error(503, "timeout", "the handler did not answer in time");
  }
  return ToBeastResponse(std::move(**answer), version, keep_alive);
}
}  // namespace http_internal

}  // namespace city::net
