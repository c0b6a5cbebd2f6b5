// Internal to RespServer: the state shared by the server object and its coroutines, and the
// per-connection object. Not part of the frontend's API.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/log.h"
#include "frontend/command_dispatcher.h"
#include "frontend/resp_server.h"
#include "resp/request_parser.h"

namespace raftkv::frontend {

using Strand = asio::strand<asio::io_context::executor_type>;

class Connection;

// Shared by RespServer and every coroutine (they hold it by shared_ptr, so it outlives the
// RespServer object when coroutines are still unwinding).
struct RespServer::State {
  State(asio::io_context& io_context, Backend& backend, RespServerOptions server_options);

  // Coroutine accounting for wait_stopped(). Thread-safe.
  void coroutine_started();
  void coroutine_finished();
  // Registers an accepted connection and returns its id; 0 when the server is stopped or full
  // (`full` tells which). Thread-safe.
  uint64_t register_connection(const std::shared_ptr<Connection>& connection, bool& full);
  void unregister_connection(uint64_t id);

  asio::io_context& io;
  const RespServerOptions options;
  FrontendStats stats;
  const CommandDispatcher dispatcher;
  Logger log{"frontend"};
  // The acceptor is used only on acceptor_strand.
  Strand acceptor_strand;
  asio::ip::tcp::acceptor acceptor;
  std::atomic<uint16_t> port{0};

  std::mutex mu;
  std::condition_variable coroutines_done;  // notified when live_coroutines drops to 0
  bool stopped = false;                     // guarded by mu; never reset
  size_t live_coroutines = 0;               // guarded by mu
  uint64_t next_connection_id = 1;          // guarded by mu
  // Open connections (guarded by mu). Weak: the coroutines own their connection.
  std::map<uint64_t, std::weak_ptr<Connection>> connections;
};

// One client connection. Everything below runs on `strand_` (the reader and writer coroutines,
// completions posted back by the backend, close()); nothing is touched from another thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<RespServer::State> server, Strand strand);

  asio::ip::tcp::socket& socket() { return socket_; }
  const Strand& strand() const { return strand_; }
  // Spawns the reader and writer (once registered under `id`).
  void start(uint64_t id);
  // Closes the socket and wakes both coroutines; pending replies are dropped. Idempotent.
  void close();

 private:
  // One request's reply: empty until its command completes.
  struct PendingReply {
    bool ready = false;
    std::string bytes;
  };

  static asio::awaitable<void> read_loop(std::shared_ptr<Connection> self);
  static asio::awaitable<void> write_loop(std::shared_ptr<Connection> self);
  // Parses and dispatches buffered commands while there is room; false when reading must stop
  // (protocol error or QUIT).
  bool dispatch_buffered();
  void dispatch(resp::Command command);
  // Appends a slot for the next request; returns its sequence number.
  uint64_t push_slot();
  void complete(uint64_t sequence, std::string reply);
  void coroutine_done();

  std::shared_ptr<RespServer::State> server_;
  Strand strand_;
  asio::ip::tcp::socket socket_;
  // Wake-ups: timers that never expire, cancelled to notify. A waiter re-checks its condition
  // before waiting, and both run on the strand, so no notification is lost.
  asio::steady_timer writer_wake_;
  asio::steady_timer reader_wake_;
  resp::RequestParser parser_;
  ConnectionState state_;
  // Invariant: pending_[i] is the reply to request number first_sequence_ + i; every earlier
  // request's reply has been handed to the socket.
  std::deque<PendingReply> pending_;
  uint64_t first_sequence_ = 0;
  // The request after whose reply the connection closes (protocol error, QUIT).
  std::optional<uint64_t> close_after_sequence_;
  bool closing_ = false;
  int live_coroutines_ = 0;
};

}  // namespace raftkv::frontend
