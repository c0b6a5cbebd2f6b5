// The command table through a fake Backend: arity, unknown commands, connection commands,
// INFO / CLUSTER / ROLE from the backend status, error mapping and RAFTKV.REQ.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fake_backend.h"
#include "frontend/command_dispatcher.h"
#include "frontend/key_slot.h"
#include "kv/commands.h"
#include "resp/reply.h"

namespace raftkv::frontend {
namespace {

using resp::Reply;
using testing::FakeBackend;

class CommandTest : public ::testing::Test {
 protected:
  CommandTest() : dispatcher_(backend_, stats_, DispatcherOptions{}) { conn_.id = 7; }

  // Dispatches and returns the single reply (which must have been produced synchronously).
  Reply run(std::vector<std::string> args) {
    std::string bytes;
    int calls = 0;
    dispatcher_.dispatch(std::move(args), conn_, [&](std::string reply) {
      bytes += reply;
      ++calls;
    });
    EXPECT_EQ(calls, 1);
    resp::ReplyParser parser;
    parser.feed(bytes);
    Reply reply;
    EXPECT_EQ(parser.next(reply), resp::ReplyOutcome::kReply) << bytes;
    EXPECT_EQ(parser.buffered_bytes(), 0u) << "more than one reply: " << bytes;
    return reply;
  }

  static BackendStatus three_node_status(uint64_t self, uint64_t leader) {
    BackendStatus status;
    status.id = NodeId(self);
    status.role = self == leader ? "leader" : "follower";
    status.term = Term(5);
    status.leader = NodeId(leader);
    status.leader_client_addr = leader == 0 ? "" : fmt::format("127.0.0.1:700{}", leader);
    status.commit_index = Index(42);
    status.applied_index = Index(41);
    status.last_index = Index(43);
    status.snapshot_index = Index(10);
    for (uint64_t id = 1; id <= 3; ++id) {
      status.members.push_back({NodeId(id), fmt::format("127.0.0.1:700{}", id), true});
    }
    status.keys = 12;
    status.extra = {{"wal_bytes", "1234"}};
    return status;
  }

  FakeBackend backend_;
  FrontendStats stats_;
  CommandDispatcher dispatcher_;
  ConnectionState conn_;
};

Reply error(std::string text) {
  return Reply::error(std::move(text));
}
Reply simple(std::string text) {
  return Reply::simple(std::move(text));
}
Reply bulk(std::string text) {
  return Reply::bulk(std::move(text));
}

TEST(KeySlot, MatchesRedisVectors) {
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("somekey"), 11058);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, HashTagsHashOnlyTheTag) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));   // first tag only
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));  // up to the first '}'
  // An empty tag or an unclosed brace hashes the whole key.
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") % kClusterSlots);
  EXPECT_EQ(key_slot("foo{bar"), crc16_xmodem("foo{bar") % kClusterSlots);
}

TEST(CommandTable, SortedAndConsistentWithTheStateMachine) {
  const auto table = command_table();
  for (size_t i = 1; i < table.size(); ++i) EXPECT_LT(table[i - 1].name, table[i].name);
  for (const auto& spec : table) {
    const auto kind = kv::classify_command(spec.name);
    // RAFTKV.DIGEST is a read answered by the node itself (backend.h), not a KV command.
    if ((spec.flags & kFlagReadonly) != 0 && spec.name != "raftkv.digest") {
      EXPECT_EQ(kind, kv::CommandKind::kRead) << spec.name;
    }
    if ((spec.flags & kFlagWrite) != 0 && spec.name != "raftkv.req") {
      EXPECT_EQ(kind, kv::CommandKind::kWrite) << spec.name;
    }
  }
  for (const char* name : {"GET", "SET", "DEL", "EXISTS", "APPEND", "STRLEN", "INCR", "INCRBY",
                           "DECR", "DECRBY", "MGET", "MSET", "GETDEL", "SETNX", "SCAN", "DBSIZE"}) {
    EXPECT_NE(find_command(name), nullptr) << name;
  }
  EXPECT_EQ(find_command("gEt"), find_command("GET"));
  EXPECT_EQ(find_command("nosuchcommand"), nullptr);
}

// How the connection orders each command against its commands in flight (issue 11 #1).
TEST(CommandOrder, ReadsWritesLocalsAndBarriers) {
  using V = std::vector<std::string>;
  const auto order = [](V args) { return CommandDispatcher::order_of(args); };
  EXPECT_EQ(order({"GET", "k"}), CommandOrder::kRead);
  EXPECT_EQ(order({"mget", "a", "b"}), CommandOrder::kRead);
  EXPECT_EQ(order({"RAFTKV.DIGEST"}), CommandOrder::kRead);
  EXPECT_EQ(order({"SET", "k", "v"}), CommandOrder::kWrite);
  EXPECT_EQ(order({"incr", "k"}), CommandOrder::kWrite);
  EXPECT_EQ(order({"RAFTKV.REQ", "1", "2", "1", "SET", "k", "v"}), CommandOrder::kWrite);
  EXPECT_EQ(order({"RAFTKV.REQ", "1", "2", "1", "GET", "k"}), CommandOrder::kRead);
  EXPECT_EQ(order({"PING"}), CommandOrder::kLocal);
  EXPECT_EQ(order({"GET"}), CommandOrder::kLocal) << "an arity error is answered at once";
  EXPECT_EQ(order({"NOSUCH", "x"}), CommandOrder::kLocal);
  EXPECT_EQ(order({"INFO"}), CommandOrder::kBarrier);
  EXPECT_EQ(order({"CLUSTER", "SLOTS"}), CommandOrder::kBarrier);
  // A wrapper of a wrapper is an error (answered at once), however deep: no recursion.
  V nested;
  for (int i = 0; i < 200'000; ++i) nested.insert(nested.end(), {"RAFTKV.REQ", "0", "1", "0"});
  nested.insert(nested.end(), {"GET", "k"});
  EXPECT_EQ(order(nested), CommandOrder::kLocal);
}

TEST_F(CommandTest, UnknownCommandUsesRedis7Wording) {
  EXPECT_EQ(run({"foo", "a", "b"}),
            error("ERR unknown command 'foo', with args beginning with: 'a' 'b' "));
  EXPECT_EQ(run({"foo"}), error("ERR unknown command 'foo', with args beginning with: "));
}

// Issue 11: the error echoed a NUL byte ('FOO\x00'). Redis 7 prints names and arguments with
// printf's "%.*s": nothing from the first NUL on; CR and LF become spaces (checked against
// redis-server 7.0.15); other bytes are echoed as they are.
TEST_F(CommandTest, UnknownCommandErrorEchoesNamesAndArgsUpToTheirFirstNulAsRedisDoes) {
  using namespace std::string_literals;
  EXPECT_EQ(run({"FOO\0"s, "a\0b\x01\""s}),
            error("ERR unknown command 'FOO', with args beginning with: 'a' "));
  EXPECT_EQ(run({"\0FOO"s, "\0"s, "x"}),
            error("ERR unknown command '', with args beginning with: '' 'x' "));
  EXPECT_EQ(run({"bar", "a\r\nb"}),
            error("ERR unknown command 'bar', with args beginning with: 'a  b' "));
  EXPECT_EQ(run({"F\x1bO\\O"}),
            error("ERR unknown command 'F\x1bO\\O', with args beginning with: "));
  EXPECT_EQ(run({"CLIENT", "NO\0PE"s}), error("ERR unknown subcommand 'NO'. Try CLIENT HELP."));
}

TEST_F(CommandTest, WrongArityIsRejectedBeforeTheBackend) {
  EXPECT_EQ(run({"GET"}), error("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(run({"get", "a", "b"}), error("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(run({"MSET", "a"}), error("ERR wrong number of arguments for 'mset' command"));
  EXPECT_EQ(run({"ping", "a", "b"}), error("ERR wrong number of arguments for 'ping' command"));
  EXPECT_EQ(run({"client", "setname"}),
            error("ERR wrong number of arguments for 'client|setname' command"));
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(CommandTest, PingEchoSelectQuit) {
  EXPECT_EQ(run({"PING"}), simple("PONG"));
  EXPECT_EQ(run({"ping", "hi"}), bulk("hi"));
  EXPECT_EQ(run({"ECHO", "x y"}), bulk("x y"));
  EXPECT_EQ(run({"SELECT", "0"}), simple("OK"));
  EXPECT_EQ(run({"SELECT", "1"}), error("ERR DB index is out of range"));
  EXPECT_EQ(run({"SELECT", "x"}), error("ERR value is not an integer or out of range"));
  EXPECT_FALSE(conn_.close_after_reply);
  EXPECT_EQ(run({"QUIT"}), simple("OK"));
  EXPECT_TRUE(conn_.close_after_reply);
}

TEST_F(CommandTest, HelloSpeaksOnlyResp2) {
  EXPECT_EQ(run({"HELLO", "3"}), error("NOPROTO sorry, this protocol version is not supported"));
  EXPECT_EQ(run({"HELLO", "x"}), error("ERR Protocol version is not an integer or out of range"));
  const Reply reply = run({"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "app"});
  ASSERT_EQ(reply.type, Reply::Type::kArray);
  ASSERT_EQ(reply.elements.size(), 14u);
  EXPECT_EQ(reply.elements[0], bulk("server"));
  EXPECT_EQ(reply.elements[4], bulk("proto"));
  EXPECT_EQ(reply.elements[5], Reply::integer_reply(2));
  EXPECT_EQ(reply.elements[7], Reply::integer_reply(7));
  EXPECT_EQ(conn_.name, "app");
  EXPECT_EQ(run({"HELLO"}).elements.size(), 14u);
  EXPECT_EQ(run({"HELLO", "2", "bogus"}), error("ERR Syntax error in HELLO option 'bogus'"));
}

TEST_F(CommandTest, ClientCommands) {
  EXPECT_EQ(run({"CLIENT", "ID"}), Reply::integer_reply(7));
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), Reply::null_bulk());
  EXPECT_EQ(run({"CLIENT", "SETNAME", "worker-1"}), simple("OK"));
  EXPECT_EQ(run({"client", "getname"}), bulk("worker-1"));
  EXPECT_EQ(run({"CLIENT", "SETNAME", "bad name"}),
            error("ERR Client names cannot contain spaces, newlines or special characters."));
  const Reply info = run({"CLIENT", "INFO"});
  ASSERT_EQ(info.type, Reply::Type::kBulk);
  EXPECT_NE(info.text.find("id=7 "), std::string::npos) << info.text;
  EXPECT_NE(info.text.find("name=worker-1 "), std::string::npos) << info.text;
  EXPECT_EQ(run({"CLIENT", "NOPE"}), error("ERR unknown subcommand 'NOPE'. Try CLIENT HELP."));
}

TEST_F(CommandTest, CommandIntrospection) {
  EXPECT_EQ(run({"COMMAND", "DOCS"}), Reply::array({}));
  EXPECT_EQ(run({"COMMAND", "COUNT"}),
            Reply::integer_reply(static_cast<int64_t>(command_table().size())));
  const Reply all = run({"COMMAND"});
  EXPECT_EQ(all.elements.size(), command_table().size());
  const Reply info = run({"COMMAND", "INFO", "mset", "nope"});
  ASSERT_EQ(info.elements.size(), 2u);
  ASSERT_EQ(info.elements[0].elements.size(), 6u);
  EXPECT_EQ(info.elements[0].elements[0], bulk("mset"));
  EXPECT_EQ(info.elements[0].elements[1], Reply::integer_reply(-3));
  EXPECT_EQ(info.elements[0].elements[3], Reply::integer_reply(1));
  EXPECT_EQ(info.elements[0].elements[4], Reply::integer_reply(-1));
  EXPECT_EQ(info.elements[0].elements[5], Reply::integer_reply(2));
  EXPECT_EQ(info.elements[1], Reply::null_array());
}

TEST_F(CommandTest, InfoHasEverySectionWithItsFields) {
  backend_.set_status(three_node_status(1, 1));
  stats_.tcp_port = 6399;
  const Reply reply = run({"INFO"});
  ASSERT_EQ(reply.type, Reply::Type::kBulk);
  const std::string& text = reply.text;
  for (const char* line : {"# Server\r\n",
                           "redis_version:7.0.0\r\n",
                           "raftkv_version:",
                           "process_id:",
                           "tcp_port:6399\r\n",
                           "uptime_in_seconds:",
                           "# Clients\r\n",
                           "connected_clients:",
                           "# Raft\r\n",
                           "role:leader\r\n",
                           "term:5\r\n",
                           "leader_id:1\r\n",
                           "commit_index:42\r\n",
                           "applied_index:41\r\n",
                           "last_index:43\r\n",
                           "snapshot_index:10\r\n",
                           "members:1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003\r\n",
                           "wal_bytes:1234\r\n",
                           "# Keyspace\r\n",
                           "db0:keys=12,expires=0,avg_ttl=0\r\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing " << line << " in\n" << text;
  }
}

TEST_F(CommandTest, InfoSectionSelectsOnlyThatSection) {
  backend_.set_status(three_node_status(2, 1));
  const std::string text = run({"INFO", "RAFT"}).text;
  EXPECT_EQ(text.rfind("# Raft\r\n", 0), 0u) << text;
  EXPECT_NE(text.find("role:follower\r\n"), std::string::npos);
  EXPECT_EQ(text.find("# Server"), std::string::npos);
  const std::string two = run({"INFO", "server", "keyspace"}).text;
  EXPECT_NE(two.find("# Server"), std::string::npos);
  EXPECT_NE(two.find("# Keyspace"), std::string::npos);
  EXPECT_EQ(two.find("# Raft"), std::string::npos);
  EXPECT_EQ(run({"INFO", "nosuchsection"}), bulk(""));
}

TEST_F(CommandTest, ClusterSlotsNamesLeaderAsMasterAndOthersAsReplicas) {
  backend_.set_status(three_node_status(2, 3));
  const Reply slots = run({"CLUSTER", "SLOTS"});
  ASSERT_EQ(slots.elements.size(), 1u);
  const Reply& range = slots.elements[0];
  ASSERT_EQ(range.elements.size(), 5u);
  EXPECT_EQ(range.elements[0], Reply::integer_reply(0));
  EXPECT_EQ(range.elements[1], Reply::integer_reply(16383));
  EXPECT_EQ(range.elements[2], Reply::array({bulk("127.0.0.1"), Reply::integer_reply(7003),
                                             bulk(std::string(39, '0') + "3")}));
  EXPECT_EQ(range.elements[3].elements[1], Reply::integer_reply(7001));
  EXPECT_EQ(range.elements[4].elements[1], Reply::integer_reply(7002));

  EXPECT_EQ(run({"CLUSTER", "MYID"}), bulk(std::string(39, '0') + "2"));
  const std::string nodes = run({"CLUSTER", "NODES"}).text;
  EXPECT_NE(
      nodes.find(std::string(39, '0') + "3 127.0.0.1:7003@0 master - 0 0 5 connected 0-16383\n"),
      std::string::npos)
      << nodes;
  EXPECT_NE(nodes.find(std::string(39, '0') + "2 127.0.0.1:7002@0 myself,slave " +
                       std::string(39, '0') + "3 0 0 5 connected\n"),
            std::string::npos)
      << nodes;
  const std::string info = run({"CLUSTER", "INFO"}).text;
  EXPECT_NE(info.find("cluster_state:ok\r\n"), std::string::npos);
  EXPECT_NE(info.find("cluster_known_nodes:3\r\n"), std::string::npos);
  const Reply shards = run({"CLUSTER", "SHARDS"});
  ASSERT_EQ(shards.elements.size(), 1u);
  EXPECT_EQ(shards.elements[0].elements[3].elements.size(), 3u);
  EXPECT_EQ(run({"CLUSTER", "KEYSLOT", "foo"}), Reply::integer_reply(12182));
}

TEST_F(CommandTest, ClusterWithoutLeaderIsDown) {
  backend_.set_status(three_node_status(2, 0));
  EXPECT_EQ(run({"CLUSTER", "SLOTS"}), error("CLUSTERDOWN no leader elected yet, retry later"));
  EXPECT_NE(run({"CLUSTER", "INFO"}).text.find("cluster_state:fail"), std::string::npos);
}

TEST_F(CommandTest, RoleFollowsTheRaftRole) {
  backend_.set_status(three_node_status(1, 1));
  const Reply leader = run({"ROLE"});
  ASSERT_EQ(leader.elements.size(), 3u);
  EXPECT_EQ(leader.elements[0], bulk("master"));
  EXPECT_EQ(leader.elements[2].elements.size(), 2u);
  backend_.set_status(three_node_status(2, 1));
  EXPECT_EQ(run({"ROLE"}),
            Reply::array({bulk("slave"), bulk("127.0.0.1"), Reply::integer_reply(7001),
                          bulk("connected"), Reply::integer_reply(41)}));
}

TEST_F(CommandTest, KvCommandsGoToTheBackendWithTheirConsistency) {
  EXPECT_EQ(run({"SET", "k", "v"}), simple("OK"));
  EXPECT_EQ(run({"GET", "k"}), simple("OK"));  // the fake answers +OK to everything
  EXPECT_EQ(run({"READONLY"}), simple("OK"));
  run({"MGET", "a", "b"});
  EXPECT_EQ(run({"READWRITE"}), simple("OK"));
  run({"DBSIZE"});
  const auto calls = backend_.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_TRUE(calls[0].write);
  EXPECT_EQ(calls[0].args, (std::vector<std::string>{"SET", "k", "v"}));
  EXPECT_EQ(calls[0].session.client_id, 0u);
  EXPECT_FALSE(calls[1].write);
  EXPECT_EQ(calls[1].consistency, ReadConsistency::kLinearizable);
  EXPECT_EQ(calls[2].consistency, ReadConsistency::kFollower);
  EXPECT_EQ(calls[3].consistency, ReadConsistency::kLinearizable);
}

TEST_F(CommandTest, BackendErrorsFollowRedisClusterConventions) {
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kNotLeader, "127.0.0.1:7001"));
  EXPECT_EQ(run({"GET", "foo"}), error("MOVED 12182 127.0.0.1:7001"));
  EXPECT_EQ(run({"MSET", "{foo}x", "1", "bar", "2"}), error("MOVED 12182 127.0.0.1:7001"));
  EXPECT_EQ(run({"DBSIZE"}), error("MOVED 0 127.0.0.1:7001"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kNotLeader, ""));
  EXPECT_EQ(run({"GET", "foo"}), error("CLUSTERDOWN no leader elected yet, retry later"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kTimeout, "no outcome within 5000 ms"));
  EXPECT_EQ(run({"SET", "foo", "1"}), error("TRYAGAIN no outcome within 5000 ms"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kProposalDropped, ""));
  EXPECT_EQ(run({"SET", "foo", "1"}).text.rfind("TRYAGAIN ", 0), 0u);
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kInvalidArgument, "bad thing"));
  EXPECT_EQ(run({"SET", "foo", "1"}), error("ERR bad thing"));
  backend_.set_outcome(kv::Reply::error("WRONGTYPE Operation against a key"));
  EXPECT_EQ(run({"INCR", "foo"}), error("WRONGTYPE Operation against a key"));
  backend_.set_outcome(
      kv::Reply::array({kv::Reply::bulk("a"), kv::Reply::null(), kv::Reply::integer_reply(3)}));
  EXPECT_EQ(run({"MGET", "a", "b"}),
            Reply::array({bulk("a"), Reply::null_bulk(), Reply::integer_reply(3)}));
}

TEST_F(CommandTest, RaftkvReqCarriesTheSessionOfTheWrappedWrite) {
  EXPECT_EQ(run({"RAFTKV.REQ", "9", "4", "3", "INCR", "counter"}), simple("OK"));
  const auto calls = backend_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].write);
  EXPECT_EQ(calls[0].args, (std::vector<std::string>{"INCR", "counter"}));
  EXPECT_EQ(calls[0].session.client_id, 9u);
  EXPECT_EQ(calls[0].session.sequence, 4u);
  EXPECT_EQ(calls[0].session.acked_sequence, 3u);

  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kNotLeader, "10.0.0.1:6379"));
  EXPECT_EQ(run({"raftkv.req", "9", "5", "4", "SET", "foo", "x"}),
            error("MOVED 12182 10.0.0.1:6379"));
  EXPECT_EQ(run({"RAFTKV.REQ", "x", "1", "0", "SET", "a", "b"}),
            error("ERR RAFTKV.REQ client_id, sequence and acked_sequence must be unsigned "
                  "integers"));
  EXPECT_EQ(run({"RAFTKV.REQ", "1", "1", "0", "PING", "a"}),
            error("ERR RAFTKV.REQ wraps KV commands only, not 'ping'"));
  EXPECT_EQ(run({"RAFTKV.REQ", "1", "1", "0", "SET", "a"}),
            error("ERR wrong number of arguments for 'set' command"));
  EXPECT_EQ(run({"RAFTKV.REQ", "1", "1", "0", "FOO"}),
            error("ERR unknown command 'FOO', with args beginning with: "));
  EXPECT_EQ(run({"RAFTKV.REQ", "1", "1"}),
            error("ERR wrong number of arguments for 'raftkv.req' command"));
  EXPECT_EQ(backend_.calls().size(), 2u);
}

}  // namespace
}  // namespace raftkv::frontend
