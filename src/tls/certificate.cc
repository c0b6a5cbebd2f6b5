#include "tls/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>
#include <asio/ssl/error.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace raftkv::tls {

namespace {

std::string name_line(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string common_name(const X509_NAME* name) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

CertificateInfo describe(const X509* cert) {
  CertificateInfo info;
  info.common_name = common_name(X509_get_subject_name(cert));
  info.subject = name_line(X509_get_subject_name(cert));
  info.issuer = name_line(X509_get_issuer_name(cert));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    char* hex = BN_bn2hex(bn);
    info.serial_hex = hex;
    OPENSSL_free(hex);
    BN_free(bn);
  }
  info.not_before = to_time_point(X509_get0_notBefore(cert));
  info.not_after = to_time_point(X509_get0_notAfter(cert));
  return info;
}

}  // namespace

Result<CertificateInfo> read_certificate_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    int err = errno;
    return Status(ErrorCode::kIoError,
                  fmt::format("{}: cannot open: {}", path, std::strerror(err)));
  }
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    ERR_clear_error();
    return Status(ErrorCode::kInvalidArgument, fmt::format("{}: no PEM certificate", path));
  }
  CertificateInfo info = describe(cert);
  X509_free(cert);
  return info;
}

std::optional<CertificateInfo> peer_certificate(const ssl_st* ssl) {
  if (ssl == nullptr) return std::nullopt;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return std::nullopt;
  CertificateInfo info = describe(cert);
  X509_free(cert);
  return info;
}

bool peer_verified(const ssl_st* ssl) {
  if (ssl == nullptr) return false;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return false;
  X509_free(cert);
  return SSL_get_verify_result(ssl) == X509_V_OK;
}

std::string describe_tls_error(const std::error_code& ec, const ssl_st* ssl) {
  if (ec == asio::ssl::error::stream_truncated) {
    return "the peer closed the connection without a TLS close_notify";
  }
  if (ec == asio::error::eof) return "the peer closed the connection";
  if (ec == asio::error::operation_aborted) return "timed out or cancelled";
  if (ec.category() != asio::error::get_ssl_category()) return ec.message();
  auto code = static_cast<unsigned long>(ec.value());
  int reason = ERR_GET_REASON(code);
  std::string text = ec.message();
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
      return text + " (the peer does not speak TLS, or an unsupported version)";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return text + " (a client certificate is required)";
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      if (ssl != nullptr) {
        long result = SSL_get_verify_result(ssl);
        return fmt::format("{}: {}", text, X509_verify_cert_error_string(result));
      }
      return text;
    default:
      return text;
  }
}

}  // namespace raftkv::tls
