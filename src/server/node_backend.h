// frontend::Backend over a GroupNode: what a client connection sees of the replicated store.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/histogram.h"
#include "client/node_auth.h"
#include "frontend/backend.h"
#include "kv/commands.h"
#include "node/node.h"
#include "server/forwarder.h"

namespace raftkv::server {

class NodeBackend final : public frontend::Backend {
 public:
  // `limits` must be the node's own (NodeOptions::kv.limits).
  // `membership_timeout`: the node's (NodeOptions::membership_timeout); a forwarded change
  // waits that long and then some.
  NodeBackend(node::GroupNode& node, kv::CommandLimits limits,
              std::chrono::milliseconds membership_timeout = std::chrono::seconds(60),
              std::chrono::milliseconds transfer_timeout = std::chrono::seconds(10),
              client::NodeCredentials relay_credentials = {});

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
  // Membership and leadership (issue 12). On the leader: GroupNode::change_membership /
  // transfer_leadership / members(). On a follower (or when the leader hands over mid-way, as
  // a REMOVE of the leader does), the RESP command is relayed to the leader's client address
  // and its reply is this node's (forwarder.h).
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

  // The leader's client address as this node knows it now ("" if none).
  std::string leader_client_addr() const;
  // Relays `args` to the leader at `leader_addr` (kNotLeader's message), or fails with
  // `not_leader` when no leader is known.
  void forward(const Status& not_leader, std::vector<std::string> args,
               std::chrono::milliseconds timeout, frontend::Completion done);

  node::GroupNode& node_;
  const kv::CommandLimits limits_;
  const std::chrono::milliseconds membership_timeout_;
  const std::chrono::milliseconds transfer_timeout_;
  std::unique_ptr<LeaderForwarder> forwarder_;
  std::map<std::string, std::unique_ptr<LatencyHistogram>> latency_;  // fixed after construction
};

}  // namespace raftkv::server
