// raftkv-server's flags for membership (issue 12): --join, --auto-promote, --force-new-cluster,
// and --peers being optional with --join. Parsing and validation only.
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "server/config.h"

namespace raftkv::server {
namespace {

Result<ServerConfig> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "raftkv-server");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return parse_server_config(static_cast<int>(argv.size()), argv.data());
}

const std::vector<std::string> kBase = {
    "--id",          "2", "--data-dir", "/tmp/x", "--peer-addr", "127.0.0.1:7102", "--client-addr",
    "127.0.0.1:7002"};

std::vector<std::string> with(std::vector<std::string> extra) {
  std::vector<std::string> out = kBase;
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

TEST(ServerConfig, MembershipDefaults) {
  auto c = parse(with({"--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102"}));
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_TRUE(c->join.empty());
  EXPECT_TRUE(c->auto_promote);
  EXPECT_FALSE(c->force_new_cluster);
}

TEST(ServerConfig, JoinNeedsNoPeers) {
  auto c = parse(with({"--join", "127.0.0.1:7001"}));
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->join, "127.0.0.1:7001");
  EXPECT_TRUE(c->peers.empty());
  // Without either, the error says both ways to start.
  auto none = parse(kBase);
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("--peers is required"), std::string::npos);
  EXPECT_NE(none.status().message().find("--join"), std::string::npos);
  auto bad = parse(with({"--join", "nowhere"}));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("--join must be the HOST:PORT"), std::string::npos);
}

TEST(ServerConfig, AutoPromoteCanBeTurnedOff) {
  for (const std::vector<std::string>& flags : {std::vector<std::string>{"--no-auto-promote"},
                                                std::vector<std::string>{"--auto-promote=false"}}) {
    auto c = parse(with({"--join", "127.0.0.1:7001", flags[0]}));
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_FALSE(c->auto_promote) << flags[0];
  }
  auto on = parse(with({"--join", "127.0.0.1:7001", "--auto-promote"}));
  ASSERT_TRUE(on.is_ok());
  EXPECT_TRUE(on->auto_promote);
}

TEST(ServerConfig, ForceNewClusterExcludesJoin) {
  auto c = parse(with({"--peers", "2=127.0.0.1:7102", "--force-new-cluster"}));
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_TRUE(c->force_new_cluster);
  auto both = parse(with({"--join", "127.0.0.1:7001", "--force-new-cluster"}));
  ASSERT_FALSE(both.is_ok());
  EXPECT_NE(both.status().message().find("exclude each other"), std::string::npos);
}

TEST(ServerConfig, MembershipKeysInTheConfigFile) {
  const std::string path = "/tmp/raftkv-config-test-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(path) << "join = \"127.0.0.1:7003\"\nauto-promote = false\n";
  auto c = parse(with({"--config", path}));
  std::remove(path.c_str());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->join, "127.0.0.1:7003");
  EXPECT_FALSE(c->auto_promote);
}

// Peer authentication (issue 13): the secret file and the peer TLS files, as flags and as keys.
TEST(ServerConfig, PeerAuthenticationFlagsAndKeys) {
  auto flags =
      parse(with({"--join", "127.0.0.1:7001", "--cluster-secret-file", "/etc/s", "--peer-tls-cert",
                  "n.crt", "--peer-tls-key", "n.key", "--peer-tls-ca", "ca.crt"}));
  ASSERT_TRUE(flags.is_ok()) << flags.status().to_string();
  EXPECT_EQ(flags->cluster_secret_file, "/etc/s");
  EXPECT_EQ(flags->peer_tls_cert, "n.crt");
  EXPECT_EQ(flags->peer_tls_key, "n.key");
  EXPECT_EQ(flags->peer_tls_ca, "ca.crt");
  const std::string path = "/tmp/raftkv-config-test-peer-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(path) << "cluster-secret-file = \"/etc/s2\"\npeer-tls-ca = \"ca2.crt\"\n";
  auto keys = parse(with({"--join", "127.0.0.1:7001", "--config", path}));
  std::remove(path.c_str());
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  EXPECT_EQ(keys->cluster_secret_file, "/etc/s2");
  EXPECT_EQ(keys->peer_tls_ca, "ca2.crt");
  EXPECT_TRUE(parse(with({"--join", "127.0.0.1:7001"}))->cluster_secret_file.empty())
      << "off unless given";
}

}  // namespace
}  // namespace raftkv::server
