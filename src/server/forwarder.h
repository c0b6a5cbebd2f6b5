// Relays an operator command (RAFTKV.MEMBER ..., RAFTKV.TRANSFER) that this node cannot serve
// to the leader's client address, and hands the leader's reply back as this node's reply: a
// follower answers membership commands like the leader would (issue 12).
//
// Bounded: kWorkers threads, each with one reused client connection (reopened when the target
// changes or the connection broke), and at most kMaxQueued requests waiting; beyond that a
// request fails at once with kTooLarge (-TRYAGAIN). Each request has a deadline; a leader that
// answers "-MOVED <slot> <addr>" (it lost leadership meanwhile) is followed to `addr`, at most
// kMaxHops times within the deadline.
//
// Thread-safety: forward() may be called from any thread; completions run on a worker thread.
// The destructor fails what is queued (kShutdown) and joins the workers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "client/node_auth.h"
#include "kv/reply.h"
#include "resp/reply.h"

namespace raftkv::server {

class LeaderForwarder {
 public:
  static constexpr size_t kWorkers = 4;
  static constexpr size_t kMaxQueued = 64;
  static constexpr int kMaxHops = 3;
  static constexpr std::chrono::milliseconds kReconnectWait{100};

  using Done = std::function<void(Result<kv::Reply>)>;

  // With a cluster secret, every connection proves this node first (RAFTKV.NODEAUTH), so the
  // leader runs the relayed command even when clients must authenticate.
  explicit LeaderForwarder(client::NodeCredentials credentials = {});
  ~LeaderForwarder();
  LeaderForwarder(const LeaderForwarder&) = delete;
  LeaderForwarder& operator=(const LeaderForwarder&) = delete;

  // Where the leader serves clients now ("host:port"; "" when no leader is known). Called on a
  // worker thread.
  using LeaderAddr = std::function<std::string()>;

  // Sends `args` to `leader_addr` ("host:port") and completes with its reply (any RESP reply,
  // errors included, as a kv::Reply), or kUnavailable / kTimeout / kTooLarge / kShutdown. If
  // the leader cannot be connected to (nothing was sent), `current_leader` is asked again
  // every kReconnectWait until the deadline: a leader that just died is replaced by another.
  void forward(std::string leader_addr, std::vector<std::string> args,
               std::chrono::milliseconds timeout, Done done, LeaderAddr current_leader = {});

  // resp::Reply (what a client reads) → kv::Reply (what a Backend completes with).
  static kv::Reply to_kv_reply(const resp::Reply& reply);

 private:
  struct Request {
    std::string addr;
    std::vector<std::string> args;
    std::chrono::steady_clock::time_point deadline;
    Done done;
    LeaderAddr current_leader;
  };
  void worker_loop();
  // Sleeps `wait` (not past `deadline`); false if stopping or the deadline passed.
  bool wait_for_stop(std::chrono::milliseconds wait,
                     std::chrono::steady_clock::time_point deadline);

  const client::NodeCredentials credentials_;
  std::mutex mu_;
  std::condition_variable cv_;       // a request was queued, or stopping
  std::condition_variable stop_cv_;  // stopping (wakes workers waiting to reconnect)
  std::deque<Request> queue_;        // Invariant: size() <= kMaxQueued
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace raftkv::server
