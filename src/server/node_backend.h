// frontend::Backend over a GroupNode: what a client connection sees of the replicated store.
#pragma once

#include "frontend/backend.h"
#include "node/node.h"

namespace raftkv::server {

class NodeBackend final : public frontend::Backend {
 public:
  explicit NodeBackend(node::GroupNode& node) : node_(node) {}

  // Writes go through Raft on the leader; followers redirect (MOVED to the leader).
  void write(std::vector<std::string> args, frontend::ClientSession session,
             frontend::Completion done) override;
  // Linearizable reads: on the leader via ReadIndex; on a follower the client is redirected,
  // unless it asked for follower reads (READONLY), which are then served here — still
  // linearizable, since the follower obtains a read index from the leader first.
  void read(std::vector<std::string> args, frontend::ReadConsistency consistency,
            frontend::Completion done) override;
  frontend::BackendStatus status() const override;

 private:
  node::GroupNode& node_;
};

}  // namespace raftkv::server
