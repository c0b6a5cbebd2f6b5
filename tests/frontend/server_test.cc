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
  RespServerOptions options = local_options();
  options.initial_pipeline_window = options.max_pending_replies;  // all 900 held at once
  ServerHarness harness(backend, options);
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

// Redis runs a connection's commands in order (issue 11, defect 1: a pipelined SET, INCR, GET
// answered +OK, :2, $-1). A read sent after a write still in flight is passed to the backend
// marked to observe that write; a read with no write before it is not.
TEST(RespServer, PipelinedReadAfterAWriteInFlightIsOrderedAfterIt) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  ServerHarness harness(backend, local_options());
  TestClient client(harness.port());
  std::string batch;
  resp::append_command(batch, {"GET", "k"});
  resp::append_command(batch, {"EXISTS", "k"});
  client.send(batch);
  ASSERT_TRUE(backend.wait_for_held(2, kTimeout));
  backend.release_all_in_reverse();
  ASSERT_EQ(client.read_replies(2).size(), 2u);

  batch.clear();
  resp::append_command(batch, {"SET", "k", "1"});
  resp::append_command(batch, {"INCR", "k"});
  resp::append_command(batch, {"GET", "k"});
  resp::append_command(batch, {"MGET", "k", "j"});
  client.send(batch);
  ASSERT_TRUE(backend.wait_for_held(4, kTimeout));  // all four at once: still pipelined
  backend.release_all_in_reverse();
  ASSERT_EQ(client.read_replies(4).size(), 4u);

  const auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_FALSE(calls[0].after_own_writes);  // GET with nothing before it
  EXPECT_FALSE(calls[1].after_own_writes);
  EXPECT_TRUE(calls[2].write);
  EXPECT_TRUE(calls[3].write);
  EXPECT_FALSE(calls[4].write);
  EXPECT_TRUE(calls[4].after_own_writes) << "GET after SET/INCR in flight";
  EXPECT_TRUE(calls[5].after_own_writes) << "MGET after SET/INCR in flight";
}

// The other direction of the same rule: a write sent after a read still in flight must not be
// visible to that read, so it goes to the backend only once the read has completed; the
// commands after it wait behind it, and replies keep request order.
TEST(RespServer, PipelinedWriteWaitsForTheConnectionsEarlierReads) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  ServerHarness harness(backend, local_options());
  TestClient client(harness.port());
  std::string batch;
  resp::append_command(batch, {"GET", "a"});
  resp::append_command(batch, {"GET", "b"});
  resp::append_command(batch, {"SET", "a", "1"});
  resp::append_command(batch, {"PING", "after"});
  resp::append_command(batch, {"GET", "a"});
  client.send(batch);
  ASSERT_TRUE(backend.wait_for_held(2, kTimeout));
  EXPECT_EQ(backend.release_all_in_reverse(), 2u);  // both GETs
  ASSERT_TRUE(backend.wait_for_held(2, kTimeout));  // then SET, and the GET after it
  EXPECT_EQ(backend.release_all_in_reverse(), 2u);
  const auto replies = client.read_replies(5);
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0], Reply::simple("a"));
  EXPECT_EQ(replies[1], Reply::simple("b"));
  EXPECT_EQ(replies[2], Reply::simple("a"));  // the fake echoes args[1]
  EXPECT_EQ(replies[3], Reply::bulk("after"));
  EXPECT_EQ(replies[4], Reply::simple("a"));

  const auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_TRUE(calls[2].write);
  EXPECT_EQ(calls[2].completed_before, 2u) << "SET dispatched before the GETs completed";
  EXPECT_TRUE(calls[3].after_own_writes);
}

// Issue 12: a membership change completes asynchronously (once committed) and is a barrier:
// it goes once the write before it has completed, and the read and write after it go only once
// it has completed, so they take effect after it, as sent. A PING after it is answered at once
// but still leaves in request order.
TEST(RespServer, MembershipChangeInFlightHoldsBackTheCommandsAfterIt) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  ServerHarness harness(backend, local_options());
  TestClient client(harness.port());
  std::string batch;
  resp::append_command(batch, {"SET", "a", "1"});
  resp::append_command(batch, {"RAFTKV.MEMBER", "ADD", "4", "127.0.0.1:7104", "127.0.0.1:7004"});
  resp::append_command(batch, {"PING", "after"});
  resp::append_command(batch, {"GET", "a"});
  resp::append_command(batch, {"SET", "b", "2"});
  client.send(batch);
  ASSERT_TRUE(backend.wait_for_held(1, kTimeout));
  EXPECT_EQ(backend.release_all_in_reverse(), 1u);  // SET a
  ASSERT_TRUE(backend.wait_for_held(1, kTimeout));
  EXPECT_EQ(backend.release_all_in_reverse(), 1u);  // MEMBER ADD
  ASSERT_TRUE(backend.wait_for_held(1, kTimeout));
  EXPECT_EQ(backend.release_all_in_reverse(), 1u);  // GET a
  ASSERT_TRUE(backend.wait_for_held(1, kTimeout));
  EXPECT_EQ(backend.release_all_in_reverse(), 1u);  // SET b
  const auto replies = client.read_replies(5);
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0], Reply::simple("a"));  // the fake echoes args[1]
  EXPECT_EQ(replies[1], Reply::simple("member"));
  EXPECT_EQ(replies[2], Reply::bulk("after"));
  EXPECT_EQ(replies[3], Reply::simple("a"));
  EXPECT_EQ(replies[4], Reply::simple("b"));

  const auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1].admin, "member");
  EXPECT_EQ(calls[1].completed_before, 1u) << "MEMBER ADD dispatched before the SET completed";
  EXPECT_EQ(calls[2].completed_before, 2u) << "GET dispatched before MEMBER ADD completed";
  EXPECT_FALSE(calls[2].after_own_writes);
  EXPECT_EQ(calls[3].completed_before, 3u);
}

// A client that pipelines reads and never reads the replies (issue 11, defect 4: 1,075 MiB for
// one such client with 1 MiB values): past the hard output buffer limit the server closes it,
// counts it, and keeps serving others.
TEST(RespServer, ClientThatDoesNotReadIsClosedAtTheOutputBufferLimit) {
  for (const bool soft : {false, true}) {
    SCOPED_TRACE(soft ? "soft limit, 0 seconds" : "hard limit");
    testing::FakeBackend backend;
    backend.set_outcome(kv::Reply::bulk(std::string(256 << 10, 'v')));
    RespServerOptions options = local_options();
    options.output_limit = soft ? OutputBufferLimit{0, size_t{1} << 20, std::chrono::seconds(0)}
                                : OutputBufferLimit{size_t{1} << 20, 0, std::chrono::seconds(0)};
    ServerHarness harness(backend, options);
    TestClient slow(harness.port());
    std::string batch;
    for (int i = 0; i < 200; ++i) resp::append_command(batch, {"GET", fmt::format("k{}", i)});
    slow.send(batch);  // 50 MiB of replies, far beyond the limit and the socket buffers
    EXPECT_TRUE(slow.wait_closed());
    EXPECT_LT(slow.read_replies(200, std::chrono::milliseconds(0)).size(), 200u);
    EXPECT_EQ(harness.server().stats().client_output_buffer_limit_disconnections.load(), 1u);
    TestClient other(harness.port());
    EXPECT_EQ(other.call({"PING"}), Reply::simple("PONG"));
  }
}

// The pipeline window starts small and grows by one per reply, but never beyond what the
// replies seen so far say fits in half the output buffer limit: with 256 KiB replies and a
// 32 MiB limit, at most 64 requests are in flight however deep the client's pipeline is.
TEST(RespServer, PipelineWindowIsBoundedByTheOutputLimitOverReplySize) {
  testing::FakeBackend backend;
  backend.set_holding(true);
  RespServerOptions options = local_options();
  options.initial_pipeline_window = 32;
  options.output_limit = OutputBufferLimit{size_t{32} << 20, 0, std::chrono::seconds(0)};
  ServerHarness harness(backend, options);
  TestClient client(harness.port());
  std::string batch;
  for (int i = 0; i < 300; ++i) resp::append_command(batch, {"GET", fmt::format("k{}", i)});
  client.send(batch);
  const kv::Reply reply = kv::Reply::bulk(std::string(256 << 10, 'r'));
  size_t replies = 0, first_held = 0, most_held = 0;
  while (replies < 300) {
    ASSERT_TRUE(backend.wait_for_held(1, kTimeout)) << "after " << replies << " replies";
    const size_t held = backend.held_count();
    if (first_held == 0) first_held = held;
    most_held = std::max(most_held, held);
    const size_t released = backend.release_all_with(reply);
    ASSERT_EQ(client.read_replies(released).size(), released);
    replies += released;
  }
  EXPECT_LE(first_held, 32u);
  EXPECT_GT(most_held, 32u) << "the window grows";
  EXPECT_LE(most_held, 64u) << "32 MiB / 2 / 256 KiB";
  EXPECT_EQ(harness.server().stats().client_output_buffer_limit_disconnections.load(), 0u);
}

// One reply larger than the limit is delivered when nothing else is buffered (a GET of a value
// up to max-value-bytes must work whatever the limit).
TEST(RespServer, OneReplyLargerThanTheOutputBufferLimitIsDelivered) {
  testing::FakeBackend backend;
  const std::string value(8 << 20, 'x');
  backend.set_outcome(kv::Reply::bulk(value));
  RespServerOptions options = local_options();
  options.output_limit = OutputBufferLimit{size_t{1} << 20, 0, std::chrono::seconds(0)};
  ServerHarness harness(backend, options);
  TestClient client(harness.port());
  EXPECT_EQ(client.call({"GET", "big"}), Reply::bulk(value));
  EXPECT_EQ(client.call({"PING"}), Reply::simple("PONG"));
  EXPECT_EQ(harness.server().stats().client_output_buffer_limit_disconnections.load(), 0u);
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
