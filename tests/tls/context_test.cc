// src/tls: loading errors, the client-certificate policy and reload, with real handshakes over
// loopback between a server and a client context.
#include "tls/context.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <filesystem>
#include <fstream>

#include "test_certs.h"
#include "tls/certificate.h"

namespace raftkv::tls {
namespace {

using raftkv::testing::cert;
using raftkv::testing::key;
using raftkv::testing::serial;

ServerOptions server_options(ClientAuth auth = ClientAuth::kNone) {
  return {.cert_file = cert("server"),
          .key_file = key("server"),
          .ca_file = cert("ca"),
          .client_auth = auth};
}

std::string temp_file(const std::string& name, const std::string& contents) {
  std::string path = raftkv::testing::test_certs_dir() + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

// One handshake over loopback; the outcome on each side.
struct Handshake {
  std::error_code server_ec;
  std::error_code client_ec;
  std::optional<CertificateInfo> server_saw;  // the client certificate the server got
  bool server_verified = false;
  std::optional<CertificateInfo> client_saw;  // the server certificate the client got
  std::string server_error;
};

Handshake handshake(asio::ssl::context& server_ctx, asio::ssl::context& client_ctx) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ssl::stream<asio::ip::tcp::socket> server(io, server_ctx);
  asio::ssl::stream<asio::ip::tcp::socket> client(io, client_ctx);
  Handshake out;
  acceptor.async_accept(server.lowest_layer(), [&](std::error_code ec) {
    if (ec) {
      out.server_ec = ec;
      return;
    }
    server.async_handshake(asio::ssl::stream_base::server, [&](std::error_code hec) {
      out.server_ec = hec;
      out.server_saw = peer_certificate(server.native_handle());
      out.server_verified = peer_verified(server.native_handle());
      if (hec) out.server_error = describe_tls_error(hec, server.native_handle());
      // Closing tells a client whose handshake finished first (TLS 1.3) about a refusal.
      std::error_code ignored;
      server.lowest_layer().close(ignored);
    });
  });
  client.lowest_layer().async_connect(acceptor.local_endpoint(), [&](std::error_code ec) {
    if (ec) {
      out.client_ec = ec;
      return;
    }
    client.async_handshake(asio::ssl::stream_base::client, [&](std::error_code hec) {
      out.client_ec = hec;
      out.client_saw = peer_certificate(client.native_handle());
      if (hec) return;
      // In TLS 1.3 the client's handshake completes before the server checked the client's
      // certificate: a read shows whether the server accepted it.
      static char byte;
      asio::async_read(client, asio::buffer(&byte, 1), [&](std::error_code rec, size_t) {
        if (rec != asio::error::eof && rec != asio::ssl::error::stream_truncated) {
          out.client_ec = rec;
        }
      });
    });
  });
  io.run();
  return out;
}

Handshake handshake(const ServerOptions& s, const ClientOptions& c) {
  auto server_ctx = make_server_context(s);
  EXPECT_TRUE(server_ctx.is_ok()) << server_ctx.status().to_string();
  auto client_ctx = make_client_context(c);
  EXPECT_TRUE(client_ctx.is_ok()) << client_ctx.status().to_string();
  return handshake(**server_ctx, **client_ctx);
}

TEST(TlsContext, ServerContextLoadsValidFiles) {
  for (ClientAuth auth : {ClientAuth::kNone, ClientAuth::kOptional, ClientAuth::kRequired}) {
    auto ctx = make_server_context(server_options(auth));
    EXPECT_TRUE(ctx.is_ok()) << ctx.status().to_string();
  }
}

TEST(TlsContext, MissingCertificateFileIsAnIoErrorNamingTheFile) {
  ServerOptions o = server_options();
  o.cert_file = "/nonexistent/server.crt";
  auto ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_EQ(ctx.code(), ErrorCode::kIoError);
  EXPECT_NE(ctx.status().message().find("tls-cert-file /nonexistent/server.crt: cannot open"),
            std::string::npos)
      << ctx.status().message();
}

TEST(TlsContext, UnreadableKeyFileIsAnIoError) {
  ServerOptions o = server_options();
  o.key_file = raftkv::testing::test_certs_dir();  // a directory: opens, cannot be read
  auto ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_NE(ctx.status().message().find("tls-key-file"), std::string::npos)
      << ctx.status().message();
}

TEST(TlsContext, UnsetFilesAreRefused) {
  auto ctx = make_server_context({});
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_EQ(ctx.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(ctx.status().message().find("tls-cert-file is not set"), std::string::npos);
}

TEST(TlsContext, NotPemIsRefused) {
  ServerOptions o = server_options();
  o.cert_file = temp_file("garbage.crt", "this is not a certificate\n");
  auto ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_EQ(ctx.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(ctx.status().message().find("no PEM certificate"), std::string::npos)
      << ctx.status().message();

  o = server_options();
  o.key_file =
      temp_file("garbage.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_NE(ctx.status().message().find("no usable PEM private key"), std::string::npos)
      << ctx.status().message();
}

TEST(TlsContext, KeyOfAnotherCertificateIsRefused) {
  ServerOptions o = server_options();
  o.key_file = key("client");
  auto ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_EQ(ctx.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(ctx.status().message().find("does not match the certificate"), std::string::npos)
      << ctx.status().message();
}

TEST(TlsContext, ExpiredServerCertificateIsRefused) {
  ServerOptions o = server_options();
  o.cert_file = cert("expired");
  o.key_file = key("expired");
  auto ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_NE(ctx.status().message().find("expired"), std::string::npos) << ctx.status().message();
}

TEST(TlsContext, ClientAuthWithoutCaIsRefused) {
  ServerOptions o = server_options(ClientAuth::kRequired);
  o.ca_file.clear();
  auto ctx = make_server_context(o);
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_NE(ctx.status().message().find("needs tls-ca-cert-file"), std::string::npos);
}

TEST(TlsContext, ClientCertificateNeedsBothFiles) {
  auto ctx = make_client_context({.ca_file = cert("ca"), .cert_file = cert("client")});
  ASSERT_FALSE(ctx.is_ok());
  EXPECT_EQ(ctx.code(), ErrorCode::kInvalidArgument);
}

TEST(TlsContext, ParseClientAuthTakesRedisSpellings) {
  EXPECT_EQ(*parse_client_auth("yes"), ClientAuth::kRequired);
  EXPECT_EQ(*parse_client_auth("NO"), ClientAuth::kNone);
  EXPECT_EQ(*parse_client_auth("optional"), ClientAuth::kOptional);
  EXPECT_FALSE(parse_client_auth("maybe").is_ok());
}

TEST(TlsHandshake, ClientTrustingTheCaConnectsAndSeesTheServerCertificate) {
  Handshake h = handshake(server_options(), {.ca_file = cert("ca"), .verify_name = "127.0.0.1"});
  EXPECT_FALSE(h.server_ec) << h.server_ec.message();
  EXPECT_FALSE(h.client_ec) << h.client_ec.message();
  ASSERT_TRUE(h.client_saw.has_value());
  EXPECT_EQ(h.client_saw->common_name, "localhost");
  EXPECT_EQ(h.client_saw->serial_hex, serial("server"));
  EXPECT_FALSE(h.server_saw.has_value());  // kNone: no client certificate asked
}

TEST(TlsHandshake, ServerOfAnotherCaIsRefusedByTheClient) {
  ServerOptions o = server_options();
  o.cert_file = cert("other-server");
  o.key_file = key("other-server");
  Handshake h = handshake(o, {.ca_file = cert("ca")});
  EXPECT_TRUE(h.client_ec);
  EXPECT_TRUE(h.server_ec);  // the client's alert
}

TEST(TlsHandshake, ServerNotNamingTheHostIsRefused) {
  Handshake h = handshake(server_options(), {.ca_file = cert("ca"), .verify_name = "example.com"});
  EXPECT_TRUE(h.client_ec);
}

TEST(TlsHandshake, RequiredClientCertificateMissingFailsTheHandshake) {
  Handshake h = handshake(server_options(ClientAuth::kRequired), {.ca_file = cert("ca")});
  EXPECT_TRUE(h.server_ec);
  EXPECT_TRUE(h.client_ec);
  EXPECT_NE(h.server_error.find("certificate"), std::string::npos) << h.server_error;
}

TEST(TlsHandshake, ClientCertificateOfAnotherCaIsRefused) {
  Handshake h = handshake(
      server_options(ClientAuth::kOptional),
      {.ca_file = cert("ca"), .cert_file = cert("other-client"), .key_file = key("other-client")});
  EXPECT_TRUE(h.server_ec);
  EXPECT_TRUE(h.client_ec);
  EXPECT_NE(h.server_error.find("verify failed"), std::string::npos) << h.server_error;
}

TEST(TlsHandshake, ExpiredClientCertificateIsRefusedWithTheReason) {
  Handshake h =
      handshake(server_options(ClientAuth::kRequired), {.ca_file = cert("ca"),
                                                        .cert_file = cert("expired-client"),
                                                        .key_file = key("expired-client")});
  EXPECT_TRUE(h.server_ec);
  EXPECT_NE(h.server_error.find("expired"), std::string::npos) << h.server_error;
}

TEST(TlsHandshake, ValidClientCertificateIsVerifiedAndNamed) {
  for (ClientAuth auth : {ClientAuth::kOptional, ClientAuth::kRequired}) {
    Handshake h =
        handshake(server_options(auth),
                  {.ca_file = cert("ca"), .cert_file = cert("node-2"), .key_file = key("node-2")});
    EXPECT_FALSE(h.server_ec) << h.server_ec.message();
    EXPECT_FALSE(h.client_ec) << h.client_ec.message();
    ASSERT_TRUE(h.server_saw.has_value());
    EXPECT_EQ(h.server_saw->common_name, "raftkv-node-2");
    EXPECT_TRUE(h.server_verified);
  }
}

TEST(TlsHandshake, OptionalClientAuthAcceptsAClientWithoutCertificate) {
  Handshake h = handshake(server_options(ClientAuth::kOptional), {.ca_file = cert("ca")});
  EXPECT_FALSE(h.server_ec) << h.server_ec.message();
  EXPECT_FALSE(h.client_ec) << h.client_ec.message();
  EXPECT_FALSE(h.server_saw.has_value());
  EXPECT_FALSE(h.server_verified);
}

TEST(ReloadableContext, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  namespace fs = std::filesystem;
  std::string dir = raftkv::testing::test_certs_dir() + "/reload";
  fs::create_directories(dir);
  fs::copy_file(cert("server"), dir + "/s.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(key("server"), dir + "/s.key", fs::copy_options::overwrite_existing);
  auto reloadable =
      ReloadableContext::create({.cert_file = dir + "/s.crt", .key_file = dir + "/s.key"});
  ASSERT_TRUE(reloadable.is_ok()) << reloadable.status().to_string();
  ContextPtr old_ctx = (*reloadable)->current();
  auto client_ctx = make_client_context({.ca_file = cert("ca")});
  ASSERT_TRUE(client_ctx.is_ok());

  fs::copy_file(cert("server2"), dir + "/s.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(key("server2"), dir + "/s.key", fs::copy_options::overwrite_existing);
  ASSERT_TRUE((*reloadable)->reload().is_ok());
  EXPECT_EQ((*reloadable)->generation(), 2u);
  ContextPtr new_ctx = (*reloadable)->current();
  EXPECT_NE(new_ctx, old_ctx);

  Handshake on_new = handshake(*new_ctx, **client_ctx);
  ASSERT_TRUE(on_new.client_saw.has_value());
  EXPECT_EQ(on_new.client_saw->serial_hex, serial("server2"));
  // A connection that took the old context keeps the old certificate.
  Handshake on_old = handshake(*old_ctx, **client_ctx);
  ASSERT_TRUE(on_old.client_saw.has_value());
  EXPECT_EQ(on_old.client_saw->serial_hex, serial("server"));
}

TEST(ReloadableContext, FailedReloadKeepsTheOldContextAndReportsTheError) {
  auto reloadable = ReloadableContext::create(server_options());
  ASSERT_TRUE(reloadable.is_ok());
  ContextPtr before = (*reloadable)->current();
  ServerOptions bad = server_options();
  bad.key_file = key("client");  // mismatched
  Status s = (*reloadable)->reload(bad);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("does not match"), std::string::npos) << s.message();
  EXPECT_EQ((*reloadable)->current(), before);
  EXPECT_EQ((*reloadable)->generation(), 1u);
  EXPECT_EQ((*reloadable)->options().key_file, key("server"));
}

TEST(Certificate, ReadCertificateFileGivesNameSerialAndValidity) {
  auto info = read_certificate_file(cert("node-3"));
  ASSERT_TRUE(info.is_ok()) << info.status().to_string();
  EXPECT_EQ(info->common_name, "raftkv-node-3");
  EXPECT_EQ(info->serial_hex, serial("node-3"));
  EXPECT_LT(info->not_before, info->not_after);
  EXPECT_NE(info->issuer.find("raftkv test CA"), std::string::npos) << info->issuer;
  EXPECT_FALSE(read_certificate_file("/nonexistent.crt").is_ok());
}

}  // namespace
}  // namespace raftkv::tls
