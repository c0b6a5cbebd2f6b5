// RAFTKV.MEMBER and RAFTKV.TRANSFER through a fake Backend (issue 12): the syntax checks the
// frontend makes before anything reaches the backend (arity per subcommand, node ids,
// addresses), the MemberChange it hands over, the Redis-style errors, and the LIST reply format.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_backend.h"
#include "frontend/command_dispatcher.h"
#include "frontend/command_handlers.h"
#include "resp/reply.h"

namespace raftkv::frontend {
namespace {

using resp::Reply;
using testing::FakeBackend;
using Op = MemberChange::Op;

class MemberCommandTest : public ::testing::Test {
 protected:
  MemberCommandTest() : dispatcher_(backend_, stats_, DispatcherOptions{}) {}

  // Dispatches and returns the single reply (the fake completes synchronously).
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

  FakeBackend backend_;
  FrontendStats stats_;
  CommandDispatcher dispatcher_;
  ConnectionState conn_;
};

Reply error(std::string text) {
  return Reply::error(std::move(text));
}

TEST(MemberCommandOrder, MembershipAndTransferAreBarriers) {
  using V = std::vector<std::string>;
  const auto order = [](V args) { return CommandDispatcher::order_of(args); };
  EXPECT_EQ(order({"RAFTKV.MEMBER", "ADD", "4", "h:1", "h:2"}), CommandOrder::kBarrier);
  EXPECT_EQ(order({"raftkv.member", "list"}), CommandOrder::kBarrier);
  EXPECT_EQ(order({"RAFTKV.TRANSFER", "2"}), CommandOrder::kBarrier);
  EXPECT_EQ(order({"RAFTKV.TRANSFER"}), CommandOrder::kLocal) << "an arity error";
}

TEST_F(MemberCommandTest, EachSubcommandHandsItsChangeToTheBackend) {
  EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", "4", "127.0.0.1:7104", "127.0.0.1:7004"}),
            Reply::simple("OK"));
  EXPECT_EQ(run({"raftkv.member", "remove", "2"}), Reply::simple("OK"));
  EXPECT_EQ(run({"Raftkv.Member", "Promote", "4"}), Reply::simple("OK"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REPLACE", "3", "5", "[::1]:7105", "node-5.lan:7005"}),
            Reply::simple("OK"));
  EXPECT_EQ(run({"RAFTKV.TRANSFER", "18446744073709551615"}), Reply::simple("OK"));
  const auto calls = backend_.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].admin, "member");
  EXPECT_EQ(calls[0].change.op, Op::kAdd);
  EXPECT_EQ(calls[0].change.node, NodeId(4));
  EXPECT_EQ(calls[0].change.peer_addr, "127.0.0.1:7104");
  EXPECT_EQ(calls[0].change.client_addr, "127.0.0.1:7004");
  EXPECT_EQ(calls[1].change.op, Op::kRemove);
  EXPECT_EQ(calls[1].change.node, NodeId(2));
  EXPECT_EQ(calls[2].change.op, Op::kPromote);
  EXPECT_EQ(calls[2].change.node, NodeId(4));
  EXPECT_EQ(calls[3].change.op, Op::kReplace);
  EXPECT_EQ(calls[3].change.node, NodeId(3));
  EXPECT_EQ(calls[3].change.new_node, NodeId(5));
  EXPECT_EQ(calls[3].change.peer_addr, "[::1]:7105");
  EXPECT_EQ(calls[3].change.client_addr, "node-5.lan:7005");
  EXPECT_EQ(calls[4].admin, "transfer");
  EXPECT_EQ(calls[4].transfer_to, NodeId(UINT64_MAX));
}

// Redis 7 checks a container command's arity per subcommand and names it 'container|sub'.
TEST_F(MemberCommandTest, WrongArityNamesTheSubcommandAndReachesNoBackend) {
  const auto arity = [](std::string name) {
    return error("ERR wrong number of arguments for '" + name + "' command");
  };
  EXPECT_EQ(run({"RAFTKV.MEMBER"}), arity("raftkv.member"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", "4", "h:1"}), arity("raftkv.member|add"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", "4", "h:1", "h:2", "x"}), arity("raftkv.member|add"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REMOVE"}), arity("raftkv.member|remove"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "remove", "1", "2"}), arity("raftkv.member|remove"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "PROMOTE"}), arity("raftkv.member|promote"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REPLACE", "1", "2", "h:1"}), arity("raftkv.member|replace"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "LIST", "all"}), arity("raftkv.member|list"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "HELP", "me"}), arity("raftkv.member|help"));
  EXPECT_EQ(run({"RAFTKV.TRANSFER"}), arity("raftkv.transfer"));
  EXPECT_EQ(run({"RAFTKV.TRANSFER", "1", "2"}), arity("raftkv.transfer"));
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(MemberCommandTest, UnknownSubcommandPointsToHelp) {
  using namespace std::string_literals;
  EXPECT_EQ(run({"RAFTKV.MEMBER", "JOIN", "4"}),
            error("ERR unknown subcommand 'JOIN'. Try RAFTKV.MEMBER HELP."));
  EXPECT_EQ(run({"raftkv.member", "x\0y"s}),
            error("ERR unknown subcommand 'x'. Try RAFTKV.MEMBER HELP."));
  const Reply help = run({"RAFTKV.MEMBER", "help"});
  ASSERT_EQ(help.type, Reply::Type::kArray);
  ASSERT_GE(help.elements.size(), 12u);
  EXPECT_EQ(
      help.elements.front(),
      Reply::simple("RAFTKV.MEMBER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
  std::vector<std::string> subcommands;
  for (const auto& line : help.elements) {
    if (line.text.rfind("    ", 0) != 0) subcommands.push_back(line.text.substr(0, 7));
  }
  EXPECT_EQ(subcommands, (std::vector<std::string>{"RAFTKV.", "ADD <no", "REMOVE ", "PROMOTE",
                                                   "REPLACE", "LIST", "HELP"}));
  EXPECT_EQ(help.elements.back(), Reply::simple("    Print this help."));
  EXPECT_TRUE(backend_.calls().empty());
}

// As Redis parses integers (string2ll): no sign, no blanks, no leading zero.
TEST_F(MemberCommandTest, NodeIdsAreNonZeroUnsignedDecimals) {
  using namespace std::string_literals;
  for (const std::string& bad : {"0"s, "-1"s, "+1"s, ""s, "abc"s, "4x"s, " 4"s, "0x4"s, "007"s,
                                 "18446744073709551616"s, "1.5"s}) {
    EXPECT_EQ(run({"RAFTKV.MEMBER", "REMOVE", bad}), error("ERR invalid node id '" + bad + "'"))
        << bad;
    EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", bad, "h:1", "h:2"}),
              error("ERR invalid node id '" + bad + "'"));
    EXPECT_EQ(run({"RAFTKV.MEMBER", "REPLACE", "1", bad, "h:1", "h:2"}),
              error("ERR invalid node id '" + bad + "'"));
    EXPECT_EQ(run({"RAFTKV.TRANSFER", bad}), error("ERR invalid node id '" + bad + "'"));
  }
  EXPECT_EQ(run({"RAFTKV.MEMBER", "PROMOTE", "7"}), Reply::simple("OK"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REPLACE", "3", "3", "h:1", "h:2"}),
            error("ERR cannot replace node 3 by itself"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REMOVE", std::string(200, '9') + "\0x"s}),
            error("ERR invalid node id '" + std::string(128, '9') + "'"))
      << "echoed as Redis does: 128 bytes, up to the first NUL";
  ASSERT_EQ(backend_.calls().size(), 1u);
  EXPECT_EQ(backend_.calls()[0].change.node, NodeId(7));
}

TEST_F(MemberCommandTest, AddressesAreHostColonPort) {
  for (const std::string_view good :
       {"127.0.0.1:7001", "[::1]:7001", "[fe80::1]:1", "node-4.example_net:65535", "h:1"}) {
    EXPECT_TRUE(handlers::valid_member_address(good)) << good;
  }
  for (const std::string_view bad :
       {"localhost", ":7001", "h:", "h:0", "h:65536", "h:07001", "h:+1", "h:-1", "h :1", "a,b:1",
        "a=b:1", "[::1:7001", "[]:1", "[::1]x:1", "[g::1]:1", "h:1:x", "h\n:1", "h:99999999999"}) {
    EXPECT_FALSE(handlers::valid_member_address(bad)) << bad;
  }
  EXPECT_TRUE(handlers::valid_member_address(std::string(249, 'a') + ":65535"));   // 255 bytes
  EXPECT_FALSE(handlers::valid_member_address(std::string(250, 'a') + ":65535"));  // 256
  // The first bad address is named; nothing reaches the backend.
  EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", "4", "localhost", "h:2"}),
            error("ERR invalid address 'localhost'"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", "4", "h:1", "h:0"}), error("ERR invalid address 'h:0'"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REPLACE", "1", "4", "h:1", "nope"}),
            error("ERR invalid address 'nope'"));
  EXPECT_TRUE(backend_.calls().empty());
}

// The backend's outcomes map as for any command (reply_mapping.h); MOVED names slot 0.
TEST_F(MemberCommandTest, BackendErrorsComeBackAsRedisErrors) {
  backend_.set_outcome(
      Result<kv::Reply>(ErrorCode::kInvalidArgument, "another membership change is in progress"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "PROMOTE", "4"}),
            error("ERR another membership change is in progress"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kInvalidArgument, "unknown node 9"));
  EXPECT_EQ(run({"RAFTKV.TRANSFER", "9"}), error("ERR unknown node 9"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kNotLeader, "127.0.0.1:7002"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "LIST"}), error("MOVED 0 127.0.0.1:7002"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kNotLeader, ""));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "REMOVE", "3"}),
            error("CLUSTERDOWN no leader elected yet, retry later"));
  backend_.set_outcome(Result<kv::Reply>(ErrorCode::kTimeout, "no outcome within 10000 ms"));
  EXPECT_EQ(run({"RAFTKV.MEMBER", "ADD", "4", "h:1", "h:2"}),
            error("TRYAGAIN no outcome within 10000 ms"));
}

TEST_F(MemberCommandTest, ListRepliesOneSortedRowPerMember) {
  backend_.set_outcome(member_list_reply({
      {NodeId(3), "127.0.0.1:7103", "127.0.0.1:7003", true, "unreachable"},
      {NodeId(1), "127.0.0.1:7101", "127.0.0.1:7001", true, "caught-up"},
      {NodeId(12), "10.0.0.12:7112", "10.0.0.12:7012", false, "catching-up"},
  }));
  const auto row = [](int64_t id, std::string peer, std::string client, std::string role,
                      std::string state) {
    return Reply::array({Reply::integer_reply(id), Reply::bulk(std::move(peer)),
                         Reply::bulk(std::move(client)), Reply::bulk(std::move(role)),
                         Reply::bulk(std::move(state))});
  };
  EXPECT_EQ(run({"RAFTKV.MEMBER", "LIST"}),
            Reply::array({row(1, "127.0.0.1:7101", "127.0.0.1:7001", "voter", "caught-up"),
                          row(3, "127.0.0.1:7103", "127.0.0.1:7003", "voter", "unreachable"),
                          row(12, "10.0.0.12:7112", "10.0.0.12:7012", "learner", "catching-up")}));
  ASSERT_EQ(backend_.calls().size(), 1u);
  EXPECT_EQ(backend_.calls()[0].admin, "list");
}

TEST_F(MemberCommandTest, CommandInfoListsThemAsAdminCommands) {
  const Reply info = run({"COMMAND", "INFO", "raftkv.member", "RAFTKV.TRANSFER"});
  ASSERT_EQ(info.elements.size(), 2u);
  EXPECT_EQ(info.elements[0].elements[0], Reply::bulk("raftkv.member"));
  EXPECT_EQ(info.elements[0].elements[1], Reply::integer_reply(-2));
  EXPECT_EQ(info.elements[0].elements[2], Reply::array({Reply::simple("admin")}));
  EXPECT_EQ(info.elements[1].elements[1], Reply::integer_reply(2));
  EXPECT_EQ(info.elements[1].elements[3], Reply::integer_reply(0)) << "keyless";
}

}  // namespace
}  // namespace raftkv::frontend
