// Test helpers for RespServer on real sockets (127.0.0.1): a server run by two io threads and a
// blocking POSIX client whose reads wait with poll() until a deadline (no sleeps). The same
// classes as in server_test.cc, shared here for the ACL socket tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <asio.hpp>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "frontend/resp_server.h"
#include "resp/reply.h"

namespace raftkv::frontend::testing {

using Clock = std::chrono::steady_clock;
using resp::Reply;
inline constexpr std::chrono::milliseconds kSocketTimeout{10'000};

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
    EXPECT_TRUE(server_.wait_stopped(kSocketTimeout));
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
  std::vector<Reply> read_replies(size_t count,
                                  std::chrono::milliseconds timeout = kSocketTimeout) {
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
  bool wait_closed(std::chrono::milliseconds timeout = kSocketTimeout) {
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

}  // namespace raftkv::frontend::testing
