// Admin HTTP endpoint (cpp-httplib) on its own thread:
//   GET /healthz  200 "ok" when a leader is known, else 503 "no leader"      (always open)
//   GET /metrics  Prometheus text format                                     (always open)
//   GET /status   JSON: role, term, leader, indexes, members, per-follower match and lag
//
// Access (docs/security.md): everything but /healthz and /metrics — /status and whatever is
// added later, state-changing endpoints included — needs one of
//   - "Authorization: Bearer <token>" with the token of --admin-token-file (compared in
//     constant time, over SHA-256 digests so that not even the length leaks);
//   - over HTTPS with a client CA (--admin-tls-ca-cert-file), a client certificate that
//     verified against it.
// Without either configured, /status stays open while the endpoint is bound to loopback
// (today's local clusters and tools), and is refused on any other address, where no credential
// could be checked: 401 with a body that says which option to set.
// HTTPS: --admin-tls-cert-file/--admin-tls-key-file; the certificate reloads with the client
// TLS one (SIGHUP, RAFTKV.TLS RELOAD) and applies to new connections.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"
#include "frontend/resp_server.h"
#include "node/node.h"

namespace httplib {
class Server;
}
namespace raftkv::frontend {
struct FrontendStats;
}
namespace raftkv::transport {
class Transport;
}

namespace raftkv::tls {
class ReloadableContext;
}

namespace raftkv::server {

struct AdminHttpOptions {
  std::string token;                            // "" = no bearer token
  std::shared_ptr<tls::ReloadableContext> tls;  // HTTPS when set
};

// Who may read /status (the rules above), as a pure function for tests.
struct AdminAccess {
  std::string token;          // "" = no bearer token configured
  bool client_certs = false;  // HTTPS with a client CA
  bool loopback = false;      // bound to a loopback address
};
bool admin_authorized(const AdminAccess& access, std::string_view authorization_header,
                      bool client_cert_verified);

// The token of a --admin-token-file: its first line without surrounding blanks. An error for a
// missing, unreadable or empty file (the message names it), or a token under 16 bytes.
Result<std::string> read_admin_token(const std::string& path);

class AdminHttp {
 public:
  // `backend` (optional) provides per-command request latency for /metrics, `clients`
  // (optional) the client-side counters (failed AUTHs, ACL denials), `tls_stats` (optional) the
  // client TLS listener's.
  AdminHttp(node::GroupNode& node, const class NodeBackend* backend,
            const frontend::FrontendStats* clients = nullptr, AdminHttpOptions options = {},
            const frontend::RespServer::TlsStats* tls_stats = nullptr);
  ~AdminHttp();
  // Binds synchronously (an error names the address), then serves on a thread.
  Status start(const std::string& addr);
  void stop();

  // Optional: the peer transport's counters (refused handshakes) in /metrics. Call before
  // start(); `transport` must outlive this object's serving.
  void set_transport(const transport::Transport* transport) { transport_ = transport; }

  // The bodies, exposed for tests.
  std::string status_json() const;
  std::string metrics_text() const;

 private:
  node::GroupNode& node_;
  const NodeBackend* backend_;
  const frontend::FrontendStats* clients_;
  const AdminHttpOptions options_;
  const frontend::RespServer::TlsStats* tls_stats_;
  AdminAccess access_;  // set by start()
  std::atomic<uint64_t> unauthorized_{0};
  const transport::Transport* transport_ = nullptr;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace raftkv::server
