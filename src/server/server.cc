#include "server/server.h"

#include <pthread.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>

#include <fmt/chrono.h>
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
#include "tls/certificate.h"
#include "tls/context.h"
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
  // The secrets now, for RAFTKV.NODEAUTH and this node's own proofs: the file is read again
  // (at most once a second), so they rotate without a restart; an unusable file keeps the last
  // good ones, as the transport does.
  std::function<std::vector<std::string>()> secrets_now;
  if (!cfg_.cluster_secret_file.empty()) {
    auto secrets = transport::load_cluster_secrets(cfg_.cluster_secret_file);
    if (!secrets) return secrets.status();
    topts.cluster_secrets = *secrets;
    topts.cluster_secret_file = cfg_.cluster_secret_file;  // re-read when it changes
    // Read again at most once a second: RAFTKV.NODEAUTH is open to unauthenticated clients,
    // who must not be able to make a node read a file as often as they like.
    struct Cache {
      std::mutex mu;
      std::vector<std::string> last;
      std::chrono::steady_clock::time_point read_at;
    };
    auto cache = std::make_shared<Cache>();
    cache->last = std::move(*secrets);
    cache->read_at = std::chrono::steady_clock::now();
    secrets_now = [cache, path = cfg_.cluster_secret_file] {
      std::lock_guard lock(cache->mu);
      const auto now = std::chrono::steady_clock::now();
      if (now - cache->read_at >= std::chrono::seconds(1)) {
        cache->read_at = now;
        if (auto loaded = transport::load_cluster_secrets(path)) cache->last = std::move(*loaded);
      }
      return cache->last;
    };
  }
  // What this node proves itself with on other nodes' client ports (relays, --join).
  client::NodeCredentials credentials{cfg_.id, cfg_.cluster_id, {}};
  if (secrets_now) {
    credentials.secret = [secrets_now] {
      const std::vector<std::string> all = secrets_now();
      return all.empty() ? std::string() : all.front();
    };
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
  nopts.client_addr = cfg_.advertised_client_addr();
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
          JoinOptions{cfg_.id, cfg_.peer_addr, cfg_.client_addr, cfg_.join, {}, credentials},
          *transport_, [n = node_.get()] { return n->initialized(); });
    }
  } else if (!node_->initialized()) {
    // An initial member without a log: find the current members (joiner.h, seed_addrs).
    std::vector<std::string> seeds;
    for (const auto& [id, addr] : cfg_.clients) {
      if (id != cfg_.id) seeds.push_back(addr);
    }
    if (!seeds.empty()) {
      joiner_ = std::make_unique<Joiner>(
          JoinOptions{cfg_.id, cfg_.peer_addr, cfg_.client_addr, "", std::move(seeds), credentials},
          *transport_, [n = node_.get()] { return n->initialized(); });
    }
  }

  backend_ = std::make_unique<NodeBackend>(
      *node_, nopts.kv.limits, nopts.membership_timeout,
      std::max<std::chrono::milliseconds>(
          std::chrono::seconds(2),
          5 * cfg_.election_ticks * std::chrono::milliseconds(cfg_.tick_ms)),
      credentials);
  frontend::RespServerOptions fopts;
  fopts.listen_addr = cfg_.client_addr;
  fopts.request_limits.max_bulk_bytes = limits.max_bulk_bytes;
  fopts.output_limit = {cfg_.output_limit_hard_bytes, cfg_.output_limit_soft_bytes,
                        std::chrono::seconds(cfg_.output_limit_soft_seconds)};
  fopts.dispatcher.acl = acl;
  fopts.dispatcher.protected_mode = cfg_.protected_mode == "yes";
  fopts.dispatcher.loading_until_applied = true;
  fopts.dispatcher.cluster_id = cfg_.cluster_id;
  fopts.dispatcher.cluster_secrets = secrets_now;
  if (Status s = open_tls(fopts); !s) return s;
  resp_ = std::make_unique<frontend::RespServer>(client_io_, *backend_, fopts);
  if (Status s = resp_->start(); !s) {
    return Status(s.code(), fmt::format("client listener: {}", s.message()));
  }
  AdminHttpOptions aopts;
  aopts.tls = admin_tls_;
  if (!cfg_.admin_token_file.empty()) {
    auto token = read_admin_token(cfg_.admin_token_file);
    if (!token) return token.status();
    aopts.token = std::move(token).value();
  }
  admin_ = std::make_unique<AdminHttp>(*node_, backend_.get(), &resp_->stats(), std::move(aopts),
                                       &resp_->tls_stats());
  admin_->set_transport(transport_.get());
  if (!cfg_.admin_addr.empty()) {
    if (Status s = admin_->start(cfg_.admin_addr); !s) return s;
  }
  return Status::ok();
}

Status Server::open_tls(frontend::RespServerOptions& fopts) {
  // Client TLS (Redis tls-port); the plaintext port is off with --port 0.
  if (cfg_.tls_port != 0) {
    tls::ServerOptions t{cfg_.tls_cert_file, cfg_.tls_key_file, cfg_.tls_ca_cert_file,
                         tls::ClientAuth::kNone};
    if (!cfg_.tls_auth_clients.empty()) {
      t.client_auth = *tls::parse_client_auth(cfg_.tls_auth_clients);  // validated
    } else if (!cfg_.tls_ca_cert_file.empty()) {
      t.client_auth = tls::ClientAuth::kRequired;  // Redis's default with a CA
    }
    auto context = tls::ReloadableContext::create(t);
    if (!context) return Status(context.code(), "client TLS: " + context.status().message());
    client_tls_ = std::move(context).value();
    fopts.tls = client_tls_;
    fopts.tls_listen_addr = cfg_.tls_addr();
    fopts.tls_handshake_timeout = std::chrono::milliseconds(cfg_.tls_handshake_timeout_ms);
    for (const auto& [id, tls_addr] : cfg_.tls_clients) {
      if (auto plain = cfg_.clients.find(id); plain != cfg_.clients.end()) {
        fopts.tls_redirects.emplace(plain->second, tls_addr);
      }
    }
    if (cfg_.plaintext_port == 0) fopts.listen_addr.clear();
  }
  if (!cfg_.admin_tls_cert_file.empty()) {
    tls::ServerOptions t{
        cfg_.admin_tls_cert_file, cfg_.admin_tls_key_file, cfg_.admin_tls_ca_cert_file,
        cfg_.admin_tls_ca_cert_file.empty() ? tls::ClientAuth::kNone : tls::ClientAuth::kOptional};
    auto context = tls::ReloadableContext::create(t);
    if (!context) return Status(context.code(), "admin TLS: " + context.status().message());
    admin_tls_ = std::move(context).value();
  }
  if (client_tls_ || admin_tls_) {
    fopts.dispatcher.tls_reload = [this] { return reload_tls(); };
    fopts.dispatcher.tls_status = [this] { return tls_status(); };
  }
  return Status::ok();
}

Status Server::reload_tls() {
  std::string errors;
  Logger log("server");
  log.set_node(cfg_.id);
  for (const auto& [name, context] :
       {std::pair{"client TLS", client_tls_}, std::pair{"admin TLS", admin_tls_}}) {
    if (!context) continue;
    if (Status s = context->reload(); !s) {
      log.error("{} reload failed, the previous certificate stays in use: {}", name, s.message());
      errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", name, s.message());
      continue;
    }
    const auto info = tls::read_certificate_file(context->options().cert_file);
    log.info("{} reloaded: {} serial {}", name, context->options().cert_file,
             info ? info->serial_hex : "?");
  }
  if (!client_tls_ && !admin_tls_) {
    return Status(ErrorCode::kInvalidArgument, "TLS is not enabled on this node");
  }
  if (!errors.empty()) return Status(ErrorCode::kInvalidArgument, errors);
  return Status::ok();
}

std::string Server::tls_status() const {
  std::string out;
  for (const auto& [prefix, context] :
       {std::pair{"tls", client_tls_}, std::pair{"admin_tls", admin_tls_}}) {
    if (!context) continue;
    const tls::ServerOptions o = context->options();
    out += fmt::format("{}_cert_file:{}\r\n", prefix, o.cert_file);
    if (auto info = tls::read_certificate_file(o.cert_file)) {
      const auto not_after = std::chrono::system_clock::to_time_t(info->not_after);
      out += fmt::format(
          "{}_cert_subject:{}\r\n{}_cert_serial:{}\r\n{}_cert_not_after:{:%Y-%m-%dT%H:%M:%SZ}\r\n",
          prefix, info->subject, prefix, info->serial_hex, prefix, fmt::gmtime(not_after));
    }
    out += fmt::format("{}_auth_clients:{}\r\n{}_generation:{}\r\n", prefix,
                       tls::client_auth_name(o.client_auth), prefix, context->generation());
  }
  return out;
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

uint16_t Server::client_tls_port() const {
  return resp_ ? resp_->tls_port() : 0;
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
