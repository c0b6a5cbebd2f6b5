#include "client/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace raftkv::client {
namespace {

// Milliseconds until `deadline` for poll(): 0 when passed, rounded up so that we do not spin.
int poll_timeout_ms(Deadline deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1;
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// One non-blocking connect attempt to a resolved address, bounded by the deadline. Returns the
// connected fd, or -1 with `error` set.
int connect_one(const addrinfo& ai, Deadline deadline, Status& error) {
  const int fd =
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) {
    error = Status(ErrorCode::kUnavailable, "socket: " + errno_text(errno));
    return -1;
  }
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      error = Status(ErrorCode::kUnavailable, "connect: " + errno_text(errno));
      ::close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, poll_timeout_ms(deadline));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      error = Status(ErrorCode::kTimeout, "connect timed out");
      ::close(fd);
      return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 ||
        so_error != 0) {
      error = Status(ErrorCode::kUnavailable,
                     "connect: " + errno_text(so_error != 0 ? so_error : errno));
      ::close(fd);
      return -1;
    }
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const HostPort& address, Deadline deadline,
                                                     resp::ReplyLimits limits) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return Status(ErrorCode::kUnavailable,
                  "cannot resolve " + address.to_string() + ": " + ::gai_strerror(rc));
  }
  Status last(ErrorCode::kUnavailable, "no addresses");
  int fd = -1;
  for (const addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = connect_one(*ai, deadline, last);
  }
  ::freeaddrinfo(found);
  if (fd < 0) return Status(last.code(), address.to_string() + ": " + last.message());
  return std::unique_ptr<Connection>(new Connection(fd, address, limits));
}

Connection::Connection(int fd, HostPort peer, resp::ReplyLimits limits)
    : fd_(fd), peer_(std::move(peer)), parser_(limits) {}

Connection::~Connection() {
  ::close(fd_);
}

Status Connection::fail(ErrorCode code, std::string message) {
  broken_ = true;
  return Status(code, peer_.to_string() + ": " + message);
}

bool Connection::closed_while_idle() {
  if (broken_) return true;
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  broken_ = true;  // 0: orderly close; > 0: an unsolicited reply; < 0: reset
  return true;
}

Result<resp::Reply> Connection::call(const std::vector<std::string>& args, Deadline deadline) {
  std::string bytes;
  resp::append_command(bytes, args);
  auto replies = exchange(bytes, 1, deadline);
  if (!replies) return replies.status();
  return std::move(replies.value().front());
}

Result<std::vector<resp::Reply>> Connection::call_many(
    const std::vector<std::vector<std::string>>& commands, Deadline deadline) {
  std::string bytes;
  for (const auto& args : commands) resp::append_command(bytes, args);
  return exchange(bytes, commands.size(), deadline);
}

Result<std::vector<resp::Reply>> Connection::exchange(std::string_view request_bytes,
                                                      size_t reply_count, Deadline deadline) {
  if (broken_) return Status(ErrorCode::kUnavailable, peer_.to_string() + ": connection broken");
  std::vector<resp::Reply> replies;
  replies.reserve(reply_count);
  size_t written = 0;
  char buffer[16 * 1024];
  // Invariant: replies are taken only as far as reply_count; the request is written fully
  // before returning (reply_count == 0 is a pure write).
  while (replies.size() < reply_count || written < request_bytes.size()) {
    if (replies.size() < reply_count) {
      resp::Reply reply;
      const auto outcome = parser_.next(reply);
      if (outcome == resp::ReplyOutcome::kReply) {
        replies.push_back(std::move(reply));
        continue;
      }
      if (outcome == resp::ReplyOutcome::kError) {
        return fail(ErrorCode::kCorruption, "malformed reply: " + parser_.error());
      }
    } else if (reply_count > 0) {
      // All replies arrived before the whole request was written: the server answered
      // something we did not finish asking. The stream is out of step.
      return fail(ErrorCode::kCorruption, "reply arrived before the request was sent");
    }
    // Need more bytes: wait for readability (and writability while the request is unsent).
    const bool want_read = replies.size() < reply_count;
    const bool want_write = written < request_bytes.size();
    pollfd p{fd_, static_cast<short>((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0)), 0};
    const int ready = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kIoError, "poll: " + errno_text(errno));
    }
    if (ready == 0) return fail(ErrorCode::kTimeout, "timed out waiting for reply");
    if (want_write && (p.revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n =
          ::send(fd_, request_bytes.data() + written, request_bytes.size() - written, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return fail(ErrorCode::kIoError, "send: " + errno_text(errno));
      }
      if (n > 0) written += static_cast<size_t>(n);
    }
    if (want_read && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n == 0) return fail(ErrorCode::kIoError, "connection closed by server");
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return fail(ErrorCode::kIoError, "recv: " + errno_text(errno));
      }
      parser_.feed(std::string_view(buffer, static_cast<size_t>(n)));
    }
  }
  return replies;
}

}  // namespace raftkv::client
