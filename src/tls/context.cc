#include "tls/context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <asio/ssl/host_name_verification.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace raftkv::tls {

namespace {

// TLS 1.2 suites: forward secrecy and AEAD only (Mozilla's "intermediate" list). TLS 1.3 keeps
// OpenSSL's defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

// Drains OpenSSL's thread-local error queue into one line ("" when empty).
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason != nullptr ? reason : buf;
  }
  return out;
}

Status file_error(std::string_view what, const std::string& path, std::string detail) {
  return Status(ErrorCode::kInvalidArgument,
                fmt::format("{} {}: {}", what, path, std::move(detail)));
}

// Reads a whole (small) PEM file. kIoError when it is missing or unreadable.
Result<std::string> read_pem_file(std::string_view what, const std::string& path) {
  if (path.empty()) {
    return Status(ErrorCode::kInvalidArgument, fmt::format("{} is not set", what));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return Status(ErrorCode::kIoError,
                  fmt::format("{} {}: cannot open: {}", what, path, std::strerror(err)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return Status(ErrorCode::kIoError, fmt::format("{} {}: read failed", what, path));
  }
  std::string text = ss.str();
  if (text.size() > (size_t{4} << 20)) {
    return file_error(what, path, "larger than 4 MiB: not a PEM file");
  }
  return text;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// A password callback that supplies none: an encrypted key fails to load instead of prompting
// on the terminal.
int no_password(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return 0;
}

// Every certificate of a PEM text, in order.
Result<std::vector<X509Ptr>> parse_certificates(std::string_view what, const std::string& path,
                                                const std::string& pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)) {
    certs.emplace_back(x);
  }
  unsigned long last = ERR_peek_last_error();
  if (!certs.empty() && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
    ERR_clear_error();  // the normal end of the input
  }
  std::string errors = openssl_errors();
  if (certs.empty()) {
    return file_error(what, path,
                      fmt::format("no PEM certificate found ({})",
                                  errors.empty() ? "no BEGIN CERTIFICATE line" : errors));
  }
  if (!errors.empty()) {
    return file_error(what, path, fmt::format("malformed PEM certificate ({})", errors));
  }
  return certs;
}

void apply_policy(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
}

// Loads cert_file (leaf + chain) and key_file into ctx and checks that they match and (when
// refuse_expired: a server's own certificate, which every client would refuse) that the leaf has
// not expired.
Status load_identity(SSL_CTX* ctx, std::string_view cert_what, const std::string& cert_file,
                     std::string_view key_what, const std::string& key_file, bool refuse_expired) {
  auto cert_pem = read_pem_file(cert_what, cert_file);
  if (!cert_pem) return cert_pem.status();
  auto key_pem = read_pem_file(key_what, key_file);
  if (!key_pem) return key_pem.status();
  auto certs = parse_certificates(cert_what, cert_file, *cert_pem);
  if (!certs) return certs.status();

  std::unique_ptr<BIO, BioDeleter> key_bio(
      BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    std::string errors = openssl_errors();
    return file_error(key_what, key_file,
                      fmt::format("no usable PEM private key ({}; encrypted keys are not "
                                  "supported)",
                                  errors.empty() ? "no BEGIN PRIVATE KEY line" : errors));
  }

  X509* leaf = (*certs)[0].get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} {} does not match the certificate in {} {}", key_what, key_file,
                              cert_what, cert_file));
  }
  if (refuse_expired && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    return file_error(cert_what, cert_file, "the certificate has expired");
  }
  if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
    return file_error(cert_what, cert_file,
                      fmt::format("certificate refused ({})", openssl_errors()));
  }
  SSL_CTX_clear_chain_certs(ctx);
  for (size_t i = 1; i < certs->size(); ++i) {
    // add1: the context takes its own reference.
    if (SSL_CTX_add1_chain_cert(ctx, (*certs)[i].get()) != 1) {
      return file_error(cert_what, cert_file,
                        fmt::format("chain certificate {} refused ({})", i, openssl_errors()));
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    return file_error(key_what, key_file,
                      fmt::format("private key refused ({})", openssl_errors()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} {} does not match the certificate in {} {}", key_what, key_file,
                              cert_what, cert_file));
  }
  return Status::ok();
}

// Trusts exactly the CAs of ca_file for verifying the peer.
Status load_ca(SSL_CTX* ctx, std::string_view what, const std::string& ca_file,
               bool send_ca_names) {
  auto pem = read_pem_file(what, ca_file);
  if (!pem) return pem.status();
  auto certs = parse_certificates(what, ca_file, *pem);
  if (!certs) return certs.status();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = send_ca_names ? sk_X509_NAME_new_null() : nullptr;
  for (auto& cert : *certs) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
        return file_error(what, ca_file, fmt::format("CA refused ({})", openssl_errors()));
      }
      ERR_clear_error();
    }
    if (names != nullptr)
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(cert.get())));
  }
  // The CA names a server sends with its certificate request, so that a client with several
  // certificates can pick one.
  if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
  return Status::ok();
}

// Exceptions from asio's context constructor (out of memory in OpenSSL) become errors.
Result<ContextPtr> new_context(asio::ssl::context::method method) {
  try {
    return std::make_shared<asio::ssl::context>(method);
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInternal, fmt::format("cannot create a TLS context: {}", e.what()));
  }
}

}  // namespace

std::string_view client_auth_name(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kNone:
      return "no";
    case ClientAuth::kOptional:
      return "optional";
    case ClientAuth::kRequired:
      return "yes";
  }
  return "?";
}

Result<ClientAuth> parse_client_auth(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "no" || lower == "none") return ClientAuth::kNone;
  if (lower == "optional") return ClientAuth::kOptional;
  if (lower == "yes" || lower == "require" || lower == "required") return ClientAuth::kRequired;
  return Status(ErrorCode::kInvalidArgument,
                fmt::format("tls-auth-clients must be yes, no or optional, not '{}'", text));
}

Result<ContextPtr> make_server_context(const ServerOptions& options) {
  ERR_clear_error();
  auto made = new_context(asio::ssl::context::tls_server);
  if (!made) return made;
  ContextPtr context = std::move(made).value();
  SSL_CTX* ctx = context->native_handle();
  apply_policy(ctx);
  if (Status s = load_identity(ctx, "tls-cert-file", options.cert_file, "tls-key-file",
                               options.key_file, /*refuse_expired=*/true);
      !s) {
    return s;
  }
  // Session resumption with client verification needs a session id context.
  static constexpr unsigned char kSessionContext[] = "raftkv";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (options.client_auth == ClientAuth::kNone) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    if (!options.ca_file.empty()) {
      // Loaded anyway so that a bad file is reported now, not when the policy changes.
      if (Status s = load_ca(ctx, "tls-ca-cert-file", options.ca_file, false); !s) return s;
    }
    return context;
  }
  if (options.ca_file.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("tls-auth-clients {} needs tls-ca-cert-file (the CA that client "
                              "certificates are checked against)",
                              client_auth_name(options.client_auth)));
  }
  if (Status s = load_ca(ctx, "tls-ca-cert-file", options.ca_file, true); !s) return s;
  int mode = SSL_VERIFY_PEER;
  if (options.client_auth == ClientAuth::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  return context;
}

Result<ContextPtr> make_client_context(const ClientOptions& options) {
  ERR_clear_error();
  auto made = new_context(asio::ssl::context::tls_client);
  if (!made) return made;
  ContextPtr context = std::move(made).value();
  SSL_CTX* ctx = context->native_handle();
  apply_policy(ctx);
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "a client certificate needs both a certificate file and a key file");
  }
  if (!options.cert_file.empty()) {
    if (Status s = load_identity(ctx, "client certificate", options.cert_file, "client key",
                                 options.key_file, /*refuse_expired=*/false);
        !s) {
      return s;
    }
  }
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return Status(ErrorCode::kIoError,
                    fmt::format("cannot load the system CA store ({})", openssl_errors()));
    }
  } else if (Status s = load_ca(ctx, "CA file", options.ca_file, false); !s) {
    return s;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.verify_name.empty()) {
    context->set_verify_callback(asio::ssl::host_name_verification(options.verify_name));
  }
  return context;
}

Result<std::shared_ptr<ReloadableContext>> ReloadableContext::create(ServerOptions options) {
  auto context = make_server_context(options);
  if (!context) return context.status();
  return std::make_shared<ReloadableContext>(std::move(options), std::move(context).value());
}

ContextPtr ReloadableContext::current() const {
  std::lock_guard lock(mu_);
  return context_;
}

Status ReloadableContext::reload() {
  return reload(options());
}

Status ReloadableContext::reload(ServerOptions options) {
  // Built outside the lock: loading files must not delay current().
  auto context = make_server_context(options);
  if (!context) return context.status();
  std::lock_guard lock(mu_);
  options_ = std::move(options);
  context_ = std::move(context).value();
  ++generation_;
  return Status::ok();
}

ServerOptions ReloadableContext::options() const {
  std::lock_guard lock(mu_);
  return options_;
}

uint64_t ReloadableContext::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

namespace {

int verify_mode_of(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kNone:
      return SSL_VERIFY_NONE;
    case ClientAuth::kOptional:
      return SSL_VERIFY_PEER;
    case ClientAuth::kRequired:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_PEER;
}

// OpenSSL's client-hello callback: runs before the certificate is chosen.
int switch_context(SSL* ssl, int* /*alert*/, void* arg) {
  auto* reloadable = static_cast<ReloadableContext*>(arg);
  ContextPtr current = reloadable->current();
  SSL_CTX* ctx = current->native_handle();
  // The SSL takes a reference on ctx; `current` may then be dropped by a later reload.
  if (SSL_set_SSL_CTX(ssl, ctx) == nullptr) return SSL_CLIENT_HELLO_ERROR;
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), nullptr);
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

void serve_from(ssl_ctx_st* base, ReloadableContext* reloadable) {
  apply_policy(base);
  static constexpr unsigned char kSessionContext[] = "raftkv";
  SSL_CTX_set_session_id_context(base, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_verify(base, verify_mode_of(reloadable->options().client_auth), nullptr);
  SSL_CTX_set_client_hello_cb(base, switch_context, reloadable);
}

}  // namespace raftkv::tls
