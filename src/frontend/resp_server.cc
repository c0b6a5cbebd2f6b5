#include "frontend/resp_server.h"

#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "frontend/server_internal.h"

namespace raftkv::frontend {
namespace {

constexpr std::string_view kMaxClientsReply = "-ERR max number of clients reached\r\n";

DispatcherOptions dispatcher_options(const RespServerOptions& options) {
  DispatcherOptions out = options.dispatcher;
  out.max_clients = options.max_clients;
  if (out.tls_client_addrs.empty()) out.tls_client_addrs = options.tls_redirects;
  return out;
}

// Closes a connection that is not served. When the server is full, first tells the client why:
// best effort as in Redis, a short error into an empty socket buffer, without waiting.
void refuse(asio::ip::tcp::socket& socket, bool full) {
  std::error_code ignored;
  if (full) {
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kMaxClientsReply), ignored);
  }
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

// Accepts on `acceptor` (the plaintext or the TLS listener) until it is closed.
asio::awaitable<void> accept_loop(std::shared_ptr<RespServer::State> server,
                                  asio::ip::tcp::acceptor& acceptor, bool tls) {
  asio::steady_timer retry_timer(server->acceptor_strand);
  std::error_code ec;
  for (;;) {
    auto connection = std::make_shared<Connection>(server, asio::make_strand(server->io));
    co_await acceptor.async_accept(connection->socket(),
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      // E.g. EMFILE: back off briefly instead of spinning on the error.
      server->log.warn("accept failed: {}; retrying in 100 ms", ec.message());
      retry_timer.expires_after(std::chrono::milliseconds(100));
      co_await retry_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    server->stats.total_connections_received.fetch_add(1, std::memory_order_relaxed);
    bool full = false;
    const uint64_t id = server->register_connection(connection, full);
    if (id == 0) {
      if (full) server->stats.rejected_connections.fetch_add(1, std::memory_order_relaxed);
      // The socket belongs to the connection's strand; nothing else uses it yet.
      refuse(connection->socket(), full);
      continue;
    }
    // The context current now: a reload applies to connections accepted after it.
    tls::ContextPtr context = tls ? server->options.tls->current() : nullptr;
    asio::dispatch(connection->strand(), [connection, id, context = std::move(context)]() mutable {
      connection->start(id, std::move(context));
    });
  }
  server->task_finished();
}

}  // namespace

RespServer::State::State(asio::io_context& io_context, Backend& backend,
                         RespServerOptions server_options)
    : io(io_context),
      options(std::move(server_options)),
      dispatcher(backend, stats, dispatcher_options(options)),
      acceptor_strand(asio::make_strand(io_context)),
      acceptor(acceptor_strand),
      tls_acceptor(acceptor_strand) {}

void RespServer::State::task_started() {
  std::lock_guard lock(mu);
  ++live_tasks;
}

void RespServer::State::task_finished() {
  std::lock_guard lock(mu);
  RAFTKV_ASSERT(live_tasks > 0, "task count underflow");
  if (--live_tasks == 0) tasks_done.notify_all();
}

uint64_t RespServer::State::register_connection(const std::shared_ptr<Connection>& connection,
                                                bool& full) {
  std::lock_guard lock(mu);
  full = !stopped && connections.size() >= options.max_clients;
  if (stopped || full) return 0;
  const uint64_t id = next_connection_id++;
  connections.emplace(id, connection);
  stats.connected_clients.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void RespServer::State::unregister_connection(uint64_t id) {
  std::lock_guard lock(mu);
  if (connections.erase(id) > 0) {
    stats.connected_clients.fetch_sub(1, std::memory_order_relaxed);
  }
}

RespServer::RespServer(asio::io_context& io, Backend& backend, RespServerOptions options)
    : state_(std::make_shared<State>(io, backend, std::move(options))) {}

RespServer::~RespServer() {
  stop();
}

namespace {

// Binds and listens on `addr`; the bound port.
Result<uint16_t> listen_on(asio::io_context& io, asio::ip::tcp::acceptor& acceptor,
                           const std::string& addr) {
  const auto [host, port] = handlers::split_host_port(addr);
  const size_t colon = addr.rfind(':');
  if (host.empty() || colon == std::string::npos || (port == 0 && addr.substr(colon + 1) != "0")) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("listen address '{}' is not host:port", addr));
  }
  std::error_code ec;
  asio::ip::tcp::endpoint endpoint;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = asio::ip::tcp::endpoint(address, port);
  } else {
    asio::ip::tcp::resolver resolver(io);
    const auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("cannot resolve listen host '{}': {}", host, ec.message()));
    }
    endpoint = results.begin()->endpoint();
  }
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::error_code ignored;
    acceptor.close(ignored);
    return Status(ErrorCode::kIoError, fmt::format("cannot listen on {}: {}", addr, ec.message()));
  }
  return acceptor.local_endpoint(ec).port();
}

}  // namespace

Status RespServer::start() {
  const RespServerOptions& options = state_->options;
  if (options.listen_addr.empty() && options.tls_listen_addr.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "no listener: the plaintext port is off and no TLS port is set");
  }
  if (!options.tls_listen_addr.empty() && !options.tls) {
    return Status(ErrorCode::kInvalidArgument, "a TLS port needs a certificate (tls-cert-file)");
  }
  if (!options.listen_addr.empty()) {
    auto port = listen_on(state_->io, state_->acceptor, options.listen_addr);
    if (!port) return port.status();
    state_->port.store(*port);
    state_->stats.tcp_port.store(*port);
    state_->log.info("serving RESP on {} (port {})", options.listen_addr, *port);
  }
  if (!options.tls_listen_addr.empty()) {
    auto port = listen_on(state_->io, state_->tls_acceptor, options.tls_listen_addr);
    if (!port) {
      std::error_code ignored;
      state_->acceptor.close(ignored);
      return port.status();
    }
    state_->tls_port.store(*port);
    const tls::ServerOptions t = options.tls->options();
    state_->log.info("serving RESP over TLS on {} (port {}; tls-auth-clients {})",
                     options.tls_listen_addr, *port, tls::client_auth_name(t.client_auth));
  }
  auto on_done = [state = state_](const std::exception_ptr& e) {
    if (e) state->log.error("accept loop failed");
  };
  if (state_->acceptor.is_open()) {
    state_->task_started();
    asio::co_spawn(state_->acceptor_strand, accept_loop(state_, state_->acceptor, false), on_done);
  }
  if (state_->tls_acceptor.is_open()) {
    state_->task_started();
    asio::co_spawn(state_->acceptor_strand, accept_loop(state_, state_->tls_acceptor, true),
                   on_done);
  }
  return Status::ok();
}

uint16_t RespServer::port() const {
  return state_->port.load();
}

uint16_t RespServer::tls_port() const {
  return state_->tls_port.load();
}

const RespServer::TlsStats& RespServer::tls_stats() const {
  return state_->tls_stats;
}

void RespServer::stop() {
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopped) return;
    state_->stopped = true;
    for (const auto& [id, weak] : state_->connections) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  asio::post(state_->acceptor_strand, [state = state_] {
    std::error_code ignored;
    state->acceptor.close(ignored);
    state->tls_acceptor.close(ignored);
  });
  for (auto& connection : open) {
    asio::post(connection->strand(), [connection] { connection->close(); });
  }
}

bool RespServer::wait_stopped(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mu);
  return state_->tasks_done.wait_for(lock, timeout,
                                     [&] { return state_->stopped && state_->live_tasks == 0; });
}

size_t RespServer::connection_count() const {
  std::lock_guard lock(state_->mu);
  return state_->connections.size();
}

const FrontendStats& RespServer::stats() const {
  return state_->stats;
}

}  // namespace raftkv::frontend
