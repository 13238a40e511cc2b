// What the HTTP server and client share: Boost.Beast's HTTP headers, the namespace names, and
// header-name lower-casing. Beast is included under CITY_BOOST_HEADERS_BEGIN/END because GCC 12
// (with the sanitizers, at -O3) reports a false -Wmaybe-uninitialized inside Beast's parser
// (a boost::optional in basic_parser): the warning is about Boost's code, not ours. The TLS
// streams are in tls_internal.h, under the same guard: OpenSSL's and Asio's SSL headers are
// the heaviest part, and only the sessions and the client need them.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <string_view>

#if defined(__GNUC__) && !defined(__clang__)
#define CITY_BOOST_HEADERS_BEGIN \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define CITY_BOOST_HEADERS_END _Pragma("GCC diagnostic pop")
#else
#define CITY_BOOST_HEADERS_BEGIN
#define CITY_BOOST_HEADERS_END
#endif

CITY_BOOST_HEADERS_BEGIN
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
CITY_BOOST_HEADERS_END

namespace city::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ASCII lower case, for header names and URL schemes (case-insensitive by the RFCs).
inline std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace city::net
