// --join (issue 12): a node with an empty data dir asks a running cluster to add it.
//
// On its own thread, until done or stopped: connects to the member at `join_addr` (its client
// address; a follower forwards to the leader), reads RAFTKV.MEMBER LIST and adds every member's
// peer address to the transport (so that this node accepts, or dials, the leader), then sends
// RAFTKV.MEMBER ADD <id> <peer-addr> <client-addr> until it answers +OK or "already a member",
// and reads the list once more. The node then waits, uninitialized, for the leader to
// replicate to it (it never bootstraps); once the learner has caught up the leader promotes it
// (--auto-promote). Errors are retried with backoff (0.5 s doubling to 5 s) and logged.
//
// Also discovery only (JoinOptions::seed_addrs, below).
//
// Thread-safety: construct, then stop() (or destroy) from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/ids.h"
#include "base/log.h"
#include "client/node_auth.h"
#include "resp/reply.h"

namespace raftkv::transport {
class Transport;
}

namespace raftkv::server {

struct JoinOptions {
  NodeId self;
  std::string peer_addr, client_addr;  // this node's, as the cluster will record them
  std::string join_addr;               // a member's client address
  // Without join_addr: discovery only. An initial member that starts without a log (a wiped
  // disk, or a cluster not bootstrapped yet) reads RAFTKV.MEMBER LIST from these client
  // addresses (the --clients flags), in turn, every few seconds until it holds the cluster's
  // log, and adds every member to the transport: the cluster may have grown since the flags
  // were written, and a leader that is not among them could never reach it (the lower id
  // dials). It never asks to be added: the leader re-admits it (docs/membership.md).
  std::vector<std::string> seed_addrs;
  // Proved on every connection (RAFTKV.NODEAUTH) when it has a secret.
  client::NodeCredentials credentials;
};

class Joiner {
 public:
  // `initialized`: true once this node holds the cluster's log (the join is then complete).
  Joiner(JoinOptions options, transport::Transport& transport, std::function<bool()> initialized);
  ~Joiner();  // stop()
  Joiner(const Joiner&) = delete;
  Joiner& operator=(const Joiner&) = delete;

  void stop();
  // RAFTKV.MEMBER ADD answered +OK or "already a member".
  bool added() const { return added_.load(); }

 private:
  void run();
  void discover();  // seed_addrs mode
  // Adds every member of a RAFTKV.MEMBER LIST reply to the transport; how many.
  size_t learn_peers(const resp::Reply& list);
  // Waits `d` unless stopped; false if stopped.
  bool wait(std::chrono::milliseconds d);

  const JoinOptions options_;
  transport::Transport& transport_;
  const std::function<bool()> initialized_;
  Logger log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> added_{false};
  std::thread thread_;
};

}  // namespace raftkv::server
