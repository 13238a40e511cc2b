// TLS contexts (tls_internal.h).
#include <sys/stat.h>

#include <string>

#include "tls_internal.h"

namespace city::net {
namespace ssl = boost::asio::ssl;

namespace {

constexpr long kOptions =
    static_cast<long>(ssl::context::default_workarounds) |
    static_cast<long>(ssl::context::no_sslv2) | static_cast<long>(ssl::context::no_sslv3) |
    static_cast<long>(ssl::context::no_tlsv1) | static_cast<long>(ssl::context::no_tlsv1_1) |
    static_cast<long>(ssl::context::no_compression);

Status Problem(std::string_view what, const std::filesystem::path& file,
               const boost::system::error_code& ec) {
  return Status(ErrorCode::kInvalidArgument,
                std::string(what) + " " + file.string() + ": " + ec.message());
}

}  // namespace

Result<ssl::context> ServerTlsContext(const TlsServerFiles& files) {
  ssl::context context(ssl::context::tls_server);
  context.set_options(kOptions);
  boost::system::error_code ec;
  struct stat info {};
  if (::stat(files.private_key.c_str(), &info) != 0) {
    return Status(ErrorCode::kNotFound, "no TLS private key at " + files.private_key.string());
  }
  if ((info.st_mode & 077) != 0) {
    return Status(ErrorCode::kPermissionDenied,
                  "the TLS private key " + files.private_key.string() +
                      " may be read by group or others: chmod 600 it");
  }
  if (context.use_certificate_chain_file(files.certificate_chain.string(), ec); ec) {
    return Problem("cannot use the TLS certificate chain", files.certificate_chain, ec);
  }
  if (context.use_private_key_file(files.private_key.string(), ssl::context::pem, ec); ec) {
    return Problem("cannot use the TLS private key", files.private_key, ec);
  }
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    return Status(ErrorCode::kInvalidArgument, "the TLS private key " + files.private_key.string() +
                                                   " does not match the certificate " +
                                                   files.certificate_chain.string());
  }
  return context;
}

Result<ssl::context> ClientTlsContext(const TlsClientTrust& trust) {
  ssl::context context(ssl::context::tls_client);
  context.set_options(kOptions);
  boost::system::error_code ec;
  if (trust.ca_file.empty()) {
    context.set_default_verify_paths(ec);
    if (ec) {
      return Status(ErrorCode::kInvalidArgument,
                    "cannot load the system's certificate authorities: " + ec.message());
    }
  } else if (context.load_verify_file(trust.ca_file.string(), ec); ec) {
    return Problem("cannot load the certificate authorities in", trust.ca_file, ec);
  }
  context.set_verify_mode(ssl::verify_peer);
  return context;
}

}  // namespace city::net
