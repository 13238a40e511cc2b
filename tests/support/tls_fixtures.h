// Self-signed certificates for TLS tests, made by the openssl tool (scripts/install-deps
// installs it): a P-256 key (mode 0600) and a certificate for the given DNS name and IP.
#pragma once

#include <filesystem>
#include <string>

#include "city/net/tls.h"
#include "support/process.h"

namespace city::test {

// Writes DIR/<stem>.key and DIR/<stem>.crt; empty paths (and a test failure message in
// `error`) when openssl fails.
inline net::TlsServerFiles MakeSelfSignedCertificate(const std::filesystem::path& dir,
                                                     const std::string& stem,
                                                     const std::string& dns_name,
                                                     const std::string& ip,
                                                     std::string* error = nullptr) {
  const net::TlsServerFiles files{dir / (stem + ".crt"), dir / (stem + ".key")};
  const ProcessResult made =
      RunProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + dns_name,
                  "-addext", "subjectAltName=DNS:" + dns_name + ",IP:" + ip, "-keyout",
                  files.private_key.string(), "-out", files.certificate_chain.string()},
                 dir / (stem + ".out"), dir / (stem + ".err"),
                 {.timeout = std::chrono::seconds(20),
                  .env = std::nullopt,
                  .new_session = true,
                  .append = false});
  if (made.exit_code != 0) {
    if (error != nullptr) *error = "openssl req failed: " + made.err;
    return {};
  }
  std::filesystem::permissions(
      files.private_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return files;
}

}  // namespace city::test
