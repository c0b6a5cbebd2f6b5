// The frontend's view of the replicated store: what a client connection may ask of it.
//
// The server implements Backend by wiring the node driver (src/node/); frontend tests use a
// fake. The frontend never touches Raft directly.
//
// Conventions for completions (Result<kv::Reply>):
//   ok                      → the command's reply (which may itself be a Redis error reply)
//   kNotLeader              → this node cannot serve it; message() is the leader's client
//                             address "host:port", or "" when no leader is known. The frontend
//                             answers "-MOVED <slot> <addr>" (Redis Cluster convention; slot =
//                             CRC16(key) mod 16384 of the first key, 0 for keyless commands), or
//                             "-CLUSTERDOWN no leader elected yet, retry later" when "".
//   kTooLarge, kProposalDropped, kTimeout, kShutdown, kUnavailable
//                           → "-TRYAGAIN <message>" (retryable: backpressure, leadership change
//                             in progress, deadline passed without an outcome — the command may
//                             or may not have been applied unless a session made it idempotent)
//   kInvalidArgument        → "-ERR <message>"
// Completions may run on any thread: the frontend posts them back to its connection.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/ids.h"
#include "base/status.h"
#include "kv/reply.h"

namespace raftkv::frontend {

// Exactly-once identity of a write (Raft thesis §6.3). client_id 0 means "no session".
// A client sends it with the extension command
//   RAFTKV.REQ <client_id> <sequence> <acked_sequence> <command> [args...]
// and retries with the same numbers after errors or leader changes.
struct ClientSession {
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  uint64_t acked_sequence = 0;
};

enum class ReadConsistency : uint8_t {
  kLinearizable,  // ReadIndex (or lease): reflects every write acknowledged before it began
  kFollower,      // served by this node's state as is (after READONLY on a follower): may lag
};

// How one read is to be served.
struct ReadOptions {
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  // The same connection has writes in flight that were submitted before this read: the read
  // must observe them (Redis runs a connection's commands in order). The backend serves it at
  // a state that includes every write it accepted before the read, whatever the consistency.
  bool after_own_writes = false;
};

struct MemberInfo {
  NodeId id;
  std::string client_addr;  // host:port where it serves RESP
  bool voter = true;
};

struct BackendStatus {
  NodeId id;
  std::string role;  // "leader", "follower", "candidate", "pre-candidate"
  Term term;
  NodeId leader;
  std::string leader_client_addr;  // "" when unknown
  Index commit_index;
  Index applied_index;
  Index last_index;
  Index snapshot_index;
  std::vector<MemberInfo> members;
  uint64_t keys = 0;     // as of the newest applied entry
  uint64_t expires = 0;  // of those, keys with a TTL (INFO keyspace "expires")
  std::vector<std::pair<std::string, std::string>> extra;  // more "field:value" lines for INFO raft
};

using Completion = std::function<void(Result<kv::Reply>)>;

// One membership change asked for by RAFTKV.MEMBER (docs/membership.md). The frontend has
// checked the syntax: ids are non-zero, addresses are host:port with a port in 1..65535.
struct MemberChange {
  enum class Op : uint8_t {
    kAdd,      // add `node` as a learner at peer_addr/client_addr (promoted once caught up)
    kRemove,   // remove `node` (voter or learner); the leader transfers leadership first
    kPromote,  // make learner `node` a voter
    kReplace,  // add `new_node` as a learner, then one joint change: promote it, remove `node`
  };
  Op op = Op::kAdd;
  NodeId node;
  NodeId new_node;          // kReplace only
  std::string peer_addr;    // kAdd, kReplace: of the added node
  std::string client_addr;  // kAdd, kReplace: of the added node
};

// One row of the RAFTKV.MEMBER LIST reply.
struct MemberRow {
  NodeId id;
  std::string peer_addr;
  std::string client_addr;
  bool voter = true;
  std::string state;  // "caught-up" | "catching-up" | "unreachable" | "stale-incarnation" | ...
};

// The RAFTKV.MEMBER LIST reply for `rows`: one array [id (integer), peer-addr, client-addr,
// "voter"|"learner", state] per member, sorted by id. (reply_mapping.cc)
kv::Reply member_list_reply(std::vector<MemberRow> rows);

// Backend::read() of this single argument answers [applied index, state digest as 16 hex
// digits] instead of running a KV command: replicas at the same applied index hold identical
// state exactly when their digests are equal.
inline constexpr std::string_view kDigestCommand = "raftkv.digest";

class Backend {
 public:
  virtual ~Backend() = default;
  // Replicates a write command (kv::classify_command(args[0]) == kWrite) and completes with its
  // reply once it is committed and applied — never earlier.
  virtual void write(std::vector<std::string> args, ClientSession session, Completion done) = 0;
  // Executes a read command with the given consistency. Calls made from one thread reach the
  // backend in that order: a read submitted after a write (with after_own_writes) observes it.
  virtual void read(std::vector<std::string> args, ReadOptions options, Completion done) = 0;
  // A consistent snapshot of this node's view, for INFO, CLUSTER and ROLE. Thread-safe.
  virtual BackendStatus status() const = 0;

  // Membership and leadership (RAFTKV.MEMBER, RAFTKV.TRANSFER; docs/membership.md). Same
  // completion conventions; a follower forwards them to the leader.
  // Completes with +OK once the change is committed (for kReplace: the joint change entered and
  // left), or an error when nothing was changed (kInvalidArgument with the reason: another
  // change in progress, unknown node, would leave no voters, ...).
  virtual void change_membership(MemberChange change, Completion done) = 0;
  // Completes with +OK once `to` is the leader.
  virtual void transfer_leadership(NodeId to, Completion done) = 0;
  // Completes with the RAFTKV.MEMBER LIST reply (member_list_reply()).
  virtual void list_members(Completion done) = 0;
};

}  // namespace raftkv::frontend
