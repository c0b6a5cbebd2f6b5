// Internals of Transport (transport.h): the state shared by its coroutines.
//
// Every member below is touched only on `strand_` unless marked atomic or guarded by
// peers_mu_. Coroutines hold a shared_ptr<TransportCore> (and to their Peer/Connection), so
// the state lives until the last of them has unwound, independent of the Transport object.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>

#include "base/log.h"
#include "base/log_limiter.h"
#include "base/rng.h"
#include "transport/codec.h"
#include "transport/frame.h"
#include "transport/handshake.h"
#include "transport/transport.h"

namespace raftkv::transport {

using Strand = asio::strand<asio::io_context::executor_type>;
using asio::ip::tcp;

// One TCP connection, from accept/connect until closed. Never reused after close.
struct Connection {
  Connection(const Strand& strand, tcp::socket s);
  explicit Connection(const Strand& strand);

  tcp::socket socket;
  // Peer TLS (peer_tls.h): the stream over `socket` and its context (which it must not
  // outlive); null for plain TCP. Set before any byte of the handshake.
  std::shared_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  // The node the other end's verified certificate names (TLS only).
  NodeId tls_node;
  // Closes the connection if connect + Hello exchange take longer than handshake_timeout.
  asio::steady_timer deadline;
  // The writer waits on this (expiring never) while the send queue is empty; cancel() wakes it.
  asio::steady_timer wake;
  // The peer on the other end. Inbound: none until it authenticated (and then the node it
  // proved to be); outbound: the dialed peer, for log lines. Attached (in Peer::conn) only
  // after the handshake and the Hello.
  NodeId peer;
  // The other end proved knowledge of the cluster secret (handshake.h).
  bool authenticated = false;
  // "ip:port" of the other end, for log lines.
  std::string remote;
  // What the peer's Hello announced (valid once `peer` is set). Every message delivered from
  // this connection has from_incarnation == incarnation.
  uint64_t incarnation = 0;
  bool initialized = false;
  // A message with another from_incarnation was logged (once per connection).
  bool stale_logged = false;
  // What our own Hello on this connection announced; the writer sends a second Hello
  // announcing initialized = true before its next frame when hello_pending.
  bool announced_initialized = false;
  bool hello_pending = false;
  // Invariant: once true, the socket is closed and the connection is in no peer and not in
  // TransportCore::live_.
  bool closed = false;
};

// A remote node and its send queue. Lives until remove_peer(); a peer added again is a new
// Peer.
struct Peer {
  Peer(const Strand& strand, NodeId id, std::string address, bool we_dial);

  const NodeId id;
  // "host:port"; may change via add_peer(). Written on the strand under peers_mu_ (peers()
  // reads it from any thread).
  std::string address;
  // This node dials the peer (self < id); otherwise the peer dials us.
  const bool we_dial;
  // Invariant: size() <= send_queue_limit; queue_bytes (the sum of estimate_encoded_bytes of
  // the queued messages) <= send_queue_limit_bytes unless size() == 1.
  std::deque<GroupMessage> queue;
  uint64_t queue_bytes = 0;
  // The connection messages go out on, or null. Invariant: if set, !conn->closed.
  std::shared_ptr<Connection> conn;
  // Dialer: the backoff wait between attempts.
  asio::steady_timer retry;
  std::chrono::milliseconds backoff{0};
  uint64_t consecutive_dial_failures = 0;
  // on_unreachable already reported for the current queue overflow.
  bool overflow_reported = false;
  bool dial_loop_running = false;
  // remove_peer() ran: no longer in TransportCore::peers_; its dial loop ends.
  bool removed = false;

  // Mirrors for peer_stats() from any thread.
  std::atomic<bool> connected{false};
  std::atomic<uint64_t> incarnation{0};  // of the attached connection's Hello
  std::atomic<bool> initialized{false};  // likewise
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> queued_bytes{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> sent{0};
};

// Reads and writes through the connection's TLS stream when it has one, else its socket.
template <class MutableBuffers>
asio::awaitable<size_t> read_some(Connection& conn, const MutableBuffers& buffers,
                                  std::error_code& ec) {
  if (conn.tls) {
    co_return co_await conn.tls->async_read_some(buffers,
                                                 asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return co_await conn.socket.async_read_some(buffers,
                                                 asio::redirect_error(asio::use_awaitable, ec));
}
template <class ConstBuffers>
asio::awaitable<void> write_all(Connection& conn, const ConstBuffers& buffers,
                                std::error_code& ec) {
  if (conn.tls) {
    co_await asio::async_write(*conn.tls, buffers, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(conn.socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
  }
}

// Completion handler for co_spawn: logs an exception that escaped a coroutine (none should:
// I/O errors are handled as values; this catches e.g. std::bad_alloc).
struct LogCoroutineExit {
  Logger log;
  const char* what;
  void operator()(std::exception_ptr e) const;
};

class TransportCore : public std::enable_shared_from_this<TransportCore> {
 public:
  TransportCore(asio::io_context& io, TransportOptions options, TransportHandler handler,
                std::unique_ptr<Rng> rng);

  Status start();
  // `bytes`: estimate_encoded_bytes(message).
  void enqueue(GroupId group, raft::Message message, uint64_t bytes);
  // Any thread: reserves room for a message about to be posted to the strand; false (and the
  // drop counted, the peer reported unreachable) when the posted bound is reached.
  bool admit_post(NodeId peer, uint64_t bytes);
  // Strand: the posted message reached enqueue().
  void release_post(uint64_t bytes) {
    posted_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    posted_messages_.fetch_sub(1, std::memory_order_relaxed);
  }
  void add_peer(NodeId id, std::string address);
  void remove_peer(NodeId id);
  void set_initialized();
  // Closes everything; idempotent.
  void shutdown();

  Strand& strand() { return strand_; }
  uint16_t listen_port() const { return listen_port_.load(std::memory_order_acquire); }
  TransportStats stats() const;
  PeerStats peer_stats(NodeId id) const;
  PeerInfo peer_info(NodeId id) const;
  std::map<NodeId, std::string> peers() const;
  std::atomic<bool>& stopped() { return stopped_; }

 private:
  // transport.cc: accepting, dialing, handshakes.
  asio::awaitable<void> accept_loop(std::shared_ptr<TransportCore> self);
  asio::awaitable<void> handle_inbound(std::shared_ptr<TransportCore> self,
                                       std::shared_ptr<Connection> conn);
  asio::awaitable<void> dial_loop(std::shared_ptr<TransportCore> self, std::shared_ptr<Peer> peer);
  // One connection attempt; returns after the connection ends. True if the handshake succeeded.
  asio::awaitable<bool> dial_once(std::shared_ptr<Peer> peer);
  // The next whole payload of the handshake (Challenge, Proof or Hello): small and not in
  // parts (kTooLarge otherwise); kIoError when the connection fails or closes.
  asio::awaitable<Result<std::string>> read_handshake_payload(Connection& conn,
                                                              FrameDecoder& decoder);
  asio::awaitable<bool> write_payload(Connection& conn, const std::string& payload);
  // The authentication handshake (handshake.h). Inbound: returns the node the dialer proved
  // to be (a configured peer that dials us). Outbound: ok once `peer` proved itself. A refusal
  // is kInvalidArgument (bad message or proof), kVersionMismatch, kTooLarge or kIoError (the
  // connection failed or the other end closed it), with the reason.
  struct InboundAuth {
    NodeId dialer;
    Mac acceptor_mac;  // our proof, sent once the dialer is known to be a peer that dials us
  };
  asio::awaitable<Result<InboundAuth>> authenticate_inbound(Connection& conn,
                                                            FrameDecoder& decoder);
  asio::awaitable<Status> authenticate_outbound(Connection& conn, FrameDecoder& decoder,
                                                const Peer& peer);
  // Peer TLS (when configured): the TLS handshake on `conn` as client (dialer) or server, then
  // the check of the node the other end's certificate names: `expected` for a dialer (the peer
  // dialed); recorded in conn.tls_node for the acceptor to compare with the proof's claim.
  asio::awaitable<Status> start_tls(Connection& conn, bool dialer, NodeId expected);
  // Sends our Challenge (nonce `ours`) and reads the peer's, refusing another protocol version
  // with a clear reason, and our own nonce sent back; the peer's nonce.
  asio::awaitable<Result<Nonce>> exchange_challenges(Connection& conn, FrameDecoder& decoder,
                                                     const Nonce& ours);
  // start(): the secrets from the options, or from the file when only it is given.
  Status load_secrets();
  // The cluster secrets now in force: re-reads options_.cluster_secret_file if it changed.
  const std::vector<std::string>& secrets();
  // The one this node proves with: the first ("" without any).
  std::string proving_secret();
  // A refused handshake: counted (auth_failures, connections_rejected), logged at most once a
  // second (with how many were not logged), connection closed.
  void refuse_handshake(const std::shared_ptr<Connection>& conn, std::string_view reason);
  asio::awaitable<Result<Hello>> read_hello(Connection& conn, FrameDecoder& decoder);
  asio::awaitable<bool> write_hello(Connection& conn);
  std::string hello_frame() const;
  // A Hello after the handshake: the same peer announcing initialized; false if it is not.
  bool handle_later_hello(const std::shared_ptr<Connection>& conn, const Hello& hello);
  Status validate_hello(const Hello& hello, const Peer* expected) const;
  void spawn_dial_loop(const std::shared_ptr<Peer>& peer);
  void arm_deadline(const std::shared_ptr<Connection>& conn);

  // connection.cc: the data path.
  // The handshake succeeded with `hello`: `conn` becomes the peer's connection.
  void attach(const std::shared_ptr<Peer>& peer, const std::shared_ptr<Connection>& conn,
              const Hello& hello);
  asio::awaitable<void> write_loop(std::shared_ptr<TransportCore> self, std::shared_ptr<Peer> peer,
                                   std::shared_ptr<Connection> conn);
  asio::awaitable<void> read_loop(std::shared_ptr<Connection> conn, FrameDecoder decoder);
  // Writes one frame (its buffers) and counts it; on failure closes the connection, false.
  asio::awaitable<bool> write_frame(const std::shared_ptr<Connection>& conn,
                                    std::span<const asio::const_buffer> buffers);
  // Delivers every complete frame buffered in `decoder`; false if the connection was closed.
  bool drain_frames(const std::shared_ptr<Connection>& conn, FrameDecoder& decoder);
  void close(const std::shared_ptr<Connection>& conn, std::string_view reason,
             bool report_unreachable = true);
  // A protocol violation: logged as a warning, counted, connection closed.
  void reject(const std::shared_ptr<Connection>& conn, std::string_view reason);
  void report_unreachable(NodeId peer);
  void count_drop(Peer* peer, uint64_t n);
  std::shared_ptr<Peer> find_peer(NodeId id) const;
  std::shared_ptr<Connection> new_connection();

  asio::io_context& io_;
  Strand strand_;
  const TransportOptions options_;
  const TransportHandler handler_;
  std::unique_ptr<Rng> rng_;  // backoff jitter; strand only
  Logger log_;

  tcp::acceptor acceptor_;
  std::atomic<uint16_t> listen_port_{0};
  bool started_ = false;
  std::atomic<bool> stopped_{false};
  // Announced in every Hello from now on (set_initialized).
  std::atomic<bool> initialized_{false};
  uint64_t unknown_peer_drops_ = 0;  // strand: messages to nodes that are not peers (logging)
  std::map<NodeId, uint64_t> refused_unknown_;  // strand: connections refused, by node (logging)
  // strand: the cluster secrets in force (options_.cluster_secrets, or the file's), and what the
  // file looked like when they were read ({inode, size, mtime s, mtime ns, mode}).
  std::vector<std::string> secrets_;
  std::array<int64_t, 5> secret_file_stamp_{};
  // Refused handshakes: one line a second, with how many were left out.
  LogLimiter refused_log_;

  // Structure guarded by peers_mu_ for readers off the strand; written only on the strand.
  mutable std::mutex peers_mu_;
  std::map<NodeId, std::shared_ptr<Peer>> peers_;
  // Every open connection, attached or still handshaking, so shutdown() can close them all.
  std::set<std::shared_ptr<Connection>> live_;

  struct AtomicStats {
    std::atomic<uint64_t> messages_sent{0}, frames_sent{0}, messages_received{0},
        frames_received{0}, messages_dropped{0}, connections_established{0},
        connections_rejected{0}, stale_incarnation_dropped{0}, auth_failures{0};
  };
  AtomicStats stats_;
  // Messages between send() and enqueue() (admit_post / release_post). Invariant: at most
  // max_posted_messages and max_posted_bytes, unless only one message is in transit.
  std::atomic<uint64_t> posted_messages_{0};
  std::atomic<uint64_t> posted_bytes_{0};
  std::atomic<bool> post_overflow_reported_{false};
};

// Bytes read per socket read; also the largest pre-handshake buffer we hold for an
// unauthenticated client.
inline constexpr size_t kReadChunkBytes = 64 * 1024;

}  // namespace raftkv::transport
