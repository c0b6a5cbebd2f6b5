// Admin HTTP endpoint (cpp-httplib) on its own thread:
//   GET /healthz  200 "ok" when a leader is known, else 503 "no leader"
//   GET /status   JSON: role, term, leader, indexes, members, per-follower match and lag
//   GET /metrics  Prometheus text format
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "base/status.h"
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

namespace raftkv::server {

class AdminHttp {
 public:
  // `backend` (optional) provides per-command request latency for /metrics, `clients`
  // (optional) the client-side counters (failed AUTHs, ACL denials).
  AdminHttp(node::GroupNode& node, const class NodeBackend* backend,
            const frontend::FrontendStats* clients = nullptr);
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
  const transport::Transport* transport_ = nullptr;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace raftkv::server
