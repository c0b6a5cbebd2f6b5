// Pure pieces of the client: address parsing, reply classification (MOVED, CLUSTERDOWN,
// TRYAGAIN, SESSIONEXPIRED), the backoff schedule, the write-command table.
#include "client/retry_policy.h"

#include <gtest/gtest.h>

namespace raftkv::client {
namespace {

using resp::Reply;

TEST(Address, ParsesHostPortAndLists) {
  auto a = parse_host_port("127.0.0.1:7001");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a.value(), (HostPort{"127.0.0.1", 7001}));
  auto v6 = parse_host_port("[::1]:80");
  ASSERT_TRUE(v6.is_ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "[::1]:80");
  auto list = parse_address_list("a:1, b:2,c:3");
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ(list->size(), 3u);
  EXPECT_EQ(list.value()[1], (HostPort{"b", 2}));
}

TEST(Address, RejectsMalformedAddresses) {
  for (const char* bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:8x", "::1:80",
                          "[::1]80", "[::1"}) {
    EXPECT_FALSE(parse_host_port(bad).is_ok()) << bad;
  }
  EXPECT_FALSE(parse_address_list(" , ").is_ok());
  EXPECT_FALSE(parse_address_list("a:1,b").is_ok());
}

TEST(ReplyClassification, MovedIsARedirectToTheNamedAddress) {
  auto moved = parse_moved("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved.is_ok());
  EXPECT_EQ(moved->slot, 3999u);
  EXPECT_EQ(moved->address, (HostPort{"127.0.0.1", 6381}));

  const ReplyDecision d = classify_reply(Reply::error("MOVED 0 10.0.0.2:7002"));
  EXPECT_EQ(d.action, ReplyAction::kRedirect);
  EXPECT_EQ(d.redirect, (HostPort{"10.0.0.2", 7002}));
}

TEST(ReplyClassification, MalformedMovedIsShownNotFollowed) {
  for (const char* bad : {"MOVED", "MOVED 1", "MOVED x 1.2.3.4:5", "MOVED 16384 a:1",
                          "MOVED 1 nohostport", "MOVEDX 1 a:1"}) {
    EXPECT_FALSE(parse_moved(bad).is_ok()) << bad;
    EXPECT_EQ(classify_reply(Reply::error(bad)).action, ReplyAction::kDone) << bad;
  }
}

TEST(ReplyClassification, RetryableAndFinalReplies) {
  EXPECT_EQ(classify_reply(Reply::error("CLUSTERDOWN no leader elected yet, retry later")).action,
            ReplyAction::kRetryElsewhere);
  EXPECT_EQ(classify_reply(Reply::error("TRYAGAIN proposal dropped")).action, ReplyAction::kRetry);
  EXPECT_EQ(classify_reply(Reply::error("LOADING")).action, ReplyAction::kRetry);
  EXPECT_EQ(classify_reply(Reply::error("SESSIONEXPIRED client 5")).action,
            ReplyAction::kSessionExpired);
  EXPECT_EQ(classify_reply(Reply::error("ERR wrong number of arguments")).action,
            ReplyAction::kDone);
  EXPECT_EQ(classify_reply(Reply::error("TRYAGAINX")).action, ReplyAction::kDone);
  // Only error replies are ever retried: a bulk string that looks like an error is data.
  EXPECT_EQ(classify_reply(Reply::bulk("TRYAGAIN")).action, ReplyAction::kDone);
  EXPECT_EQ(classify_reply(Reply::simple("OK")).action, ReplyAction::kDone);
}

TEST(Backoff, DelayIsBetweenHalfTheCapAndTheCap) {
  BackoffPolicy policy;
  policy.initial_delay = std::chrono::milliseconds(10);
  policy.max_delay = std::chrono::milliseconds(1000);
  SeededRng rng(7);
  for (uint32_t attempt = 0; attempt < 40; ++attempt) {
    const auto cap = std::min<std::chrono::nanoseconds>(
        policy.max_delay, policy.initial_delay * (attempt < 20 ? (1ll << attempt) : (1ll << 20)));
    for (int i = 0; i < 100; ++i) {
      const auto d = backoff_delay(policy, attempt, rng);
      EXPECT_GE(d, cap / 2) << "attempt " << attempt;
      EXPECT_LE(d, cap) << "attempt " << attempt;
    }
  }
}

TEST(Backoff, SameSeedSameSchedule) {
  const BackoffPolicy policy;
  SeededRng a(123), b(123), c(124);
  std::vector<std::chrono::nanoseconds> from_a, from_b, from_c;
  for (uint32_t attempt = 0; attempt < 10; ++attempt) {
    from_a.push_back(backoff_delay(policy, attempt, a));
    from_b.push_back(backoff_delay(policy, attempt, b));
    from_c.push_back(backoff_delay(policy, attempt, c));
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);  // jitter: a different seed spreads clients apart
}

TEST(Backoff, HugeAttemptNumbersSaturateAtTheMaximum) {
  BackoffPolicy policy;
  policy.max_delay = std::chrono::milliseconds(500);
  SeededRng rng(1);
  const auto d = backoff_delay(policy, 100000, rng);
  EXPECT_GE(d, std::chrono::milliseconds(250));
  EXPECT_LE(d, std::chrono::milliseconds(500));
  policy.initial_delay = policy.max_delay = std::chrono::nanoseconds(0);
  EXPECT_EQ(backoff_delay(policy, 3, rng), std::chrono::nanoseconds(0));
}

TEST(WriteCommands, MatchTheServerTableCaseInsensitively) {
  for (const char* w : {"SET", "set", "SetNx", "DEL", "APPEND", "INCR", "DECR", "INCRBY", "DECRBY",
                        "MSET", "GETDEL"}) {
    EXPECT_TRUE(is_write_command(w)) << w;
  }
  for (const char* r :
       {"GET", "MGET", "EXISTS", "STRLEN", "SCAN", "DBSIZE", "PING", "INFO", "", "SETSETSETSET"}) {
    EXPECT_FALSE(is_write_command(r)) << r;
  }
}

}  // namespace
}  // namespace raftkv::client
