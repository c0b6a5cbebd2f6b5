// Client behaviour against scripted RESP servers: redirects, retries with the same sequence,
// seed fail-over, deadlines, session expiry, pipelining. Synchronisation is by the client's own
// blocking calls (a call returns only after the server answered); no sleeps.
#include "client/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "fake_resp_server.h"

namespace raftkv::client {
namespace {

using resp::Reply;
using testing::FakeRespServer;
using testing::ScriptedAnswer;
using Args = std::vector<std::string>;

constexpr uint64_t kSeed = 42;

// Options with recorded (not slept) backoff delays.
struct Harness {
  std::vector<std::chrono::nanoseconds> sleeps;
  ClientOptions options(std::vector<HostPort> seeds) {
    ClientOptions o;
    o.seeds = std::move(seeds);
    o.call_timeout = std::chrono::milliseconds(5000);
    o.sleep = [this](std::chrono::nanoseconds d) { sleeps.push_back(d); };
    return o;
  }
};

std::unique_ptr<Rng> seeded() {
  return std::make_unique<SeededRng>(kSeed);
}

Args session_request(uint64_t id, uint64_t seq, uint64_t acked, Args command) {
  Args out{"RAFTKV.REQ", std::to_string(id), std::to_string(seq), std::to_string(acked)};
  out.insert(out.end(), command.begin(), command.end());
  return out;
}

// Answers like a tiny KV node: SET → OK, GET → "v", INCR → 1, anything else → OK. Session
// requests are unwrapped.
ScriptedAnswer kv_answer(const Args& args) {
  const size_t offset = (!args.empty() && args[0] == "RAFTKV.REQ") ? 4 : 0;
  const std::string& name = args.at(offset);
  if (name == "GET") return ScriptedAnswer::answer(Reply::bulk("v"));
  if (name == "INCR") return ScriptedAnswer::answer(Reply::integer_reply(1));
  return ScriptedAnswer::answer(Reply::simple("OK"));
}

TEST(Client, FollowsMovedToTheLeaderAndCachesIt) {
  FakeRespServer leader([](const Args& args, size_t) { return kv_answer(args); });
  const std::string moved = "MOVED 0 127.0.0.1:" + std::to_string(leader.port());
  FakeRespServer follower(
      [&](const Args&, size_t) { return ScriptedAnswer::answer(Reply::error(moved)); });
  Harness h;
  Client client(h.options({follower.address()}), seeded());

  ASSERT_TRUE(client.set("k", "v").is_ok());
  ASSERT_TRUE(client.cached_leader().has_value());
  EXPECT_EQ(*client.cached_leader(), leader.address());
  // The redirected request is the same request: same client id and sequence.
  const Args first = session_request(client.client_id(), 1, 0, {"SET", "k", "v"});
  EXPECT_EQ(follower.received(), std::vector<Args>{first});
  EXPECT_EQ(leader.received(), std::vector<Args>{first});

  // Later calls go straight to the cached leader.
  ASSERT_TRUE(client.set("k", "w").is_ok());
  auto got = client.get("k");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got.value(), std::optional<std::string>("v"));
  EXPECT_EQ(follower.received().size(), 1u);
  EXPECT_EQ(leader.received().size(), 3u);
  EXPECT_EQ(leader.received()[1], session_request(client.client_id(), 2, 1, {"SET", "k", "w"}));
  EXPECT_EQ(leader.received()[2], (Args{"GET", "k"}));  // reads are not wrapped
  EXPECT_TRUE(h.sleeps.empty());                        // a single redirect needs no backoff
  EXPECT_EQ(client.stats().redirects, 1u);
}

TEST(Client, TryAgainIsRetriedWithTheSameSequence) {
  FakeRespServer server([](const Args& args, size_t index) {
    if (index < 2) return ScriptedAnswer::answer(Reply::error("TRYAGAIN leadership changing"));
    return kv_answer(args);
  });
  Harness h;
  Client client(h.options({server.address()}), seeded());

  auto first = client.incr("counter");
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first.value(), 1);
  auto second = client.incr("counter");
  ASSERT_TRUE(second.is_ok());

  const uint64_t id = client.client_id();
  const Args try1 = session_request(id, 1, 0, {"INCR", "counter"});
  EXPECT_EQ(server.received(),
            (std::vector<Args>{try1, try1, try1, session_request(id, 2, 1, {"INCR", "counter"})}));
  EXPECT_EQ(client.last_sequence(), 2u);
  EXPECT_EQ(client.acked_sequence(), 2u);

  // Two backoffs, drawn from the same seeded Rng right after the client id.
  SeededRng expected_rng(kSeed);
  EXPECT_EQ(expected_rng.next_u64(), id);
  const BackoffPolicy policy;
  ASSERT_EQ(h.sleeps.size(), 2u);
  EXPECT_EQ(h.sleeps[0], backoff_delay(policy, 0, expected_rng));
  EXPECT_EQ(h.sleeps[1], backoff_delay(policy, 1, expected_rng));
}

TEST(Client, ConnectionRefusedOnTheFirstSeedMovesToTheNext) {
  FakeRespServer server([](const Args& args, size_t) { return kv_answer(args); });
  Harness h;
  const HostPort dead{"127.0.0.1", testing::unused_loopback_port()};
  Client client(h.options({dead, server.address()}), seeded());

  auto got = client.get("k");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got.value(), std::optional<std::string>("v"));
  EXPECT_EQ(server.received().size(), 1u);
  EXPECT_TRUE(h.sleeps.empty());  // the next seed is tried at once
  // Subsequent calls stay on the working seed.
  ASSERT_TRUE(client.set("a", "b").is_ok());
  EXPECT_EQ(server.connections_accepted(), 1u);
}

TEST(Client, AllSeedsDownBacksOffThenTimesOut) {
  Harness h;
  ClientOptions options = h.options({{"127.0.0.1", testing::unused_loopback_port()},
                                     {"127.0.0.1", testing::unused_loopback_port()}});
  options.call_timeout = std::chrono::milliseconds(200);
  options.sleep = [&](std::chrono::nanoseconds d) {
    h.sleeps.push_back(d);
    std::this_thread::sleep_for(d);  // real time must pass for the deadline
  };
  Client client(options, seeded());
  auto got = client.get("k");
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.code(), ErrorCode::kTimeout);
  EXPECT_NE(got.status().message().find("last error"), std::string::npos);
  EXPECT_FALSE(h.sleeps.empty());
}

TEST(Client, DroppedConnectionAfterSendRetriesTheSameSequenceOnANewConnection) {
  FakeRespServer server([](const Args& args, size_t index) {
    if (index == 0) return ScriptedAnswer::close();
    return kv_answer(args);
  });
  Harness h;
  Client client(h.options({server.address()}), seeded());
  auto result = client.incr("n");
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  const Args request = session_request(client.client_id(), 1, 0, {"INCR", "n"});
  EXPECT_EQ(server.received(), (std::vector<Args>{request, request}));
  EXPECT_EQ(server.connections_accepted(), 2u);
}

TEST(Client, WithoutSessionsAnAmbiguousWriteIsNotResent) {
  FakeRespServer server([](const Args&, size_t) { return ScriptedAnswer::close(); });
  Harness h;
  ClientOptions options = h.options({server.address()});
  options.sessions = false;
  Client client(options, seeded());
  auto result = client.incr("n");
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.code(), ErrorCode::kUnavailable);
  EXPECT_NE(result.status().message().find("outcome unknown"), std::string::npos);
  EXPECT_EQ(server.received(), (std::vector<Args>{{"INCR", "n"}}));
  EXPECT_EQ(client.client_id(), 0u);
}

TEST(Client, ClusterDownIsRetriedWithBackoff) {
  FakeRespServer server([](const Args& args, size_t index) {
    if (index < 3) return ScriptedAnswer::answer(Reply::error("CLUSTERDOWN no leader elected yet"));
    return kv_answer(args);
  });
  Harness h;
  Client client(h.options({server.address()}), seeded());
  ASSERT_TRUE(client.set("k", "v").is_ok());
  EXPECT_EQ(server.received().size(), 4u);
  EXPECT_EQ(h.sleeps.size(), 3u);
  for (const auto& args : server.received()) EXPECT_EQ(args[2], "1");  // same sequence
}

TEST(Client, CommandErrorsAreResultsNotRetries) {
  FakeRespServer server([](const Args&, size_t) {
    return ScriptedAnswer::answer(
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value"));
  });
  Harness h;
  Client client(h.options({server.address()}), seeded());
  auto result = client.incr("k");
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.status().message().rfind("WRONGTYPE", 0), 0u);
  auto raw = client.command({"INCR", "k"});
  ASSERT_TRUE(raw.is_ok());
  EXPECT_EQ(raw->type, Reply::Type::kError);
  EXPECT_EQ(server.received().size(), 2u);
  EXPECT_TRUE(h.sleeps.empty());
}

TEST(Client, SessionExpiredEndsTheCallAndStartsANewSession) {
  FakeRespServer server([](const Args& args, size_t index) {
    if (index == 1) return ScriptedAnswer::answer(Reply::error("SESSIONEXPIRED unknown session"));
    return kv_answer(args);
  });
  Harness h;
  Client client(h.options({server.address()}), seeded());
  ASSERT_TRUE(client.set("a", "1").is_ok());
  const uint64_t old_id = client.client_id();
  auto expired = client.set("b", "2");
  ASSERT_FALSE(expired.is_ok());
  EXPECT_EQ(expired.code(), ErrorCode::kUnavailable);
  EXPECT_NE(client.client_id(), old_id);
  ASSERT_TRUE(client.set("c", "3").is_ok());
  EXPECT_EQ(server.received().back(), session_request(client.client_id(), 1, 0, {"SET", "c", "3"}));
}

TEST(Client, RedirectLoopBacksOffAndEndsAtTheDeadline) {
  std::atomic<uint16_t> port_b{0};
  FakeRespServer a([&](const Args&, size_t) {
    return ScriptedAnswer::answer(
        Reply::error("MOVED 0 127.0.0.1:" + std::to_string(port_b.load())));
  });
  FakeRespServer b([&](const Args&, size_t) {
    return ScriptedAnswer::answer(Reply::error("MOVED 0 127.0.0.1:" + std::to_string(a.port())));
  });
  port_b = b.port();
  Harness h;
  ClientOptions options = h.options({a.address()});
  options.call_timeout = std::chrono::milliseconds(100);
  options.backoff.initial_delay = std::chrono::milliseconds(5);
  options.backoff.max_delay = std::chrono::milliseconds(20);
  options.sleep = [&](std::chrono::nanoseconds d) {
    h.sleeps.push_back(d);
    std::this_thread::sleep_for(d);
  };
  Client client(options, seeded());
  auto result = client.get("k");
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.code(), ErrorCode::kTimeout);
  EXPECT_NE(result.status().message().find("MOVED"), std::string::npos);
  EXPECT_FALSE(h.sleeps.empty());
}

TEST(Connection, PipelinesManyCommandsAndKeepsOrder) {
  FakeRespServer server(
      [](const Args& args, size_t) { return ScriptedAnswer::answer(Reply::bulk(args.at(1))); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto connection = Connection::open(server.address(), deadline);
  ASSERT_TRUE(connection.is_ok()) << connection.status().to_string();
  std::vector<Args> commands;
  for (int i = 0; i < 500; ++i) commands.push_back({"ECHO", std::to_string(i)});
  auto replies = connection.value()->call_many(commands, deadline);
  ASSERT_TRUE(replies.is_ok()) << replies.status().to_string();
  ASSERT_EQ(replies->size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(replies.value()[i], Reply::bulk(std::to_string(i)));
}

TEST(Connection, SilentServerTimesOutAndBreaksTheConnection) {
  FakeRespServer server([](const Args&, size_t) { return ScriptedAnswer::ignore(); });
  auto connection = Connection::open(server.address(),
                                     std::chrono::steady_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(connection.is_ok());
  auto reply = connection.value()->call(
      {"PING"}, std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
  ASSERT_FALSE(reply.is_ok());
  EXPECT_EQ(reply.code(), ErrorCode::kTimeout);
  EXPECT_TRUE(connection.value()->broken());
  EXPECT_EQ(connection.value()->call({"PING"}, std::chrono::steady_clock::now()).code(),
            ErrorCode::kUnavailable);
}

// The forwarder reuses idle connections; one the server closed meanwhile (a restarted leader)
// must be noticed before a request is written to it.
TEST(Connection, ServerCloseOfAnIdleConnectionIsNoticedWithoutSending) {
  auto server = std::make_unique<FakeRespServer>(
      [](const Args&, size_t) { return ScriptedAnswer::answer(Reply::simple("PONG")); });
  auto connection = Connection::open(server->address(),
                                     std::chrono::steady_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(connection.is_ok());
  ASSERT_TRUE(connection.value()
                  ->call({"PING"}, std::chrono::steady_clock::now() + std::chrono::seconds(5))
                  .is_ok());
  EXPECT_FALSE(connection.value()->closed_while_idle());
  EXPECT_FALSE(connection.value()->broken());
  server.reset();  // closes every connection it accepted
  // The FIN arrives asynchronously; wait for it (bounded), never sending anything.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!connection.value()->closed_while_idle() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(connection.value()->broken());
}

TEST(Connection, RefusedConnectIsUnavailable) {
  auto connection = Connection::open({"127.0.0.1", testing::unused_loopback_port()},
                                     std::chrono::steady_clock::now() + std::chrono::seconds(5));
  ASSERT_FALSE(connection.is_ok());
  EXPECT_EQ(connection.code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace raftkv::client
