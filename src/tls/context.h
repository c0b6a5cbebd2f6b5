// TLS contexts for servers and clients: certificate, key and CA files → asio::ssl::context.
//
// Policy (the same for every context built here): TLS 1.2 and 1.3 only; for TLS 1.2 only
// forward-secret AEAD suites (ECDHE/DHE with AES-GCM or ChaCha20-Poly1305), the server's order
// preferred; no compression, no renegotiation. A server context may ask for a client
// certificate (ClientAuth::kOptional: verified against the CA when sent) or require one
// (kRequired: the handshake fails without it, Redis's `tls-auth-clients yes`). A client context
// always verifies the server's chain against its CA file (or the system store when none is
// given), and its name when `verify_name` is set.
//
// Errors: every loader returns a Result whose message names the file and says what is wrong
// (missing, unreadable, not PEM, key does not match the certificate, expired, ...):
// kInvalidArgument for bad options or contents, kIoError for files that cannot be read.
//
// Reload: a context is immutable once built; ReloadableContext builds a new one from the files
// and swaps it in only when it loaded completely. Connections take current() when they are
// accepted and keep that shared_ptr (an ssl::stream must not outlive its context), so new
// connections see the new certificate while old ones keep theirs.
//
// Threading: the free functions are thread-safe. ReloadableContext is thread-safe.
#pragma once

#include <asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace raftkv::tls {

// Client-certificate policy of a server context (Redis `tls-auth-clients no|optional|yes`).
enum class ClientAuth : uint8_t {
  kNone,      // never ask for a client certificate
  kOptional,  // ask; verify it against the CA when the client sends one
  kRequired,  // ask; fail the handshake when the client sends none or an unverifiable one
};
std::string_view client_auth_name(ClientAuth auth);
// "no" | "optional" | "yes" (Redis's spelling; also "none"/"require"/"required").
Result<ClientAuth> parse_client_auth(std::string_view text);

struct ServerOptions {
  std::string cert_file;  // PEM; the leaf first, then any intermediates
  std::string key_file;   // PEM, unencrypted
  std::string ca_file;    // PEM CAs that client certificates must chain to; required unless kNone
  ClientAuth client_auth = ClientAuth::kNone;
};

struct ClientOptions {
  std::string ca_file;    // PEM CAs the server must chain to; empty: the system's default store
  std::string cert_file;  // optional client certificate (both or neither of cert and key)
  std::string key_file;
  // When non-empty, the server certificate must name this host or IP address (SAN / CN).
  std::string verify_name;
};

using ContextPtr = std::shared_ptr<asio::ssl::context>;

Result<ContextPtr> make_server_context(const ServerOptions& options);
Result<ContextPtr> make_client_context(const ClientOptions& options);

// A server context that can be rebuilt from its files (or from new options) without restart.
class ReloadableContext {
 public:
  // Loads the first context; an error when it does not load.
  static Result<std::shared_ptr<ReloadableContext>> create(ServerOptions options);

  // The context new connections should use.
  ContextPtr current() const;
  // Rebuilds from the current options' files (a rotated certificate at the same path). On
  // error the old context stays in use and the error is returned.
  Status reload();
  // Rebuilds from new options; on success they become the current options.
  Status reload(ServerOptions options);
  ServerOptions options() const;
  // Successful loads so far (1 after create()).
  uint64_t generation() const;

  explicit ReloadableContext(ServerOptions options, ContextPtr context)
      : options_(std::move(options)), context_(std::move(context)) {}

 private:
  mutable std::mutex mu_;
  ServerOptions options_;    // guarded by mu_
  ContextPtr context_;       // guarded by mu_
  uint64_t generation_ = 1;  // guarded by mu_
};

// For servers that own their SSL_CTX (cpp-httplib's SSLServer): applies the policy above and
// the client-certificate mode of `reloadable` to `base`, and makes every handshake on `base`
// use reloadable->current() instead (switched in OpenSSL's client-hello callback), so that a
// reload applies to the next connection there too. `reloadable` must outlive `base`.
void serve_from(ssl_ctx_st* base, ReloadableContext* reloadable);

}  // namespace raftkv::tls
