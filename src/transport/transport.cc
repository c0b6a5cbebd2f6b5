// Transport lifecycle, accepting, dialing with backoff, and the Hello handshake.
#include "transport/transport.h"

#include <charconv>

#include <fmt/format.h>

#include "transport/transport_core.h"

namespace raftkv::transport {

namespace {

using std::chrono::milliseconds;

std::string endpoint_string(const tcp::socket& s) {
  std::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

void tune_socket(tcp::socket& s) {
  std::error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
  s.set_option(asio::socket_base::keep_alive(true), ignored);
}

}  // namespace

Result<HostPort> parse_host_port(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Result<HostPort>(ErrorCode::kInvalidArgument,
                            fmt::format("address '{}' is not host:port", address));
  }
  HostPort hp;
  hp.host = address.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  const std::string port = address.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535 ||
      hp.host.empty()) {
    return Result<HostPort>(ErrorCode::kInvalidArgument,
                            fmt::format("address '{}' has no valid port (0..65535)", address));
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

void LogCoroutineExit::operator()(std::exception_ptr e) const {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log.error("{} ended with an exception: {}", what, ex.what());
  } catch (...) {
    log.error("{} ended with an unknown exception", what);
  }
}

Connection::Connection(const Strand& strand, tcp::socket s)
    : socket(std::move(s)), deadline(strand), wake(strand) {}
Connection::Connection(const Strand& strand) : socket(strand), deadline(strand), wake(strand) {}

Peer::Peer(const Strand& strand, NodeId peer_id, std::string addr, bool dial)
    : id(peer_id), address(std::move(addr)), we_dial(dial), retry(strand) {}

TransportCore::TransportCore(asio::io_context& io, TransportOptions options,
                             TransportHandler handler, std::unique_ptr<Rng> rng)
    : io_(io),
      strand_(asio::make_strand(io)),
      options_(std::move(options)),
      handler_(std::move(handler)),
      rng_(std::move(rng)),
      log_("transport"),
      acceptor_(strand_),
      initialized_(options_.initialized) {
  RAFTKV_ASSERT(!options_.self.is_none(), "transport needs a node id");
  RAFTKV_ASSERT(rng_ != nullptr, "transport needs an Rng");
  RAFTKV_ASSERT(options_.max_frame_bytes >= 1024 && options_.max_frame_bytes <= UINT32_MAX,
                "max_frame_bytes {} out of range", options_.max_frame_bytes);
  RAFTKV_ASSERT(options_.send_queue_limit > 0, "send_queue_limit must be > 0");
  RAFTKV_ASSERT(
      options_.backoff_initial.count() > 0 && options_.backoff_initial <= options_.backoff_max,
      "backoff_initial must be in (0, backoff_max]");
  log_.set_node(options_.self);
  for (const auto& [id, address] : options_.peers) {
    RAFTKV_ASSERT(!id.is_none() && id != options_.self, "peer id {} invalid", id);
    peers_.emplace(id, std::make_shared<Peer>(strand_, id, address, options_.self < id));
  }
}

Status TransportCore::start() {
  RAFTKV_ASSERT(!started_, "Transport::start() called twice");
  if (Status loaded = load_secrets(); !loaded) return loaded;
  auto hp = parse_host_port(options_.listen_addr);
  if (!hp) return hp.status();
  std::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(hp->host, std::to_string(hp->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("cannot resolve listen address '{}': {}", options_.listen_addr,
                              ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto fail = [&](const char* step) {
    std::error_code ignored;
    acceptor_.close(ignored);
    return Status(ErrorCode::kIoError, fmt::format("cannot listen on {}: {} failed: {}",
                                                   options_.listen_addr, step, ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  listen_port_.store(acceptor_.local_endpoint(ec).port(), std::memory_order_release);
  started_ = true;
  log_.info("listening on {} (port {})", options_.listen_addr, listen_port());
  if (options_.tls_server_context) {
    log_.info("peers authenticate with mutual TLS{}",
              secrets_.empty() ? "" : " and the cluster secret");
  } else if (secrets_.empty()) {
    log_.warn(
        "PEER AUTHENTICATION IS OFF (no cluster secret, no peer TLS): anyone who can reach {} "
        "can join as any node and rewrite this node's data. Give every node "
        "--cluster-secret-file (see docs/security.md)",
        options_.listen_addr);
  }
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    asio::co_spawn(self->strand_, self->accept_loop(self),
                   LogCoroutineExit{self->log_, "accept loop"});
    for (auto& [id, peer] : self->peers_) {
      if (peer->we_dial) self->spawn_dial_loop(peer);
    }
  });
  return Status::ok();
}

void TransportCore::spawn_dial_loop(const std::shared_ptr<Peer>& peer) {
  if (peer->dial_loop_running || stopped_) return;
  peer->dial_loop_running = true;
  peer->backoff = options_.backoff_initial;
  asio::co_spawn(strand_, dial_loop(shared_from_this(), peer), LogCoroutineExit{log_, "dialer"});
}

void TransportCore::add_peer(NodeId id, std::string address) {
  if (stopped_) return;
  RAFTKV_ASSERT(!id.is_none() && id != options_.self, "peer id {} invalid", id);
  std::shared_ptr<Peer> peer = find_peer(id);
  if (peer) {
    if (peer->address != address) {
      log_.info("peer {} is now at {} (was {})", id, address, peer->address);
      std::lock_guard lock(peers_mu_);
      peer->address = std::move(address);
    }
    return;
  }
  log_.info("peer {} added at {}", id, address);
  peer = std::make_shared<Peer>(strand_, id, std::move(address), options_.self < id);
  {
    std::lock_guard lock(peers_mu_);
    peers_.emplace(id, peer);
  }
  if (started_ && peer->we_dial) spawn_dial_loop(peer);
}

void TransportCore::remove_peer(NodeId id) {
  if (stopped_) return;
  std::shared_ptr<Peer> peer = find_peer(id);
  if (!peer) return;
  log_.info("peer {} removed (was at {})", id, peer->address);
  if (peer->conn) {
    const std::shared_ptr<Connection> conn = peer->conn;
    close(conn, "peer removed", false);
  }
  peer->removed = true;
  peer->retry.cancel();
  count_drop(peer.get(), peer->queue.size());
  peer->queue.clear();
  peer->queue_bytes = 0;
  peer->queued = 0;
  peer->queued_bytes = 0;
  std::lock_guard lock(peers_mu_);
  peers_.erase(id);
}

void TransportCore::set_initialized() {
  if (stopped_ || initialized_.exchange(true)) return;
  // Connections still handshaking send the new value in their Hello (or already sent the old
  // one: then this flag is seen after the handshake, by the writer).
  for (auto& [id, peer] : peers_) {
    if (peer->conn) {
      peer->conn->hello_pending = true;
      peer->conn->wake.cancel();
    }
  }
}

void TransportCore::shutdown() {
  stopped_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  // close() erases from live_; iterate over a copy.
  auto live = live_;
  for (const auto& conn : live) close(conn, "transport stopped", false);
  for (auto& [id, peer] : peers_) {
    peer->retry.cancel();
    peer->queued = 0;
    peer->queued_bytes = 0;
    peer->queue.clear();
    peer->queue_bytes = 0;
  }
}

std::shared_ptr<Connection> TransportCore::new_connection() {
  auto conn = std::make_shared<Connection>(strand_);
  live_.insert(conn);
  return conn;
}

void TransportCore::arm_deadline(const std::shared_ptr<Connection>& conn) {
  conn->deadline.expires_after(options_.handshake_timeout);
  conn->deadline.async_wait(
      [self = shared_from_this(), weak = std::weak_ptr<Connection>(conn)](std::error_code ec) {
        auto c = weak.lock();
        if (ec || !c || c->closed) return;
        // An inbound connection that has not proved itself in time is a refused handshake.
        if (c->peer.is_none()) {
          self->refuse_handshake(c, "handshake timed out before the other end proved itself");
        } else {
          self->reject(c, "handshake timed out");
        }
      });
}

asio::awaitable<void> TransportCore::accept_loop(std::shared_ptr<TransportCore> self) {
  asio::steady_timer pause(strand_);
  while (!stopped_) {
    tcp::socket socket(strand_);
    std::error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    if (ec) {
      // E.g. EMFILE: log and retry shortly rather than spin.
      log_.warn("accept failed: {}", ec.message());
      pause.expires_after(milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto conn = std::make_shared<Connection>(strand_, std::move(socket));
    conn->remote = endpoint_string(conn->socket);
    live_.insert(conn);
    asio::co_spawn(strand_, handle_inbound(self, conn), LogCoroutineExit{log_, "inbound"});
  }
}

asio::awaitable<Result<Hello>> TransportCore::read_hello(Connection& conn, FrameDecoder& decoder) {
  auto payload = co_await read_handshake_payload(conn, decoder);
  if (!payload) co_return payload.status();
  auto decoded = decode_payload(*payload);
  if (!decoded) co_return decoded.status();
  if (!std::holds_alternative<Hello>(*decoded)) {
    co_return Status(ErrorCode::kInvalidArgument, "first frame after the handshake is not a Hello");
  }
  co_return std::get<Hello>(*decoded);
}

std::string TransportCore::hello_frame() const {
  std::string frame;
  append_frame(encode_hello(Hello{options_.self, options_.cluster_id, kProtocolVersion,
                                  options_.incarnation, initialized_.load()}),
               &frame);
  return frame;
}

asio::awaitable<bool> TransportCore::write_hello(Connection& conn) {
  // A set_initialized() after this Hello is written is announced by the writer later.
  conn.announced_initialized = initialized_.load();
  const std::string frame = hello_frame();
  std::error_code ec;
  co_await write_all(conn, asio::buffer(frame), ec);
  co_return !ec;
}

Status TransportCore::validate_hello(const Hello& hello, const Peer* expected) const {
  auto bad = [](std::string what) { return Status(ErrorCode::kInvalidArgument, std::move(what)); };
  if (hello.cluster_id != options_.cluster_id) {
    return bad(fmt::format("node {} belongs to cluster {}, this node to cluster {}", hello.node,
                           hello.cluster_id, options_.cluster_id));
  }
  if (hello.protocol_version != kProtocolVersion) {
    return bad(fmt::format("node {} speaks protocol version {}, this node {}", hello.node,
                           hello.protocol_version, kProtocolVersion));
  }
  if (expected == nullptr) {
    return bad(fmt::format("node {} is not a configured peer", hello.node));
  }
  if (hello.node != expected->id) {
    return bad(fmt::format("expected node {}, the other end says it is node {}", expected->id,
                           hello.node));
  }
  return Status::ok();
}

asio::awaitable<void> TransportCore::handle_inbound(std::shared_ptr<TransportCore> self,
                                                    std::shared_ptr<Connection> conn) {
  tune_socket(conn->socket);
  arm_deadline(conn);
  if (options_.tls_server_context) {
    Status tls = co_await start_tls(*conn, false, NodeId());
    if (conn->closed) co_return;
    if (!tls) {
      refuse_handshake(conn, tls.to_string());
      co_return;
    }
  }
  FrameDecoder decoder(options_.max_frame_bytes);
  // Nothing but our nonce leaves this node, and nothing the other end sends is acted on,
  // until it has proved to be a node of this cluster.
  auto auth = co_await authenticate_inbound(*conn, decoder);
  if (conn->closed) co_return;
  if (!auth) {
    refuse_handshake(conn, auth.status().to_string());
    co_return;
  }
  const NodeId node = auth->dialer;
  std::shared_ptr<Peer> peer = find_peer(node);
  if (!peer) {
    // Not (or no longer, or not yet) in the membership: closed without our proof, which the
    // dialer takes as a failed dial and retries with backoff, so it is accepted once added.
    // Logged once per 30 attempts of that node (the map is bounded all the same).
    if (refused_unknown_.size() > 1024) refused_unknown_.clear();
    if (refused_unknown_[node]++ % 30 == 0) {
      log_.warn(
          "refusing a connection from node {} at {}: it is not a peer of this node (not "
          "in the membership this node knows); {} attempt(s) so far",
          node, conn->remote, refused_unknown_[node]);
    }
    stats_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
    close(conn, "not a peer", false);
    co_return;
  }
  conn->peer = node;  // for log lines; attached only after the Hello
  if (peer->we_dial) {
    reject(conn, fmt::format("node {} dialed us, but the lower id dials", node));
    co_return;
  }
  // Our proof, only now that the dialer proved itself.
  if (!co_await write_payload(*conn, encode_proof({options_.self, auth->acceptor_mac})) ||
      conn->closed) {
    close(conn, "write of the Proof failed");
    co_return;
  }
  auto hello = co_await read_hello(*conn, decoder);
  if (conn->closed) co_return;
  if (!hello) {
    reject(conn, "bad Hello: " + hello.status().to_string());
    co_return;
  }
  // Reply first, so that a misconfigured dialer can log the mismatch too.
  if (!co_await write_hello(*conn) || conn->closed) {
    close(conn, "write of Hello failed");
    co_return;
  }
  Status valid = validate_hello(*hello, peer.get());
  if (valid && peer->removed) valid = Status(ErrorCode::kInvalidArgument, "peer was removed");
  if (!valid) {
    reject(conn, valid.message());
    co_return;
  }
  conn->deadline.cancel();
  attach(peer, conn, *hello);
  co_await read_loop(conn, std::move(decoder));
  (void)self;
}

asio::awaitable<bool> TransportCore::dial_once(std::shared_ptr<Peer> peer) {
  auto hp = parse_host_port(peer->address);
  if (!hp) {
    log_.error("peer {}: {}", peer->id, hp.status().message());
    co_return false;
  }
  auto conn = new_connection();
  conn->peer = peer->id;  // for log lines; not attached until the handshake succeeds
  conn->remote = peer->address;
  arm_deadline(conn);
  std::error_code ec;
  tcp::resolver resolver(strand_);
  auto endpoints = co_await resolver.async_resolve(hp->host, std::to_string(hp->port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && !conn->closed) {
    co_await asio::async_connect(conn->socket, endpoints,
                                 asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec || conn->closed) {
    ++peer->consecutive_dial_failures;
    // First failure at info, then every 20th, to keep a long outage readable.
    if (peer->consecutive_dial_failures % 20 == 1 && !stopped_) {
      log_.info("cannot connect to peer {} at {}: {} (retrying with backoff)", peer->id,
                peer->address, ec ? ec.message() : "timed out");
    }
    close(conn, "connect failed", false);
    co_return false;
  }
  tune_socket(conn->socket);
  conn->remote = endpoint_string(conn->socket);
  if (options_.tls_client_context) {
    Status tls = co_await start_tls(*conn, true, peer->id);
    if (conn->closed) co_return false;
    if (!tls) {
      refuse_handshake(conn, tls.to_string());
      co_return false;
    }
  }
  FrameDecoder decoder(options_.max_frame_bytes);
  Status auth = co_await authenticate_outbound(*conn, decoder, *peer);
  if (conn->closed) co_return false;
  if (!auth && auth.code() == ErrorCode::kIoError) {
    // Closed before its proof: the peer does not (yet) count this node as a peer, or it
    // refused our proof (its log says which).
    if (++peer->consecutive_dial_failures % 20 == 1 && !stopped_) {
      log_.info(
          "peer {} at {} closed the connection during the handshake ({}): it does not list "
          "node {} as a peer yet, or refused this node's proof (another cluster secret or "
          "cluster id: see its log); retrying with backoff",
          peer->id, peer->address, auth.message(), options_.self);
    }
    close(conn, "closed during the handshake", false);
    co_return false;
  }
  if (!auth) {
    refuse_handshake(conn, auth.to_string());
    co_return false;
  }
  if (!co_await write_hello(*conn) || conn->closed) {
    close(conn, "write of Hello failed", false);
    co_return false;
  }
  auto hello = co_await read_hello(*conn, decoder);
  if (conn->closed) co_return false;
  if (!hello) {
    reject(conn, "bad Hello: " + hello.status().to_string());
    co_return false;
  }
  Status valid = validate_hello(*hello, peer.get());
  if (valid && peer->removed) valid = Status(ErrorCode::kInvalidArgument, "peer was removed");
  if (!valid) {
    reject(conn, valid.message());
    co_return false;
  }
  conn->deadline.cancel();
  peer->consecutive_dial_failures = 0;
  attach(peer, conn, *hello);
  co_await read_loop(conn, std::move(decoder));
  co_return true;
}

asio::awaitable<void> TransportCore::dial_loop(std::shared_ptr<TransportCore> self,
                                               std::shared_ptr<Peer> peer) {
  while (!stopped_ && !peer->removed) {
    const bool was_connected = co_await dial_once(peer);
    if (stopped_ || peer->removed) break;
    if (was_connected) {
      peer->backoff = options_.backoff_initial;
    } else {
      report_unreachable(peer->id);
    }
    // Equal jitter: uniform in [backoff/2, backoff].
    const uint64_t full = static_cast<uint64_t>(peer->backoff.count());
    const milliseconds wait(full / 2 + rng_->uniform(full - full / 2 + 1));
    peer->backoff = std::min(peer->backoff * 2, options_.backoff_max);
    std::error_code ec;
    peer->retry.expires_after(wait);
    co_await peer->retry.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  peer->dial_loop_running = false;
  (void)self;
}

std::shared_ptr<Peer> TransportCore::find_peer(NodeId id) const {
  std::lock_guard lock(peers_mu_);
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second;
}

TransportStats TransportCore::stats() const {
  auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  return TransportStats{get(stats_.messages_sent),        get(stats_.frames_sent),
                        get(stats_.messages_received),    get(stats_.frames_received),
                        get(stats_.messages_dropped),     get(stats_.connections_established),
                        get(stats_.connections_rejected), get(stats_.stale_incarnation_dropped),
                        get(stats_.auth_failures)};
}

PeerStats TransportCore::peer_stats(NodeId id) const {
  std::shared_ptr<Peer> peer = find_peer(id);
  if (!peer) return {};
  return PeerStats{peer->connected.load(), peer->queued.load(), peer->queued_bytes.load(),
                   peer->dropped.load(), peer->sent.load()};
}

PeerInfo TransportCore::peer_info(NodeId id) const {
  std::shared_ptr<Peer> peer = find_peer(id);
  if (!peer || !peer->connected.load()) return {};
  return PeerInfo{true, peer->incarnation.load(), peer->initialized.load()};
}

std::map<NodeId, std::string> TransportCore::peers() const {
  std::lock_guard lock(peers_mu_);
  std::map<NodeId, std::string> out;
  for (const auto& [id, peer] : peers_) out.emplace(id, peer->address);
  return out;
}

// ---- Transport: the thread-safe facade. ----

Transport::Transport(asio::io_context& io, TransportOptions options, TransportHandler handler,
                     std::unique_ptr<Rng> rng)
    : core_(std::make_shared<TransportCore>(io, std::move(options), std::move(handler),
                                            std::move(rng))) {}

Transport::~Transport() {
  stop();
}

Status Transport::start() {
  return core_->start();
}

uint16_t Transport::listen_port() const {
  return core_->listen_port();
}

void Transport::send(GroupId group, raft::Message message) {
  const uint64_t bytes = estimate_encoded_bytes(message);
  if (!core_->admit_post(message.to, bytes)) return;
  asio::post(core_->strand(), [core = core_, group, bytes, m = std::move(message)]() mutable {
    core->release_post(bytes);
    core->enqueue(group, std::move(m), bytes);
  });
}

void Transport::send(GroupId group, std::vector<raft::Message> messages) {
  for (auto& m : messages) send(group, std::move(m));
}

void Transport::add_peer(NodeId peer, std::string address) {
  asio::post(core_->strand(), [core = core_, peer, a = std::move(address)]() mutable {
    core->add_peer(peer, std::move(a));
  });
}

void Transport::remove_peer(NodeId peer) {
  asio::post(core_->strand(), [core = core_, peer] { core->remove_peer(peer); });
}

void Transport::set_initialized() {
  asio::post(core_->strand(), [core = core_] { core->set_initialized(); });
}

PeerInfo Transport::peer_info(NodeId peer) const {
  return core_->peer_info(peer);
}

std::map<NodeId, std::string> Transport::peers() const {
  return core_->peers();
}

void Transport::stop() {
  if (core_->stopped().exchange(true)) return;
  asio::dispatch(core_->strand(), [core = core_] { core->shutdown(); });
}

TransportStats Transport::stats() const {
  return core_->stats();
}

PeerStats Transport::peer_stats(NodeId peer) const {
  return core_->peer_stats(peer);
}

}  // namespace raftkv::transport
