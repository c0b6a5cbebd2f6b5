// The ACL rule language against Redis's documented semantics (ACL SETUSER in the Redis 7 docs and
// acl.c); the expected texts were checked against redis-server 7.0.15 (ACL GETUSER / LIST / the
// SETUSER errors), except for the order of command rules, which follows Redis 7.2 (acl.h).
// Then the replicated state: RAFTKV.ACL entries, user records, snapshots, publication.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "harness.h"
#include "kv/acl.h"
#include "kv/acl_state.h"
#include "kv/snapshot_stream.h"
#include "kv/state_machine.h"

namespace raftkv::kv::acl {
namespace {

using kv::testing::Harness;

// sha256("p1"), sha256("p2"), sha256("") as Redis showed them.
constexpr std::string_view kP1 = "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a";
constexpr std::string_view kP2 = "3946ca64ff78d93ca61090a437cbb6b3d2ca0d488f5f9ccf3059608368b27693";
constexpr std::string_view kEmpty =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Command names as the frontend's catalog would answer for the commands used here.
class TestNames : public CommandNames {
 public:
  std::optional<std::string> check(std::string_view target, bool) const override {
    for (std::string_view known :
         {"get", "set", "mget", "del", "client", "client|id", "client|list", "acl", "acl|whoami"}) {
      if (target == known) return std::nullopt;
    }
    return "Unknown command or category name in ACL";
  }
};
const TestNames kNames;

std::optional<std::string> set(User& user, std::vector<std::string> rules) {
  return apply_rules(user, rules, &kNames);
}

User made(std::vector<std::string> rules) {
  User user = new_user();
  const auto error = set(user, std::move(rules));
  EXPECT_FALSE(error.has_value()) << *error;
  return user;
}

TEST(AclRules, NewUserDefaultUserAndResetDescribeAsRedis) {
  EXPECT_EQ(new_user().describe(), "off resetchannels -@all");
  const std::vector<std::string_view> parts = split_rules(kDefaultUserRules);
  EXPECT_EQ(made({parts.begin(), parts.end()}).describe(), "on nopass ~* &* +@all");
  EXPECT_EQ(made({"on", "~*", "+@all", "reset"}).describe(),
            "off sanitize-payload resetchannels -@all");
  const User alice = made(
      {"on", ">p1", "~foo*", "%R~bar*", "%W~baz", "+get", "+@write", "-set", "+client|id", "&ch*"});
  EXPECT_EQ(alice.describe(), fmt::format("on #{} ~foo* %R~bar* %W~baz resetchannels &ch* -@all "
                                          "+get +@write -set +client|id",
                                          kP1));
  EXPECT_EQ(alice.flag_names(), std::vector<std::string>{"on"});
  EXPECT_EQ(alice.describe_keys(), "~foo* %R~bar* %W~baz");
  EXPECT_EQ(alice.describe_channels(), "&ch*");
  EXPECT_EQ(alice.describe_commands(), "-@all +get +@write -set +client|id");
}

TEST(AclRules, PasswordsAreSha256DigestsInOrderEachOnce) {
  EXPECT_EQ(sha256_hex("p1"), kP1);
  EXPECT_EQ(sha256_hex(""), kEmpty);
  User user = made({">p1", ">p2", ">p1"});
  EXPECT_EQ(user.passwords, (std::vector<std::string>{std::string(kP1), std::string(kP2)}));
  EXPECT_TRUE(user.password_matches("p2"));
  EXPECT_FALSE(user.password_matches("p3"));
  EXPECT_FALSE(user.password_matches(""));
  EXPECT_EQ(made({">"}).passwords, std::vector<std::string>{std::string(kEmpty)});
  // #hash adds a digest as given; <pass and !hash remove.
  EXPECT_EQ(made({fmt::format("#{}", kP2), ">p1", "<p1"}).passwords,
            std::vector<std::string>{std::string(kP2)});
  EXPECT_TRUE(made({">p1", fmt::format("!{}", kP1)}).passwords.empty());
  // nopass accepts anything and drops the digests; a password added later clears nopass.
  User any = made({">x", "nopass"});
  EXPECT_TRUE(any.nopass);
  EXPECT_TRUE(any.passwords.empty());
  EXPECT_TRUE(any.password_matches("whatever"));
  EXPECT_EQ(made({"nopass", ">x"}).describe(),
            fmt::format("off #{} resetchannels -@all", sha256_hex("x")));
  EXPECT_EQ(made({">x", "nopass", "resetpass"}).describe(), "off resetchannels -@all");
  EXPECT_FALSE(made({"resetpass"}).password_matches(""));  // no password at all: no AUTH
}

TEST(AclRules, PasswordErrorsAreRedisErrors) {
  User user = new_user();
  EXPECT_EQ(set(user, {"<nope"}),
            "Error in ACL SETUSER modifier '<nope': The password you are trying to remove from "
            "the user does not exist");
  EXPECT_EQ(set(user, {fmt::format("!{}", kP1)}),
            fmt::format("Error in ACL SETUSER modifier '!{}': The password you are trying to "
                        "remove from the user does not exist",
                        kP1));
  const std::string bad_hash =
      ": The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
      "characters";
  EXPECT_EQ(set(user, {"#abc"}), "Error in ACL SETUSER modifier '#abc'" + bad_hash);
  EXPECT_EQ(set(user, {"!abc"}), "Error in ACL SETUSER modifier '!abc'" + bad_hash);
  std::string upper = "#" + std::string(kP1);
  upper[1] = 'F';
  EXPECT_EQ(set(user, {upper}), "Error in ACL SETUSER modifier '" + upper + "'" + bad_hash);
  EXPECT_EQ(user, new_user());
}

TEST(AclRules, KeyPatternsWithReadAndWritePermissions) {
  // The same pattern merges its permissions; %RW~ is ~.
  EXPECT_EQ(made({"%RW~z", "%R~z", "%W~q", "%WR~q"}).describe_keys(), "~z ~q");
  EXPECT_EQ(made({"%R~a", "%W~a"}).describe_keys(), "~a");
  EXPECT_EQ(made({"%rw~a", "%R~*"}).describe_keys(), "~a %R~*");  // %R~* is not allkeys
  EXPECT_EQ(made({"~a*b", "~a*b", "resetkeys", "~c"}).describe_keys(), "~c");
  EXPECT_EQ(made({"~x", "allkeys"}).describe_keys(), "~*");
  EXPECT_EQ(made({"~x", "~*"}).describe_keys(), "~*");
  EXPECT_EQ(made({"~"}).describe_keys(), "~");  // an empty pattern: only the empty key
  User user = new_user();
  EXPECT_EQ(set(user, {"allkeys", "~a"}),
            "Error in ACL SETUSER modifier '~a': Adding a pattern after the * pattern (or the "
            "'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start "
            "with an empty list of patterns");
  for (const std::string rule : {"%X~a", "%~a", "%RR~a", "%R", "~a b", "%W~a\tb"}) {
    EXPECT_EQ(set(user, {rule}), "Error in ACL SETUSER modifier '" + rule + "': Syntax error");
  }
}

TEST(AclRules, KeyChecksNeedThePermissionsOfTheAccess) {
  const User user = made({"%R~r*", "%W~w*", "~b*"});
  EXPECT_TRUE(user.may_access_key("r1", kKeyRead));
  EXPECT_FALSE(user.may_access_key("r1", kKeyWrite));
  EXPECT_FALSE(user.may_access_key("w1", kKeyRead));
  EXPECT_TRUE(user.may_access_key("w1", kKeyWrite));
  EXPECT_FALSE(user.may_access_key("w1", kKeyReadWrite));  // INCR w1: read and write
  EXPECT_TRUE(user.may_access_key("b1", kKeyReadWrite));
  EXPECT_TRUE(user.may_access_key("w1", 0));  // EXISTS w1: any pattern (Redis: no ACCESS flag)
  EXPECT_FALSE(user.may_access_key("z", 0));
  EXPECT_TRUE(made({"allkeys"}).may_access_key("anything", kKeyReadWrite));
  EXPECT_FALSE(new_user().may_access_key("k", 0));
}

TEST(AclRules, ChannelPatternsAreAcceptedAndShown) {
  EXPECT_EQ(made({"resetchannels", "&a", "&a", "&b"}).describe_channels(), "&a &b");
  EXPECT_EQ(made({"&a", "allchannels"}).describe_channels(), "&*");
  EXPECT_EQ(made({"&a", "&*"}).describe(), "off &* -@all");
  User user = made({"&*"});
  EXPECT_EQ(set(user, {"&a"}),
            "Error in ACL SETUSER modifier '&a': Adding a pattern after the * pattern (or the "
            "'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' "
            "to start with an empty list of channels");
  EXPECT_EQ(set(user, {"resetchannels", "&a b"}),
            "Error in ACL SETUSER modifier '&a b': Syntax error");
}

TEST(AclRules, CommandRulesKeepTheirOrderAndEachTargetOnce) {
  // A rule replaces earlier ones on its target (and a command's on its subcommands).
  EXPECT_EQ(made({"-@all", "+get", "-get", "+get", "-client", "+client|id", "-client|id", "+client",
                  "-@read", "+@read"})
                .describe_commands(),
            "-@all +get +client +@read");
  EXPECT_EQ(made({"-client", "+client|id"}).describe_commands(), "-@all -client +client|id");
  EXPECT_EQ(
      made({"nocommands", "+@read", "-get", "allcommands", "-set", "+@all"}).describe_commands(),
      "+@all");
  EXPECT_EQ(made({"+@ALL", "-@Read", "+GET", "+Client|ID"}).describe_commands(),
            "+@all -@read +get +client|id");
  EXPECT_EQ(made({"+get", "nocommands"}).describe_commands(), "-@all");
}

TEST(AclRules, CommandPermissionReplaysTheRulesInOrder) {
  const uint32_t read = category_bit("read");
  const uint32_t fast = category_bit("fast");
  const uint32_t connection = category_bit("connection");
  const uint32_t slow = category_bit("slow");
  ASSERT_NE(read, 0u);
  User user = made({"-@all", "+@read", "-get"});
  EXPECT_FALSE(user.may_run("get", read | fast));
  EXPECT_TRUE(user.may_run("mget", read | fast));
  EXPECT_FALSE(user.may_run("set", category_bit("write")));
  user = made({"+@all", "-client", "+client|id"});
  EXPECT_TRUE(user.may_run("client|id", slow | connection));
  EXPECT_FALSE(user.may_run("client|list", slow | connection));
  EXPECT_TRUE(user.may_run("get", read));
  user = made({"+client|id", "-client"});
  EXPECT_FALSE(user.may_run("client|id", slow | connection));
  user = made({"+get", "-@read"});  // a later category rule overrides the command rule
  EXPECT_FALSE(user.may_run("get", read));
  user = made({"-@read", "+get"});
  EXPECT_TRUE(user.may_run("get", read));
  user = made({"+@connection", "-client|id"});
  EXPECT_TRUE(user.may_run("client|list", slow | connection));
  EXPECT_FALSE(user.may_run("client|id", slow | connection));
  EXPECT_FALSE(new_user().may_run("get", read));
  EXPECT_TRUE(made({"allcommands"}).may_run("anything", 0));  // +@all: commands of no category
}

TEST(AclRules, UnknownNamesFlagsAndSelectorsAreErrors) {
  User user = new_user();
  EXPECT_EQ(set(user, {"+foo"}),
            "Error in ACL SETUSER modifier '+foo': Unknown command or category name in ACL");
  EXPECT_EQ(set(user, {"+@foo"}),
            "Error in ACL SETUSER modifier '+@foo': Unknown command or category name in ACL");
  EXPECT_EQ(set(user, {"-@"}),
            "Error in ACL SETUSER modifier '-@': Unknown command or category name in ACL");
  EXPECT_EQ(set(user, {"bogus"}), "Error in ACL SETUSER modifier 'bogus': Syntax error");
  EXPECT_EQ(set(user, {"(+get"}), "Unmatched parenthesis in acl selector starting at '(+get'.");
  EXPECT_EQ(set(user, {"(+get", "~x)"}),
            "Error in ACL SETUSER modifier '(+get ~x)': Selectors are not supported");
  // Accepted, no effect here: the empty rule, clearselectors, the sanitize flags (shown).
  EXPECT_EQ(made({"", "clearselectors"}), new_user());
  EXPECT_EQ(made({"skip-sanitize-payload", "sanitize-payload"}).flag_names(),
            (std::vector<std::string>{"off", "sanitize-payload"}));
  EXPECT_EQ(made({"ON", "OFF", "On"}).flag_names(), std::vector<std::string>{"on"});
  // Without a name check (the state machine) any command name is kept as given.
  User lenient = new_user();
  EXPECT_FALSE(apply_rules(lenient, std::vector<std::string>{"+newcmd"}, nullptr));
  EXPECT_EQ(lenient.describe_commands(), "-@all +newcmd");
}

TEST(AclRules, SetuserIsAllOrNothing) {
  User user = made({"on", ">p1"});
  const User before = user;
  EXPECT_TRUE(set(user, {"off", ">p2", "~x", "+get", "bogus"}).has_value());
  EXPECT_EQ(user, before);
}

// describe() rebuilds the user: the record format of the replicated state depends on it.
TEST(AclRules, DescribeRoundTripsThroughTheRules) {
  const std::vector<std::string> pool = {"on",
                                         "off",
                                         "nopass",
                                         "resetpass",
                                         ">a",
                                         ">b",
                                         "<a",
                                         "~k:*",
                                         "%R~r:*",
                                         "%W~w:*",
                                         "allkeys",
                                         "resetkeys",
                                         "&c:*",
                                         "allchannels",
                                         "resetchannels",
                                         "+get",
                                         "-get",
                                         "+@read",
                                         "-@write",
                                         "+client",
                                         "-client|id",
                                         "+client|list",
                                         "allcommands",
                                         "nocommands",
                                         "reset",
                                         "sanitize-payload",
                                         "skip-sanitize-payload",
                                         "+acl|whoami",
                                         "-acl"};
  std::mt19937_64 rng(13);
  for (int round = 0; round < 2000; ++round) {
    User user = new_user();
    const size_t n = rng() % 12;
    for (size_t i = 0; i < n; ++i) (void)user.apply(pool[rng() % pool.size()], &kNames);
    User rebuilt = new_user();
    const std::string text = user.describe();
    ASSERT_FALSE(apply_rules(rebuilt, split_rules(text), nullptr)) << text;
    ASSERT_EQ(rebuilt, user) << text;
    ASSERT_EQ(rebuilt.describe(), text);
  }
}

TEST(AclRules, UserNamesAndGenpass) {
  EXPECT_TRUE(valid_user_name("alice"));
  EXPECT_TRUE(valid_user_name(""));  // Redis allows it
  EXPECT_FALSE(valid_user_name("a b"));
  EXPECT_FALSE(valid_user_name(std::string("a\0b", 3)));
  EXPECT_EQ(random_hex(256).size(), 64u);
  EXPECT_EQ(random_hex(5).size(), 2u);
  EXPECT_EQ(random_hex(4096).size(), 1024u);
  EXPECT_NE(random_hex(128), random_hex(128));
}

// --- The replicated state ---

std::vector<std::string_view> views(const std::vector<std::string>& args) {
  return {args.begin(), args.end()};
}

TEST(AclState, FirstEntryStartsFromTheProposersSeed) {
  AclState state;
  EXPECT_FALSE(state.is_set());
  std::vector<std::string> changed;
  const std::string seed = seed_rules_for_password("secret");
  EXPECT_EQ(seed, fmt::format("on #{} ~* &* +@all", sha256_hex("secret")));
  const std::vector<std::string> args = {"RAFTKV.ACL", seed, "SETUSER", "alice", "on", ">p1"};
  EXPECT_EQ(state.apply_entry(views(args), 7, changed), Reply::ok());
  EXPECT_TRUE(state.is_set());
  EXPECT_EQ(changed, (std::vector<std::string>{"default", "alice"}));
  ASSERT_NE(state.find("default"), nullptr);
  EXPECT_TRUE(state.find("default")->user.password_matches("secret"));
  EXPECT_EQ(state.find("default")->generation, 0u);
  EXPECT_EQ(state.find("alice")->generation, 7u);
  // Later entries ignore their seed; an existing user keeps its generation.
  changed.clear();
  const std::vector<std::string> again = {"raftkv.acl", std::string(kDefaultUserRules), "setuser",
                                          "alice", "+get"};
  EXPECT_EQ(state.apply_entry(views(again), 9, changed), Reply::ok());
  EXPECT_EQ(changed, std::vector<std::string>{"alice"});
  EXPECT_FALSE(state.find("default")->user.nopass);
  EXPECT_EQ(state.find("alice")->generation, 7u);
  EXPECT_EQ(state.find("alice")->user.describe_commands(), "-@all +get");
}

TEST(AclState, DeluserAndFailuresChangeNothingElse) {
  AclState state;
  std::vector<std::string> changed;
  const std::string seed(kDefaultUserRules);
  // A failing first entry leaves the state unset.
  const std::vector<std::string> bad = {"RAFTKV.ACL", seed, "SETUSER", "a", "bogus"};
  EXPECT_EQ(state.apply_entry(views(bad), 1, changed),
            Reply::error("ERR Error in ACL SETUSER modifier 'bogus': Syntax error"));
  const std::vector<std::string> spaced = {"RAFTKV.ACL", seed, "SETUSER", "a b"};
  EXPECT_EQ(state.apply_entry(views(spaced), 1, changed),
            Reply::error("ERR Usernames can't contain spaces or null characters"));
  const std::vector<std::string> bad_seed = {"RAFTKV.ACL", "bogus", "SETUSER", "a"};
  EXPECT_TRUE(state.apply_entry(views(bad_seed), 1, changed).is_error());
  EXPECT_FALSE(state.is_set());
  EXPECT_TRUE(changed.empty());
  for (const char* name : {"a", "b"}) {
    const std::vector<std::string> add = {"RAFTKV.ACL", seed, "SETUSER", name};
    ASSERT_EQ(state.apply_entry(views(add), 2, changed), Reply::ok());
  }
  const AclState before = state;
  const std::vector<std::string> del_default = {"RAFTKV.ACL", seed, "DELUSER", "a", "default"};
  EXPECT_EQ(state.apply_entry(views(del_default), 3, changed),
            Reply::error("ERR The 'default' user cannot be removed"));
  EXPECT_EQ(state, before);
  changed.clear();
  const std::vector<std::string> del = {"RAFTKV.ACL", seed, "DELUSER", "a", "nobody", "b"};
  EXPECT_EQ(state.apply_entry(views(del), 4, changed), Reply::integer_reply(2));
  EXPECT_EQ(changed, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(state.users().size(), 1u);
}

TEST(AclState, RecordsRebuildTheState) {
  AclState state;
  std::vector<std::string> changed;
  const std::vector<std::string> add = {"RAFTKV.ACL", std::string(kDefaultUserRules),
                                        "SETUSER",    "alice",
                                        "on",         ">p1",
                                        "%R~r*",      "+@read",
                                        "-@admin"};
  ASSERT_EQ(state.apply_entry(views(add), 5, changed), Reply::ok());
  AclState loaded;
  for (const auto& [name, user] : state.users()) {
    ASSERT_TRUE(loaded.load_record(AclState::record_key(name), state.record_value(user)).is_ok());
  }
  ASSERT_TRUE(loaded.finish_load().is_ok());
  EXPECT_EQ(loaded, state);
  AclState corrupt;
  EXPECT_EQ(corrupt.load_record("ualice", "short").code(), ErrorCode::kCorruption);
  EXPECT_EQ(corrupt.load_record("ualice", std::string(8, '\0') + "on bogus").code(),
            ErrorCode::kCorruption);
  AclState no_default;
  ASSERT_TRUE(no_default.load_record("ualice", state.record_value(*state.find("alice"))).is_ok());
  EXPECT_EQ(no_default.finish_load().code(), ErrorCode::kCorruption);
}

TEST(AclPublisher, PublishesTheSeedUntilSetThenTheState) {
  AclPublisher publisher(seed_rules_for_password("pw"));
  PublishedAcl first = publisher.current();
  EXPECT_FALSE(first.state->is_set());
  EXPECT_TRUE(first.state->find("default")->user.password_matches("pw"));
  EXPECT_EQ(first.version, publisher.version());
  AclState state;
  std::vector<std::string> changed;
  const std::vector<std::string> add = {"RAFTKV.ACL", publisher.seed_rules(), "SETUSER", "bob"};
  ASSERT_EQ(state.apply_entry(views(add), 1, changed), Reply::ok());
  publisher.publish(state);
  const PublishedAcl second = publisher.current();
  EXPECT_GT(second.version, first.version);
  EXPECT_NE(second.state->find("bob"), nullptr);
  publisher.publish(AclState());
  EXPECT_EQ(publisher.current().state->users().size(), 1u);  // back to the seed
}

// --- Through the state machine ---

std::vector<std::string> acl_entry(std::vector<std::string> rest) {
  std::vector<std::string> args = {"RAFTKV.ACL", std::string(kDefaultUserRules)};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

TEST(AclStateMachine, EntriesChangeTheUsersAndPublishThem) {
  StateMachineOptions options;
  options.acl = std::make_shared<AclPublisher>();
  Harness h(options);
  const uint64_t v0 = options.acl->version();
  h.run({"SET", "k", "v"});
  EXPECT_EQ(options.acl->version(), v0);  // only ACL entries publish
  EXPECT_EQ(h.run(acl_entry({"SETUSER", "alice", "on", ">p1", "~k*", "+get"})), Reply::ok());
  EXPECT_GT(options.acl->version(), v0);
  const PublishedAcl published = options.acl->current();
  EXPECT_TRUE(published.state->is_set());
  EXPECT_EQ(*published.state, h.sm().acl());
  EXPECT_EQ(published.state->find("alice")->generation, 2u);
  EXPECT_EQ(h.run(acl_entry({"DELUSER", "alice"})), Reply::integer_reply(1));
  EXPECT_EQ(options.acl->current().state->find("alice"), nullptr);
  EXPECT_EQ(h.run(acl_entry({"SETUSER"})),
            Reply::error("ERR wrong number of arguments for 'raftkv.acl' command"));
  // Not a read command, and not executable outside the state machine.
  EXPECT_TRUE(h.read(acl_entry({"DELUSER", "x"})).is_error());
  EXPECT_EQ(classify_command("RAFTKV.ACL"), CommandKind::kWrite);
}

TEST(AclStateMachine, SnapshotsCarryTheUsersAsFormatVersion2) {
  Harness h;
  h.run({"SET", "k", "v"});
  const std::string before_acl = h.sm().snapshot_to_string();
  EXPECT_EQ(static_cast<uint8_t>(before_acl[7]), snapshot_stream::kVersion);
  h.run(acl_entry({"SETUSER", "alice", "on", ">p1", "%W~w*", "+set"}));
  h.run(acl_entry({"SETUSER", "default", "resetpass", ">dpw"}));
  const std::string bytes = h.sm().snapshot_to_string();
  EXPECT_EQ(static_cast<uint8_t>(bytes[7]), snapshot_stream::kVersionWithAcl);
  auto view = h.sm().begin_snapshot();
  ASSERT_TRUE(view.is_ok());
  EXPECT_EQ((*view)->write_to_string(), bytes);
  view->reset();

  StateMachineOptions options;
  options.acl = std::make_shared<AclPublisher>();
  StateMachine restored(make_skiplist_engine(), options);
  ASSERT_TRUE(restored.restore_from_string(bytes).is_ok());
  EXPECT_EQ(restored.acl(), h.sm().acl());
  EXPECT_EQ(restored.digest(), h.sm().digest());
  EXPECT_EQ(*options.acl->current().state, h.sm().acl());
  EXPECT_TRUE(options.acl->current().state->find("default")->user.password_matches("dpw"));
  // A snapshot taken before any ACL entry (format 1, as earlier releases wrote) still loads,
  // and leaves the ACL unset: the seed is in force again.
  ASSERT_TRUE(restored.restore_from_string(before_acl).is_ok());
  EXPECT_FALSE(restored.acl().is_set());
  EXPECT_FALSE(options.acl->current().state->is_set());
  EXPECT_EQ(restored.read({"GET", "k"}, 0), Reply::bulk("v"));
}

TEST(AclStateMachine, ReplicasApplyingTheSameEntriesAgree) {
  Harness a;
  Harness b;
  for (Harness* h : {&a, &b}) {
    h->run(acl_entry({"SETUSER", "u1", "on", "nopass", "+@all", "~*"}));
    h->run({"SET", "k", "v"});
    h->run(acl_entry({"SETUSER", "u2", "on", ">x", "-@all", "+get"}));
    h->run(acl_entry({"DELUSER", "u1"}));
  }
  EXPECT_EQ(a.sm().acl(), b.sm().acl());
  EXPECT_EQ(a.sm().digest(), b.sm().digest());
  Harness c;  // one entry different: another state
  c.run(acl_entry({"SETUSER", "u1", "on", "nopass", "+@all", "~*"}));
  c.run({"SET", "k", "v"});
  c.run(acl_entry({"SETUSER", "u2", "on", ">y", "-@all", "+get"}));
  c.run(acl_entry({"DELUSER", "u1"}));
  EXPECT_NE(a.sm().digest(), c.sm().digest());
}

}  // namespace
}  // namespace raftkv::kv::acl
