// Peer authentication on loopback (issue 13): real transports with a cluster secret, and raw
// sockets playing the attacker who can reach the peer port but does not know the secret.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "transport_fixture.h"

namespace raftkv::transport {
namespace {

using namespace std::chrono_literals;
using namespace loopback;
using raft::Message;
using raft::MessageType;

const std::string kWrongSecret = "not-the-cluster-secret-0123456789";

// An AppendEntries that would make a follower apply a forged entry.
std::string forged_append_envelope(uint64_t from, uint64_t to) {
  Message m;
  m.type = MessageType::kApp;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(1);
  m.entries.push_back(raft::Entry{Term(1), Index(1), raft::EntryType::kNormal, "SET pwned 1"});
  Envelope env{NodeId(from), kCluster, {GroupMessage{GroupId(1), m}}};
  return encode_envelope(env).value();
}

class AuthTest : public TransportTest {
 protected:
  // Nodes 1 and 2 connected (1 dials 2); node 2's port is the one attacked.
  void connect_pair() {
    start_cluster(2);
    ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
    established_ = stats(2).connections_established;
    failures0_ = stats(2).auth_failures;
  }
  // Handshakes node 2 refused since connect_pair() (or since failures0_ was last set).
  uint64_t new_failures() { return stats(2).auth_failures - failures0_; }
  TransportStats stats(uint64_t id) { return nodes_[id]->transport->stats(); }
  // Node 1's connection to node 2 is the one it was, and carries messages.
  void expect_real_peer_undisturbed(uint64_t context) {
    EXPECT_EQ(stats(2).connections_established, established_) << "the real connection was replaced";
    EXPECT_TRUE(connected(1, 2));
    const size_t before = nodes_[2]->received.size();
    nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, context));
    ASSERT_TRUE(run_until([&] { return nodes_[2]->received.size() == before + 1; }));
    EXPECT_EQ(nodes_[2]->received.back().message.context, context);
    for (const auto& r : nodes_[2]->received) {
      EXPECT_NE(r.message.type, MessageType::kApp) << "a forged message was delivered";
    }
  }
  uint16_t port2() { return nodes_[2]->transport->listen_port(); }
  uint64_t established_ = 0;
  uint64_t failures0_ = 0;
};

TEST_F(AuthTest, NodesWithTheSameSecretConnectAndExchangeMessages) {
  connect_pair();
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 1));
  nodes_[2]->transport->send(GroupId(1), heartbeat(2, 1, 2));
  ASSERT_TRUE(run_until(
      [&] { return nodes_[1]->received.size() == 1 && nodes_[2]->received.size() == 1; }));
  for (uint64_t id : {1, 2}) EXPECT_EQ(stats(id).auth_failures, 0u);
}

TEST_F(AuthTest, NodesWithDifferentSecretsNeverConnect) {
  start_node(options(1));
  TransportOptions o = options(2);
  o.cluster_secrets = {kWrongSecret};
  start_node(std::move(o));
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 1));
  ASSERT_TRUE(run_until([&] { return stats(2).auth_failures >= 3; }));
  EXPECT_EQ(stats(1).connections_established + stats(2).connections_established, 0u);
  EXPECT_TRUE(nodes_[2]->received.empty());
}

// Rotation: old, then old+new on some nodes, new+old on others, then new alone.
TEST_F(AuthTest, RotatingNodesAcceptEitherSecret) {
  const std::string next = "the-next-cluster-secret-9876543210";
  TransportOptions o1 = options(1);
  o1.cluster_secrets = {next, kSecret};  // already proving with the next one
  start_node(std::move(o1));
  TransportOptions o2 = options(2);
  o2.cluster_secrets = {kSecret, next};  // still proving with the current one
  start_node(std::move(o2));
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  EXPECT_EQ(stats(2).auth_failures + stats(1).auth_failures, 0u);
}

// Without a secret the handshake runs with an empty key: compatible, but unauthenticated; and
// a node with a secret refuses one without.
TEST_F(AuthTest, WithoutASecretNodesConnectButNotToNodesWithOne) {
  TransportOptions o1 = options(1);
  o1.cluster_secrets.clear();
  start_node(std::move(o1));
  TransportOptions o2 = options(2);
  o2.cluster_secrets.clear();
  start_node(std::move(o2));
  start_node(options(3));
  for (uint64_t i : {1, 2, 3})
    for (uint64_t j : {1, 2, 3})
      if (i != j) nodes_[i]->transport->add_peer(NodeId(j), addr(j));
  ASSERT_TRUE(run_until([&] { return connected(1, 2) && stats(3).auth_failures >= 2; }));
  EXPECT_EQ(stats(3).connections_established, 0u);
}

// The attack of issue 13: a stranger claims to be node 1 with a proof it cannot make.
TEST_F(AuthTest, AForgedProofIsRefusedAndDoesNotEvictTheRealPeer) {
  connect_pair();
  auto raw = raw_connect(port2());
  EXPECT_FALSE(raw_handshake(*raw, 1, 2, kWrongSecret));
  EXPECT_TRUE(raw_closed(*raw));
  EXPECT_TRUE(raw->payloads.empty()) << "node 2 sent more than its Challenge";
  EXPECT_EQ(new_failures(), 1u);
  expect_real_peer_undisturbed(11);
}

// A handshake recorded from an earlier connection (here one made with the right secret, that
// stopped before its Hello) is replayed byte for byte: the acceptor's nonce is new, so the
// recorded proof no longer verifies.
TEST_F(AuthTest, AReplayedHandshakeIsRefused) {
  connect_pair();
  auto genuine = raw_connect(port2());
  ASSERT_TRUE(raw_handshake(*genuine, 1, 2, kSecret));
  // Authenticated but no Hello yet: not attached, so the real connection is still node 1's.
  EXPECT_EQ(stats(2).connections_established, established_);
  EXPECT_TRUE(connected(1, 2));
  const std::string recorded = genuine->sent;
  genuine.reset();  // closed before its Hello
  auto replay = raw_connect(port2());
  raw_write_bytes(*replay, recorded);
  EXPECT_TRUE(raw_closed(*replay));
  ASSERT_EQ(replay->payloads.size(), 1u) << "only the Challenge, never a Proof";
  EXPECT_TRUE(decode_challenge(replay->payloads[0]));
  EXPECT_EQ(new_failures(), 1u);
  expect_real_peer_undisturbed(12);
}

// A stranger listening where node 1 dials (as "node 3") echoes node 1's nonce as its own:
// node 1 sends no proof for that. On the next dial it picks a nonce of its own and sends node
// 1's proof back as its own: the role in the MAC makes it fail.
TEST_F(AuthTest, AReflectedProofIsRefused) {
  asio::ip::tcp::acceptor fake(io_,
                               asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  TransportOptions o = options(1);
  o.peers[NodeId(3)] = fmt::format("127.0.0.1:{}", fake.local_endpoint().port());
  start_node(std::move(o));
  auto accept = [&](RawPeer& raw) {
    bool accepted = false;
    fake.async_accept(raw.socket, [&](std::error_code ec) { accepted = !ec; });
    return run_until([&] { return accepted; });
  };

  RawPeer echo(io_);
  ASSERT_TRUE(accept(echo));
  auto first = raw_read(echo);
  ASSERT_TRUE(first);
  auto c1 = decode_challenge(*first);
  ASSERT_TRUE(c1);
  raw_send(echo, encode_challenge({kProtocolVersion, c1->nonce}));  // the same nonce back
  EXPECT_TRUE(raw_closed(echo));
  EXPECT_TRUE(echo.payloads.empty()) << "node 1 sent a proof for its own nonce";
  ASSERT_TRUE(run_until([&] { return stats(1).auth_failures == 1; }));

  RawPeer raw(io_);
  ASSERT_TRUE(accept(raw));
  fake.close();
  auto dialer_challenge = raw_read(raw);
  ASSERT_TRUE(dialer_challenge);
  ASSERT_TRUE(decode_challenge(*dialer_challenge));
  raw_send(raw, encode_challenge({kProtocolVersion, random_nonce()}));
  auto dialer_proof = raw_read(raw);
  ASSERT_TRUE(dialer_proof);
  auto p = decode_proof(*dialer_proof);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->node, NodeId(1));
  raw_send(raw, encode_proof({NodeId(3), p->mac}));  // reflected
  EXPECT_TRUE(raw_closed(raw));
  EXPECT_TRUE(raw.payloads.empty()) << "node 1 sent its Hello to an unproven acceptor";
  ASSERT_TRUE(run_until([&] { return stats(1).auth_failures == 2; }));
  EXPECT_EQ(stats(1).connections_established, 0u);
  EXPECT_FALSE(nodes_[1]->transport->peer_stats(NodeId(3)).connected);
}

// Frames that are not the handshake, or not whole: each refused and counted, none delivered.
TEST_F(AuthTest, GarbageTruncatedAndOutOfOrderHandshakesAreRefused) {
  connect_pair();
  const std::string challenge = encode_challenge({kProtocolVersion, random_nonce()});
  const std::vector<std::string> attempts = {
      // Raw AppendEntries without any handshake (the attack of issue 13, minus the Hello).
      [] {
        std::string f;
        append_frame(forged_append_envelope(1, 2), &f);
        return f;
      }(),
      // A protocol-2 Hello claiming node 1: an older node, or the attack of issue 13.
      [] {
        std::string f;
        append_frame(encode_hello(Hello{NodeId(1), kCluster, 2, 0, true}), &f);
        append_frame(forged_append_envelope(1, 2), &f);
        return f;
      }(),
      // Another protocol version in the Challenge.
      [] {
        std::string f;
        append_frame(encode_challenge({kProtocolVersion + 1, random_nonce()}), &f);
        return f;
      }(),
      // A truncated Challenge, in a good frame.
      [&] {
        std::string f;
        append_frame(challenge.substr(0, kChallengeBytes - 1), &f);
        return f;
      }(),
      // A Challenge, then an envelope where the Proof belongs.
      [&] {
        std::string f;
        append_frame(challenge, &f);
        append_frame(forged_append_envelope(1, 2), &f);
        return f;
      }(),
      // A Challenge, then a Proof naming node 0.
      [&] {
        std::string f;
        append_frame(challenge, &f);
        std::string zero = encode_proof({NodeId(1), Mac{}});
        for (size_t i = 4; i < 12; ++i) zero[i] = 0;
        append_frame(zero, &f);
        return f;
      }(),
      // Not frames at all.
      std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      // A good Challenge, then a cut-off frame and the connection closed: counted as refused.
      challenge.substr(0, 5),
  };
  uint64_t expected = 0;
  for (size_t i = 0; i < attempts.size(); ++i) {
    SCOPED_TRACE(i);
    auto raw = raw_connect(port2());
    raw_write_bytes(*raw, attempts[i]);
    if (i + 1 == attempts.size()) raw->socket.shutdown(asio::ip::tcp::socket::shutdown_send);
    EXPECT_TRUE(raw_closed(*raw));
    ++expected;
    ASSERT_TRUE(run_until([&] { return new_failures() == expected; }));
    EXPECT_LE(raw->payloads.size(), 1u) << "more than a Challenge went to a stranger";
  }
  expect_real_peer_undisturbed(13);
}

// A stranger who opens the port and sends a Challenge and a forged envelope, then stalls, gets
// nothing delivered and is closed at the handshake deadline; the real peer is served meanwhile.
TEST_F(AuthTest, AStalledHandshakeTimesOutWhileTheRealPeerIsServed) {
  start_node(options(1));
  TransportOptions o = options(2);
  o.handshake_timeout = 300ms;
  start_node(std::move(o));
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  established_ = stats(2).connections_established;
  failures0_ = stats(2).auth_failures;
  auto raw = raw_connect(port2());
  std::string f;
  append_frame(encode_challenge({kProtocolVersion, random_nonce()}), &f);
  raw_write_bytes(*raw, f);
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 21));
  ASSERT_TRUE(run_until([&] { return nodes_[2]->received.size() == 1; }));
  EXPECT_TRUE(raw_closed(*raw));
  EXPECT_EQ(new_failures(), 1u);
  expect_real_peer_undisturbed(22);
}

// Only after it has fully authenticated (and sent its Hello) may a second connection from a
// node replace its first — as when that node restarts. Both are raw here, so that no real
// node 1 redials in between.
TEST_F(AuthTest, ASecondConnectionReplacesTheFirstOnlyOnceAuthenticated) {
  TransportOptions o = options(2);
  o.peers[NodeId(1)] = fmt::format("127.0.0.1:{}", dead_port());
  Node& node = start_node(std::move(o));
  const std::string hello = encode_hello(Hello{NodeId(1), kCluster, kProtocolVersion, 0, false});
  auto first = raw_connect(port2());
  ASSERT_TRUE(raw_handshake(*first, 1, 2, kSecret));
  raw_send(*first, hello);
  ASSERT_TRUE(run_until([&] { return stats(2).connections_established == 1; }));
  ASSERT_TRUE(raw_read(*first)) << "node 2's Hello";

  // A second connection claiming node 1 that fails its proof, and one that proves itself but
  // has not sent its Hello yet: the first connection stays node 1's.
  auto forged = raw_connect(port2());
  EXPECT_FALSE(raw_handshake(*forged, 1, 2, kWrongSecret));
  auto second = raw_connect(port2());
  ASSERT_TRUE(raw_handshake(*second, 1, 2, kSecret));
  raw_send(
      *first,
      encode_envelope(Envelope{NodeId(1), kCluster, {{GroupId(1), heartbeat(1, 2, 31)}}}).value());
  ASSERT_TRUE(run_until([&] { return node.received.size() == 1; }));
  EXPECT_EQ(stats(2).connections_established, 1u);
  raw_pump(*first);
  EXPECT_FALSE(first->eof);

  // Its Hello completes the handshake: now it replaces the first.
  raw_send(*second, hello);
  ASSERT_TRUE(run_until([&] { return stats(2).connections_established == 2; }));
  EXPECT_TRUE(raw_closed(*first));
  ASSERT_TRUE(raw_read(*second));
  raw_send(
      *second,
      encode_envelope(Envelope{NodeId(1), kCluster, {{GroupId(1), heartbeat(1, 2, 32)}}}).value());
  ASSERT_TRUE(run_until([&] { return node.received.size() == 2; }));
  EXPECT_EQ(node.received[1].message.context, 32u);
  EXPECT_EQ(stats(2).auth_failures, 1u);
}

// Rotation without a restart: a node re-reads its secret file when it changed, before the next
// handshake; a changed file that cannot be used leaves the secrets in force.
TEST_F(AuthTest, TheSecretFileIsReReadWhenItChanges) {
  const std::string path =
      ::testing::TempDir() + "raftkv-auth-secret-" + std::to_string(::getpid());
  const std::string next = "the-next-cluster-secret-9876543210";
  auto write = [&](const std::string& text, int mode) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    ::chmod(tmp.c_str(), mode);
    std::rename(tmp.c_str(), path.c_str());  // as an operator should: atomically
  };
  write(kSecret + "\n", 0600);
  TransportOptions o = options(2);
  o.cluster_secrets.clear();
  o.cluster_secret_file = path;
  o.peers[NodeId(1)] = fmt::format("127.0.0.1:{}", dead_port());
  start_node(std::move(o));
  auto as1 = [&](const std::string& secret) {
    auto raw = raw_connect(port2());
    return raw_handshake(*raw, 1, 2, secret, {kSecret, next}).is_ok();
  };
  EXPECT_TRUE(as1(kSecret));
  EXPECT_FALSE(as1(next));
  write(kSecret + "\n" + next + "\n", 0600);  // step 1: accept the next one too
  EXPECT_TRUE(as1(kSecret));
  EXPECT_TRUE(as1(next));
  write(next + "\n", 0600);  // the end: the next one alone
  EXPECT_FALSE(as1(kSecret));
  EXPECT_TRUE(as1(next));
  write("\n", 0600);  // unusable: ignored, logged
  EXPECT_TRUE(as1(next));
  write(kSecret + "\n", 0644);  // readable by others: ignored too
  EXPECT_TRUE(as1(next));
  EXPECT_FALSE(as1(kSecret));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace raftkv::transport
