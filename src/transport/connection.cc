// The data path: send queues, the writer (coalescing) and reader coroutines, closing.
#include <algorithm>

#include <fmt/format.h>

#include "transport/transport_core.h"

namespace raftkv::transport {

namespace {

// Per-envelope overhead beyond the messages' own estimates (sender, cluster id, tags).
constexpr uint64_t kEnvelopeOverheadBytes = 64;

}  // namespace

void TransportCore::count_drop(Peer* peer, uint64_t n) {
  stats_.messages_dropped.fetch_add(n, std::memory_order_relaxed);
  if (peer != nullptr) peer->dropped.fetch_add(n, std::memory_order_relaxed);
}

void TransportCore::report_unreachable(NodeId peer) {
  if (stopped_ || !handler_.on_unreachable) return;
  handler_.on_unreachable(peer);
}

bool TransportCore::admit_post(NodeId peer, uint64_t bytes) {
  const uint64_t messages_before = posted_messages_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t bytes_before = posted_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (messages_before == 0 || (messages_before < options_.max_posted_messages &&
                               bytes_before + bytes <= options_.max_posted_bytes)) {
    post_overflow_reported_.store(false, std::memory_order_relaxed);
    return true;
  }
  release_post(bytes);
  count_drop(nullptr, 1);
  // One report (and log line) per overflow episode, so a flood of drops posts no flood.
  if (!post_overflow_reported_.exchange(true)) {
    asio::post(strand_, [self = shared_from_this(), peer, messages_before, bytes_before] {
      self->log_.warn("{} messages (~{} bytes) in transit to the transport; dropping",
                      messages_before, bytes_before);
      self->report_unreachable(peer);
    });
  }
  return false;
}

void TransportCore::enqueue(GroupId group, raft::Message message, uint64_t bytes) {
  if (stopped_) return;
  if (!is_network_message(message.type)) {
    log_.error("group {}: {} is a local message; not sent", group,
               raft::message_type_name(message.type));
    count_drop(nullptr, 1);
    return;
  }
  std::shared_ptr<Peer> peer = find_peer(message.to);
  if (!peer) {
    // E.g. to a node just removed from the membership, until the core stops sending to it.
    if (unknown_peer_drops_++ % 1000 == 0) {
      log_.warn("group {}: {} to node {}, which is not a peer, dropped ({} such so far)", group,
                raft::message_type_name(message.type), message.to, unknown_peer_drops_);
    }
    count_drop(nullptr, 1);
    return;
  }
  if (bytes + kEnvelopeOverheadBytes > options_.max_frame_bytes) {
    log_.error("group {}: {} to {} exceeds the max frame size {} bytes; dropped", group,
               raft::message_type_name(message.type), message.to, options_.max_frame_bytes);
    count_drop(peer.get(), 1);
    report_unreachable(peer->id);
    return;
  }
  if (message.from.is_none()) message.from = options_.self;
  // The node driver's own messages (snapshot chunks) carry no incarnation of their own.
  if (message.from_incarnation == 0) message.from_incarnation = options_.incarnation;
  if (peer->queue.size() >= options_.send_queue_limit ||
      (!peer->queue.empty() && peer->queue_bytes + bytes > options_.send_queue_limit_bytes)) {
    count_drop(peer.get(), 1);
    if (!peer->overflow_reported) {
      peer->overflow_reported = true;
      log_.warn("send queue to peer {} is full ({} messages, ~{} bytes); dropping", peer->id,
                peer->queue.size(), peer->queue_bytes);
      report_unreachable(peer->id);
    }
    return;
  }
  peer->queue.push_back(GroupMessage{group, std::move(message)});
  peer->queue_bytes += bytes;
  peer->queued.store(peer->queue.size(), std::memory_order_relaxed);
  peer->queued_bytes.store(peer->queue_bytes, std::memory_order_relaxed);
  if (peer->conn) peer->conn->wake.cancel();
}

void TransportCore::attach(const std::shared_ptr<Peer>& peer,
                           const std::shared_ptr<Connection>& conn, const Hello& hello) {
  // Issue 13: only a connection that proved to be `peer` may carry its messages or replace its
  // connection.
  RAFTKV_ASSERT(conn->authenticated, "attaching an unauthenticated connection to peer {}",
                peer->id);
  if (peer->conn) {
    // By value: close() resets peer->conn, which must not pull the connection out from under it.
    const std::shared_ptr<Connection> old = peer->conn;
    close(old, "replaced by a new connection", false);
  }
  conn->peer = peer->id;
  conn->incarnation = hello.incarnation;
  conn->initialized = hello.initialized;
  // set_initialized() ran after our Hello went out: announce it.
  conn->hello_pending = !conn->announced_initialized && initialized_.load();
  const uint64_t previous = peer->incarnation.exchange(hello.incarnation);
  peer->initialized = hello.initialized;
  peer->conn = conn;
  peer->connected = true;
  stats_.connections_established.fetch_add(1, std::memory_order_relaxed);
  log_.info("connected to peer {} ({}, {}; incarnation {:016x}{}, {})", peer->id, conn->remote,
            peer->we_dial ? "dialed" : "accepted", hello.incarnation,
            previous != 0 && previous != hello.incarnation ? " (a new one)" : "",
            hello.initialized ? "initialized" : "uninitialized");
  asio::co_spawn(strand_, write_loop(shared_from_this(), peer, conn),
                 LogCoroutineExit{log_, "writer"});
}

void TransportCore::close(const std::shared_ptr<Connection>& conn, std::string_view reason,
                          bool report) {
  if (conn->closed) return;
  conn->closed = true;
  std::error_code ignored;
  conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
  conn->socket.close(ignored);
  conn->deadline.cancel();
  conn->wake.cancel();
  live_.erase(conn);
  if (conn->peer.is_none()) return;
  std::shared_ptr<Peer> peer = find_peer(conn->peer);
  if (!peer || peer->conn != conn) return;
  peer->conn = nullptr;
  peer->connected = false;
  if (!stopped_) {
    log_.info("connection to peer {} ({}) closed: {}", peer->id, conn->remote, reason);
    if (report) report_unreachable(peer->id);
  }
}

void TransportCore::reject(const std::shared_ptr<Connection>& conn, std::string_view reason) {
  stats_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
  if (!stopped_) {
    log_.warn(
        "closing connection {} {}: {}",
        conn->peer.is_none() ? std::string("from") : fmt::format("with peer {} at", conn->peer),
        conn->remote, reason);
  }
  close(conn, reason);
}

bool TransportCore::handle_later_hello(const std::shared_ptr<Connection>& conn,
                                       const Hello& hello) {
  if (hello.node != conn->peer || hello.cluster_id != options_.cluster_id ||
      hello.protocol_version != kProtocolVersion || hello.incarnation != conn->incarnation) {
    reject(conn, fmt::format("a second Hello (node {} incarnation {:016x}) differs from the "
                             "connection's (node {} incarnation {:016x})",
                             hello.node, hello.incarnation, conn->peer, conn->incarnation));
    return false;
  }
  if (hello.initialized && !conn->initialized) {
    conn->initialized = true;
    std::shared_ptr<Peer> peer = find_peer(conn->peer);
    if (peer && peer->conn == conn) peer->initialized = true;
    log_.info("peer {} is initialized now", conn->peer);
  }
  return true;
}

asio::awaitable<void> TransportCore::write_loop(std::shared_ptr<TransportCore> self,
                                                std::shared_ptr<Peer> peer,
                                                std::shared_ptr<Connection> conn) {
  // A batch must fit a frame: message estimates are upper bounds, plus the envelope overhead.
  const uint64_t max_batch_bytes =
      std::min<uint64_t>(options_.max_batch_bytes, options_.max_frame_bytes);
  // A payload larger than max_batch_bytes (one large message) goes out in parts of that size
  // (frame.h), with whole frames of the small messages queued meanwhile between its parts, so
  // that heartbeats and votes are not held up behind a large entry for all of its transfer.
  std::string in_parts;         // the payload being sent in parts; empty: none
  size_t in_parts_sent = 0;     // bytes of it written so far
  uint64_t in_parts_count = 0;  // messages it carries
  std::error_code ec;
  while (!conn->closed) {
    if (conn->hello_pending) {
      // A whole frame, so it may come between the parts of a payload.
      conn->hello_pending = false;
      conn->announced_initialized = initialized_.load();
      const std::string hello = hello_frame();
      const std::array<asio::const_buffer, 1> buffers{asio::buffer(hello)};
      if (!co_await write_frame(conn, buffers)) break;
      continue;
    }
    if (peer->queue.empty() && in_parts.empty()) {
      conn->wake.expires_at(asio::steady_timer::time_point::max());
      co_await conn->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Messages whose frame may exceed max_batch_bytes, sent in parts; one at a time.
    const auto needs_parts = [&](uint64_t bytes) {
      return bytes + kEnvelopeOverheadBytes > max_batch_bytes;
    };
    // Coalesce: take messages until the batch would exceed max_batch_bytes (at least one).
    // While a payload is in parts, only small messages other than kApps pass it: kApps keep
    // their order among themselves (a later App overtaking the one in parts would only be
    // rejected for the gap), and a large message waits for the payload to finish. Heartbeats
    // and votes may therefore overtake a large App; the raft core knows
    // (raft::Config::ordered_app_bytes).
    Envelope envelope{options_.self, options_.cluster_id, {}};
    uint64_t batch_bytes = kEnvelopeOverheadBytes;
    for (auto it = peer->queue.begin(); it != peer->queue.end();) {
      const uint64_t bytes = estimate_encoded_bytes(it->message);
      if (!in_parts.empty() &&
          (needs_parts(bytes) || it->message.type == raft::MessageType::kApp)) {
        ++it;
        continue;
      }
      if (!envelope.messages.empty() && batch_bytes + bytes > max_batch_bytes) break;
      batch_bytes += bytes;
      peer->queue_bytes -= bytes;
      envelope.messages.push_back(std::move(*it));
      it = peer->queue.erase(it);
      if (in_parts.empty() && needs_parts(bytes)) break;  // a large message goes alone
    }
    if (!envelope.messages.empty()) {
      peer->queued.store(peer->queue.size(), std::memory_order_relaxed);
      peer->queued_bytes.store(peer->queue_bytes, std::memory_order_relaxed);
      if (peer->queue.size() < options_.send_queue_limit) peer->overflow_reported = false;
      const uint64_t count = envelope.messages.size();
      auto payload = encode_envelope(envelope);
      if (!payload) {
        // enqueue() admits only encodable messages; this is a bug, not peer input.
        log_.error("cannot encode {} messages to peer {}: {}", count, peer->id,
                   payload.status().to_string());
        count_drop(peer.get(), count);
        continue;
      }
      RAFTKV_ASSERT(payload->size() <= options_.max_frame_bytes,
                    "batch of {} bytes exceeds max frame size despite estimates", payload->size());
      if (payload->size() > max_batch_bytes) {
        // A single large message: a batch's estimates (upper bounds) bound it by
        // max_batch_bytes otherwise, so nothing taken while a payload is in parts gets here.
        RAFTKV_ASSERT(in_parts.empty(), "a second payload in parts to peer {}", peer->id);
        in_parts = std::move(payload).value();
        in_parts_sent = 0;
        in_parts_count = count;
      } else {
        const FrameHeader header = encode_frame_header(*payload);
        const std::array<asio::const_buffer, 2> buffers{asio::buffer(header),
                                                        asio::buffer(*payload)};
        if (!co_await write_frame(conn, buffers)) break;
        stats_.messages_sent.fetch_add(count, std::memory_order_relaxed);
        peer->sent.fetch_add(count, std::memory_order_relaxed);
        if (in_parts.empty()) continue;
      }
    }
    // The next part of the payload in parts.
    const size_t n = std::min<size_t>(max_batch_bytes, in_parts.size() - in_parts_sent);
    const bool last = in_parts_sent + n == in_parts.size();
    const std::string_view part(in_parts.data() + in_parts_sent, n);
    const FrameHeader header =
        encode_frame_header(part, last ? kFlagPart | kFlagLastPart : kFlagPart);
    // The first part frame (the length, so that the receiver joins without reallocating) goes
    // out with the first bytes.
    const std::string first = in_parts_sent == 0
                                  ? encode_first_part_frame(static_cast<uint32_t>(in_parts.size()))
                                  : std::string();
    const std::array<asio::const_buffer, 3> buffers{asio::buffer(first), asio::buffer(header),
                                                    asio::buffer(part.data(), part.size())};
    if (!co_await write_frame(conn, buffers)) break;
    in_parts_sent += n;
    if (last) {
      stats_.messages_sent.fetch_add(in_parts_count, std::memory_order_relaxed);
      peer->sent.fetch_add(in_parts_count, std::memory_order_relaxed);
      std::string().swap(in_parts);  // release the encoded copy of the large entry
    }
  }
  (void)self;
}

asio::awaitable<bool> TransportCore::write_frame(const std::shared_ptr<Connection>& conn,
                                                 std::span<const asio::const_buffer> buffers) {
  std::error_code ec;
  co_await write_all(*conn, buffers, ec);
  if (ec) {
    if (!conn->closed) close(conn, "write failed: " + ec.message());
    co_return false;
  }
  stats_.frames_sent.fetch_add(1, std::memory_order_relaxed);
  co_return true;
}

asio::awaitable<void> TransportCore::read_loop(std::shared_ptr<Connection> conn,
                                               FrameDecoder decoder) {
  // Frames that arrived together with the Hello.
  if (!drain_frames(conn, decoder)) co_return;
  std::vector<char> buf(kReadChunkBytes);
  while (!conn->closed) {
    std::error_code ec;
    const size_t n = co_await read_some(*conn, asio::buffer(buf), ec);
    if (ec) {
      close(conn, ec == asio::error::eof ? "peer closed the connection" : ec.message());
      break;
    }
    decoder.feed(std::string_view(buf.data(), n));
    if (!drain_frames(conn, decoder)) break;
  }
}

bool TransportCore::drain_frames(const std::shared_ptr<Connection>& conn, FrameDecoder& decoder) {
  for (;;) {
    if (conn->closed || stopped_) return false;
    std::string_view payload;
    const FrameOutcome outcome = decoder.next(&payload);
    if (outcome == FrameOutcome::kNeedMore) return true;
    if (outcome == FrameOutcome::kError) {
      reject(conn, "bad frame: " + decoder.error().to_string());
      return false;
    }
    stats_.frames_received.fetch_add(1, std::memory_order_relaxed);
    auto decoded = decode_payload(payload);
    if (!decoded) {
      reject(conn, "bad payload: " + decoded.status().to_string());
      return false;
    }
    auto* envelope = std::get_if<Envelope>(&*decoded);
    if (envelope == nullptr) {
      if (!handle_later_hello(conn, std::get<Hello>(*decoded))) return false;
      continue;
    }
    if (envelope->sender != conn->peer || envelope->cluster_id != options_.cluster_id) {
      reject(conn, fmt::format("envelope from node {} cluster {} on the connection of node {}",
                               envelope->sender, envelope->cluster_id, conn->peer));
      return false;
    }
    for (GroupMessage& gm : envelope->messages) {
      raft::Message& m = gm.message;
      // A forwarded TransferLeader names its target in `from`; everything else is from the
      // node at the other end (Hello-identified).
      if (m.to != options_.self ||
          (m.from != conn->peer && m.type != raft::MessageType::kTransferLeader)) {
        log_.warn("group {}: {} from {} to {} arrived on the connection of peer {}; dropped",
                  gm.group, raft::message_type_name(m.type), m.from, m.to, conn->peer);
        count_drop(nullptr, 1);
        continue;
      }
      // Issue 12: the core counts a vote or an acknowledgement by its from_incarnation, which
      // must be the incarnation this connection's Hello announced.
      if (m.from_incarnation != conn->incarnation) {
        stats_.stale_incarnation_dropped.fetch_add(1, std::memory_order_relaxed);
        count_drop(nullptr, 1);
        if (!conn->stale_logged) {
          conn->stale_logged = true;
          log_.warn(
              "group {}: {} from {} carries incarnation {:016x}, but its connection announced "
              "{:016x}; dropped (logged once per connection)",
              gm.group, raft::message_type_name(m.type), m.from, m.from_incarnation,
              conn->incarnation);
        }
        continue;
      }
      if (stopped_ || conn->closed) return false;
      stats_.messages_received.fetch_add(1, std::memory_order_relaxed);
      if (handler_.on_message) handler_.on_message(gm.group, std::move(m));
    }
  }
}

}  // namespace raftkv::transport
