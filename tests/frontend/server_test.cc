// RespServer on real sockets (127.0.0.1, port 0): pipelining order, backpressure, protocol
// errors, QUIT, max clients, stop() with open connections, and redis-cli. No sleeps: waits are
// on conditions with deadlines (poll() on the client socket, condition variables).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <asio.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_backend.h"
#include "frontend/resp_server.h"
#include "resp/reply.h"

namespace raftkv::frontend {
namespace {

using namespace std::chrono_literals;
using resp::Reply;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = 10s;

// A server on an io_context run by two threads (so that per-connection strands matter).
class ServerHarness {
 public:
  ServerHarness(Backend& backend, RespServerOptions options)
      : work_(asio::make_work_guard(io_)), server_(io_, backend, std::move(options)) {
    const Status started = server_.start();
    EXPECT_TRUE(started.is_ok()) << started.to_string();
    for (auto& thread : threads_) thread = std::thread([this] { io_.run(); });
  }
  ~ServerHarness() {
    server_.stop();
    EXPECT_TRUE(server_.wait_stopped(kTimeout));
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) thread.join();
  }
  RespServer& server() { return server_; }
  uint16_t port() { return server_.port(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  RespServer server_;
  std::array<std::thread, 2> threads_;
};

// A blocking POSIX client whose reads wait with poll() until a deadline.
class TestClient {
 public:
  explicit TestClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~TestClient() { ::close(fd_); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const { return connected_; }

  void send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send failed";
      sent += static_cast<size_t>(n);
    }
  }
  void send_command(const std::vector<std::string>& args) {
    std::string bytes;
    resp::append_command(bytes, args);
    send(bytes);
  }

  // Reads until `count` replies are parsed; fewer when the connection closes or time runs out.
  std::vector<Reply> read_replies(size_t count, std::chrono::milliseconds timeout = kTimeout) {
    std::vector<Reply> replies;
    const auto deadline = Clock::now() + timeout;
    Reply reply;
    while (replies.size() < count) {
      if (parser_.next(reply) == resp::ReplyOutcome::kReply) {
        replies.push_back(reply);
        continue;
      }
      if (!read_some(deadline)) break;
    }
    return replies;
  }
  Reply read_reply() {
    auto replies = read_replies(1);
    return replies.empty() ? Reply::error("<no reply>") : replies[0];
  }
  Reply call(const std::vector<std::string>& args) {
    send_command(args);
    return read_reply();
  }
  // True when the server closes the connection before the timeout (data still arriving is
  // parsed and kept for read_replies()).
  bool wait_closed(std::chrono::milliseconds timeout = kTimeout) {
    const auto deadline = Clock::now() + timeout;
    while (read_some(deadline)) {
    }
    return closed_;
  }

 private:
  // One recv() after waiting for readability until `deadline`; false on close, error, timeout.
  bool read_some(Clock::time_point deadline) {
    if (closed_) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[64 * 1024];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    parser_.feed(std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  resp::ReplyParser parser_;
};

RespServerOptions local_options() {
  RespServerOptions options;
  options.listen_addr = "127.0.0.1:0";
  return options;
}

TEST(RespServer, PipelinedRepliesKeepRequestOrderWhenTheBackendCompletesInReverse) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  ServerHarness harness(backend, local_options());
  TestClient client(harness.port());
  ASSERT_TRUE(client.connected());

  // 1,000 commands in one write: every 10th is a PING (answered at once, locally), the others
  // are held by the backend and completed last-first from this thread.
  std::string batch;
  size_t backend_commands = 0;
  for (int i = 0; i < 1000; ++i) {
    if (i % 10 == 0) {
      resp::append_command(batch, {"PING", fmt::format("p{}", i)});
    } else {
      resp::append_command(batch, {"GET", fmt::format("k{}", i)});
      ++backend_commands;
    }
  }
  client.send(batch);
  ASSERT_TRUE(backend.wait_for_held(backend_commands, kTimeout));
  backend.release_all_in_reverse();  // the fake answers "+k<i>"

  const auto replies = client.read_replies(1000);
  ASSERT_EQ(replies.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    const Reply expected =
        i % 10 == 0 ? Reply::bulk(fmt::format("p{}", i)) : Reply::simple(fmt::format("k{}", i));
    ASSERT_EQ(replies[static_cast<size_t>(i)], expected) << "reply " << i;
  }
}

TEST(RespServer, BackpressureBoundsCommandsInFlightPerConnection) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  RespServerOptions options = local_options();
  options.max_pending_replies = 8;
  ServerHarness harness(backend, options);
  TestClient client(harness.port());
  std::string batch;
  for (int i = 0; i < 100; ++i) resp::append_command(batch, {"GET", fmt::format("k{}", i)});
  client.send(batch);

  std::vector<Reply> replies;
  size_t most_held = 0;
  while (replies.size() < 100) {
    ASSERT_TRUE(backend.wait_for_held(1, kTimeout)) << "after " << replies.size() << " replies";
    most_held = std::max(most_held, backend.held_count());
    const size_t released = backend.release_all_in_reverse();
    // Read what was released (the server then frees the slots and dispatches more).
    for (const auto& reply : client.read_replies(released)) replies.push_back(reply);
  }
  EXPECT_LE(most_held, 8u);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(replies[static_cast<size_t>(i)], Reply::simple(fmt::format("k{}", i)));
  }
}

// Replies far larger than the socket buffers while the client is still sending: the server
// must neither block its strand on a full socket (the client's send would never finish) nor
// lose or reorder bytes when a write continues asynchronously.
TEST(RespServer, RepliesLargerThanTheSocketBuffersLeaveIntactWhenTheClientReads) {
  testing::FakeBackend backend;
  ServerHarness harness(backend, local_options());
  TestClient client(harness.port());
  constexpr int kCommands = 64;
  std::vector<std::string> values;
  std::string batch;
  for (int i = 0; i < kCommands; ++i) {
    values.push_back(std::string(256 << 10, static_cast<char>('a' + i % 26)) + std::to_string(i));
    resp::append_command(batch, {"ECHO", values.back()});
  }
  client.send(batch);  // 16 MiB: completes only if the server keeps reading
  const auto replies = client.read_replies(kCommands);
  ASSERT_EQ(replies.size(), static_cast<size_t>(kCommands));
  for (int i = 0; i < kCommands; ++i) {
    ASSERT_EQ(replies[static_cast<size_t>(i)], Reply::bulk(values[static_cast<size_t>(i)])) << i;
  }
  EXPECT_EQ(client.call({"PING"}), Reply::simple("PONG"));
}

TEST(RespServer, ProtocolErrorIsAnsweredThenOnlyThatClientIsClosed) {
  testing::FakeBackend backend;
  ServerHarness harness(backend, local_options());
  TestClient good(harness.port());
  TestClient bad(harness.port());
  EXPECT_EQ(good.call({"PING"}), Reply::simple("PONG"));

  bad.send("PING\r\n*1\r\n$x\r\n");
  const auto replies = bad.read_replies(2);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0], Reply::simple("PONG"));
  EXPECT_EQ(replies[1], Reply::error("ERR Protocol error: invalid bulk length"));
  EXPECT_TRUE(bad.wait_closed());

  EXPECT_EQ(good.call({"ECHO", "still here"}), Reply::bulk("still here"));
  EXPECT_EQ(good.call({"SET", "k", "v"}), Reply::simple("OK"));
}

TEST(RespServer, QuitRepliesOkThenCloses) {
  testing::FakeBackend backend;
  ServerHarness harness(backend, local_options());
  TestClient client(harness.port());
  client.send("PING\r\nQUIT\r\nPING\r\n");
  const auto replies = client.read_replies(3);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0], Reply::simple("PONG"));
  EXPECT_EQ(replies[1], Reply::simple("OK"));
  EXPECT_TRUE(client.wait_closed());
}

TEST(RespServer, MaxClientsRefusesExtraConnectionsWithTheRedisError) {
  testing::FakeBackend backend;
  RespServerOptions options = local_options();
  options.max_clients = 2;
  ServerHarness harness(backend, options);
  auto first = std::make_unique<TestClient>(harness.port());
  TestClient second(harness.port());
  EXPECT_EQ(first->call({"PING"}), Reply::simple("PONG"));
  EXPECT_EQ(second.call({"PING"}), Reply::simple("PONG"));

  TestClient third(harness.port());
  EXPECT_EQ(third.read_reply(), Reply::error("ERR max number of clients reached"));
  EXPECT_TRUE(third.wait_closed());
  EXPECT_EQ(harness.server().stats().rejected_connections.load(), 1u);

  // Once a client leaves, a new one is served (retry until the server has noticed the close).
  EXPECT_EQ(first->call({"QUIT"}), Reply::simple("OK"));
  EXPECT_TRUE(first->wait_closed());
  first.reset();
  const auto deadline = Clock::now() + kTimeout;
  bool served = false;
  while (!served && Clock::now() < deadline) {
    TestClient next(harness.port());
    served = next.call({"PING"}) == Reply::simple("PONG");
  }
  EXPECT_TRUE(served);
}

TEST(RespServer, StopClosesOpenConnectionsPromptly) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  auto io = std::make_unique<ServerHarness>(backend, local_options());
  TestClient idle(io->port());
  TestClient waiting(io->port());
  TestClient partial(io->port());
  EXPECT_EQ(idle.call({"PING"}), Reply::simple("PONG"));
  waiting.send_command({"GET", "k"});
  ASSERT_TRUE(backend.wait_for_held(1, kTimeout));
  partial.send("*2\r\n$3\r\nGET\r\n$10\r\nabc");

  const auto started = Clock::now();
  io->server().stop();
  EXPECT_TRUE(io->server().wait_stopped(kTimeout));
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_EQ(io->server().connection_count(), 0u);
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(waiting.wait_closed());
  EXPECT_TRUE(partial.wait_closed());
  // A completion arriving after stop() is dropped without harm.
  backend.release_all_in_reverse();
  io.reset();
}

TEST(RespServer, ManyClientsIncrementOneCounterConcurrently) {
  testing::InMemoryBackend backend;
  ServerHarness harness(backend, local_options());
  constexpr int kClients = 8;
  constexpr int kIncrements = 200;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<TestClient>(harness.port()));
    std::string batch;
    for (int i = 0; i < kIncrements; ++i) resp::append_command(batch, {"INCR", "counter"});
    clients.back()->send(batch);
  }
  for (auto& client : clients) {
    const auto replies = client->read_replies(kIncrements);
    ASSERT_EQ(replies.size(), static_cast<size_t>(kIncrements));
    for (size_t i = 1; i < replies.size(); ++i) {
      EXPECT_LT(replies[i - 1].integer, replies[i].integer);  // one connection's INCRs in order
    }
  }
  EXPECT_EQ(clients[0]->call({"GET", "counter"}),
            Reply::bulk(std::to_string(kClients * kIncrements)));
  EXPECT_EQ(clients[0]->call({"DBSIZE"}), Reply::integer_reply(1));
}

// Runs a shell command (bounded by `timeout`) and returns its stdout.
std::optional<std::string> run_command(const std::string& command) {
  FILE* pipe = ::popen(("timeout 10 " + command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string output;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  return output;
}

TEST(RespServer, RedisCliWorksAgainstTheServer) {
  if (!run_command("redis-cli --version")) GTEST_SKIP() << "redis-cli is not installed";
  testing::InMemoryBackend backend;
  ServerHarness harness(backend, local_options());
  backend.set_client_addr(fmt::format("127.0.0.1:{}", harness.port()));
  const std::string cli = fmt::format("redis-cli -p {} ", harness.port());
  EXPECT_EQ(run_command(cli + "ping"), "PONG\n");
  EXPECT_EQ(run_command(cli + "set a b"), "OK\n");
  EXPECT_EQ(run_command(cli + "get a"), "b\n");
  EXPECT_EQ(run_command(cli + "dbsize"), "1\n");
  EXPECT_EQ(run_command(cli + "-c get a"), "b\n");  // cluster mode
  const auto info = run_command(cli + "info keyspace");
  ASSERT_TRUE(info.has_value());
  EXPECT_NE(info->find("db0:keys=1,expires=0,avg_ttl=0"), std::string::npos) << *info;
}

}  // namespace
}  // namespace raftkv::frontend
