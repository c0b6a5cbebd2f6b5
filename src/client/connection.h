// One RESP connection to one server over TCP, with blocking calls bounded by deadlines.
//
// The socket is non-blocking underneath; every wait is a poll() bounded by the caller's
// deadline, so no call blocks past it. Requests are pipelined: call_many() writes all commands
// while reading replies as they arrive (never deadlocks against a server that blocks writing
// replies), then returns the replies in order.
//
// Failure model: after any error (I/O, timeout, malformed reply) the stream position is unknown
// — a late reply could be taken for the answer to the next request — so the connection marks
// itself broken and refuses further use. The owner discards it and opens a new one.
//
// Thread-safety: none; one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/address.h"
#include "resp/reply.h"

namespace raftkv::client {

using Deadline = std::chrono::steady_clock::time_point;

class Connection {
 public:
  // Resolves `address` and connects (TCP_NODELAY), trying each resolved address until one
  // succeeds or the deadline passes. Errors: kUnavailable (refused, unreachable, unresolvable),
  // kTimeout.
  static Result<std::unique_ptr<Connection>> open(const HostPort& address, Deadline deadline,
                                                  resp::ReplyLimits limits = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and reads its reply. A server error reply ("-ERR ...") is a successful
  // call returning a Reply of type kError. Errors: kIoError (reset, closed), kTimeout,
  // kCorruption (malformed reply), kUnavailable (connection already broken).
  Result<resp::Reply> call(const std::vector<std::string>& args, Deadline deadline);
  // Pipelines the commands in one write and returns their replies in order.
  Result<std::vector<resp::Reply>> call_many(const std::vector<std::vector<std::string>>& commands,
                                             Deadline deadline);
  // Lower level: writes already encoded bytes, then reads `reply_count` replies.
  Result<std::vector<resp::Reply>> exchange(std::string_view request_bytes, size_t reply_count,
                                            Deadline deadline);

  bool broken() const { return broken_; }
  // Without blocking: true (and the connection marked broken) if the server closed or reset
  // this idle connection, or sent bytes nobody asked for. Checked before reusing a connection
  // that sat idle, so a request is not lost on a socket the server already closed (a
  // restarted leader) — sending on it would fail after the request may have been written.
  bool closed_while_idle();
  const HostPort& peer() const { return peer_; }

 private:
  Connection(int fd, HostPort peer, resp::ReplyLimits limits);
  Status fail(ErrorCode code, std::string message);

  int fd_ = -1;  // Invariant: valid (non-negative) for the object's lifetime.
  HostPort peer_;
  resp::ReplyParser parser_;
  bool broken_ = false;
};

}  // namespace raftkv::client
