// frontend::Backend over a GroupNode: what a client connection sees of the replicated store.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/histogram.h"
#include "frontend/backend.h"
#include "kv/commands.h"
#include "node/node.h"

namespace raftkv::server {

class NodeBackend final : public frontend::Backend {
 public:
  // `limits` must be the node's own (NodeOptions::kv.limits).
  NodeBackend(node::GroupNode& node, kv::CommandLimits limits);

  // Writes go through Raft on the leader; followers redirect (MOVED to the leader). A write
  // over the size limits (kv::check_write_size) is answered with its error and never proposed.
  void write(std::vector<std::string> args, frontend::ClientSession session,
             frontend::Completion done) override;
  // Linearizable reads: on the leader via ReadIndex; on a follower the client is redirected,
  // unless it asked for follower reads (READONLY), which are then served here — still
  // linearizable, since the follower obtains a read index from the leader first.
  void read(std::vector<std::string> args, frontend::ReadOptions options,
            frontend::Completion done) override;
  frontend::BackendStatus status() const override;
  // Issue 12: placeholders until the node's membership API (GroupNode::change_membership,
  // members(), transfer_leadership with a completion) lands; each fails with an error saying so.
  void change_membership(frontend::MemberChange change, frontend::Completion done) override;
  void transfer_leadership(NodeId to, frontend::Completion done) override;
  void list_members(frontend::Completion done) override;

  // Latency from submission to completion, per command (lower-case name), for /metrics.
  const std::map<std::string, std::unique_ptr<LatencyHistogram>>& request_latency() const {
    return latency_;
  }

 private:
  // Wraps `done` to record the command's latency.
  frontend::Completion timed(const std::string& command, frontend::Completion done);

  node::GroupNode& node_;
  const kv::CommandLimits limits_;
  std::map<std::string, std::unique_ptr<LatencyHistogram>> latency_;  // fixed after construction
};

}  // namespace raftkv::server
