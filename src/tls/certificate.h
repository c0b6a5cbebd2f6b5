// Reading certificates: from a PEM file, or the one a TLS peer presented in a handshake.
//
// For logs, tests and peer authentication (a node's certificate names it: CN raftkv-node-<id>).
// Threading: thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "base/status.h"

struct ssl_st;  // OpenSSL's SSL

namespace raftkv::tls {

struct CertificateInfo {
  std::string common_name;  // the subject's CN ("" when absent)
  std::string subject;      // one line, RFC 2253 ("CN=localhost,O=raftkv tests")
  std::string issuer;
  std::string serial_hex;  // upper-case hex without leading zeros, as `openssl x509 -serial`
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

// The first certificate of a PEM file.
Result<CertificateInfo> read_certificate_file(const std::string& path);
// The certificate the peer of `ssl` presented (verified or not: check peer_verified()); nullopt
// when it sent none.
std::optional<CertificateInfo> peer_certificate(const ssl_st* ssl);
// True when the peer sent a certificate and it verified against the context's CA.
bool peer_verified(const ssl_st* ssl);

// A one-line explanation of a failed TLS handshake or read for logs and client-facing errors,
// e.g. "certificate verify failed: certificate has expired" or "wrong version number (the peer
// does not speak TLS)". `ssl` may be null.
std::string describe_tls_error(const std::error_code& ec, const ssl_st* ssl);

}  // namespace raftkv::tls
