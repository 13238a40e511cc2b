// OpenSSL contexts for the HTTP server and client (tls.h): TLS 1.2 or later, no compression
// or renegotiation, errors as Status naming the file.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "city/net/tls.h"
#include "city/status.h"

namespace city::net {

Result<boost::asio::ssl::context> ServerTlsContext(const TlsServerFiles& files);
Result<boost::asio::ssl::context> ClientTlsContext(const TlsClientTrust& trust);

}  // namespace city::net
