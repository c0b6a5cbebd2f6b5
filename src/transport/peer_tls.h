// Mutual TLS between peers (issue 13): contexts from --peer-tls-cert/--peer-tls-key/
// --peer-tls-ca, and the node a certificate names.
//
// Every node has a certificate, signed by the cluster's CA, that names it: "raftkv-node-<id>"
// as its subject CN or as a DNS name of its subjectAltName. On every peer connection both sides
// present theirs (the acceptor requires one) and verify the other's chain against the CA; then
// the dialer checks that the acceptor's certificate names the node it dialed, and the acceptor
// that the dialer's names the node its handshake proof claims (transport.cc). A certificate
// naming another node, none, or two different ones, is refused. The challenge-response of
// handshake.h still runs inside TLS (with the cluster secret when one is given as well).
//
// Thread-safety: free functions without shared state.
#pragma once

#include <memory>
#include <string>

#include "base/ids.h"
#include "base/status.h"

struct ssl_st;
struct x509_st;
namespace asio::ssl {
class context;
}

namespace raftkv::transport {

struct PeerTlsFiles {
  std::string cert_file;  // PEM: this node's certificate (naming it), then any intermediates
  std::string key_file;   // PEM, unencrypted
  std::string ca_file;    // PEM: the CA every node's certificate chains to
};

struct PeerTlsContexts {
  std::shared_ptr<asio::ssl::context> server;  // accepting: a client certificate is required
  std::shared_ptr<asio::ssl::context> client;  // dialing: presents ours, verifies theirs
};

// "raftkv-node-<id>".
std::string node_certificate_name(NodeId id);

// Builds both contexts (src/tls policy: TLS 1.2+, AEAD suites) and checks that the certificate
// names `self`. Errors name the file and what is wrong.
Result<PeerTlsContexts> load_peer_tls(const PeerTlsFiles& files, NodeId self);

// The node `cert` names (see the file comment).
Result<NodeId> certificate_node(x509_st* cert);
// The node the verified certificate of the other end of `ssl` names.
Result<NodeId> peer_certificate_node(const ssl_st* ssl);

}  // namespace raftkv::transport
