// raftkv-server: one node of a raftkv cluster.
//
//   raftkv-server --id 1 --client-addr 127.0.0.1:7001 --peer-addr 127.0.0.1:7101
//     --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103
//     --clients 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data-dir data/node-1
//
// SIGTERM/SIGINT: stop taking clients, hand leadership to a caught-up follower, flush, exit 0.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <asio.hpp>

#include <httplib.h>
#include "base/log.h"
#include "frontend/resp_server.h"
#include "node/node.h"

#include "server/admin_http.h"
#include "server/config.h"
#include "server/node_backend.h"
#include "transport/transport.h"

namespace raftkv::server {
namespace {

int run(const ServerConfig& cfg) {
  LogLevel level = LogLevel::kInfo;
  parse_log_level(cfg.log_level, &level);
  set_log_level(level);
  Logger log("server");
  log.set_node(cfg.id);

  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "raftkv-server: cannot create --data-dir %s: %s\n", cfg.data_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }

  // The hint lets a single io thread queue its own posts without locking or waking anyone.
  asio::io_context io(static_cast<int>(cfg.io_threads));
  // Set once the node exists; the transport may deliver before that (messages then dropped).
  std::atomic<node::GroupNode*> node_for_transport{nullptr};

  // Every stage of the write path holds one write of the largest allowed size (config.h).
  const WritePathLimits limits = write_path_limits(cfg.max_value_bytes);

  transport::TransportOptions topts;
  topts.self = cfg.id;
  topts.cluster_id = cfg.cluster_id;
  topts.listen_addr = cfg.peer_addr;
  topts.max_frame_bytes = limits.max_frame_bytes;
  topts.send_queue_limit_bytes = limits.send_queue_limit_bytes;
  for (const auto& [id, addr] : cfg.peers) {
    if (id != cfg.id) topts.peers.emplace(id, addr);
  }
  transport::TransportHandler handler;
  handler.on_message = [&node_for_transport](GroupId, raft::Message m) {
    if (auto* n = node_for_transport.load()) n->deliver(std::move(m));
  };
  handler.on_unreachable = [&node_for_transport](NodeId peer) {
    if (auto* n = node_for_transport.load()) n->report_unreachable(peer);
  };
  transport::Transport transport(io, topts, handler,
                                 std::make_unique<SeededRng>(std::random_device{}()));
  if (Status s = transport.start(); !s) {
    std::fprintf(stderr, "raftkv-server: peer listener: %s\n", s.to_string().c_str());
    return 1;
  }

  node::NodeOptions nopts;
  nopts.id = cfg.id;
  for (const auto& [id, addr] : cfg.peers) nopts.voters.push_back(id);
  nopts.data_dir = cfg.data_dir;
  nopts.client_addrs = cfg.clients;
  nopts.tick_interval = std::chrono::milliseconds(cfg.tick_ms);
  nopts.raft.election_ticks = cfg.election_ticks;
  nopts.raft.heartbeat_ticks = cfg.heartbeat_ticks;
  nopts.raft.read_mode =
      cfg.read_mode == "lease" ? raft::ReadMode::kLease : raft::ReadMode::kReadIndex;
  nopts.snapshot_entries = cfg.snapshot_entries;
  nopts.snapshot_keep_entries = cfg.snapshot_keep_entries;
  nopts.snapshot_log_bytes = cfg.snapshot_log_bytes;
  nopts.wal.segment_bytes = cfg.wal_segment_bytes;
  nopts.wal.cache_bytes = limits.wal_cache_bytes;
  nopts.snapshot_transfer.chunk_bytes = cfg.snapshot_chunk_bytes;
  nopts.snapshot_transfer.max_bytes_per_sec = cfg.snapshot_transfer_rate;
  nopts.kv.limits.max_value_bytes = limits.max_value_bytes;
  nopts.raft.max_uncommitted_bytes = limits.max_uncommitted_bytes;
  nopts.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  auto node = node::GroupNode::open(io, nopts, &transport);
  if (!node.is_ok()) {
    std::fprintf(stderr, "raftkv-server: cannot open %s: %s\n", cfg.data_dir.c_str(),
                 node.status().to_string().c_str());
    return 1;
  }
  node::GroupNode* node_ptr = node->get();
  node_for_transport = node_ptr;
  node_ptr->start();

  NodeBackend backend(*node_ptr, nopts.kv.limits);
  frontend::RespServerOptions fopts;
  fopts.listen_addr = cfg.client_addr;
  fopts.request_limits.max_bulk_bytes = limits.max_bulk_bytes;
  frontend::RespServer resp(io, backend, fopts);
  if (Status s = resp.start(); !s) {
    std::fprintf(stderr, "raftkv-server: client listener: %s\n", s.to_string().c_str());
    node_ptr->stop();
    return 1;
  }
  AdminHttp admin(*node_ptr, &backend);
  if (!cfg.admin_addr.empty()) {
    if (Status s = admin.start(cfg.admin_addr); !s) {
      std::fprintf(stderr, "raftkv-server: %s\n", s.to_string().c_str());
      resp.stop();
      node_ptr->stop();
      return 1;
    }
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::atomic<bool> stopping{false};
  std::thread stopper;
  signals.async_wait([&](const asio::error_code& err, int sig) {
    if (err) return;
    log.info("signal {}: shutting down", sig);
    stopping = true;
    // Shutdown blocks (leadership transfer, joins): run it off the io threads.
    stopper = std::thread([&] {
      resp.stop();
      node_ptr->stop(std::chrono::milliseconds(3000));
      admin.stop();
      transport.stop();
      io.stop();
    });
  });
  log.info("ready: clients on {}, peers on {}{}", cfg.client_addr, cfg.peer_addr,
           cfg.admin_addr.empty() ? "" : fmt::format(", admin on {}", cfg.admin_addr));

  std::vector<std::thread> threads;
  for (uint32_t i = 1; i < cfg.io_threads; ++i) threads.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  if (stopper.joinable()) stopper.join();
  // The transport (destroyed after the node) must not reach the node from here on.
  node_for_transport = nullptr;
  log.info("stopped");
  return 0;
}

}  // namespace
}  // namespace raftkv::server

int main(int argc, char** argv) {
  auto cfg = raftkv::server::parse_server_config(argc, argv);
  if (!cfg.is_ok()) {
    if (cfg.code() == raftkv::ErrorCode::kShutdown) {  // --help
      std::fputs(cfg.status().message().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "raftkv-server: %s\n", cfg.status().message().c_str());
    return 2;
  }
  return raftkv::server::run(*cfg);
}
