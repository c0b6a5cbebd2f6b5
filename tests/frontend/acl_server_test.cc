// ACLs on real sockets (127.0.0.1): the order of a connection's ACL changes and its later
// commands, the connection of a deleted user, protected mode, and redis-cli's AUTH. No sleeps:
// reads wait with poll() until a deadline.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "frontend/resp_server.h"
#include "resp/reply.h"
#include "socket_util.h"
#include "state_machine_backend.h"

namespace raftkv::frontend {
namespace {

using resp::Reply;
using testing::ServerHarness;
using testing::StateMachineBackend;
using testing::TestClient;

RespServerOptions options_for(StateMachineBackend& backend) {
  RespServerOptions options;
  options.listen_addr = "127.0.0.1:0";
  options.dispatcher.acl = backend.publisher();
  return options;
}

// Redis runs a connection's commands in order: a command sent after ACL SETUSER on the same
// connection is checked against the ACL that SETUSER produced, though the write completes later
// on another thread (as a node's applier completes it).
TEST(AclServer, CommandsAfterAnAclChangeAreCheckedAgainstIt) {
  StateMachineBackend backend(std::string(kv::acl::kDefaultUserRules), /*async=*/true);
  ServerHarness harness(backend, options_for(backend));
  TestClient client(harness.port());
  ASSERT_TRUE(client.connected());
  std::string batch;
  resp::append_command(batch, {"SET", "k", "v"});
  resp::append_command(batch, {"ACL", "SETUSER", "default", "-get"});
  resp::append_command(batch, {"GET", "k"});
  resp::append_command(batch, {"ACL", "SETUSER", "default", "+get"});
  resp::append_command(batch, {"GET", "k"});
  client.send(batch);
  const auto replies = client.read_replies(5);
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0], Reply::simple("OK"));
  EXPECT_EQ(replies[1], Reply::simple("OK"));
  EXPECT_EQ(replies[2],
            Reply::error("NOPERM this user has no permissions to run the 'get' command"));
  EXPECT_EQ(replies[3], Reply::simple("OK"));
  EXPECT_EQ(replies[4], Reply::bulk("v"));
}

TEST(AclServer, ADeletedUsersConnectionIsClosedAtItsNextCommand) {
  StateMachineBackend backend;
  ServerHarness harness(backend, options_for(backend));
  TestClient admin(harness.port());
  ASSERT_EQ(admin.call({"ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all"}),
            Reply::simple("OK"));
  TestClient alice(harness.port());
  ASSERT_EQ(alice.call({"AUTH", "alice", "pw"}), Reply::simple("OK"));
  ASSERT_EQ(alice.call({"PING"}), Reply::simple("PONG"));
  ASSERT_EQ(admin.call({"ACL", "DELUSER", "alice"}), Reply::integer_reply(1));
  alice.send_command({"PING"});
  alice.send_command({"PING"});
  EXPECT_TRUE(alice.wait_closed());
  EXPECT_TRUE(alice.read_replies(1).empty());  // closed without a reply
  EXPECT_EQ(admin.call({"PING"}), Reply::simple("PONG"));
}

TEST(AclServer, ProtectedModeRefusesRemoteClientsWithRedisMessageUntilAPasswordIsSet) {
  StateMachineBackend backend;
  RespServerOptions options = options_for(backend);
  // Every client counts as remote: the listener stays on loopback.
  options.dispatcher.is_local_client = [](std::string_view) { return false; };
  ServerHarness harness(backend, options);
  {
    TestClient client(harness.port());
    ASSERT_TRUE(client.connected());
    const Reply refusal = client.read_reply();
    EXPECT_EQ("-" + refusal.text + "\r\n", protected_mode_refusal());
    EXPECT_TRUE(client.wait_closed());
  }
  // A password for the default user (here through the ACL) opens the door, behind AUTH.
  kv::acl::AclState state;
  std::vector<std::string> changed;
  const std::vector<std::string> args = {"RAFTKV.ACL", std::string(kv::acl::kDefaultUserRules),
                                         "SETUSER", "default", ">pw"};
  const std::vector<std::string_view> views(args.begin(), args.end());
  ASSERT_EQ(state.apply_entry(views, 1, changed), kv::Reply::ok());
  backend.publisher()->publish(state);
  TestClient client(harness.port());
  EXPECT_EQ(client.call({"PING"}), Reply::error("NOAUTH Authentication required."));
  EXPECT_EQ(client.call({"AUTH", "pw"}), Reply::simple("OK"));
  EXPECT_EQ(client.call({"PING"}), Reply::simple("PONG"));
  EXPECT_EQ(harness.server().stats().rejected_connections.load(), 1u);
}

// redis-cli -a / --user --pass authenticate with AUTH before the command.
TEST(AclServer, RedisCliAuthenticates) {
  if (std::system("command -v redis-cli >/dev/null 2>&1") != 0) GTEST_SKIP() << "no redis-cli";
  StateMachineBackend backend(kv::acl::seed_rules_for_password("s3cret"));
  ServerHarness harness(backend, options_for(backend));
  const auto cli = [&](const std::string& args) {
    const std::string command =
        fmt::format("redis-cli --no-auth-warning -p {} {} 2>&1", harness.port(), args);
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return out;
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
    ::pclose(pipe);
    return out;
  };
  // Piped, redis-cli prints replies raw, an error followed by an empty line.
  EXPECT_EQ(cli("SET k v"), "NOAUTH Authentication required.\n\n");
  EXPECT_EQ(cli("-a s3cret SET k v"), "OK\n");
  EXPECT_EQ(cli("-a s3cret ACL SETUSER app on '>apppw' '~app:*' '+@read' '+@write' '+acl|whoami'"),
            "OK\n");
  EXPECT_EQ(cli("--user app --pass apppw SET app:1 x"), "OK\n");
  EXPECT_EQ(cli("--user app --pass apppw GET k"),
            "NOPERM this user has no permissions to access one of the keys used as arguments\n\n");
  EXPECT_EQ(cli("--user app --pass wrong GET app:1"),
            "AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n"
            "NOAUTH Authentication required.\n\n");
  EXPECT_EQ(cli("--user app --pass apppw ACL WHOAMI"), "app\n");
}

}  // namespace
}  // namespace raftkv::frontend
