// The loopback fixture of the transport tests: several transports on 127.0.0.1 with ephemeral
// ports, one io_context run by the test thread in short slices until a condition holds (never
// a sleep); every wait is bounded by a deadline.
#pragma once

#include <gtest/gtest.h>

#include <poll.h>
#include <asio.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/rng.h"
#include "transport/codec.h"
#include "transport/frame.h"
#include "transport/handshake.h"
#include "transport/transport.h"

namespace raftkv::transport::loopback {

using namespace std::chrono_literals;
using raft::Message;
using raft::MessageType;

constexpr uint64_t kCluster = 7;
// Every node of the fixture's cluster proves with this secret unless a test says otherwise.
inline const std::string kSecret = "fixture-cluster-secret-0123456789";

inline Message heartbeat(uint64_t from, uint64_t to, uint64_t context) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(1);
  m.context = context;
  return m;
}

// A raw TCP client speaking the peer protocol by hand, as a test peer or an attacker would.
// Driven from the test thread: reads only what poll() says is there, so it never blocks.
struct RawPeer {
  explicit RawPeer(asio::io_context& io) : socket(io) {}
  asio::ip::tcp::socket socket;
  FrameDecoder decoder{1 << 20};
  bool eof = false;                   // the other end closed (or reset) the connection
  std::string sent;                   // every byte written so far, for a replay
  std::vector<std::string> payloads;  // whole payloads read and not yet taken
};

struct Received {
  GroupId group;
  Message message;
};

struct Node {
  NodeId id;
  std::unique_ptr<Transport> transport;
  std::vector<Received> received;
  std::vector<NodeId> unreachable;

  size_t count_from(uint64_t from, GroupId group) const {
    size_t n = 0;
    for (const auto& r : received) n += (r.message.from == NodeId(from) && r.group == group);
    return n;
  }
};

class TransportTest : public ::testing::Test {
 protected:
  // Runs the io_context in 10 ms slices until `done` holds; false after `timeout`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_for(10ms);
    }
    return true;
  }

  TransportOptions options(uint64_t id) {
    TransportOptions o;
    o.self = NodeId(id);
    o.cluster_id = kCluster;
    o.cluster_secrets = {kSecret};
    o.listen_addr = "127.0.0.1:0";
    o.backoff_initial = 10ms;
    o.backoff_max = 100ms;
    o.handshake_timeout = 2s;
    return o;
  }

  Node& start_node(TransportOptions o) {
    auto node = std::make_unique<Node>();
    node->id = o.self;
    Node* raw = node.get();
    TransportHandler handler;
    handler.on_message = [raw](GroupId g, Message m) {
      raw->received.push_back({g, std::move(m)});
    };
    handler.on_unreachable = [raw](NodeId peer) { raw->unreachable.push_back(peer); };
    auto rng = std::make_unique<SeededRng>(o.self.value());
    node->transport =
        std::make_unique<Transport>(io_, std::move(o), std::move(handler), std::move(rng));
    Status s = node->transport->start();
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    auto& slot = nodes_[raw->id.value()];
    slot = std::move(node);
    return *slot;
  }

  std::string addr(uint64_t id) {
    return fmt::format("127.0.0.1:{}", nodes_.at(id)->transport->listen_port());
  }

  // Starts nodes 1..n and tells each about all others.
  void start_cluster(int n) {
    for (int i = 1; i <= n; ++i) start_node(options(i));
    for (int i = 1; i <= n; ++i)
      for (int j = 1; j <= n; ++j)
        if (i != j) nodes_[i]->transport->add_peer(NodeId(j), addr(j));
  }

  bool connected(uint64_t a, uint64_t b) {
    return nodes_[a]->transport->peer_stats(NodeId(b)).connected &&
           nodes_[b]->transport->peer_stats(NodeId(a)).connected;
  }

  // Sets *closed once the other end closes `socket` (reads and discards until an error).
  void watch_close(asio::ip::tcp::socket& socket, bool* closed) {
    auto sink = std::make_shared<std::array<char, 256>>();
    auto on_read = std::make_shared<std::function<void(std::error_code, size_t)>>();
    *on_read = [&socket, closed, sink, weak = std::weak_ptr(on_read)](std::error_code ec, size_t) {
      if (ec) {
        *closed = true;
        return;
      }
      if (auto self = weak.lock()) socket.async_read_some(asio::buffer(*sink), *self);
    };
    socket.async_read_some(asio::buffer(*sink), *on_read);
    pending_reads_.push_back(on_read);
  }

  std::unique_ptr<RawPeer> raw_connect(uint16_t port) {
    auto raw = std::make_unique<RawPeer>(io_);
    raw->socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    return raw;
  }
  void raw_write_bytes(RawPeer& raw, std::string_view bytes) {
    std::error_code ec;
    asio::write(raw.socket, asio::buffer(bytes.data(), bytes.size()), ec);  // small: no block
    raw.sent.append(bytes);
  }
  void raw_send(RawPeer& raw, std::string_view payload) {
    std::string frame;
    append_frame(payload, &frame);
    raw_write_bytes(raw, frame);
  }
  // Reads what has arrived, without blocking.
  void raw_pump(RawPeer& raw) {
    while (!raw.eof) {
      pollfd p{raw.socket.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return;
      std::error_code ec;
      const size_t avail = raw.socket.available(ec);
      std::array<char, 4096> buf;
      const size_t n = raw.socket.read_some(
          asio::buffer(buf.data(), std::max<size_t>(1, std::min(avail, buf.size()))), ec);
      if (ec || n == 0) {
        raw.eof = true;
        return;
      }
      raw.decoder.feed(std::string_view(buf.data(), n));
      std::string_view payload;
      while (raw.decoder.next(&payload) == FrameOutcome::kFrame) raw.payloads.emplace_back(payload);
    }
  }
  // The next whole payload from the other end; none if it closed first (or after 10 s).
  std::optional<std::string> raw_read(RawPeer& raw) {
    run_until([&] {
      raw_pump(raw);
      return !raw.payloads.empty() || raw.eof;
    });
    if (raw.payloads.empty()) return std::nullopt;
    std::string p = std::move(raw.payloads.front());
    raw.payloads.erase(raw.payloads.begin());
    return p;
  }
  // True once the other end has closed the connection (false after 10 s).
  bool raw_closed(RawPeer& raw) {
    return run_until([&] {
      raw_pump(raw);
      return raw.eof;
    });
  }
  // The dialer's side of the handshake (handshake.h) as node `claim` towards `acceptor`,
  // proving with `secret`. Ok once the acceptor's proof verified under `secret`; stops there
  // (no Hello). The Challenge is sent before the other's is read, as a real dialer does.
  // `verify_with`: the secrets the acceptor's proof may use (default: `secret`).
  Status raw_handshake(RawPeer& raw, uint64_t claim, uint64_t acceptor, const std::string& secret,
                       std::vector<std::string> verify_with = {}) {
    if (verify_with.empty()) verify_with = {secret};
    HandshakeTranscript t{kCluster, NodeId(claim), NodeId(acceptor), random_nonce(), {}};
    raw_send(raw, encode_challenge({kProtocolVersion, t.dialer_nonce}));
    auto theirs = raw_read(raw);
    if (!theirs) return Status(ErrorCode::kIoError, "closed before its Challenge");
    auto challenge = decode_challenge(*theirs);
    if (!challenge) return challenge.status();
    t.acceptor_nonce = challenge->nonce;
    raw_send(raw,
             encode_proof({NodeId(claim), compute_proof_mac(secret, HandshakeRole::kDialer, t)}));
    auto reply = raw_read(raw);
    if (!reply) return Status(ErrorCode::kIoError, "closed before its Proof");
    auto proof = decode_proof(*reply);
    if (!proof) return proof.status();
    if (proof->node != NodeId(acceptor) ||
        !verify_proof_mac(verify_with, HandshakeRole::kAcceptor, t, proof->mac)) {
      return Status(ErrorCode::kInvalidArgument, "the acceptor's proof does not verify");
    }
    return Status::ok();
  }

  // A port with nothing listening on it.
  uint16_t dead_port() {
    asio::ip::tcp::acceptor a(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
  }

  asio::io_context io_;
  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
  // Keeps watch_close() handlers alive for the test's duration.
  std::vector<std::shared_ptr<std::function<void(std::error_code, size_t)>>> pending_reads_;
};

}  // namespace raftkv::transport::loopback
