// The client against a real RESP peer: a redis-server started on a free loopback port (skipped
// when redis-server is not installed). Sessions are disabled: redis-server does not know
// RAFTKV.REQ. Readiness is awaited by the client's own connect retries, not by sleeping.
#include <gtest/gtest.h>

#include "client/client.h"
#include "redis_process.h"

namespace raftkv::client {
namespace {

class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string binary = testing::find_redis_server();
    if (binary.empty()) GTEST_SKIP() << "redis-server not installed";
    ASSERT_TRUE(redis_.start(binary));
    port_ = redis_.port();
  }
  ClientOptions options() const {
    ClientOptions o;
    o.seeds = {{"127.0.0.1", port_}};
    o.sessions = false;
    o.call_timeout = std::chrono::milliseconds(10000);  // covers redis-server start-up
    o.backoff.initial_delay = std::chrono::milliseconds(5);
    o.backoff.max_delay = std::chrono::milliseconds(100);
    return o;
  }

  testing::RedisProcess redis_;
  uint16_t port_ = 0;
};

TEST_F(RedisServerTest, StringCommandsRoundTrip) {
  Client client(options(), std::make_unique<SeededRng>(5));
  ASSERT_TRUE(client.ping().is_ok());

  ASSERT_TRUE(client.set("greeting", "hello").is_ok());
  auto got = client.get("greeting");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got.value(), std::optional<std::string>("hello"));
  auto missing = client.get("nope");
  ASSERT_TRUE(missing.is_ok());
  EXPECT_FALSE(missing->has_value());

  EXPECT_EQ(client.append("greeting", ", world").value(), 12);
  EXPECT_EQ(client.incr("counter").value(), 1);
  EXPECT_EQ(client.incrby("counter", 41).value(), 42);
  auto wrong = client.incr("greeting");
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.code(), ErrorCode::kInvalidArgument);

  const std::string binary("a\0b\r\nc", 6);
  ASSERT_TRUE(client.mset({{"k1", "v1"}, {"k2", binary}}).is_ok());
  auto values = client.mget({"k1", "k2", "k3"});
  ASSERT_TRUE(values.is_ok());
  ASSERT_EQ(values->size(), 3u);
  EXPECT_EQ(values.value()[0], std::optional<std::string>("v1"));
  EXPECT_EQ(values.value()[1], std::optional<std::string>(binary));
  EXPECT_FALSE(values.value()[2].has_value());

  EXPECT_EQ(client.exists({"k1", "k2", "k3"}).value(), 2);
  EXPECT_EQ(client.del({"k1", "k2", "k3"}).value(), 2);
  EXPECT_EQ(client.getdel("greeting").value(), std::optional<std::string>("hello, world"));
  EXPECT_FALSE(client.get("greeting").value().has_value());

  auto raw = client.command({"DBSIZE"});
  ASSERT_TRUE(raw.is_ok());
  EXPECT_EQ(raw->type, resp::Reply::Type::kInteger);
  EXPECT_EQ(client.stats().redirects, 0u);
}

TEST_F(RedisServerTest, PipelinedCommandsOnOneConnection) {
  Client client(options(), std::make_unique<SeededRng>(6));
  ASSERT_TRUE(client.ping().is_ok());  // waits until redis-server listens
  auto connection = Connection::open({"127.0.0.1", port_},
                                     std::chrono::steady_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(connection.is_ok());
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 1000; ++i) commands.push_back({"INCR", "pipelined"});
  auto replies = connection.value()->call_many(
      commands, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(replies.is_ok()) << replies.status().to_string();
  ASSERT_EQ(replies->size(), 1000u);
  EXPECT_EQ(replies->back(), resp::Reply::integer_reply(1000));
}

}  // namespace
}  // namespace raftkv::client
