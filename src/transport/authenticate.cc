// Peer authentication: the challenge-response of handshake.h on a connection, mutual TLS
// (peer_tls.h), and refusing handshakes (counted, rate-limited log lines).
#include <sys/stat.h>

#include <fmt/format.h>

#include "tls/certificate.h"
#include "transport/peer_tls.h"
#include "transport/transport_core.h"

namespace raftkv::transport {

namespace {

// Handshake frames are tiny; an unauthenticated client may not make us buffer more than this.
constexpr size_t kMaxHandshakeBytes = kReadChunkBytes;
// Bytes read per socket read during the handshake: a stranger who connects and waits costs
// this much, not a whole kReadChunkBytes.
constexpr size_t kHandshakeReadBytes = 4096;

}  // namespace

asio::awaitable<Status> TransportCore::start_tls(Connection& conn, bool dialer, NodeId expected) {
  const auto& context = dialer ? options_.tls_client_context : options_.tls_server_context;
  conn.tls_context = context;
  conn.tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(conn.socket, *context);
  std::error_code ec;
  co_await conn.tls->async_handshake(
      dialer ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
      asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return Status(
        ErrorCode::kInvalidArgument,
        "TLS handshake failed: " + tls::describe_tls_error(ec, conn.tls->native_handle()));
  }
  auto node = peer_certificate_node(conn.tls->native_handle());
  if (!node) co_return Status(ErrorCode::kInvalidArgument, node.status().message());
  if (dialer && *node != expected) {
    co_return Status(ErrorCode::kInvalidArgument,
                     fmt::format("dialed node {}, but the certificate of the other end names "
                                 "node {}",
                                 expected, *node));
  }
  conn.tls_node = *node;
  co_return Status::ok();
}

namespace {

std::array<int64_t, 5> file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {-1, 0, 0, 0, 0};
  return {static_cast<int64_t>(st.st_ino), static_cast<int64_t>(st.st_size), st.st_mtim.tv_sec,
          st.st_mtim.tv_nsec, static_cast<int64_t>(st.st_mode)};
}

}  // namespace

Status TransportCore::load_secrets() {
  secrets_ = options_.cluster_secrets;
  if (options_.cluster_secret_file.empty()) return Status::ok();
  secret_file_stamp_ = file_stamp(options_.cluster_secret_file);
  if (!secrets_.empty()) return Status::ok();
  auto loaded = load_cluster_secrets(options_.cluster_secret_file);
  if (!loaded) return loaded.status();
  secrets_ = std::move(loaded).value();
  return Status::ok();
}

const std::vector<std::string>& TransportCore::secrets() {
  if (options_.cluster_secret_file.empty()) return secrets_;
  const auto stamp = file_stamp(options_.cluster_secret_file);
  if (stamp == secret_file_stamp_) return secrets_;
  secret_file_stamp_ = stamp;
  auto loaded = load_cluster_secrets(options_.cluster_secret_file);
  if (!loaded) {
    log_.error(
        "the cluster secret file changed but cannot be used ({}); the {} secret(s) read "
        "before stay in use",
        loaded.status().message(), secrets_.size());
    return secrets_;
  }
  if (*loaded != secrets_) {
    secrets_ = std::move(loaded).value();
    log_.info("cluster secret file {} reloaded: {} secret(s); new connections use them",
              options_.cluster_secret_file, secrets_.size());
  }
  return secrets_;
}

std::string TransportCore::proving_secret() {
  const std::vector<std::string>& all = secrets();
  return all.empty() ? std::string() : all.front();
}

asio::awaitable<Result<std::string>> TransportCore::read_handshake_payload(Connection& conn,
                                                                           FrameDecoder& decoder) {
  std::vector<char> buf(kHandshakeReadBytes);  // on the heap: GCC 12 + ASan misreads a large
                                               // coroutine frame (-Wmismatched-new-delete)
  for (;;) {
    std::string_view payload;
    FrameOutcome outcome = decoder.next(&payload);
    if (outcome == FrameOutcome::kError) co_return decoder.error();
    if (outcome == FrameOutcome::kFrame) co_return std::string(payload);
    // Handshake messages are small whole frames: a payload in parts (decoder.joining()) is
    // refused.
    if (decoder.buffered_bytes() > kMaxHandshakeBytes || decoder.joining()) {
      co_return Status(ErrorCode::kTooLarge, "handshake frame too large");
    }
    std::error_code ec;
    size_t n = co_await read_some(conn, asio::buffer(buf), ec);
    if (ec) {
      co_return Status(ErrorCode::kIoError, ec == asio::error::eof
                                                ? std::string("the other end closed the connection")
                                                : "read failed: " + ec.message());
    }
    decoder.feed(std::string_view(buf.data(), n));
  }
}

asio::awaitable<bool> TransportCore::write_payload(Connection& conn, const std::string& payload) {
  std::string frame;
  append_frame(payload, &frame);
  std::error_code ec;
  co_await write_all(conn, asio::buffer(frame), ec);
  co_return !ec && !conn.closed;
}

asio::awaitable<Result<Nonce>> TransportCore::exchange_challenges(Connection& conn,
                                                                  FrameDecoder& decoder,
                                                                  const Nonce& ours) {
  if (!co_await write_payload(conn, encode_challenge({kProtocolVersion, ours}))) {
    co_return Status(ErrorCode::kIoError, "write of the Challenge failed");
  }
  auto payload = co_await read_handshake_payload(conn, decoder);
  if (!payload) co_return payload.status();
  if (!looks_like_handshake(*payload)) {
    // An older node opens with its protobuf Hello (protocol version 2 and before).
    auto decoded = decode_payload(*payload);
    if (decoded && std::holds_alternative<Hello>(*decoded)) {
      const Hello& h = std::get<Hello>(*decoded);
      co_return Status(
          ErrorCode::kVersionMismatch,
          fmt::format("the other end (claiming node {}) speaks protocol version {} without peer "
                      "authentication; this node speaks {}: upgrade every node",
                      h.node, h.protocol_version, kProtocolVersion));
    }
  }
  auto challenge = decode_challenge(*payload);
  if (!challenge) co_return challenge.status();
  if (challenge->protocol_version != kProtocolVersion) {
    co_return Status(ErrorCode::kVersionMismatch,
                     fmt::format("the other end speaks protocol version {}, this node {}",
                                 challenge->protocol_version, kProtocolVersion));
  }
  if (challenge->nonce == ours) {
    // A reflection attempt (the role in the MAC defeats it anyway): no proof for it.
    co_return Status(ErrorCode::kInvalidArgument, "the other end sent this node's nonce back");
  }
  co_return challenge->nonce;
}

asio::awaitable<Result<TransportCore::InboundAuth>> TransportCore::authenticate_inbound(
    Connection& conn, FrameDecoder& decoder) {
  HandshakeTranscript t;
  t.cluster_id = options_.cluster_id;
  t.acceptor = options_.self;
  t.acceptor_nonce = random_nonce();
  auto theirs = co_await exchange_challenges(conn, decoder, t.acceptor_nonce);
  if (!theirs) co_return theirs.status();
  t.dialer_nonce = *theirs;
  auto payload = co_await read_handshake_payload(conn, decoder);
  if (!payload) co_return payload.status();
  auto proof = decode_proof(*payload);
  if (!proof) co_return proof.status();
  t.dialer = proof->node;
  if (conn.tls && proof->node != conn.tls_node) {
    co_return Status(ErrorCode::kInvalidArgument,
                     fmt::format("the other end claims to be node {}, but its certificate names "
                                 "node {}",
                                 proof->node, conn.tls_node));
  }
  if (proof->node == options_.self) {
    co_return Status(ErrorCode::kInvalidArgument, "the other end claims to be this node");
  }
  if (!verify_proof_mac(secrets(), HandshakeRole::kDialer, t, proof->mac)) {
    co_return Status(ErrorCode::kInvalidArgument,
                     fmt::format("the proof of node {} does not verify (another cluster secret "
                                 "or cluster id, or a forged or replayed handshake)",
                                 proof->node));
  }
  conn.authenticated = true;
  const std::string secret = proving_secret();
  co_return InboundAuth{proof->node, compute_proof_mac(secret, HandshakeRole::kAcceptor, t)};
}

asio::awaitable<Status> TransportCore::authenticate_outbound(Connection& conn,
                                                             FrameDecoder& decoder,
                                                             const Peer& peer) {
  HandshakeTranscript t;
  t.cluster_id = options_.cluster_id;
  t.dialer = options_.self;
  t.acceptor = peer.id;
  t.dialer_nonce = random_nonce();
  auto theirs = co_await exchange_challenges(conn, decoder, t.dialer_nonce);
  if (!theirs) co_return theirs.status();
  t.acceptor_nonce = *theirs;
  const std::string secret = proving_secret();
  const Proof ours{options_.self, compute_proof_mac(secret, HandshakeRole::kDialer, t)};
  if (!co_await write_payload(conn, encode_proof(ours))) {
    co_return Status(ErrorCode::kIoError, "write of the Proof failed");
  }
  auto payload = co_await read_handshake_payload(conn, decoder);
  if (!payload) co_return payload.status();
  auto proof = decode_proof(*payload);
  if (!proof) co_return proof.status();
  if (proof->node != peer.id) {
    co_return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("expected node {}, the other end proves to be node {}", peer.id, proof->node));
  }
  if (!verify_proof_mac(secrets(), HandshakeRole::kAcceptor, t, proof->mac)) {
    co_return Status(ErrorCode::kInvalidArgument,
                     fmt::format("the proof of node {} does not verify (another cluster secret "
                                 "or cluster id, or not node {})",
                                 peer.id, peer.id));
  }
  conn.authenticated = true;
  co_return Status::ok();
}

void TransportCore::refuse_handshake(const std::shared_ptr<Connection>& conn,
                                     std::string_view reason) {
  stats_.auth_failures.fetch_add(1, std::memory_order_relaxed);
  stats_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
  if (!stopped_) {
    if (auto more = refused_log_.admit()) {
      log_.warn(
          "refused the peer handshake {} {}: {}{}",
          conn->peer.is_none() ? std::string("from") : fmt::format("with node {} at", conn->peer),
          conn->remote, reason, *more);
    }
  }
  close(conn, reason);
}

}  // namespace raftkv::transport
