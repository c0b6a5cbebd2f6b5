// The proving side of RAFTKV.NODEAUTH (frontend/node_auth.cc): a node authenticates on another
// node's client port with the cluster secret, to relay operator commands there.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/ids.h"
#include "base/status.h"
#include "client/connection.h"

namespace raftkv::client {

// Who this node is and the secret it proves with, asked for at each proof (a secret rotates
// without a restart); no function, or an empty secret, proves nothing (the connection stays
// unauthenticated).
struct NodeCredentials {
  NodeId self;
  uint64_t cluster_id = 0;
  std::function<std::string()> secret;
};

// RAFTKV.NODEAUTH CHALLENGE, then PROVE. Ok without doing anything when `credentials` has no
// secret. Errors: the server's refusal (kInvalidArgument, with its text), or the call's.
Status prove_node(Connection& conn, const NodeCredentials& credentials, Deadline deadline);

}  // namespace raftkv::client
