#include "transport/peer_tls.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <charconv>
#include <cstdio>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tls/context.h"

namespace raftkv::transport {

namespace {

constexpr std::string_view kPrefix = "raftkv-node-";

// The id in "raftkv-node-<id>"; nullopt for any other name.
std::optional<uint64_t> parse_node_name(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  if (name.empty() || ec != std::errc() || end != name.data() + name.size() || id == 0) {
    return std::nullopt;
  }
  return id;
}

std::string asn1_utf8(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

std::string node_certificate_name(NodeId id) {
  return fmt::format("{}{}", kPrefix, id.value());
}

Result<NodeId> certificate_node(x509_st* cert) {
  std::vector<std::string> names;
  const X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    names.push_back(asn1_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type == GEN_DNS) names.push_back(asn1_utf8(n->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
  }
  std::optional<uint64_t> node;
  for (const std::string& name : names) {
    const auto id = parse_node_name(name);
    if (!id) continue;
    if (node && *node != *id) {
      return Result<NodeId>(
          ErrorCode::kInvalidArgument,
          fmt::format("the certificate names two nodes ({}{} and {})", kPrefix, *node, name));
    }
    node = id;
  }
  if (!node) {
    return Result<NodeId>(
        ErrorCode::kInvalidArgument,
        fmt::format(
            "the certificate names no node (no CN or DNS name {}<id>; it names: {})", kPrefix,
            names.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(names, ", "))));
  }
  return NodeId(*node);
}

Result<NodeId> peer_certificate_node(const ssl_st* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) {
    return Result<NodeId>(ErrorCode::kInvalidArgument, "the other end sent no certificate");
  }
  auto node = certificate_node(cert);
  X509_free(cert);
  if (node && SSL_get_verify_result(ssl) != X509_V_OK) {
    return Result<NodeId>(ErrorCode::kInvalidArgument,
                          "the other end's certificate did not verify against the CA");
  }
  return node;
}

Result<PeerTlsContexts> load_peer_tls(const PeerTlsFiles& files, NodeId self) {
  if (files.cert_file.empty() || files.key_file.empty() || files.ca_file.empty()) {
    return Result<PeerTlsContexts>(
        ErrorCode::kInvalidArgument,
        "peer TLS needs all of --peer-tls-cert, --peer-tls-key and --peer-tls-ca");
  }
  auto server = tls::make_server_context(
      {files.cert_file, files.key_file, files.ca_file, tls::ClientAuth::kRequired});
  if (!server) return server.status();
  auto client = tls::make_client_context({files.ca_file, files.cert_file, files.key_file, ""});
  if (!client) return client.status();
  FILE* f = std::fopen(files.cert_file.c_str(), "r");
  if (f == nullptr) {
    return Result<PeerTlsContexts>(ErrorCode::kIoError,
                                   fmt::format("cannot read {}", files.cert_file));
  }
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    return Result<PeerTlsContexts>(ErrorCode::kInvalidArgument,
                                   fmt::format("{} holds no PEM certificate", files.cert_file));
  }
  auto node = certificate_node(cert);
  X509_free(cert);
  if (!node) {
    return Result<PeerTlsContexts>(
        ErrorCode::kInvalidArgument,
        fmt::format("--peer-tls-cert {}: {} (expected {})", files.cert_file,
                    node.status().message(), node_certificate_name(self)));
  }
  if (*node != self) {
    return Result<PeerTlsContexts>(
        ErrorCode::kInvalidArgument,
        fmt::format("--peer-tls-cert {} names node {}, but this is node {} (expected {})",
                    files.cert_file, *node, self, node_certificate_name(self)));
  }
  return PeerTlsContexts{std::move(server).value(), std::move(client).value()};
}

}  // namespace raftkv::transport
