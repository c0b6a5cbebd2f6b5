// Mutual TLS between peers (issue 13) on loopback, with the test PKI of tests/tls/make_certs.sh:
// node-<id> certificates name raftkv-node-<id>; other-client is from another CA.
#include "test_certs.h"
#include "tls/context.h"
#include "transport/peer_tls.h"
#include "transport_fixture.h"

namespace raftkv::transport {
namespace {

using namespace loopback;
using raftkv::testing::cert;
using raftkv::testing::key;

// Contexts presenting certificate `name`, trusting the CA `ca` (no check of the name: tests
// build nodes that present another node's certificate on purpose).
PeerTlsContexts contexts(const std::string& name, const std::string& ca = "ca") {
  auto server =
      tls::make_server_context({cert(name), key(name), cert(ca), tls::ClientAuth::kRequired});
  auto client = tls::make_client_context({cert(ca), cert(name), key(name), ""});
  EXPECT_TRUE(server && client);
  return PeerTlsContexts{std::move(server).value(), std::move(client).value()};
}

class PeerTlsTest : public TransportTest {
 protected:
  TransportOptions tls_options(uint64_t id, const std::string& name) {
    TransportOptions o = options(id);
    PeerTlsContexts c = contexts(name);
    o.tls_server_context = c.server;
    o.tls_client_context = c.client;
    return o;
  }
  void start_pair(TransportOptions a, TransportOptions b) {
    start_node(std::move(a));
    start_node(std::move(b));
    nodes_[1]->transport->add_peer(NodeId(2), addr(2));
    nodes_[2]->transport->add_peer(NodeId(1), addr(1));
  }
  TransportStats stats(uint64_t id) { return nodes_[id]->transport->stats(); }
};

TEST(PeerTls, TheCertificateMustNameThisNode) {
  const PeerTlsFiles node1{cert("node-1"), key("node-1"), cert("ca")};
  auto ok = load_peer_tls(node1, NodeId(1));
  ASSERT_TRUE(ok) << ok.status().to_string();
  EXPECT_TRUE(ok->server && ok->client);
  auto other = load_peer_tls(node1, NodeId(2));
  ASSERT_FALSE(other);
  EXPECT_NE(other.status().message().find("names node 1, but this is node 2"), std::string::npos)
      << other.status().message();
  auto unnamed = load_peer_tls({cert("server"), key("server"), cert("ca")}, NodeId(1));
  ASSERT_FALSE(unnamed);
  EXPECT_NE(unnamed.status().message().find("names no node"), std::string::npos)
      << unnamed.status().message();
  EXPECT_FALSE(load_peer_tls({cert("node-1"), key("node-1"), ""}, NodeId(1)));
  EXPECT_FALSE(load_peer_tls({cert("node-1"), key("node-2"), cert("ca")}, NodeId(1)))
      << "a key that is not the certificate's";
  EXPECT_FALSE(load_peer_tls({cert("node-1") + ".missing", key("node-1"), cert("ca")}, NodeId(1)));
}

TEST_F(PeerTlsTest, NodesWithCertificatesOfTheClusterCaConnect) {
  start_pair(tls_options(1, "node-1"), tls_options(2, "node-2"));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
  nodes_[1]->transport->send(GroupId(1), heartbeat(1, 2, 1));
  nodes_[2]->transport->send(GroupId(1), heartbeat(2, 1, 2));
  ASSERT_TRUE(run_until(
      [&] { return nodes_[1]->received.size() == 1 && nodes_[2]->received.size() == 1; }));
  EXPECT_EQ(stats(1).auth_failures + stats(2).auth_failures, 0u);
}

// Without a cluster secret, the certificates alone authenticate.
TEST_F(PeerTlsTest, CertificatesAloneAuthenticateWithoutASecret) {
  TransportOptions a = tls_options(1, "node-1");
  TransportOptions b = tls_options(2, "node-2");
  a.cluster_secrets.clear();
  b.cluster_secrets.clear();
  start_pair(std::move(a), std::move(b));
  ASSERT_TRUE(run_until([&] { return connected(1, 2); }));
}

// Node 2 presents node 3's certificate: node 1, which dialed node 2, refuses it.
TEST_F(PeerTlsTest, AnAcceptorWhoseCertificateNamesAnotherNodeIsRefused) {
  start_pair(tls_options(1, "node-1"), tls_options(2, "node-3"));
  ASSERT_TRUE(run_until([&] { return stats(1).auth_failures >= 2; }));
  EXPECT_EQ(stats(1).connections_established + stats(2).connections_established, 0u);
}

// Node 1 presents node 3's certificate and claims to be node 1: node 2 refuses it.
TEST_F(PeerTlsTest, ADialerWhoseCertificateNamesAnotherNodeIsRefused) {
  start_pair(tls_options(1, "node-3"), tls_options(2, "node-2"));
  // Node 1 itself refuses nothing: node 2's certificate names node 2, as dialed.
  ASSERT_TRUE(run_until([&] { return stats(2).auth_failures >= 2; }));
  EXPECT_EQ(stats(1).connections_established + stats(2).connections_established, 0u);
  EXPECT_EQ(stats(1).auth_failures, 0u);
}

TEST_F(PeerTlsTest, ACertificateOfAnotherCaIsRefused) {
  TransportOptions a = options(1);
  PeerTlsContexts other = contexts("other-client", "ca");
  a.tls_server_context = other.server;
  a.tls_client_context = other.client;
  start_pair(std::move(a), tls_options(2, "node-2"));
  ASSERT_TRUE(run_until([&] { return stats(2).auth_failures >= 2; }));
  EXPECT_EQ(stats(2).connections_established, 0u);
}

// A node without TLS, or a stranger speaking the plain handshake, to a TLS node: refused.
TEST_F(PeerTlsTest, PlainTextPeersAreRefused) {
  start_pair(options(1), tls_options(2, "node-2"));
  ASSERT_TRUE(run_until([&] { return stats(2).auth_failures >= 2; }));
  EXPECT_EQ(stats(2).connections_established, 0u);
  const uint64_t before = stats(2).auth_failures;
  auto raw = raw_connect(nodes_[2]->transport->listen_port());
  raw_send(*raw, encode_challenge({kProtocolVersion, random_nonce()}));
  EXPECT_TRUE(raw_closed(*raw));
  ASSERT_TRUE(run_until([&] { return stats(2).auth_failures > before; }));
}

}  // namespace
}  // namespace raftkv::transport
