// raftkv-server's TLS and admin-access flags (issue 13): parsing, validation messages, the
// advertised address with the plaintext port off, and who may read the admin /status.
#include <fstream>

#include <gtest/gtest.h>

#include "server/admin_http.h"
#include "server/config.h"

namespace raftkv::server {
namespace {

Result<ServerConfig> parse(std::vector<std::string> extra) {
  std::vector<std::string> args = {"raftkv-server",
                                   "--id",
                                   "1",
                                   "--data-dir",
                                   "/tmp/x",
                                   "--peer-addr",
                                   "127.0.0.1:7101",
                                   "--client-addr",
                                   "127.0.0.1:7001",
                                   "--peers",
                                   "1=127.0.0.1:7101"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return parse_server_config(static_cast<int>(argv.size()), argv.data());
}

void expect_error(std::vector<std::string> flags, std::string_view text) {
  auto c = parse(flags);
  ASSERT_FALSE(c.is_ok()) << flags[0];
  EXPECT_NE(c.status().message().find(text), std::string::npos) << c.status().message();
}

TEST(TlsConfig, TlsPortListensOnTheClientHost) {
  auto c = parse({"--tls-port", "7401", "--tls-cert-file", "s.crt", "--tls-key-file", "s.key"});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->tls_addr(), "127.0.0.1:7401");
  EXPECT_EQ(c->advertised_client_addr(), "127.0.0.1:7001");
  EXPECT_EQ(c->tls_clients.at(NodeId(1)), "127.0.0.1:7401");
}

TEST(TlsConfig, PortZeroTurnsPlaintextOffAndAdvertisesTheTlsAddress) {
  auto c = parse(
      {"--port", "0", "--tls-port", "7401", "--tls-cert-file", "s.crt", "--tls-key-file", "s.key"});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->advertised_client_addr(), "127.0.0.1:7401");
  EXPECT_EQ(c->clients.at(NodeId(1)), "127.0.0.1:7401");
  expect_error({"--port", "0"}, "give --tls-port too");
}

TEST(TlsConfig, PortReplacesTheClientPort) {
  auto c = parse({"--port", "7009"});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->client_addr, "127.0.0.1:7009");
}

TEST(TlsConfig, IncompleteOrInconsistentFlagsSayWhatIsMissing) {
  expect_error({"--tls-port", "7401"}, "--tls-port needs --tls-cert-file and --tls-key-file");
  expect_error({"--tls-cert-file", "s.crt"}, "need --tls-port");
  expect_error({"--tls-port", "7401", "--tls-cert-file", "s.crt", "--tls-key-file", "s.key",
                "--tls-auth-clients", "maybe"},
               "--tls-auth-clients must be yes, no or optional");
  expect_error({"--tls-port", "7401", "--tls-cert-file", "s.crt", "--tls-key-file", "s.key",
                "--tls-auth-clients", "yes"},
               "needs --tls-ca-cert-file");
  expect_error({"--admin-tls-cert-file", "a.crt"}, "go together");
  expect_error({"--admin-token-file", "t"}, "need --admin-addr");
}

TEST(TlsConfig, TomlKeysAreTheFlagNames) {
  const std::string path = ::testing::TempDir() + "/tls_config_test.toml";
  std::ofstream(path) << "tls-port = 7401\ntls-cert-file = \"s.crt\"\ntls-key-file = \"s.key\"\n"
                         "tls-ca-cert-file = \"ca.crt\"\ntls-auth-clients = \"optional\"\n";
  auto c = parse({"--config", path});
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->tls_port, 7401u);
  EXPECT_EQ(c->tls_auth_clients, "optional");
}

TEST(AdminAccess, TokenIsRequiredOnceConfigured) {
  const AdminAccess access{.token = "0123456789abcdef", .client_certs = false, .loopback = true};
  EXPECT_FALSE(admin_authorized(access, "", false));
  EXPECT_FALSE(admin_authorized(access, "Bearer 0123456789abcdeX", false));
  EXPECT_FALSE(admin_authorized(access, "Bearer 0123456789abcdef0", false));  // longer
  EXPECT_FALSE(admin_authorized(access, "Bearer 0123456789abcde", false));    // shorter
  EXPECT_FALSE(admin_authorized(access, "Basic 0123456789abcdef", false));
  EXPECT_TRUE(admin_authorized(access, "Bearer 0123456789abcdef", false));
  EXPECT_TRUE(admin_authorized(access, "bearer 0123456789abcdef", false));
  // A verified certificate counts only when client certificates are configured.
  EXPECT_FALSE(admin_authorized(access, "", true));
}

TEST(AdminAccess, VerifiedClientCertificateIsEnough) {
  const AdminAccess access{.token = "", .client_certs = true, .loopback = false};
  EXPECT_TRUE(admin_authorized(access, "", true));
  EXPECT_FALSE(admin_authorized(access, "", false));
}

TEST(AdminAccess, WithoutCredentialsOnlyLoopbackIsOpen) {
  EXPECT_TRUE(admin_authorized({.token = "", .client_certs = false, .loopback = true}, "", false));
  EXPECT_FALSE(
      admin_authorized({.token = "", .client_certs = false, .loopback = false}, "", false));
}

TEST(AdminAccess, TokenFileErrorsNameTheFile) {
  auto missing = read_admin_token("/nonexistent/token");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/token"), std::string::npos);
  const std::string path = ::testing::TempDir() + "/admin_token";
  std::ofstream(path) << "short\n";
  EXPECT_FALSE(read_admin_token(path).is_ok());
  std::ofstream(path) << "  0123456789abcdef0123 \nsecond line\n";
  auto token = read_admin_token(path);
  ASSERT_TRUE(token.is_ok()) << token.status().to_string();
  EXPECT_EQ(*token, "0123456789abcdef0123");
}

}  // namespace
}  // namespace raftkv::server
