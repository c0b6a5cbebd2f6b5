// A scripted RESP server for client tests: listens on 127.0.0.1 (ephemeral port), parses
// requests on its own thread and answers each with what the test's script returns. Records
// every command received, in order, across all connections.
//
// Thread-safety: the script runs on the server thread, with the server's lock held; received()
// and the counters may be read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/address.h"
#include "resp/reply.h"

namespace raftkv::client::testing {

struct ScriptedAnswer {
  enum class Kind : uint8_t {
    kReply,   // send `reply`
    kClose,   // close the connection without answering (a crash after receiving)
    kIgnore,  // say nothing, keep the connection open (a hung server)
  };
  Kind kind = Kind::kReply;
  resp::Reply reply;

  static ScriptedAnswer answer(resp::Reply r) { return {Kind::kReply, std::move(r)}; }
  static ScriptedAnswer close() { return {Kind::kClose, {}}; }
  static ScriptedAnswer ignore() { return {Kind::kIgnore, {}}; }
};

class FakeRespServer {
 public:
  // `index` counts the commands this server received before this one (0-based).
  using Script = std::function<ScriptedAnswer(const std::vector<std::string>& args, size_t index)>;

  explicit FakeRespServer(Script script);
  ~FakeRespServer();
  FakeRespServer(const FakeRespServer&) = delete;
  FakeRespServer& operator=(const FakeRespServer&) = delete;

  uint16_t port() const { return port_; }
  HostPort address() const { return HostPort{"127.0.0.1", port_}; }
  std::vector<std::vector<std::string>> received() const;
  size_t connections_accepted() const;

 private:
  void run();

  Script script_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::vector<std::string>> received_;  // guarded by mutex_
  size_t connections_accepted_ = 0;                 // guarded by mutex_
  std::thread thread_;
};

// A loopback port with nothing listening on it (bound, then released; connect is refused).
uint16_t unused_loopback_port();

}  // namespace raftkv::client::testing
