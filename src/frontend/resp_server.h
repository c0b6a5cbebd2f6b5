// RespServer: the client-facing TCP server speaking RESP2.
//
// Per connection: bytes → resp::RequestParser → CommandDispatcher → replies written back in
// request order. Commands are pipelined: many may be in flight at once and their backend
// completions may arrive in any order, on any thread; each request owns a slot in a queue and
// the completed prefix of that queue is flushed, many replies per socket write. At most
// max_pending_replies commands are in flight per connection; when the queue is full the server
// stops reading from that client (backpressure through TCP). Completed replies waiting for a
// client that does not read do not stop reading (a client may send its whole pipeline before
// reading any reply, as redis-py does); they are bounded by output_limit instead, beyond which
// the connection is closed (Redis's client-output-buffer-limit).
//
// Order: a connection's commands take effect in the order sent (CommandOrder in
// command_dispatcher.h): a read sees the connection's earlier writes, a write is not seen by
// its earlier reads, while runs of reads or of writes stay pipelined.
//
// Connection model: each connection runs on its own strand, driven by completion handlers: a
// reader (wait for readiness, read, parse + dispatch) and a writer (flush the completed prefix),
// so that a slow backend never delays reading and a slow client never delays the backend. A
// protocol error is answered with
// "-ERR Protocol error: ..." after every earlier reply, then the connection is closed (as Redis).
// QUIT answers +OK, then closes. Beyond max_clients, a new connection gets
// "-ERR max number of clients reached" and is closed. Idle connections are kept.
//
// TLS (Redis tls-port): with tls_listen_addr and a tls context, a second listener speaks TLS;
// both listeners feed the same connections, dispatcher, client ids and max_clients. Each TLS
// connection takes the context current when it is accepted and keeps it (a reload of the
// certificate applies to new connections). The handshake must finish within
// tls_handshake_timeout or the connection is closed. A client that does not speak TLS on the
// TLS port gets "-ERR ..." in plain text and is closed; a TLS ClientHello on the plaintext port
// is answered the same way (never read as an inline command that would wait for a newline).
// An empty listen_addr disables the plaintext listener (Redis `port 0`).
//
// Threading: the io_context may be run by any number of threads. start(), stop(), port(),
// connection_count(), stats() and wait_stopped() are thread-safe.
//
// Lifetime: stop() closes the listener and every connection; their handlers then unwind as soon
// as the io_context runs them, and wait_stopped() returns once none is left. Handlers own their
// state through shared pointers and never touch the RespServer object, so it may be destroyed
// right after stop(). The Backend must outlive the server and every completion it holds; its
// completions must run (or be dropped) before the io_context is destroyed. The io_context must
// outlive the RespServer.
//
// Usage (server main):
//   asio::io_context io;
//   RespServer server(io, backend, {.listen_addr = "0.0.0.0:6379"});
//   if (Status s = server.start(); !s) { ...exit... }
//   ...run io on N threads...
//   server.stop(); server.wait_stopped(std::chrono::seconds(5)); then stop the backend, the io.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "frontend/backend.h"
#include "frontend/command_dispatcher.h"
#include "resp/request_parser.h"

namespace asio {
class io_context;
}
namespace raftkv::tls {
class ReloadableContext;
}

namespace raftkv::frontend {

// Redis's `client-output-buffer-limit normal <hard> <soft> <soft-seconds>`: bytes of replies
// computed for one connection but not yet taken by its client. Over hard_bytes, or over
// soft_bytes for soft_seconds in a row, the connection is closed with a log line (Redis checks
// the same way, when a reply is added). 0 disables that limit. Unlike Redis, one reply is
// always delivered when nothing else is buffered, so a GET of a value up to max-value-bytes
// works under any limit.
struct OutputBufferLimit {
  size_t hard_bytes = size_t{128} << 20;
  size_t soft_bytes = 0;
  std::chrono::seconds soft_seconds{0};
};

struct RespServerOptions {
  // "host:port" (IPv4, IPv6 in brackets, or a resolvable name); port 0 picks a free port.
  // Empty: no plaintext listener (then tls_listen_addr must be set).
  std::string listen_addr = "127.0.0.1:0";
  // The TLS listener ("" = none) and its certificate (required with tls_listen_addr).
  std::string tls_listen_addr;
  std::shared_ptr<tls::ReloadableContext> tls;
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  // Redirects on TLS connections: "-MOVED <slot> <addr>" / "-ASK ..." naming a node's plaintext
  // client address are rewritten to its TLS address from this map (plaintext → TLS), so that a
  // TLS client is sent to a TLS port (Redis 7.2 picks the port by the connection's type too).
  // Addresses not in the map are left as they are.
  std::map<std::string, std::string> tls_redirects;
  // Open client connections beyond which new ones are refused (Redis maxclients).
  size_t max_clients = 10000;
  // Commands in flight (dispatched or parsed, reply not yet computed) per connection before
  // reading stops...
  size_t max_pending_replies = 1024;
  // ...starting from this many on a new connection and growing by one per reply (doubling per
  // round trip, like TCP slow start), while the replies seen so far say that a window of
  // replies fits in half the output buffer limit: with 1 MiB replies and a 128 MiB limit at
  // most 64 are in flight, so a client that stops reading cannot make the node compute much
  // more than the limit before it is disconnected.
  size_t initial_pipeline_window = 32;
  // Replies are coalesced into one socket write up to about this many bytes.
  size_t max_write_batch_bytes = size_t{1} << 20;
  OutputBufferLimit output_limit;
  // Bytes asked of one socket read.
  size_t read_chunk_bytes = size_t{16} << 10;
  resp::RequestLimits request_limits;
  // redis_version shown to clients; max_clients is taken from above.
  DispatcherOptions dispatcher;
};

class RespServer {
 public:
  RespServer(asio::io_context& io, Backend& backend, RespServerOptions options);
  ~RespServer();  // stop()
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  // Binds and listens, then accepts on the io_context. kInvalidArgument for a malformed
  // address, kIoError when binding fails. Call once.
  Status start();
  // The bound ports (after a successful start()); 0 for a listener that is off.
  uint16_t port() const;
  uint16_t tls_port() const;
  // Closes the listener and every connection. Idempotent; does not block.
  void stop();
  // After stop(): blocks until the accept loop and every connection have ended (true) or the
  // timeout passes (false). The io_context must be running on another thread meanwhile.
  bool wait_stopped(std::chrono::milliseconds timeout);
  // Open client connections.
  size_t connection_count() const;
  const FrontendStats& stats() const;
  // TLS listener counters (relaxed atomics: figures).
  struct TlsStats {
    std::atomic<uint64_t> handshakes{0};          // completed
    std::atomic<uint64_t> handshake_failures{0};  // refused certificates, timeouts, non-TLS
    std::atomic<uint64_t> plaintext_refused{0};   // TLS ClientHellos on the plaintext port
  };
  const TlsStats& tls_stats() const;

  struct State;  // shared with the accept loop and the connections (server_internal.h)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace raftkv::frontend
