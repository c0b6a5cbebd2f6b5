// The peer transport: carries raft::Messages of every Raft group between raftkv processes.
//
// Connection model. One TCP connection per peer pair carries all groups (every message is
// tagged with its group id) in both directions. The node with the lower id dials; the other
// accepts. Each connection starts (inside TLS when peer TLS is configured: peer_tls.h, the
// certificates must name the nodes) with the authentication handshake (handshake.h: nonces, then
// HMAC proofs over the cluster secret, the dialer's first), then a Hello frame in each direction
// (node id, cluster id, protocol version, incarnation, initialized); a peer that fails to prove
// itself, with another cluster id or version, an unknown id, or an id that should be accepted
// rather than dialed (or vice versa) is disconnected with a log line. A connection is attached
// to a peer (and may replace that peer's connection) only once it has authenticated as that
// peer; messages are accepted only from the node the connection authenticated as. Refused
// handshakes are counted (auth_failures) and logged at most once a second. Dialers reconnect with
// exponential backoff and jitter (drawn from the injected Rng). Peers come and go at runtime
// (add_peer / remove_peer, as the membership changes): a connection from a node that is not a peer
// yet is refused and its dialer retries, so it is accepted once the node is added.
//
// Incarnations (issue 12). A Raft message is delivered only if its from_incarnation equals the
// incarnation its connection's Hello announced; others are dropped, counted
// (stale_incarnation_dropped) and logged once per connection. peer_info() reports what the
// live connection's Hello said, which the node uses to bootstrap only a cluster of fresh nodes
// and to re-admit a member whose disk was wiped. A node that becomes initialized announces it
// with a second Hello on its live connections (set_initialized).
//
// Per connection: a reader coroutine (bytes → FrameDecoder → Envelope → on_message for each
// message) and a writer coroutine that drains the peer's send queue, coalescing many queued
// messages into one frame (bounded by max_batch_bytes). Malformed input of any kind (bad frame,
// bad protobuf, local message type, wrong sender or cluster) closes the connection with a log
// line; it never crashes the node.
//
// Backpressure. Each peer has a bounded send queue (send_queue_limit messages and
// send_queue_limit_bytes of estimate_encoded_bytes, an upper bound of the encoded size). Messages
// handed to send() but not yet on a queue (posted to the strand) are bounded too, for all peers
// together (max_posted_messages, max_posted_bytes); beyond that send() drops and counts them
// and reports the peer unreachable. A queue fills while
// the peer is down or slow; then new messages are dropped and counted, and on_unreachable(peer)
// is reported once per overflow episode (and on every failed dial or lost connection), so the
// node can call report_unreachable and stop pipelining to that peer. Raft tolerates the loss.
// Messages still queued when a connection drops are kept and sent on the next connection.
//
// Threading. The transport runs on a strand of the given io_context, which may be run by any
// number of threads. Callbacks (on_message, on_unreachable) run on that strand, one at a time,
// and must not block (post heavy work elsewhere). send(), add_peer(), remove_peer(),
// set_initialized(), stop(), stats(), peer_stats(), peer_info() and peers() are thread-safe.
// start() is called once, before any other method but stats().
//
// Lifetime. stop() closes the acceptor and every connection and cancels every timer; after it
// returns no callback starts. Coroutines still suspended unwind the next time the io_context
// runs (or are destroyed with it); they own their state through shared pointers and never
// touch the Transport object, so the Transport may be destroyed right after stop(). The
// io_context must outlive the Transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/rng.h"
#include "base/status.h"
#include "raft/types.h"

namespace asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace asio

namespace raftkv::transport {

struct TransportOptions {
  NodeId self;
  // Every node of a cluster uses the same id; a Hello with another id is refused.
  uint64_t cluster_id = 0;
  // The cluster secrets (load_cluster_secrets, handshake.h): this node proves with the first
  // and accepts a proof made with any. Empty: peer authentication is OFF — the handshake runs
  // with an empty key, so anyone who can reach the peer port can claim any node id (a loud
  // warning is logged at start).
  std::vector<std::string> cluster_secrets;
  // If set, the file the secrets come from: loaded by start() (which fails on a bad file) when
  // cluster_secrets is empty, and re-read before a handshake whenever it changed (inode, size,
  // mtime or mode), so that the secret rotates without a restart. A changed file that cannot be
  // used is logged and the secrets loaded before stay in use.
  std::string cluster_secret_file;
  // Mutual TLS between peers (peer_tls.h: load_peer_tls); both null: plain TCP. With TLS, a
  // peer's certificate must name the node it dialed or claims to be, and the handshake above
  // runs inside TLS.
  std::shared_ptr<asio::ssl::context> tls_server_context;
  std::shared_ptr<asio::ssl::context> tls_client_context;
  // This node's incarnation (storage/node_identity.h), announced in the Hello; outgoing
  // messages whose from_incarnation is 0 are stamped with it.
  uint64_t incarnation = 0;
  // Whether this node has any log, snapshot or hard state, as first announced (see
  // Transport::set_initialized for later changes).
  bool initialized = false;
  // "host:port" to listen on; port 0 picks an ephemeral port (see listen_port()).
  std::string listen_addr = "127.0.0.1:0";
  // Every other node: id → "host:port". More can be added later with add_peer().
  std::map<NodeId, std::string> peers;
  // Cap on one frame's payload, in both directions (the peer must use the same or larger).
  size_t max_frame_bytes = size_t{64} << 20;
  // Target payload size of one coalesced frame (at most max_frame_bytes); a single larger
  // message is sent alone.
  size_t max_batch_bytes = size_t{4} << 20;
  // Messages queued per peer before new ones are dropped...
  size_t send_queue_limit = 8192;
  // ...and estimated bytes queued per peer (a message is always admitted to an empty queue).
  // Above the raft core's inflight window (max_inflight_bytes, 32 MiB) plus one probe, so
  // that only a stuck peer ever fills it.
  size_t send_queue_limit_bytes = size_t{64} << 20;
  // Messages handed to send() and not yet queued (in transit to the transport's strand), all
  // peers together (a message is always admitted when none is in transit).
  size_t max_posted_messages = 65'536;
  size_t max_posted_bytes = size_t{128} << 20;
  // Reconnect delay: doubles from backoff_initial up to backoff_max; each wait is uniform in
  // [delay/2, delay] so that restarted nodes do not dial in lockstep.
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
  // A connection that has not finished connect + handshake + Hello exchange in this time is
  // closed.
  std::chrono::milliseconds handshake_timeout{5000};
};

struct TransportHandler {
  // A message from a peer, for `group`. message.to is this node.
  std::function<void(GroupId group, raft::Message message)> on_message;
  // Messages to `peer` are being lost (queue overflow, dial failure, connection lost).
  std::function<void(NodeId peer)> on_unreachable;
};

// Counters since start (relaxed atomics; read from any thread).
struct TransportStats {
  uint64_t messages_sent = 0;      // written to a socket
  uint64_t frames_sent = 0;        // one frame carries many messages
  uint64_t messages_received = 0;  // delivered to on_message
  uint64_t frames_received = 0;
  uint64_t messages_dropped = 0;         // queue overflow, unknown peer, too large, not sendable
  uint64_t connections_established = 0;  // handshakes completed (both directions)
  uint64_t connections_rejected = 0;     // protocol errors: bad frame, bad Hello, bad envelope
  // Received messages whose from_incarnation is not the one their connection's Hello announced.
  uint64_t stale_incarnation_dropped = 0;
  // Handshakes refused before the other end proved itself: a bad or missing proof (wrong
  // secret, cluster id, forged or replayed handshake), a handshake that timed out, or
  // anything else where a Challenge or Proof should be. Also counted in connections_rejected.
  uint64_t auth_failures = 0;
};

// What the live connection to a peer says about it (all zero when not connected).
struct PeerInfo {
  bool connected = false;
  uint64_t incarnation = 0;  // from its Hello
  bool initialized = false;  // from its Hello (or a later one announcing it)
  bool operator==(const PeerInfo&) const = default;
};

struct PeerStats {
  bool connected = false;
  uint64_t queued = 0;        // messages waiting in the send queue
  uint64_t queued_bytes = 0;  // their estimate_encoded_bytes
  uint64_t dropped = 0;       // messages dropped because the queue was full
  uint64_t sent = 0;
};

class TransportCore;

class Transport {
 public:
  // `rng` draws the backoff jitter. Nothing happens until start().
  Transport(asio::io_context& io, TransportOptions options, TransportHandler handler,
            std::unique_ptr<Rng> rng);
  ~Transport();  // stop()
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds and listens synchronously (so a bad address fails here, with kIoError or
  // kInvalidArgument), then starts accepting and dialing on the io_context.
  Status start();
  // The bound port (after a successful start()).
  uint16_t listen_port() const;

  // Queues `message` (message.to names the peer) for `group`. Never blocks; drops and counts
  // when the peer's queue is full, the peer is unknown or the message may not leave the node.
  void send(GroupId group, raft::Message message);
  void send(GroupId group, std::vector<raft::Message> messages);

  // Adds a peer or changes its address (the current connection, if any, is kept).
  void add_peer(NodeId peer, std::string address);
  // Forgets a peer: closes its connection, drops its queue, stops dialing it; messages to it
  // are dropped from then on and its connections refused. No-op for an unknown peer.
  void remove_peer(NodeId peer);
  // This node now has a log (it bootstrapped or was replicated to): announced to every
  // connected peer with a second Hello, and in every later Hello. Only false → true counts.
  void set_initialized();

  void stop();

  TransportStats stats() const;
  // Zeros for an unknown peer.
  PeerStats peer_stats(NodeId peer) const;
  // The live connection's view of `peer`; zeros for an unknown or disconnected peer.
  PeerInfo peer_info(NodeId peer) const;
  // The peers configured now (add_peer / remove_peer applied so far), by id.
  std::map<NodeId, std::string> peers() const;

 private:
  std::shared_ptr<TransportCore> core_;
};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// Parses "host:port", "[v6addr]:port"; the port must be 0..65535.
Result<HostPort> parse_host_port(const std::string& address);

}  // namespace raftkv::transport
