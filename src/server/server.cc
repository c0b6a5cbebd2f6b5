#include "server/server.h"

#include <pthread.h>

#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <asio.hpp>

#include "base/log.h"
#include "frontend/resp_server.h"
#include "kv/acl_state.h"
#include "node/node.h"
#include "server/admin_http.h"
#include "server/joiner.h"
#include "server/node_backend.h"
#include "storage/node_identity.h"
#include "transport/handshake.h"
#include "transport/peer_tls.h"
#include "transport/transport.h"

namespace raftkv::server {

Server::Server(const ServerConfig& cfg)
    : cfg_(cfg),
      // The hint lets a single thread queue its own posts without locking or waking anyone.
      raft_io_(kRaftIoThreads),
      client_io_(static_cast<int>(cfg.io_threads)) {}

Server::~Server() {
  stop();
}

Result<std::unique_ptr<Server>> Server::start(const ServerConfig& cfg) {
  std::unique_ptr<Server> server(new Server(cfg));
  if (Status s = server->open(); !s) {
    server->stop();
    return s;
  }
  return server;
}

Status Server::open() {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.data_dir, ec);
  if (ec) {
    return Status(ErrorCode::kIoError,
                  fmt::format("cannot create --data-dir {}: {}", cfg_.data_dir, ec.message()));
  }
  // Which node and which incarnation of it this data dir is (storage/node_identity.h).
  auto identity = storage::load_or_create_identity(storage::posix_file_system(), cfg_.data_dir,
                                                   cfg_.id, storage::random_incarnation());
  if (!identity) return identity.status();
  Logger log("server");
  log.set_node(cfg_.id);
  log.info("data dir {}: node {} incarnation {:016x}{}", cfg_.data_dir, cfg_.id,
           identity->identity.incarnation,
           !identity->created        ? ""
           : identity->existing_data ? " (new IDENTITY for a data dir from before identities)"
                                     : " (new data dir)");
  // The threads run from here on, so that a failure below can stop what already started.
  run_threads();

  // Every stage of the write path holds one write of the largest allowed size (config.h).
  const WritePathLimits limits = write_path_limits(cfg_.max_value_bytes);

  transport::TransportOptions topts;
  topts.self = cfg_.id;
  topts.cluster_id = cfg_.cluster_id;
  if (!cfg_.cluster_secret_file.empty()) {
    auto secrets = transport::load_cluster_secrets(cfg_.cluster_secret_file);
    if (!secrets) return secrets.status();
    topts.cluster_secrets = std::move(*secrets);
    topts.cluster_secret_file = cfg_.cluster_secret_file;  // re-read when it changes
  }
  if (!cfg_.peer_tls_cert.empty() || !cfg_.peer_tls_key.empty() || !cfg_.peer_tls_ca.empty()) {
    auto tls = transport::load_peer_tls({cfg_.peer_tls_cert, cfg_.peer_tls_key, cfg_.peer_tls_ca},
                                        cfg_.id);
    if (!tls) return tls.status();
    topts.tls_server_context = std::move(tls->server);
    topts.tls_client_context = std::move(tls->client);
  }
  topts.listen_addr = cfg_.peer_addr;
  topts.incarnation = identity->identity.incarnation;
  topts.max_frame_bytes = limits.max_frame_bytes;
  topts.send_queue_limit_bytes = limits.send_queue_limit_bytes;
  for (const auto& [id, addr] : cfg_.peers) {
    if (id != cfg_.id) topts.peers.emplace(id, addr);
  }
  transport::TransportHandler handler;
  handler.on_message = [this](GroupId, raft::Message m) {
    if (auto* n = node_for_transport_.load()) n->deliver(std::move(m));
  };
  handler.on_unreachable = [this](NodeId peer) {
    if (auto* n = node_for_transport_.load()) n->report_unreachable(peer);
  };
  transport_ = std::make_unique<transport::Transport>(
      raft_io_, topts, handler, std::make_unique<SeededRng>(std::random_device{}()));

  node::NodeOptions nopts;
  nopts.id = cfg_.id;
  nopts.incarnation = identity->identity.incarnation;
  nopts.data_dir = cfg_.data_dir;
  // The flags seed a fresh data dir only; later the membership's own records win.
  for (const auto& [id, addr] : cfg_.peers) {
    auto client = cfg_.clients.find(id);
    nopts.initial_members[id] =
        raft::MemberInfo{0, addr, client == cfg_.clients.end() ? std::string() : client->second};
  }
  nopts.join = !cfg_.join.empty();
  nopts.auto_promote = cfg_.auto_promote;
  nopts.force_new_cluster = cfg_.force_new_cluster;
  nopts.peer_addr = cfg_.peer_addr;
  nopts.client_addr = cfg_.client_addr;
  nopts.client_addrs = cfg_.clients;
  nopts.tick_interval = std::chrono::milliseconds(cfg_.tick_ms);
  nopts.raft.election_ticks = cfg_.election_ticks;
  nopts.raft.heartbeat_ticks = cfg_.heartbeat_ticks;
  nopts.raft.read_mode =
      cfg_.read_mode == "lease" ? raft::ReadMode::kLease : raft::ReadMode::kReadIndex;
  nopts.snapshot_entries = cfg_.snapshot_entries;
  nopts.snapshot_keep_entries = cfg_.snapshot_keep_entries;
  nopts.snapshot_log_bytes = cfg_.snapshot_log_bytes;
  nopts.wal.segment_bytes = cfg_.wal_segment_bytes;
  nopts.snapshot_transfer.chunk_bytes = cfg_.snapshot_chunk_bytes;
  nopts.snapshot_transfer.max_bytes_per_sec = cfg_.snapshot_transfer_rate;
  nopts.kv.limits.max_value_bytes = limits.max_value_bytes;
  nopts.raft.max_uncommitted_bytes = limits.max_uncommitted_bytes;
  // Apps up to half a batch are always sent whole, in order with heartbeats; larger ones may go
  // in parts, which heartbeats overtake (transport/connection.cc).
  nopts.raft.ordered_app_bytes = topts.max_batch_bytes / 2;
  nopts.wal.cache_bytes = limits.wal_cache_bytes;
  nopts.request_timeout = std::chrono::milliseconds(cfg_.request_timeout_ms);
  // The replicated ACL, seeded by --requirepass until first set (kv/acl_state.h).
  auto acl =
      std::make_shared<kv::acl::AclPublisher>(kv::acl::seed_rules_for_password(cfg_.requirepass));
  nopts.kv.acl = acl;
  auto node = node::GroupNode::open(raft_io_, nopts, transport_.get());
  if (!node.is_ok()) {
    return Status(node.code(),
                  fmt::format("cannot open {}: {}", cfg_.data_dir, node.status().message()));
  }
  node_ = std::move(*node);
  node_for_transport_ = node_.get();
  // Peers learn from the Hello whether this node holds a log (a fresh cluster bootstraps only
  // from nodes that all have none).
  if (node_->initialized()) transport_->set_initialized();
  if (Status s = transport_->start(); !s) {
    return Status(s.code(), fmt::format("peer listener: {}", s.message()));
  }
  node_->start();
  if (!cfg_.join.empty()) {
    if (node_->initialized()) {
      log.info("--join {} ignored: this data dir already holds the cluster's log", cfg_.join);
    } else {
      joiner_ = std::make_unique<Joiner>(
          JoinOptions{cfg_.id, cfg_.peer_addr, cfg_.client_addr, cfg_.join}, *transport_,
          [n = node_.get()] { return n->initialized(); });
    }
  }

  backend_ = std::make_unique<NodeBackend>(
      *node_, nopts.kv.limits, nopts.membership_timeout,
      std::max<std::chrono::milliseconds>(
          std::chrono::seconds(2),
          5 * cfg_.election_ticks * std::chrono::milliseconds(cfg_.tick_ms)));
  frontend::RespServerOptions fopts;
  fopts.listen_addr = cfg_.client_addr;
  fopts.request_limits.max_bulk_bytes = limits.max_bulk_bytes;
  fopts.output_limit = {cfg_.output_limit_hard_bytes, cfg_.output_limit_soft_bytes,
                        std::chrono::seconds(cfg_.output_limit_soft_seconds)};
  fopts.dispatcher.acl = acl;
  fopts.dispatcher.protected_mode = cfg_.protected_mode == "yes";
  fopts.dispatcher.loading_until_applied = true;
  resp_ = std::make_unique<frontend::RespServer>(client_io_, *backend_, fopts);
  if (Status s = resp_->start(); !s) {
    return Status(s.code(), fmt::format("client listener: {}", s.message()));
  }
  admin_ = std::make_unique<AdminHttp>(*node_, backend_.get(), &resp_->stats());
  admin_->set_transport(transport_.get());
  if (!cfg_.admin_addr.empty()) {
    if (Status s = admin_->start(cfg_.admin_addr); !s) return s;
  }
  return Status::ok();
}

void Server::run_threads() {
  raft_work_.emplace(raft_io_.get_executor());
  client_work_.emplace(client_io_.get_executor());
  for (int i = 0; i < kRaftIoThreads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "rkv-raft-io");  // for profilers and top -H
      raft_io_.run();
    });
  }
  for (uint32_t i = 0; i < cfg_.io_threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "rkv-client-io");
      client_io_.run();
    });
  }
}

uint16_t Server::client_port() const {
  return resp_ ? resp_->port() : 0;
}

void Server::stop(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  // Clients first (no new requests), then the node (its leadership transfer needs the raft io
  // and the transport running), then what only reads the node, then the transport.
  if (joiner_) joiner_->stop();
  if (resp_) resp_->stop();
  if (node_) node_->stop(grace);
  if (admin_) admin_->stop();
  if (transport_) transport_->stop();
  // The transport must not reach the node from here on.
  node_for_transport_ = nullptr;
  raft_work_.reset();
  client_work_.reset();
  raft_io_.stop();
  client_io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace raftkv::server
