// The transport's part of issue 12 (membership changes, node identity), on loopback: what the
// Hello says about a peer (incarnation, initialized), peers added and removed at runtime, and
// messages delivered only from the incarnation their connection announced.
#include "transport_fixture.h"

namespace raftkv::transport {
namespace {

using namespace std::chrono_literals;
using namespace loopback;
using raft::Message;
using raft::MessageType;

TransportOptions with_identity(TransportOptions o, uint64_t incarnation, bool initialized) {
  o.incarnation = incarnation;
  o.initialized = initialized;
  return o;
}

TEST_F(TransportTest, PeerInfoReportsWhatTheLiveConnectionsHelloSaid) {
  start_node(with_identity(options(1), 0xa1, false));
  start_node(with_identity(options(2), 0xb2, true));
  // Unknown, and known but not connected: zeros.
  EXPECT_EQ(nodes_[1]->transport->peer_info(NodeId(2)), PeerInfo{});
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  EXPECT_EQ(nodes_[1]->transport->peer_info(NodeId(2)), (PeerInfo{true, 0xb2, true}));
  EXPECT_EQ(nodes_[2]->transport->peer_info(NodeId(1)), (PeerInfo{true, 0xa1, false}));
  EXPECT_EQ(nodes_[1]->transport->peers(), (std::map<NodeId, std::string>{{NodeId(2), addr(2)}}));

  // Node 2 loses its disk: it comes back on the same port with another incarnation, and node 1
  // sees the new one on the new connection.
  const std::string addr2 = addr(2);
  nodes_[2]->transport->stop();
  nodes_[2].reset();
  ASSERT_TRUE(run_until([&] { return !nodes_[1]->transport->peer_info(NodeId(2)).connected; }));
  EXPECT_EQ(nodes_[1]->transport->peer_info(NodeId(2)), PeerInfo{});
  TransportOptions o = with_identity(options(2), 0xc3, false);
  o.listen_addr = addr2;
  start_node(std::move(o));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  EXPECT_EQ(nodes_[1]->transport->peer_info(NodeId(2)), (PeerInfo{true, 0xc3, false}));
}

// A node that bootstraps or is replicated to says so on the connections it has, without
// reconnecting: a peer deciding whether to bootstrap must not act on a stale "uninitialized".
TEST_F(TransportTest, BecomingInitializedIsAnnouncedOnLiveConnections) {
  start_node(with_identity(options(1), 0xa1, false));
  start_node(with_identity(options(2), 0xb2, false));
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  EXPECT_FALSE(nodes_[2]->transport->peer_info(NodeId(1)).initialized);
  nodes_[1]->transport->set_initialized();
  ASSERT_TRUE(run_until([&] { return nodes_[2]->transport->peer_info(NodeId(1)).initialized; }));
  EXPECT_EQ(nodes_[2]->transport->peer_info(NodeId(1)), (PeerInfo{true, 0xa1, true}));
  EXPECT_FALSE(nodes_[1]->transport->peer_info(NodeId(2)).initialized);
  // The same connections carry messages on as before.
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 1));
  nodes_[2]->transport->send(GroupId(1), heartbeat(2, 1, 2));
  ASSERT_TRUE(run_until(
      [&] { return nodes_[1]->received.size() == 1 && nodes_[2]->received.size() == 1; }));
  for (uint64_t id : {1, 2}) {
    EXPECT_EQ(nodes_[id]->transport->stats().connections_established, 1u);
    EXPECT_EQ(nodes_[id]->transport->stats().connections_rejected, 0u);
  }
}

// A second Hello that names another node or incarnation is a protocol violation.
TEST_F(TransportTest, ASecondHelloWithAnotherIdentityClosesTheConnection) {
  TransportOptions o = options(3);
  o.peers[NodeId(2)] = fmt::format("127.0.0.1:{}", dead_port());
  Node& node = start_node(std::move(o));
  auto raw = raw_connect(node.transport->listen_port());
  ASSERT_TRUE(raw_handshake(*raw, 2, 3, kSecret));
  std::string frames;
  append_frame(encode_hello(Hello{NodeId(2), kCluster, kProtocolVersion, 5, false}), &frames);
  append_frame(encode_hello(Hello{NodeId(2), kCluster, kProtocolVersion, 6, true}), &frames);
  raw_write_bytes(*raw, frames);
  ASSERT_TRUE(raw_closed(*raw));
  EXPECT_EQ(node.transport->stats().connections_established, 1u);
  EXPECT_EQ(node.transport->stats().connections_rejected, 1u);
}

// Membership changes add and remove peers at runtime, on the dialing and the accepting side.
TEST_F(TransportTest, PeersAddedAndRemovedAtRuntime) {
  start_node(options(1));
  start_node(options(2));
  // Node 1 (the lower id) dials node 2, which does not know it yet: refused, retried.
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  ASSERT_TRUE(run_until([&] { return nodes_[2]->transport->stats().connections_rejected >= 2; }));
  EXPECT_FALSE(nodes_[1]->transport->peer_info(NodeId(2)).connected);
  // Node 2 adds node 1 (its membership now names it): the next dial is accepted.
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 1));
  ASSERT_TRUE(run_until([&] { return nodes_[2]->received.size() == 1; }));

  // Node 2 removes node 1: the connection closes, node 1's redials are refused, messages to
  // node 1 are dropped.
  const uint64_t rejected_before = nodes_[2]->transport->stats().connections_rejected;
  nodes_[2]->transport->remove_peer(NodeId(1));
  ASSERT_TRUE(run_until([&] {
    return !nodes_[1]->transport->peer_info(NodeId(2)).connected &&
           nodes_[2]->transport->stats().connections_rejected >= rejected_before + 2;
  }));
  EXPECT_TRUE(nodes_[2]->transport->peers().empty());
  EXPECT_EQ(nodes_[2]->transport->peer_info(NodeId(1)), PeerInfo{});
  const uint64_t dropped_before = nodes_[2]->transport->stats().messages_dropped;
  nodes_[2]->transport->send(GroupId(1), heartbeat(2, 1, 2));
  ASSERT_TRUE(run_until(
      [&] { return nodes_[2]->transport->stats().messages_dropped == dropped_before + 1; }));

  // Node 1 removes node 2: it stops dialing (no more rejections at node 2).
  nodes_[1]->transport->remove_peer(NodeId(2));
  io_.run_for(50ms);  // let a dial attempt already under way finish
  const uint64_t rejected_after = nodes_[2]->transport->stats().connections_rejected;
  const uint64_t established = nodes_[1]->transport->stats().connections_established;
  // Re-added on both sides: connected again (a new peer, with a fresh backoff).
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  EXPECT_EQ(nodes_[1]->transport->stats().connections_established, established + 1);
  EXPECT_LE(nodes_[2]->transport->stats().connections_rejected, rejected_after + 1)
      << "a removed peer was still dialed";
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 3));
  ASSERT_TRUE(run_until([&] { return nodes_[2]->received.size() == 2; }));
}

// Issue 12: the core counts a vote or an acknowledgement by the message's from_incarnation, so
// the transport delivers only messages whose from_incarnation is what the connection's Hello
// announced.
TEST_F(TransportTest, MessagesFromAnotherIncarnationAreDroppedAndCounted) {
  start_node(with_identity(options(1), 0xa1, true));
  start_node(with_identity(options(2), 0xb2, true));
  nodes_[1]->transport->add_peer(NodeId(2), addr(2));
  nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  Message stamped = heartbeat(1, 2, 1);  // from_incarnation 0: the transport stamps 0xa1
  Message stale = heartbeat(1, 2, 2);
  stale.from_incarnation = 0x99;
  Message own = heartbeat(1, 2, 3);
  own.from_incarnation = 0xa1;
  nodes_[1]->transport->send(GroupId(1), stamped);
  nodes_[1]->transport->send(GroupId(1), stale);
  nodes_[1]->transport->send(GroupId(1), stale);
  nodes_[1]->transport->send(GroupId(1), own);
  ASSERT_TRUE(run_until([&] { return nodes_[2]->received.size() == 2; }));
  ASSERT_TRUE(
      run_until([&] { return nodes_[2]->transport->stats().stale_incarnation_dropped == 2; }));
  EXPECT_EQ(nodes_[2]->received[0].message.context, 1u);
  EXPECT_EQ(nodes_[2]->received[0].message.from_incarnation, 0xa1u);
  EXPECT_EQ(nodes_[2]->received[1].message.context, 3u);
  EXPECT_EQ(nodes_[2]->transport->stats().connections_rejected, 0u) << "dropped, not closed";
}

}  // namespace
}  // namespace raftkv::transport
