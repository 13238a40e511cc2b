// OpenSSL contexts for the HTTP server and client (tls.h): TLS 1.2 or later, no compression
// or renegotiation, errors as Status naming the file.
#pragma once

#include "beast.h"
CITY_BOOST_HEADERS_BEGIN
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
CITY_BOOST_HEADERS_END
#include "city/net/tls.h"
#include "city/status.h"

namespace city::net {

Result<boost::asio::ssl::context> ServerTlsContext(const TlsServerFiles& files);
Result<boost::asio::ssl::context> ClientTlsContext(const TlsClientTrust& trust);

}  // namespace city::net
