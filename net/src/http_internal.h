// Internals of the HTTP server shared with its fuzz target: request parsing under the server's
// limits, how parse errors are answered, request decoding and the response written on the wire.
#pragma once

#include <optional>
#include <string_view>

#include "beast.h"
#include "city/net/http_server.h"

namespace city::net::http_internal {

// What a client is told when a handler throws instead of answering.
inline constexpr std::string_view kHandlerFailed = "the request handler failed";

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Applies the server's header and body limits to a fresh parser.
void ConfigureParser(RequestParser& parser, const HttpServerOptions& options);

// The answer to a request that failed to parse: 413 for the size limits, 400 for anything
// malformed. Nullopt for transport conditions (the peer left mid-request, a cancelled read):
// those are not the client's request being wrong, and nobody may be there to answer.
std::optional<HttpResponse> ParseErrorResponse(const boost::beast::error_code& ec,
                                               const HttpServerOptions& options);

// Decodes a parsed message (its body is moved, not copied): target split into path and query,
// both percent-decoded, header names lower-cased. A target that does not decode is
// kInvalidArgument (answered with 400).
Result<HttpRequest> ToHttpRequest(BeastRequest message);

// What the server answers instead of calling the matched handler (403 for a Host outside
// options.allowed_hosts, 404, 405, 503 not_ready, 415 for a body not declared as JSON);
// nullopt when the handler is to be called.
std::optional<HttpResponse> RouteRefusal(const HttpRequest& request, const Router::Match& match,
                                         bool ready, const HttpServerOptions& options);

// A handler's response as written: statuses outside 200..599 become 500, header names or
// values that could split the response are dropped, framing headers are the server's own.
BeastResponse ToBeastResponse(HttpResponse response, unsigned version, bool keep_alive);

// One request through the server's path without sockets (for the fuzz target): parse `bytes`
// with the server's parser and limits, route, call a synchronous handler, and return what the
// server would write. Bytes that end before the request does are answered 408, as the server
// would once request_timeout passed; bytes after the first request are ignored.
BeastResponse HandleRawRequest(std::string_view bytes, const Router& router,
                               const HttpServerOptions& options, bool ready = true);

}  // namespace city::net::http_internal
