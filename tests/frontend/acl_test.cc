// AUTH, HELLO AUTH, ACL and the per-command checks, through the dispatcher over a real KV state
// machine (ACL SETUSER / DELUSER apply as RAFTKV.ACL entries). Expected replies are Redis
// 7.0.15's (checked against redis-server), unless a comment says otherwise.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "base/hmac.h"
#include "fake_backend.h"
#include "frontend/acl_catalog.h"
#include "frontend/auth.h"
#include "frontend/command_dispatcher.h"
#include "kv/acl.h"
#include "resp/reply.h"
#include "state_machine_backend.h"

namespace raftkv::frontend {
namespace {

using resp::Reply;
using testing::StateMachineBackend;

Reply error(std::string text) {
  return Reply::error(std::move(text));
}
Reply bulk(std::string text) {
  return Reply::bulk(std::move(text));
}
Reply integer(int64_t v) {
  return Reply::integer_reply(v);
}
Reply array(std::vector<Reply> elements) {
  return Reply::array(std::move(elements));
}
Reply strings(std::vector<std::string> texts) {
  std::vector<Reply> elements;
  for (auto& text : texts) elements.push_back(bulk(std::move(text)));
  return array(std::move(elements));
}

const Reply kOk = Reply::simple("OK");
const Reply kNoAuth = Reply::error("NOAUTH Authentication required.");
const Reply kWrongPass =
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.");

class AclTest : public ::testing::Test {
 protected:
  explicit AclTest(std::string seed = std::string(kv::acl::kDefaultUserRules),
                   std::vector<std::string> cluster_secrets = {})
      : backend_(std::move(seed)),
        dispatcher_(backend_, stats_, options(backend_, std::move(cluster_secrets))) {}

  static DispatcherOptions options(StateMachineBackend& backend,
                                   std::vector<std::string> cluster_secrets) {
    DispatcherOptions out;
    out.acl = backend.publisher();
    out.cluster_id = 42;
    if (!cluster_secrets.empty()) {
      out.cluster_secrets = [cluster_secrets] { return cluster_secrets; };
    }
    return out;
  }

  // A new connection, admitted as the server does.
  ConnectionState connect(std::string addr = "127.0.0.1:5000") {
    ConnectionState conn;
    conn.id = next_id_++;
    conn.remote_addr = std::move(addr);
    EXPECT_FALSE(dispatcher_.admit(conn).has_value());
    return conn;
  }

  // Dispatches and returns the single reply (produced synchronously); an empty reply (the
  // connection is to close without one) is returned as the error "<closed>".
  Reply run(ConnectionState& conn, std::vector<std::string> args) {
    std::string bytes;
    int calls = 0;
    dispatcher_.dispatch(std::move(args), conn, [&](std::string reply) {
      bytes += reply;
      ++calls;
    });
    EXPECT_EQ(calls, 1);
    if (bytes.empty()) return error("<closed>");
    resp::ReplyParser parser;
    parser.feed(bytes);
    Reply reply;
    EXPECT_EQ(parser.next(reply), resp::ReplyOutcome::kReply) << bytes;
    return reply;
  }
  Reply run(std::vector<std::string> args) { return run(admin_, std::move(args)); }

  StateMachineBackend backend_;
  FrontendStats stats_;
  CommandDispatcher dispatcher_;
  uint64_t next_id_ = 1;
  ConnectionState admin_ = connect();
};

// --- The catalog ---

TEST(AclCatalog, EveryTableRowHasRedisCategoriesAndTheTableIsSorted) {
  const auto entries = acl::catalog();
  for (size_t i = 1; i < entries.size(); ++i) {
    EXPECT_LT(entries[i - 1].fullname, entries[i].fullname);
  }
  for (const CommandSpec& spec : command_table()) {
    if (spec.name == "raftkv.req") continue;  // checked as the command it wraps
    EXPECT_NE(acl::find_entry(spec.name), nullptr) << spec.name << " has no ACL categories";
    EXPECT_NE(acl::find_entry(spec.name)->categories, 0u) << spec.name;
  }
  // The bits are kv::acl's category list.
  for (const auto& [bit, name] :
       std::vector<std::pair<uint32_t, std::string_view>>{{acl::kKeyspace, "keyspace"},
                                                          {acl::kRead, "read"},
                                                          {acl::kWrite, "write"},
                                                          {acl::kString, "string"},
                                                          {acl::kAdmin, "admin"},
                                                          {acl::kFast, "fast"},
                                                          {acl::kSlow, "slow"},
                                                          {acl::kDangerous, "dangerous"},
                                                          {acl::kConnection, "connection"}}) {
    EXPECT_EQ(kv::acl::category_bit(name), bit) << name;
  }
  // A few of Redis 7.0's (COMMAND INFO).
  EXPECT_EQ(acl::find_entry("get")->categories, acl::kRead | acl::kString | acl::kFast);
  EXPECT_EQ(acl::find_entry("del")->categories, acl::kKeyspace | acl::kWrite | acl::kSlow);
  EXPECT_EQ(acl::find_entry("client|list")->categories,
            acl::kAdmin | acl::kSlow | acl::kDangerous | acl::kConnection);
  EXPECT_TRUE(acl::find_entry("auth")->no_auth);
  EXPECT_FALSE(acl::find_entry("ping")->no_auth);
}

TEST(AclCatalog, RuleNamesAreCheckedAsRedisChecksThem) {
  const auto& names = acl::catalog_names();
  EXPECT_FALSE(names.check("get", true));
  EXPECT_FALSE(names.check("client", false));
  EXPECT_FALSE(names.check("client|id", true));
  EXPECT_FALSE(names.check("client|id", false));
  const std::string unknown = "Unknown command or category name in ACL";
  EXPECT_EQ(names.check("foo", true), unknown);
  EXPECT_EQ(names.check("client|foo", true), unknown);
  EXPECT_EQ(names.check("get|foo", false), unknown);
  EXPECT_EQ(names.check("client|", false), unknown);
  EXPECT_EQ(names.check("|", true), unknown);
  EXPECT_EQ(names.check("client|", true), "Syntax error");
  EXPECT_EQ(names.check("client|id|x", true),
            "Allowing first-arg of a subcommand is not supported");
  EXPECT_TRUE(names.check("get|foo", true).has_value());  // Redis's deprecated first-arg rule
}

// --- Redis's default: the default user, on and nopass, may do everything ---

TEST_F(AclTest, WithoutPasswordsEverythingIsAllowedAndAuthIsRedisLike) {
  ConnectionState conn = connect();
  EXPECT_TRUE(conn.auth.authenticated);
  EXPECT_EQ(run(conn, {"SET", "k", "v"}), kOk);
  EXPECT_EQ(run(conn, {"GET", "k"}), bulk("v"));
  EXPECT_EQ(run(conn, {"AUTH", "pw"}),
            error("ERR AUTH <password> called without any password configured for the default "
                  "user. Are you sure your configuration is correct?"));
  EXPECT_EQ(run(conn, {"AUTH", "default", "anything"}), kOk);  // nopass takes any password
  EXPECT_EQ(run(conn, {"AUTH", "nobody", "x"}), kWrongPass);
  EXPECT_EQ(run(conn, {"AUTH", "a", "b", "c"}), error("ERR syntax error"));
  EXPECT_EQ(run(conn, {"ACL", "WHOAMI"}), bulk("default"));
  EXPECT_EQ(run(conn, {"ACL", "LIST"}), strings({"user default on nopass ~* &* +@all"}));
  EXPECT_EQ(run(conn, {"ACL", "USERS"}), strings({"default"}));
  EXPECT_EQ(stats_.auth_failures.load(), 1u);
}

TEST_F(AclTest, SetuserReplicatesDigestsNotPasswordsAndGetuserShowsTheUser) {
  EXPECT_EQ(run({"ACL", "SETUSER", "alice", "on", ">p1", "~foo*", "%R~bar*", "%W~baz", "+get",
                 "+@write", "-set", "+client|id", "&ch*"}),
            kOk);
  const auto written = backend_.written();
  ASSERT_EQ(written.size(), 1u);
  const std::string digest = kv::acl::sha256_hex("p1");
  EXPECT_EQ(written[0],
            (std::vector<std::string>{"raftkv.acl", std::string(kv::acl::kDefaultUserRules),
                                      "SETUSER", "alice", "on", "#" + digest, "~foo*", "%R~bar*",
                                      "%W~baz", "+get", "+@write", "-set", "+client|id", "&ch*"}));
  EXPECT_EQ(
      run({"ACL", "GETUSER", "alice"}),
      array({bulk("flags"), strings({"on"}), bulk("passwords"), strings({digest}), bulk("commands"),
             bulk("-@all +get +@write -set +client|id"), bulk("keys"), bulk("~foo* %R~bar* %W~baz"),
             bulk("channels"), bulk("&ch*"), bulk("selectors"), array({})}));
  EXPECT_EQ(run({"ACL", "GETUSER", "nobody"}), Reply::null_bulk());
  EXPECT_EQ(run({"ACL", "SETUSER", "bob", "reset"}), kOk);
  EXPECT_EQ(run({"ACL", "LIST"}),
            strings({"user alice on #" + digest +
                         " ~foo* %R~bar* %W~baz resetchannels &ch* -@all +get +@write -set "
                         "+client|id",
                     "user bob off sanitize-payload resetchannels -@all",
                     "user default on nopass ~* &* +@all"}));
  EXPECT_EQ(run({"ACL", "USERS"}), strings({"alice", "bob", "default"}));
  // <pass becomes !digest too.
  EXPECT_EQ(run({"ACL", "SETUSER", "alice", "<p1"}), kOk);
  EXPECT_EQ(backend_.written().back().back(), "!" + digest);
}

TEST_F(AclTest, SetuserAndDeluserErrorsAreAnsweredBeforeProposing) {
  EXPECT_EQ(run({"ACL", "SETUSER", "x", "+foo"}),
            error("ERR Error in ACL SETUSER modifier '+foo': Unknown command or category name in "
                  "ACL"));
  EXPECT_EQ(run({"ACL", "SETUSER", "x", "allkeys", "~a"}),
            error("ERR Error in ACL SETUSER modifier '~a': Adding a pattern after the * pattern "
                  "(or the 'allkeys' flag) is not valid and does not have any effect. Try "
                  "'resetkeys' to start with an empty list of patterns"));
  EXPECT_EQ(run({"ACL", "SETUSER", "x", "<nope"}),
            error("ERR Error in ACL SETUSER modifier '<nope': The password you are trying to "
                  "remove from the user does not exist"));
  EXPECT_EQ(run({"ACL", "SETUSER", "a b"}),
            error("ERR Usernames can't contain spaces or null characters"));
  EXPECT_EQ(run({"ACL", "DELUSER", "x", "default"}),
            error("ERR The 'default' user cannot be removed"));
  EXPECT_EQ(run({"ACL", "SETUSER"}),
            error("ERR wrong number of arguments for 'acl|setuser' command"));
  EXPECT_EQ(run({"ACL", "FOO"}), error("ERR unknown subcommand 'FOO'. Try ACL HELP."));
  EXPECT_EQ(run({"ACL"}), error("ERR wrong number of arguments for 'acl' command"));
  EXPECT_TRUE(backend_.written().empty());
  EXPECT_EQ(run({"ACL", "DELUSER", "nobody"}), integer(0));
  EXPECT_EQ(run({"ACL", "SETUSER", "x"}), kOk);
  EXPECT_EQ(run({"ACL", "DELUSER", "x", "y"}), integer(1));
}

// --- A password for the default user (requirepass) ---

class RequirepassTest : public AclTest {
 protected:
  RequirepassTest() : AclTest(kv::acl::seed_rules_for_password("pw")) {}
};

TEST_F(RequirepassTest, CommandsNeedAuthExceptAuthHelloQuitAndErrorsThatNeedNone) {
  ConnectionState conn = connect();
  EXPECT_FALSE(conn.auth.authenticated);
  EXPECT_EQ(run(conn, {"GET", "k"}), kNoAuth);
  EXPECT_EQ(run(conn, {"PING"}), kNoAuth);
  EXPECT_EQ(run(conn, {"ACL", "WHOAMI"}), kNoAuth);
  // Unknown commands and wrong arity are answered first (Redis).
  EXPECT_EQ(run(conn, {"FOO"}), error("ERR unknown command 'FOO', with args beginning with: "));
  EXPECT_EQ(run(conn, {"GET"}), error("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(run(conn, {"CLIENT", "FOO"}), error("ERR unknown subcommand 'FOO'. Try CLIENT HELP."));
  EXPECT_EQ(run(conn, {"HELLO"}),
            error("NOAUTH HELLO must be called with the client already authenticated, otherwise "
                  "the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                  "select the RESP protocol version at the same time"));
  EXPECT_EQ(run(conn, {"AUTH", "wrong"}), kWrongPass);
  EXPECT_EQ(run(conn, {"GET", "k"}), kNoAuth);
  EXPECT_EQ(run(conn, {"AUTH", "pw"}), kOk);
  EXPECT_EQ(run(conn, {"GET", "k"}), Reply::null_bulk());
  // HELLO AUTH authenticates and answers HELLO; a wrong one leaves the connection as it was.
  ConnectionState other = connect();
  EXPECT_EQ(run(other, {"HELLO", "2", "AUTH", "default", "bad"}), kWrongPass);
  EXPECT_EQ(run(other, {"GET", "k"}), kNoAuth);
  const Reply hello = run(other, {"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "app"});
  ASSERT_EQ(hello.elements.size(), 14u);
  EXPECT_EQ(other.name, "app");
  EXPECT_EQ(run(other, {"GET", "k"}), Reply::null_bulk());
  ConnectionState quitter = connect();
  EXPECT_EQ(run(quitter, {"QUIT"}), kOk);
  EXPECT_EQ(stats_.auth_failures.load(), 2u);
}

// RAFTKV.NODEAUTH: a node proves it knows a cluster secret (the current or the next one) and
// then runs what nodes relay, and only that, even though clients need a password.
class NodeAuthTest : public AclTest {
 protected:
  NodeAuthTest() : AclTest(kv::acl::seed_rules_for_password("pw"), {"current", "next"}) {}
  std::string proof(std::string_view secret, uint64_t node, const Reply& challenge) {
    return to_hex(node_auth_proof(secret, 42, node, from_hex(challenge.text).value()));
  }
};

TEST_F(NodeAuthTest, AProvenNodeRunsOperatorCommandsOnly) {
  ConnectionState conn = connect();
  EXPECT_EQ(run(conn, {"RAFTKV.MEMBER", "LIST"}), kNoAuth);
  const Reply challenge = run(conn, {"RAFTKV.NODEAUTH", "CHALLENGE"});
  ASSERT_EQ(challenge.type, Reply::Type::kBulk);
  EXPECT_EQ(challenge.text.size(), 64u);
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "2", proof("next", 2, challenge)}), kOk);
  EXPECT_EQ(conn.auth.node, NodeId(2));
  EXPECT_EQ(run(conn, {"RAFTKV.MEMBER", "LIST"}), array({}));
  EXPECT_EQ(run(conn, {"PING"}), Reply::simple("PONG"));
  EXPECT_EQ(run(conn, {"GET", "k"}),
            error("NOPERM a node's connection (RAFTKV.NODEAUTH) runs only RAFTKV.MEMBER, "
                  "RAFTKV.TRANSFER and PING"));
  EXPECT_EQ(stats_.auth_failures.load(), 0u);
}

TEST_F(NodeAuthTest, WrongReplayedOrUnchallengedProofsAreRefusedAndCounted) {
  ConnectionState conn = connect();
  const Reply needs = error("ERR RAFTKV.NODEAUTH PROVE needs a CHALLENGE first");
  const Reply wrong = error("WRONGPASS invalid node proof");
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "2", std::string(64, '0')}), needs);
  Reply challenge = run(conn, {"RAFTKV.NODEAUTH", "CHALLENGE"});
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "2", proof("other", 2, challenge)}), wrong);
  // The nonce was spent by the failed attempt: the right proof for it is refused now.
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "2", proof("current", 2, challenge)}), needs);
  // A proof for another node id, or for a nonce issued to another connection.
  challenge = run(conn, {"RAFTKV.NODEAUTH", "CHALLENGE"});
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "3", proof("current", 2, challenge)}), wrong);
  ConnectionState other = connect();
  const Reply theirs = run(other, {"RAFTKV.NODEAUTH", "CHALLENGE"});
  challenge = run(conn, {"RAFTKV.NODEAUTH", "CHALLENGE"});
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "2", proof("current", 2, theirs)}), wrong);
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "PROVE", "2", "not-hex"}), needs);
  EXPECT_TRUE(conn.auth.node.is_none());
  EXPECT_EQ(run(conn, {"RAFTKV.MEMBER", "LIST"}), kNoAuth);
  EXPECT_EQ(stats_.auth_failures.load(), 6u);  // every refused PROVE
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "HELLO"}),
            error("ERR unknown subcommand or wrong number of arguments for 'HELLO'. Try "
                  "CHALLENGE or PROVE."));
}

TEST_F(RequirepassTest, NodeauthWithoutAClusterSecretIsRefused) {
  ConnectionState conn = connect();
  EXPECT_EQ(run(conn, {"RAFTKV.NODEAUTH", "CHALLENGE"}),
            error("ERR this node has no cluster secret (--cluster-secret-file)"));
}

TEST_F(RequirepassTest, TheFirstAclChangeStartsFromTheSeededDefaultUser) {
  EXPECT_EQ(run({"AUTH", "pw"}), kOk);
  EXPECT_EQ(run({"ACL", "SETUSER", "alice", "on", ">a", "~*", "+@all"}), kOk);
  EXPECT_EQ(backend_.written()[0][1], kv::acl::seed_rules_for_password("pw"));
  EXPECT_EQ(run({"ACL", "LIST"}),
            strings({"user alice on #" + kv::acl::sha256_hex("a") + " ~* resetchannels +@all",
                     "user default on #" + kv::acl::sha256_hex("pw") + " ~* &* +@all"}));
  // Taking the password away lets every new connection in as default, as in Redis.
  EXPECT_EQ(run({"ACL", "SETUSER", "default", "nopass"}), kOk);
  ConnectionState conn = connect();
  EXPECT_TRUE(conn.auth.authenticated);
  EXPECT_EQ(run(conn, {"GET", "k"}), Reply::null_bulk());
}

// --- Permissions ---

TEST_F(AclTest, NopermForCommandsSubcommandsAndKeysWithReadWritePatterns) {
  ASSERT_EQ(run({"ACL", "SETUSER", "u", "reset", "on", ">pw", "+get", "+set", "+mset", "+incr",
                 "+exists", "~a*", "%R~r*", "%W~w*", "+client|id", "+acl|whoami"}),
            kOk);
  ConnectionState conn = connect();
  ASSERT_EQ(run(conn, {"AUTH", "u", "pw"}), kOk);
  const Reply key_denied =
      error("NOPERM this user has no permissions to access one of the keys used as arguments");
  EXPECT_EQ(run(conn, {"GET", "a1"}), Reply::null_bulk());
  EXPECT_EQ(run(conn, {"GET", "b"}), key_denied);
  EXPECT_EQ(run(conn, {"GET", "r1"}), Reply::null_bulk());
  EXPECT_EQ(run(conn, {"GET", "w1"}), key_denied);
  EXPECT_EQ(run(conn, {"SET", "r1", "x"}), key_denied);
  EXPECT_EQ(run(conn, {"SET", "w1", "x"}), kOk);
  EXPECT_EQ(run(conn, {"SET", "w1", "x", "GET"}), key_denied);  // GET reads the old value
  EXPECT_EQ(run(conn, {"SET", "a1", "1", "GET"}), Reply::null_bulk());
  EXPECT_EQ(run(conn, {"INCR", "w1"}), key_denied);  // read and write
  EXPECT_EQ(run(conn, {"INCR", "a1"}), integer(2));
  EXPECT_EQ(run(conn, {"MSET", "w1", "v", "w2", "v"}), kOk);
  EXPECT_EQ(run(conn, {"MSET", "w1", "v", "r2", "v"}), key_denied);
  EXPECT_EQ(run(conn, {"EXISTS", "w1", "r1"}), integer(1));  // any pattern will do
  EXPECT_EQ(run(conn, {"EXISTS", "z"}), key_denied);
  EXPECT_EQ(run(conn, {"DEL", "a1"}),
            error("NOPERM this user has no permissions to run the 'del' command"));
  EXPECT_EQ(run(conn, {"CLIENT", "ID"}), integer(static_cast<int64_t>(conn.id)));
  EXPECT_EQ(run(conn, {"CLIENT", "GETNAME"}),
            error("NOPERM this user has no permissions to run the 'client|getname' command"));
  EXPECT_EQ(run(conn, {"ACL", "WHOAMI"}), bulk("u"));
  EXPECT_EQ(run(conn, {"ACL", "LIST"}),
            error("NOPERM this user has no permissions to run the 'acl|list' command"));
  // AUTH, HELLO and QUIT are never refused.
  EXPECT_EQ(run(conn, {"HELLO"}).elements.size(), 14u);
  // RAFTKV.REQ is checked as the command it wraps.
  EXPECT_EQ(run(conn, {"RAFTKV.REQ", "9", "1", "0", "SET", "w3", "v"}), kOk);
  EXPECT_EQ(run(conn, {"RAFTKV.REQ", "9", "2", "1", "SET", "r3", "v"}), key_denied);
  EXPECT_EQ(run(conn, {"RAFTKV.REQ", "9", "3", "2", "DEL", "a1"}),
            error("NOPERM this user has no permissions to run the 'del' command"));
  EXPECT_EQ(stats_.acl_denied_keys.load(), 8u);
  EXPECT_EQ(stats_.acl_denied_commands.load(), 4u);
  // CLIENT LIST shows the user.
  ASSERT_EQ(run({"ACL", "SETUSER", "u", "+client|info"}), kOk);
  EXPECT_NE(run(conn, {"CLIENT", "INFO"}).text.find(" user=u\n"), std::string::npos);
}

TEST_F(AclTest, DryrunAnswersAsRedis) {
  ASSERT_EQ(run({"ACL", "SETUSER", "x", "reset", "+get", "~a*", "%R~b*", "%W~c*", "+set"}), kOk);
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "get", "a1"}), kOk);
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "get", "b1"}), kOk);
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "get", "c1"}),
            bulk("This user has no permissions to access the 'c1' key"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "set", "c1", "v"}), kOk);
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "set", "b1", "v"}),
            bulk("This user has no permissions to access the 'b1' key"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "mget", "a1"}),
            bulk("This user has no permissions to run the 'mget' command"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "CLIENT", "ID"}),
            bulk("This user has no permissions to run the 'client|id' command"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "auth", "a", "b"}), kOk);
  EXPECT_EQ(run({"ACL", "DRYRUN", "nobody", "get", "a"}), error("ERR User 'nobody' not found"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "FOO"}), error("ERR Command 'FOO' not found"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "client", "foo"}), error("ERR Command 'client' not found"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "get"}),
            error("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(run({"ACL", "DRYRUN", "x", "client", "setname"}),
            error("ERR wrong number of arguments for 'client|setname' command"));
}

// A user deleted since a connection authenticated: Redis kills its clients; here the next
// command closes the connection without a reply. A user switched off keeps its connections.
TEST_F(AclTest, DeletedUsersLoseTheirConnectionsDisabledOnesKeepThem) {
  ASSERT_EQ(run({"ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all"}), kOk);
  ConnectionState conn = connect();
  ASSERT_EQ(run(conn, {"AUTH", "alice", "pw"}), kOk);
  ASSERT_EQ(run({"ACL", "SETUSER", "alice", "off"}), kOk);
  EXPECT_EQ(run(conn, {"GET", "k"}), Reply::null_bulk());
  ConnectionState late = connect();
  EXPECT_EQ(run(late, {"AUTH", "alice", "pw"}), kWrongPass);
  ASSERT_EQ(run({"ACL", "SETUSER", "alice", "on"}), kOk);
  // Deleted and re-created under the same name: still another user.
  ASSERT_EQ(run({"ACL", "DELUSER", "alice"}), integer(1));
  ASSERT_EQ(run({"ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all"}), kOk);
  EXPECT_FALSE(conn.close_after_reply);
  EXPECT_EQ(run(conn, {"GET", "k"}), error("<closed>"));
  EXPECT_TRUE(conn.close_after_reply);
  ASSERT_EQ(run(late, {"AUTH", "alice", "pw"}), kOk);  // the new alice
  EXPECT_EQ(run(late, {"GET", "k"}), Reply::null_bulk());
}

TEST_F(AclTest, AclLogRecordsFailuresGroupedNewestFirst) {
  ASSERT_EQ(run({"ACL", "SETUSER", "u", "on", ">pw", "+get", "~a*"}), kOk);
  ConnectionState conn = connect();
  EXPECT_EQ(run(conn, {"AUTH", "u", "bad"}), kWrongPass);
  EXPECT_EQ(run(conn, {"AUTH", "u", "bad"}), kWrongPass);
  ASSERT_EQ(run(conn, {"AUTH", "u", "pw"}), kOk);
  EXPECT_TRUE(run(conn, {"GET", "b"}).type == Reply::Type::kError);
  EXPECT_TRUE(run(conn, {"DEL", "a"}).type == Reply::Type::kError);
  const Reply log = run({"ACL", "LOG"});
  ASSERT_EQ(log.elements.size(), 3u);
  const auto field = [](const Reply& entry, std::string_view name) {
    for (size_t i = 0; i + 1 < entry.elements.size(); i += 2) {
      if (entry.elements[i].text == name) return entry.elements[i + 1];
    }
    return error("<missing>");
  };
  EXPECT_EQ(field(log.elements[0], "reason"), bulk("command"));
  EXPECT_EQ(field(log.elements[0], "object"), bulk("del"));
  EXPECT_EQ(field(log.elements[0], "username"), bulk("u"));
  EXPECT_EQ(field(log.elements[0], "context"), bulk("toplevel"));
  EXPECT_EQ(field(log.elements[1], "reason"), bulk("key"));
  EXPECT_EQ(field(log.elements[1], "object"), bulk("b"));
  EXPECT_EQ(field(log.elements[2], "reason"), bulk("auth"));
  EXPECT_EQ(field(log.elements[2], "object"), bulk("AUTH"));
  EXPECT_EQ(field(log.elements[2], "count"), integer(2));
  EXPECT_EQ(log.elements[0].elements.size(), 14u);
  EXPECT_NE(field(log.elements[0], "client-info").text.find("user=u"), std::string::npos);
  EXPECT_EQ(run({"ACL", "LOG", "1"}).elements.size(), 1u);
  EXPECT_EQ(run({"ACL", "LOG", "-1"}).elements.size(), 0u);
  EXPECT_EQ(run({"ACL", "LOG", "x"}), error("ERR value is not an integer or out of range"));
  EXPECT_EQ(run({"ACL", "LOG", "1", "2"}),
            error("ERR unknown subcommand or wrong number of arguments for 'LOG'. Try ACL HELP."));
  EXPECT_EQ(run({"ACL", "LOG", "RESET"}), kOk);
  EXPECT_EQ(run({"ACL", "LOG"}).elements.size(), 0u);
}

TEST_F(AclTest, CatGenpassAndHelp) {
  const Reply categories = run({"ACL", "CAT"});
  ASSERT_EQ(categories.elements.size(), 21u);
  EXPECT_EQ(categories.elements[0], bulk("keyspace"));
  EXPECT_EQ(categories.elements[20], bulk("scripting"));
  const Reply read = run({"ACL", "CAT", "read"});
  std::set<std::string> names;
  for (const Reply& name : read.elements) names.insert(name.text);
  EXPECT_EQ(names, (std::set<std::string>{"dbsize", "exists", "get", "mget", "scan", "strlen"}));
  EXPECT_EQ(run({"ACL", "CAT", "foo"}), error("ERR Unknown category 'foo'"));
  EXPECT_EQ(run({"ACL", "CAT", "read", "x"}),
            error("ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP."));
  EXPECT_EQ(run({"ACL", "GENPASS"}).text.size(), 64u);
  EXPECT_EQ(run({"ACL", "GENPASS", "5"}).text.size(), 2u);
  const Reply bad_bits = error(
      "ERR ACL GENPASS argument must be the number of bits for the output password, a positive "
      "number up to 4096");
  EXPECT_EQ(run({"ACL", "GENPASS", "0"}), bad_bits);
  EXPECT_EQ(run({"ACL", "GENPASS", "5000"}), bad_bits);
  EXPECT_EQ(run({"ACL", "GENPASS", "x"}), error("ERR value is not an integer or out of range"));
  EXPECT_GT(run({"ACL", "HELP"}).elements.size(), 10u);
  EXPECT_EQ(run({"ACL", "WHOAMI", "x"}),
            error("ERR wrong number of arguments for 'acl|whoami' command"));
}

TEST_F(AclTest, AclChangesAreExclusiveInTheConnectionOrder) {
  const std::vector<std::string> set = {"ACL", "SETUSER", "x"};
  const std::vector<std::string> del = {"ACL", "deluser", "x"};
  const std::vector<std::string> get = {"ACL", "GETUSER", "x"};
  EXPECT_EQ(CommandDispatcher::order_of(set), CommandOrder::kExclusive);
  EXPECT_EQ(CommandDispatcher::order_of(del), CommandOrder::kExclusive);
  EXPECT_EQ(CommandDispatcher::order_of(get), CommandOrder::kLocal);
}

// --- Protected mode and startup ---

TEST(AclProtectedMode, NonLoopbackClientsAreRefusedWhileTheDefaultUserHasNoPassword) {
  EXPECT_TRUE(is_loopback_client("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_client("127.100.0.254:5000"));
  EXPECT_TRUE(is_loopback_client("[::1]:5000"));
  EXPECT_TRUE(is_loopback_client("[::ffff:127.0.0.1]:5000"));
  EXPECT_FALSE(is_loopback_client("10.0.0.1:5000"));
  EXPECT_FALSE(is_loopback_client("[fd00::2]:5000"));
  EXPECT_FALSE(is_loopback_client("1270.0.0.1:5000"));

  for (const bool password : {false, true}) {
    for (const bool protected_mode : {false, true}) {
      StateMachineBackend backend(password ? kv::acl::seed_rules_for_password("pw")
                                           : std::string(kv::acl::kDefaultUserRules));
      FrontendStats stats;
      DispatcherOptions options;
      options.acl = backend.publisher();
      options.protected_mode = protected_mode;
      CommandDispatcher dispatcher(backend, stats, options);
      ConnectionState remote;
      remote.remote_addr = "10.0.0.1:5000";
      ConnectionState local;
      local.remote_addr = "127.0.0.1:5000";
      const auto refusal = dispatcher.admit(remote);
      EXPECT_EQ(refusal.has_value(), protected_mode && !password);
      if (refusal) {
        EXPECT_EQ(*refusal, protected_mode_refusal());
        EXPECT_TRUE(refusal->starts_with(
            "-DENIED Redis is running in protected mode because protected mode is enabled and "
            "no password is set for the default user."));
      }
      EXPECT_FALSE(dispatcher.admit(local).has_value());
      EXPECT_EQ(stats.rejected_connections.load(), refusal ? 1u : 0u);
    }
  }
}

TEST(AclLoading, CommandsWaitUntilTheLogKnownAtStartIsApplied) {
  StateMachineBackend backend;
  backend.set_indexes(/*commit=*/10, /*applied=*/5);
  FrontendStats stats;
  DispatcherOptions options;
  options.acl = backend.publisher();
  options.loading_until_applied = true;
  CommandDispatcher dispatcher(backend, stats, options);
  ConnectionState conn;
  conn.remote_addr = "127.0.0.1:1";
  ASSERT_FALSE(dispatcher.admit(conn));
  const auto run = [&](std::vector<std::string> args) {
    std::string out;
    dispatcher.dispatch(std::move(args), conn, [&](std::string reply) { out = reply; });
    return out;
  };
  EXPECT_FALSE(conn.auth.authenticated);  // not by the ACL in force while loading
  EXPECT_EQ(run({"PING"}), "-LOADING Redis is loading the dataset in memory\r\n");
  EXPECT_EQ(run({"AUTH", "x"}), "-LOADING Redis is loading the dataset in memory\r\n");
  // The log replayed meanwhile gave the default user a password: the connection admitted while
  // the seed (nopass) was in force must authenticate.
  kv::acl::AclState state;
  std::vector<std::string> changed;
  const std::vector<std::string> args = {"RAFTKV.ACL", std::string(kv::acl::kDefaultUserRules),
                                         "SETUSER", "default", ">pw"};
  const std::vector<std::string_view> views(args.begin(), args.end());
  ASSERT_EQ(state.apply_entry(views, 6, changed), kv::Reply::ok());
  backend.publisher()->publish(state);
  backend.set_indexes(/*commit=*/12, /*applied=*/10);  // what was committed at start is applied
  EXPECT_EQ(run({"PING"}), "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(run({"AUTH", "pw"}), "+OK\r\n");
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
}

}  // namespace
}  // namespace raftkv::frontend
