#include "server/admin_http.h"

#include "frontend/command_dispatcher.h"
#include "server/node_backend.h"
#include "tls/context.h"
#include "transport/transport.h"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/hmac.h"
#include "base/log.h"
#include "kv/acl.h"
// CPPHTTPLIB_OPENSSL_SUPPORT (SSLServer) is defined for this target (CMakeLists.txt); this is
// the only file that includes httplib.h.
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace raftkv::server {
namespace {

constexpr size_t kMinTokenBytes = 16;

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace

Result<std::string> read_admin_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status(ErrorCode::kIoError, fmt::format("--admin-token-file {}: cannot open: {}", path,
                                                   std::strerror(errno)));
  }
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  std::string token = first == std::string::npos ? "" : line.substr(first, last - first + 1);
  if (token.size() < kMinTokenBytes) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--admin-token-file {}: the token (first line) must be at least {} "
                              "bytes (e.g. openssl rand -hex 32 > {})",
                              path, kMinTokenBytes, path));
  }
  return token;
}

bool admin_authorized(const AdminAccess& access, std::string_view authorization,
                      bool client_cert_verified) {
  if (client_cert_verified && access.client_certs) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (!access.token.empty() && authorization.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                 [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    // Constant time, and over digests so that the comparison does not depend on the lengths.
    return constant_time_equal(kv::acl::sha256_hex(authorization.substr(kBearer.size())),
                               kv::acl::sha256_hex(access.token));
  }
  // No credential is configured: open on loopback only.
  return access.token.empty() && !access.client_certs && access.loopback;
}

// Out of line: unwinding the constructor destroys http_, which needs httplib::Server complete.
AdminHttp::AdminHttp(node::GroupNode& node, const NodeBackend* backend,
                     const frontend::FrontendStats* clients, AdminHttpOptions options,
                     const frontend::RespServer::TlsStats* tls_stats)
    : node_(node),
      backend_(backend),
      clients_(clients),
      options_(std::move(options)),
      tls_stats_(tls_stats) {}

AdminHttp::~AdminHttp() {
  stop();
}

Status AdminHttp::start(const std::string& addr) {
  const auto colon = addr.rfind(':');
  const std::string host = addr.substr(0, colon);
  const int port = std::stoi(addr.substr(colon + 1));
  access_.token = options_.token;
  access_.client_certs =
      options_.tls && options_.tls->options().client_auth != tls::ClientAuth::kNone;
  access_.loopback = is_loopback_host(host);
  if (options_.tls) {
    auto* reloadable = options_.tls.get();
    http_ = std::make_unique<httplib::SSLServer>([reloadable](SSL_CTX& ctx) {
      tls::serve_from(&ctx, reloadable);
      return true;
    });
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  if (!http_->is_valid()) {
    return Status(ErrorCode::kInternal, "admin HTTPS: cannot create the TLS context");
  }
  const bool credentials = !access_.token.empty() || access_.client_certs;
  http_->set_pre_routing_handler([this, credentials](const httplib::Request& req,
                                                     httplib::Response& res) {
    if (req.path == "/healthz" || req.path == "/metrics") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const bool verified = req.ssl != nullptr && SSL_get0_peer_certificate(req.ssl) != nullptr &&
                          SSL_get_verify_result(req.ssl) == X509_V_OK;
    if (admin_authorized(access_, req.get_header_value("Authorization"), verified)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    unauthorized_.fetch_add(1, std::memory_order_relaxed);
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer realm=\"raftkv admin\"");
    res.set_content(
        credentials
            ? "401 Unauthorized: send 'Authorization: Bearer <token of --admin-token-file>'"
              " or a client certificate of --admin-tls-ca-cert-file (only /healthz and /metrics "
              "are open)\n"
            : "401 Unauthorized: this admin endpoint is not bound to loopback and has no "
              "credential configured; start the server with --admin-token-file (or "
              "--admin-tls-ca-cert-file) to read it (only /healthz and /metrics are open)\n",
        "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const bool has_leader = !node_.status().leader.is_none();
    res.status = has_leader ? 200 : 503;
    res.set_content(has_leader ? "ok\n" : "no leader\n", "text/plain");
  });
  http_->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(status_json(), "application/json");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  if (!http_->bind_to_port(host, port)) {
    return Status(ErrorCode::kIoError, fmt::format("admin HTTP cannot listen on {}", addr));
  }
  if (!credentials && !access_.loopback) {
    Logger("admin").warn(
        "admin HTTP on {} (not loopback) without --admin-token-file: /status answers 401", addr);
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::ok();
}

void AdminHttp::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string AdminHttp::status_json() const {
  const node::NodeStatus st = node_.status();
  nlohmann::json j;
  j["id"] = st.id.value();
  j["role"] = raft::role_name(st.role);
  j["term"] = st.term.value();
  j["leader"] = st.leader.value();
  j["leader_client_addr"] = node_.client_addr(st.leader);
  j["commit_index"] = st.commit_index.value();
  j["applied_index"] = st.applied_index.value();
  j["last_index"] = st.last_index.value();
  j["first_index"] = st.first_index.value();
  j["snapshot_index"] = st.snapshot_index.value();
  j["snapshot"] = {{"index", st.snapshot_index.value()},
                   {"bytes", st.snapshot_bytes},
                   {"duration_ms", st.snapshot_duration_ms},
                   {"transfers_in_flight", st.snapshot_transfers_in_flight},
                   {"transfers_started", st.snapshot_transfers.started},
                   {"transfers_completed", st.snapshot_transfers.completed},
                   {"transfers_failed", st.snapshot_transfers.failed},
                   {"transfers_resumed", st.snapshot_transfers.resumed},
                   {"bytes_sent", st.snapshot_transfers.bytes_sent},
                   {"received", st.snapshot_transfers.received},
                   {"bytes_received", st.snapshot_transfers.bytes_received}};
  j["keys"] = st.keys;
  j["keys_with_ttl"] = st.keys_with_ttl;
  auto& members = j["members"] = nlohmann::json::array();
  for (NodeId v : st.conf.voters) {
    members.push_back({{"id", v.value()}, {"client_addr", node_.client_addr(v)}, {"voter", true}});
  }
  for (NodeId l : st.conf.learners) {
    members.push_back({{"id", l.value()}, {"client_addr", node_.client_addr(l)}, {"voter", false}});
  }
  auto& followers = j["followers"] = nlohmann::json::array();
  for (const auto& f : st.followers) {
    if (f.id == st.id) continue;
    followers.push_back({{"id", f.id.value()},
                         {"match", f.match.value()},
                         {"next", f.next.value()},
                         {"lag", st.last_index.value() - std::min(st.last_index, f.match).value()},
                         {"state", raft::progress_state_name(f.state)},
                         {"recent_active", f.recent_active}});
  }
  j["counters"] = {
      {"proposals", st.proposals},           {"snapshots_taken", st.snapshots_taken},
      {"leader_changes", st.leader_changes}, {"elections_started", st.elections_started},
      {"elections_won", st.elections_won},   {"fsyncs", st.fsyncs}};
  return j.dump(2) + "\n";
}

std::string AdminHttp::metrics_text() const {
  const node::NodeStatus st = node_.status();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("raftkv_term", "gauge", "Current Raft term.", st.term.value());
  if (clients_ != nullptr) {
    metric("raftkv_auth_failures_total", "counter", "Failed AUTH and HELLO AUTH (ACL LOG).",
           clients_->auth_failures.load());
    metric("raftkv_acl_denied_total", "counter", "Commands refused by the ACL (NOPERM).",
           clients_->acl_denied_commands.load() + clients_->acl_denied_keys.load());
  }
  if (tls_stats_ != nullptr) {
    metric("raftkv_tls_handshakes_total", "counter", "Client TLS handshakes completed.",
           tls_stats_->handshakes.load());
    metric("raftkv_tls_handshake_failures_total", "counter",
           "Client TLS handshakes failed (refused certificates, non-TLS clients, timeouts).",
           tls_stats_->handshake_failures.load());
    metric("raftkv_tls_plaintext_refused_total", "counter",
           "TLS handshakes received on the plaintext client port (refused).",
           tls_stats_->plaintext_refused.load());
  }
  metric("raftkv_admin_unauthorized_total", "counter",
         "Admin HTTP requests refused with 401 (no or a wrong token).", unauthorized_.load());
  if (transport_ != nullptr) {
    const transport::TransportStats ts = transport_->stats();
    metric("raftkv_peer_auth_failures_total", "counter",
           "Peer handshakes refused before the other end proved itself (wrong or missing "
           "cluster secret, forged or replayed handshake, timeout).",
           ts.auth_failures);
    metric("raftkv_peer_connections_rejected_total", "counter",
           "Peer connections closed for a protocol violation (refused handshakes included).",
           ts.connections_rejected);
  }
  metric("raftkv_is_leader", "gauge", "1 if this node leads its group.",
         st.role == raft::Role::kLeader ? 1 : 0);
  metric("raftkv_commit_index", "gauge", "Highest committed log index.", st.commit_index.value());
  metric("raftkv_applied_index", "gauge", "Highest applied log index.", st.applied_index.value());
  metric("raftkv_apply_lag_entries", "gauge", "Committed entries not yet applied.",
         st.commit_index.value() - std::min(st.commit_index, st.applied_index).value());
  metric("raftkv_snapshot_index", "gauge", "Index of the newest durable snapshot.",
         st.snapshot_index.value());
  metric("raftkv_keys", "gauge", "Keys in the state machine.", st.keys);
  metric("raftkv_keys_with_ttl", "gauge", "Keys in the state machine that have a TTL.",
         st.keys_with_ttl);
  metric("raftkv_proposals_total", "counter", "Write commands submitted.", st.proposals);
  metric("raftkv_leader_changes_total", "counter", "Leader changes observed.", st.leader_changes);
  metric("raftkv_elections_started_total", "counter",
         "Elections this node started as a candidate (one per candidate term).",
         st.elections_started);
  metric("raftkv_elections_won_total", "counter", "Elections this node won (became leader).",
         st.elections_won);
  metric("raftkv_fsyncs_total", "counter", "WAL group-commit fdatasync calls.", st.fsyncs);
  // The node's queues and their bounds (docs/node.md).
  const node::QueueStats& q = st.queues;
  metric("raftkv_inbox_bytes", "gauge", "Peer messages received, not yet stepped (bytes).",
         q.inbox_bytes);
  metric("raftkv_inbox_dropped_total", "counter", "Peer messages dropped: the inbox was full.",
         q.inbox_dropped);
  metric("raftkv_apps_refused_total", "counter",
         "Apps refused because the persist or apply backlog was full.", q.apps_refused);
  metric("raftkv_persist_backlog_bytes", "gauge", "Entry bytes queued for the WAL.",
         q.persist_backlog_bytes);
  metric("raftkv_apply_backlog_bytes", "gauge", "Committed entry bytes not yet applied.",
         q.apply_backlog_bytes);
  metric("raftkv_pending_reads", "gauge", "Reads waiting for a read index or for apply.",
         q.pending_reads);
  metric("raftkv_snapshots_total", "counter", "Snapshots taken.", st.snapshots_taken);
  metric("raftkv_snapshot_transfers_in_flight", "gauge", "Snapshots being streamed.",
         st.snapshot_transfers_in_flight);
  metric("raftkv_snapshot_transfers_completed_total", "counter",
         "Snapshots streamed to followers and verified by them.", st.snapshot_transfers.completed);
  metric("raftkv_snapshot_transfers_resumed_total", "counter",
         "Snapshot transfers that continued from the follower's offset.",
         st.snapshot_transfers.resumed);
  metric("raftkv_snapshot_transfers_failed_total", "counter",
         "Snapshot transfers given up for lack of progress.", st.snapshot_transfers.failed);
  metric("raftkv_snapshot_sent_bytes_total", "counter", "Snapshot bytes streamed to followers.",
         st.snapshot_transfers.bytes_sent);
  metric("raftkv_snapshot_received_bytes_total", "counter", "Snapshot bytes received.",
         st.snapshot_transfers.bytes_received);
  out +=
      "# HELP raftkv_snapshot_duration_seconds Time to write a snapshot.\n"
      "# TYPE raftkv_snapshot_duration_seconds histogram\n";
  out += node_.snapshot_duration().prometheus("raftkv_snapshot_duration_seconds", "");
  out +=
      "# HELP raftkv_snapshot_size_bytes Size of written snapshot files.\n"
      "# TYPE raftkv_snapshot_size_bytes histogram\n";
  out += node_.snapshot_size().prometheus("raftkv_snapshot_size_bytes", "");
  out +=
      "# HELP raftkv_fsync_duration_seconds WAL group-commit fdatasync latency.\n"
      "# TYPE raftkv_fsync_duration_seconds histogram\n";
  out += node_.fsync_latency().prometheus("raftkv_fsync_duration_seconds", "");
  if (backend_ != nullptr) {
    out +=
        "# HELP raftkv_request_duration_seconds Client command latency, submit to reply.\n"
        "# TYPE raftkv_request_duration_seconds histogram\n";
    for (const auto& [command, h] : backend_->request_latency()) {
      if (h->count() == 0) continue;
      out +=
          h->prometheus("raftkv_request_duration_seconds", fmt::format("command=\"{}\"", command));
    }
  }
  return out;
}

}  // namespace raftkv::server
