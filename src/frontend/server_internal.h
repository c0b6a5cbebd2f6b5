// Internal to RespServer: the state shared by the server object, its accept loop and connections,
// and the per-connection object. Not part of the frontend's API.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/log.h"
#include "base/log_limiter.h"
#include "frontend/command_dispatcher.h"
#include "frontend/resp_server.h"
#include "resp/request_parser.h"
#include "tls/context.h"

namespace raftkv::frontend {

using Strand = asio::strand<asio::io_context::executor_type>;

class Connection;

// Shared by RespServer and every coroutine (they hold it by shared_ptr, so it outlives the
// RespServer object when coroutines are still unwinding).
struct RespServer::State {
  State(asio::io_context& io_context, Backend& backend, RespServerOptions server_options);

  // Accounting for wait_stopped(): the accept loop and each connection until it is closed and
  // has no socket operation outstanding. Thread-safe.
  void task_started();
  void task_finished();
  // Registers an accepted connection and returns its id; 0 when the server is stopped or full
  // (`full` tells which). Thread-safe.
  uint64_t register_connection(const std::shared_ptr<Connection>& connection, bool& full);
  void unregister_connection(uint64_t id);

  asio::io_context& io;
  const RespServerOptions options;
  FrontendStats stats;
  const CommandDispatcher dispatcher;
  Logger log{"frontend"};
  // Failed TLS handshakes (any stranger can cause them): at most 10 lines a second, with a
  // count of those left out.
  LogLimiter tls_failure_log{std::chrono::seconds(1), 10};
  // The acceptors are used only on acceptor_strand.
  Strand acceptor_strand;
  asio::ip::tcp::acceptor acceptor;      // plaintext (closed when listen_addr is empty)
  asio::ip::tcp::acceptor tls_acceptor;  // TLS (closed when tls_listen_addr is empty)
  std::atomic<uint16_t> port{0};
  std::atomic<uint16_t> tls_port{0};
  TlsStats tls_stats;

  std::mutex mu;
  std::condition_variable tasks_done;  // notified when live_tasks drops to 0
  bool stopped = false;                // guarded by mu; never reset
  size_t live_tasks = 0;               // guarded by mu
  uint64_t next_connection_id = 1;     // guarded by mu
  // Open connections (guarded by mu). Weak: their pending handlers own them.
  std::map<uint64_t, std::weak_ptr<Connection>> connections;
};

// One client connection, driven by completion handlers on `strand_` (socket readiness, write
// completions, replies posted back by the backend, close()); nothing is touched from another
// thread. Per request it costs one recv and one send: reading waits for readiness and then
// reads without blocking (no speculative recv that would find the socket empty), and replies
// are written with a non-blocking send, falling back to an asynchronous write only when the
// socket buffer is full.
//
// Over TLS (start() given a context) the socket moves into an ssl::stream after the accept;
// only the three socket operations differ (the handshake before serving, reads, writes: the
// ssl::stream's own asynchronous read_some and write, since readiness of the socket says
// nothing about decrypted bytes), chosen by whether tls_ is set: the parsing, dispatching,
// ordering and reply path is the same code for both.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<RespServer::State> server, Strand strand);

  // The socket to accept into (and, before start(), to refuse).
  asio::ip::tcp::socket& socket() { return socket_; }
  const Strand& strand() const { return strand_; }
  // Starts serving (once registered under `id`); over TLS when `tls_context` is set, after a
  // handshake.
  void start(uint64_t id, tls::ContextPtr tls_context = nullptr);
  // Closes the socket; outstanding operations end with an error and pending replies are
  // dropped. Idempotent.
  void close();

 private:
  // One dispatched request's reply: empty until its command completes.
  struct PendingReply {
    CommandOrder order = CommandOrder::kLocal;
    bool ready = false;
    std::string bytes;
  };
  // A parsed request not dispatched yet (CommandOrder: it must wait for commands in flight),
  // or a protocol error to answer after the requests before it.
  struct HeldRequest {
    resp::Command command;
    CommandOrder order = CommandOrder::kLocal;
    std::optional<std::string> protocol_error;
  };

  // The connected socket: socket_, or the ssl::stream's after a TLS start().
  asio::ip::tcp::socket& sock() { return tls_ ? tls_->next_layer() : socket_; }
  void start_tls_handshake();
  void on_tls_handshake(const std::error_code& ec);
  // Starts serving commands (after the TLS handshake, if any).
  void begin_serving();
  void on_tls_read(const std::error_code& ec, size_t n);
  // A TLS ClientHello as the first bytes on the plaintext port: answered and closed.
  bool maybe_refuse_tls_on_plain_port(size_t n);
  // On a TLS connection, a MOVED/ASK reply naming a plaintext address of tls_redirects names
  // the TLS address instead.
  void maybe_rewrite_redirect(std::string& reply) const;
  // Writes out_[sent..] asynchronously (the socket buffer is full, or TLS).
  void write_async(size_t sent, bool close_after_write);

  // Dispatches buffered commands, then waits for more input unless reading must pause
  // (too many requests in flight: resumed when replies complete) or stop (QUIT, protocol
  // error).
  void read_more();
  void on_readable(const std::error_code& ec);
  // Parses buffered input while there is room, dispatching (or holding) each request; false
  // when reading must stop for good (protocol error or QUIT).
  bool parse_buffered();
  // True when the oldest held request (or a new one of this order) may be dispatched now.
  bool may_dispatch(CommandOrder order) const;
  // Dispatches held requests from the front while may_dispatch() allows.
  void dispatch_held();
  void dispatch(resp::Command command, CommandOrder order);
  void answer_protocol_error(std::string reply);
  // True while parsing must wait: too many requests in flight (reply not computed) or held.
  bool must_pause_reading() const;
  // Appends a slot for the next request; returns its sequence number.
  uint64_t push_slot(CommandOrder order);
  void complete(uint64_t sequence, std::string reply);
  // Closes the connection (true) when buffered replies exceed the output buffer limit.
  bool enforce_output_limit();
  // Grows or shrinks window_ after a reply of `bytes`.
  void update_window(size_t bytes);
  // Writes the ready prefix of pending_ after the handlers queued now have run, so replies
  // completed together leave in one send.
  void schedule_write();
  void write_ready();
  void after_write(bool close_after_write);
  // Unregisters once closed with no socket operation outstanding.
  void maybe_finish();

  std::shared_ptr<RespServer::State> server_;
  Strand strand_;
  asio::ip::tcp::socket socket_;
  // TLS: the context this connection was accepted with (the stream must not outlive it), the
  // stream that owns the socket from start() on, and the handshake deadline.
  tls::ContextPtr tls_context_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  std::optional<asio::steady_timer> handshake_timer_;
  bool handshake_done_ = false;
  bool saw_input_ = false;  // some bytes were read (the plaintext port's TLS check is done)
  resp::RequestParser parser_;
  ConnectionState state_;
  std::vector<char> read_buffer_;
  std::string out_;  // the bytes of the write in progress
  // Invariant: pending_[i] is the reply to request number first_sequence_ + i; every earlier
  // request's reply has been handed to the socket.
  std::deque<PendingReply> pending_;
  uint64_t first_sequence_ = 0;
  // Requests parsed after one that had to wait, in arrival order. Invariant: the front one
  // does not satisfy may_dispatch(), or held_ is empty.
  std::deque<HeldRequest> held_;
  // Dispatched reads / writes / barriers / exclusive commands whose reply has not arrived
  // (CommandOrder).
  size_t reads_in_flight_ = 0;
  size_t writes_in_flight_ = 0;
  size_t barriers_in_flight_ = 0;
  size_t exclusive_in_flight_ = 0;
  // Replies completed and waiting behind the write in progress (ready slots of pending_):
  // what the output buffer limit counts.
  size_t buffered_bytes_ = 0;
  size_t buffered_replies_ = 0;
  // Requests in flight or held before reading pauses (RespServerOptions::
  // initial_pipeline_window); reply_estimate_ is a slowly decaying maximum of reply sizes.
  size_t window_ = 0;
  size_t reply_estimate_ = 0;
  // Since when buffered_bytes_ has been above the soft output limit (Redis semantics).
  std::optional<std::chrono::steady_clock::time_point> over_soft_limit_since_;
  // The request after whose reply the connection closes (protocol error, QUIT).
  std::optional<uint64_t> close_after_sequence_;
  bool dispatching_held_ = false;  // dispatch_held() is running (re-entry returns at once)
  bool input_done_ = false;        // QUIT or a protocol error was parsed: read nothing more
  int operations_ = 0;             // socket operations whose handler has not run
  bool read_paused_ = false;       // must_pause_reading() held: complete() resumes reading
  bool write_scheduled_ = false;
  bool writing_ = false;  // out_ is being written asynchronously
  bool started_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace raftkv::frontend
