// RespServer's TLS listener (Redis tls-port) on real sockets: commands over TLS with an
// asio::ssl client, client certificates, a plaintext client on the TLS port and a TLS client on
// the plaintext port (clear errors, the server keeps serving), the handshake timeout, the
// plaintext port turned off, and certificate reload for new connections only. Waits are
// bounded by deadlines; nothing sleeps.
#include <gtest/gtest.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_backend.h"
#include "socket_util.h"
#include "test_certs.h"
#include "tls/certificate.h"
#include "tls/context.h"

namespace raftkv::frontend {
namespace {

using raftkv::testing::cert;
using raftkv::testing::key;
using raftkv::testing::serial;
using testing::FakeBackend;
using testing::kSocketTimeout;
using testing::Reply;
using testing::ServerHarness;
using testing::TestClient;

std::shared_ptr<tls::ReloadableContext> server_tls(tls::ClientAuth auth = tls::ClientAuth::kNone,
                                                   const std::string& name = "server") {
  auto context = tls::ReloadableContext::create(
      {.cert_file = cert(name), .key_file = key(name), .ca_file = cert("ca"), .client_auth = auth});
  EXPECT_TRUE(context.is_ok()) << context.status().to_string();
  return context.is_ok() ? *context : nullptr;
}

RespServerOptions tls_options(std::shared_ptr<tls::ReloadableContext> context) {
  RespServerOptions options;
  options.tls_listen_addr = "127.0.0.1:0";
  options.tls = std::move(context);
  return options;
}

// A TLS client on its own io_context; every operation is bounded by kSocketTimeout (the socket
// is closed when it runs out, so the operation ends with an error).
class TlsClient {
 public:
  TlsClient(uint16_t port, const tls::ClientOptions& options) {
    auto ctx = tls::make_client_context(options);
    EXPECT_TRUE(ctx.is_ok()) << ctx.status().to_string();
    ctx_ = *ctx;
    stream_.emplace(io_, *ctx_);
    error_ = run([&](auto done) {
      stream_->lowest_layer().async_connect({asio::ip::make_address("127.0.0.1"), port}, done);
    });
    if (!error_) {
      error_ =
          run([&](auto done) { stream_->async_handshake(asio::ssl::stream_base::client, done); });
    }
  }

  // The connect or handshake error (none when connected).
  const std::error_code& error() const { return error_; }
  std::optional<tls::CertificateInfo> server_certificate() {
    return tls::peer_certificate(stream_->native_handle());
  }

  Reply call(const std::vector<std::string>& args) {
    std::string bytes;
    resp::append_command(bytes, args);
    auto replies = send_and_read(bytes, 1);
    return replies.empty() ? Reply::error("<no reply: " + last_.message() + ">") : replies[0];
  }

  // Sends `bytes`, then reads until `count` replies are parsed or the connection ends.
  std::vector<Reply> send_and_read(const std::string& bytes, size_t count) {
    last_ = run([&](auto done) {
      asio::async_write(*stream_, asio::buffer(bytes),
                        [done](std::error_code ec, size_t) { done(ec); });
    });
    std::vector<Reply> replies;
    Reply reply;
    while (replies.size() < count) {
      if (parser_.next(reply) == resp::ReplyOutcome::kReply) {
        replies.push_back(reply);
        continue;
      }
      if (last_) break;
      size_t n = 0;
      last_ = run([&](auto done) {
        stream_->async_read_some(asio::buffer(buffer_), [done, &n](std::error_code ec, size_t m) {
          n = m;
          done(ec);
        });
      });
      parser_.feed(std::string_view(buffer_.data(), n));
    }
    return replies;
  }

 private:
  template <typename Start>
  std::error_code run(Start start) {
    std::optional<std::error_code> result;
    io_.restart();
    start([&result](std::error_code ec) { result = ec; });
    io_.run_for(kSocketTimeout);
    if (!result) {
      std::error_code ignored;
      stream_->lowest_layer().close(ignored);
      io_.restart();
      io_.run();
      return asio::error::timed_out;
    }
    return *result;
  }

  asio::io_context io_;
  tls::ContextPtr ctx_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> stream_;
  std::error_code error_;
  std::error_code last_;
  std::array<char, 64 * 1024> buffer_{};
  resp::ReplyParser parser_;
};

tls::ClientOptions trusting_ca() {
  return {.ca_file = cert("ca"), .verify_name = "127.0.0.1"};
}

TEST(TlsServer, CommandsRunOverTlsAndThePlaintextPortKeepsWorking) {
  FakeBackend backend;
  ServerHarness harness(backend, tls_options(server_tls()));
  ASSERT_NE(harness.server().tls_port(), 0);
  ASSERT_NE(harness.server().port(), 0);
  TlsClient client(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(client.error()) << client.error().message();
  ASSERT_TRUE(client.server_certificate().has_value());
  EXPECT_EQ(client.server_certificate()->serial_hex, serial("server"));
  EXPECT_EQ(client.call({"PING"}).text, "PONG");
  EXPECT_EQ(client.call({"SET", "k", "v"}).text, "OK");  // through the backend
  ASSERT_EQ(backend.calls().size(), 1u);
  EXPECT_EQ(backend.calls()[0].args, (std::vector<std::string>{"SET", "k", "v"}));

  TestClient plain(harness.port());
  EXPECT_EQ(plain.call({"PING"}).text, "PONG");
  EXPECT_EQ(harness.server().tls_stats().handshakes.load(), 1u);
}

TEST(TlsServer, PipelinedLargeRepliesArriveInOrder) {
  FakeBackend backend;
  ServerHarness harness(backend, tls_options(server_tls()));
  TlsClient client(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(client.error()) << client.error().message();
  std::string bytes;
  std::vector<std::string> values;
  for (int i = 0; i < 20; ++i) {
    values.push_back(std::string(size_t{200} << 10, static_cast<char>('a' + i)));
    resp::append_command(bytes, {"ECHO", values.back()});
  }
  const auto replies = client.send_and_read(bytes, values.size());
  ASSERT_EQ(replies.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(replies[i].text, values[i]) << i;
}

TEST(TlsServer, PlaintextClientOnTheTlsPortGetsAnErrorAndTheServerKeepsServing) {
  FakeBackend backend;
  ServerHarness harness(backend, tls_options(server_tls()));
  TestClient plain(harness.server().tls_port());
  const Reply reply = plain.call({"PING"});
  EXPECT_EQ(reply.type, Reply::Type::kError);
  EXPECT_NE(reply.text.find("this port speaks TLS only"), std::string::npos) << reply.text;
  EXPECT_TRUE(plain.wait_closed());
  EXPECT_EQ(harness.server().tls_stats().handshake_failures.load(), 1u);

  TlsClient client(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(client.error()) << client.error().message();
  EXPECT_EQ(client.call({"PING"}).text, "PONG");
}

TEST(TlsServer, TlsClientOnThePlaintextPortIsRefusedAndTheServerKeepsServing) {
  FakeBackend backend;
  ServerHarness harness(backend, tls_options(server_tls()));
  TlsClient client(harness.port(), trusting_ca());
  EXPECT_TRUE(client.error());  // the server answers the ClientHello with a plaintext error
  EXPECT_NE(client.error(), asio::error::timed_out);
  EXPECT_EQ(harness.server().tls_stats().plaintext_refused.load(), 1u);
  TestClient plain(harness.port());
  EXPECT_EQ(plain.call({"PING"}).text, "PONG");
}

TEST(TlsServer, SilentClientIsClosedAtTheHandshakeTimeout) {
  FakeBackend backend;
  RespServerOptions options = tls_options(server_tls());
  options.tls_handshake_timeout = std::chrono::milliseconds(100);
  ServerHarness harness(backend, std::move(options));
  TestClient silent(harness.server().tls_port());
  EXPECT_TRUE(silent.wait_closed());
  EXPECT_EQ(harness.server().tls_stats().handshake_failures.load(), 1u);
  EXPECT_EQ(harness.server().tls_stats().handshakes.load(), 0u);
}

TEST(TlsServer, StopEndsConnectionsThatAreStillInTheirHandshake) {
  FakeBackend backend;
  auto harness = std::make_unique<ServerHarness>(backend, tls_options(server_tls()));
  TestClient silent(harness->server().tls_port());
  TestClient partial(harness->server().tls_port());
  partial.send(std::string("\x16\x03\x01\x00\x10", 5));  // a record header, then nothing
  // Connections are registered before their handshake starts.
  const auto deadline = std::chrono::steady_clock::now() + kSocketTimeout;
  while (harness->server().connection_count() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(harness->server().connection_count(), 2u);
  harness.reset();  // stop() + wait_stopped() (asserted in the harness) with both mid-handshake
  EXPECT_TRUE(silent.wait_closed());
  EXPECT_TRUE(partial.wait_closed());
}

TEST(TlsServer, RequiredClientCertificate) {
  FakeBackend backend;
  ServerHarness harness(backend, tls_options(server_tls(tls::ClientAuth::kRequired)));
  {
    TlsClient anonymous(harness.server().tls_port(), trusting_ca());
    // TLS 1.3: the client may finish its handshake before the server refuses; then the first
    // command fails instead.
    if (!anonymous.error()) {
      EXPECT_EQ(anonymous.call({"PING"}).type, Reply::Type::kError);
    }
  }
  {
    tls::ClientOptions other = trusting_ca();
    other.cert_file = cert("other-client");
    other.key_file = key("other-client");
    TlsClient stranger(harness.server().tls_port(), other);
    if (!stranger.error()) {
      EXPECT_EQ(stranger.call({"PING"}).type, Reply::Type::kError);
    }
  }
  tls::ClientOptions with_cert = trusting_ca();
  with_cert.cert_file = cert("client");
  with_cert.key_file = key("client");
  TlsClient client(harness.server().tls_port(), with_cert);
  ASSERT_FALSE(client.error()) << client.error().message();
  EXPECT_EQ(client.call({"PING"}).text, "PONG");
  EXPECT_EQ(harness.server().tls_stats().handshake_failures.load(), 2u);
}

TEST(TlsServer, RedirectsOnTlsConnectionsNameTheTlsAddress) {
  FakeBackend backend;
  backend.set_outcome(Status(ErrorCode::kNotLeader, "127.0.0.1:7002"));
  RespServerOptions options = tls_options(server_tls());
  options.tls_redirects = {{"127.0.0.1:7002", "127.0.0.1:7102"}};
  ServerHarness harness(backend, std::move(options));
  TlsClient client(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(client.error()) << client.error().message();
  const Reply over_tls = client.call({"GET", "k"});
  EXPECT_EQ(over_tls.type, Reply::Type::kError);
  EXPECT_TRUE(over_tls.text.starts_with("MOVED ")) << over_tls.text;
  EXPECT_TRUE(over_tls.text.ends_with(" 127.0.0.1:7102")) << over_tls.text;
  TestClient plain(harness.port());
  const Reply over_tcp = plain.call({"GET", "k"});
  EXPECT_TRUE(over_tcp.text.ends_with(" 127.0.0.1:7002")) << over_tcp.text;
}

TEST(TlsServer, ClusterRepliesOnTlsConnectionsNameTheTlsAddresses) {
  FakeBackend backend;
  BackendStatus status;
  status.id = NodeId(1);
  status.role = "leader";
  status.leader = NodeId(1);
  status.leader_client_addr = "127.0.0.1:7001";
  status.members = {MemberInfo{NodeId(1), "127.0.0.1:7001", true},
                    MemberInfo{NodeId(2), "127.0.0.1:7002", true}};
  backend.set_status(status);
  RespServerOptions options = tls_options(server_tls());
  options.tls_redirects = {{"127.0.0.1:7001", "127.0.0.1:7101"},
                           {"127.0.0.1:7002", "127.0.0.1:7102"}};
  ServerHarness harness(backend, std::move(options));
  TlsClient client(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(client.error()) << client.error().message();
  const std::string over_tls = client.call({"CLUSTER", "NODES"}).text;
  EXPECT_NE(over_tls.find("127.0.0.1:7101"), std::string::npos) << over_tls;
  EXPECT_NE(over_tls.find("127.0.0.1:7102"), std::string::npos) << over_tls;
  EXPECT_EQ(over_tls.find("127.0.0.1:7001"), std::string::npos) << over_tls;
  TestClient plain(harness.port());
  const std::string over_tcp = plain.call({"CLUSTER", "NODES"}).text;
  EXPECT_NE(over_tcp.find("127.0.0.1:7002"), std::string::npos) << over_tcp;
  EXPECT_EQ(over_tcp.find("127.0.0.1:7102"), std::string::npos) << over_tcp;
}

TEST(TlsServer, EmptyListenAddrTurnsThePlaintextPortOff) {
  FakeBackend backend;
  RespServerOptions options = tls_options(server_tls());
  options.listen_addr.clear();
  ServerHarness harness(backend, std::move(options));
  EXPECT_EQ(harness.server().port(), 0);
  TlsClient client(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(client.error()) << client.error().message();
  EXPECT_EQ(client.call({"PING"}).text, "PONG");
}

TEST(TlsServer, StartRefusesATlsPortWithoutCertificateOrNoListenerAtAll) {
  FakeBackend backend;
  asio::io_context io;
  RespServerOptions no_cert;
  no_cert.tls_listen_addr = "127.0.0.1:0";
  RespServer a(io, backend, no_cert);
  EXPECT_FALSE(a.start().is_ok());
  RespServerOptions none;
  none.listen_addr.clear();
  RespServer b(io, backend, none);
  EXPECT_FALSE(b.start().is_ok());
}

TEST(TlsServer, ReloadServesTheNewCertificateToNewConnectionsWhileOldOnesKeepWorking) {
  namespace fs = std::filesystem;
  const std::string dir = raftkv::testing::test_certs_dir() + "/frontend-reload";
  fs::create_directories(dir);
  fs::copy_file(cert("server"), dir + "/s.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(key("server"), dir + "/s.key", fs::copy_options::overwrite_existing);
  auto context =
      tls::ReloadableContext::create({.cert_file = dir + "/s.crt", .key_file = dir + "/s.key"});
  ASSERT_TRUE(context.is_ok()) << context.status().to_string();
  FakeBackend backend;
  ServerHarness harness(backend, tls_options(*context));
  TlsClient before(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(before.error()) << before.error().message();
  EXPECT_EQ(before.server_certificate()->serial_hex, serial("server"));

  // A broken file: the reload fails and the old certificate stays.
  fs::copy_file(key("client"), dir + "/s.key", fs::copy_options::overwrite_existing);
  EXPECT_FALSE((*context)->reload().is_ok());
  TlsClient still_old(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(still_old.error()) << still_old.error().message();
  EXPECT_EQ(still_old.server_certificate()->serial_hex, serial("server"));

  fs::copy_file(cert("server2"), dir + "/s.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(key("server2"), dir + "/s.key", fs::copy_options::overwrite_existing);
  ASSERT_TRUE((*context)->reload().is_ok());
  TlsClient after(harness.server().tls_port(), trusting_ca());
  ASSERT_FALSE(after.error()) << after.error().message();
  EXPECT_EQ(after.server_certificate()->serial_hex, serial("server2"));
  EXPECT_EQ(before.call({"PING"}).text, "PONG");  // the old connection keeps its session
  EXPECT_EQ(after.call({"PING"}).text, "PONG");
}

}  // namespace
}  // namespace raftkv::frontend
