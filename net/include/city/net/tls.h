// TLS for the client API (OpenSSL through Boost.Beast): what a server and a client are given.
// The types here carry no OpenSSL header, so modules that only configure TLS stay cheap to
// build; the contexts are made in net/src/tls_internal.h.
#pragma once

#include <filesystem>

namespace city::net {

// PEM files: the certificate chain (the server's certificate first) and its private key, which
// must not be readable by group or others.
struct TlsServerFiles {
  std::filesystem::path certificate_chain;
  std::filesystem::path private_key;
};

// How an https:// client checks the server: the certificate authorities in `ca_file` (PEM),
// or the system's when it is empty; and always the URL's host name against the certificate.
struct TlsClientTrust {
  std::filesystem::path ca_file;
};

}  // namespace city::net
