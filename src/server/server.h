// One raftkv node's process wiring: peer transport, GroupNode, RESP frontend and admin HTTP,
// and the threads that run them (raftkv-server's main() is this plus config and signals).
//
// Isolation: two io_contexts, so that no client I/O can delay Raft ticks, heartbeats or
// persistence hand-offs.
//   raft io    — kRaftIoThreads thread(s) ("rkv-raft-io"). Runs the node's raft strand (core,
//                tick timer, Ready loop) and the peer transport. Nothing client-facing is ever
//                queued here except GroupNode's own posts (write/read/status hand-offs), which
//                are one small handler per request.
//   client io  — cfg.io_threads threads ("rkv-client-io"). Runs the RESP acceptor and every
//                client connection. A connection hands a command to the node with
//                GroupNode::write/read (a post onto the raft strand) and gets its completion
//                back as a post onto its own strand: neither side ever blocks on the other.
// The WAL persister, the applier, the snapshot writer and verifier, and the admin HTTP server
// have threads of their own (node.h, admin_http.h), on neither queue.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "base/status.h"
#include "server/config.h"

namespace raftkv::frontend {
class RespServer;
struct RespServerOptions;
}  // namespace raftkv::frontend
namespace raftkv::node {
class GroupNode;
}
namespace raftkv::transport {
class Transport;
}
namespace raftkv::tls {
class ReloadableContext;
}

namespace raftkv::server {

class AdminHttp;
class Joiner;
class NodeBackend;

// One thread: the node's strand hands every message to the transport's strand, and on one
// thread those posts wake no one (two threads measured 0-11% fewer ops/s: 3-node cluster on 2
// busy cores, raftkv bench, 16 clients). The raft side's work per request is small; the
// clients' work is on client io.
inline constexpr int kRaftIoThreads = 1;

class Server {
 public:
  // Binds every listener and starts every thread; the node is serving when this returns.
  // Errors name what failed (a listener's address, the data dir).
  static Result<std::unique_ptr<Server>> start(const ServerConfig& cfg);
  ~Server();  // stop()

  // Stops taking clients, hands leadership to a caught-up follower (bounded by `grace`), stops
  // the node, the admin server and the transport, then the io threads. Idempotent; call it
  // from a thread that is not one of this server's io threads.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  node::GroupNode& node() { return *node_; }
  uint16_t client_port() const;
  uint16_t client_tls_port() const;
  // Rebuilds every TLS context (client TLS, admin HTTPS) from its files: SIGHUP and
  // RAFTKV.TLS RELOAD. A context that fails to load keeps serving the old certificate; the
  // error names the file. Thread-safe.
  Status reload_tls();
  bool has_tls() const { return client_tls_ || admin_tls_; }
  // RAFTKV.TLS STATUS: the certificates in use, "field:value" lines.
  std::string tls_status() const;
  // The /status and /metrics bodies (served when cfg.admin_addr is set).
  const AdminHttp& admin() const { return *admin_; }
  // The contexts, for tests that load or block one side.
  asio::io_context& client_io() { return client_io_; }
  asio::io_context& raft_io() { return raft_io_; }

 private:
  explicit Server(const ServerConfig& cfg);
  Status open();
  // Loads the TLS contexts of the flags into fopts (client TLS) and admin_tls_.
  Status open_tls(frontend::RespServerOptions& fopts);
  void run_threads();

  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

  const ServerConfig cfg_;
  // Destroyed last: everything below posts onto them.
  asio::io_context raft_io_;
  asio::io_context client_io_;
  std::optional<WorkGuard> raft_work_;
  std::optional<WorkGuard> client_work_;
  // Set once the node exists; the transport may deliver before that (messages then dropped),
  // and is cleared before the node goes.
  std::atomic<node::GroupNode*> node_for_transport_{nullptr};
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<node::GroupNode> node_;
  std::unique_ptr<Joiner> joiner_;  // --join with an empty data dir, until added
  std::unique_ptr<NodeBackend> backend_;
  std::unique_ptr<frontend::RespServer> resp_;
  std::unique_ptr<AdminHttp> admin_;
  // TLS contexts (null when that listener has no TLS); reload_tls() rebuilds them.
  std::shared_ptr<tls::ReloadableContext> client_tls_;
  std::shared_ptr<tls::ReloadableContext> admin_tls_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace raftkv::server
