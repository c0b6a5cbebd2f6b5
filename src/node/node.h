// The driver of one Raft group on this process: it owns the core, the WAL and the KV state
// machine and moves work between them (Ready → persist → send → apply).
//
// Threads and ownership:
//   raft strand   — an asio strand on the io_context given to open(). Owns the Raft core, the
//                   proposal and read waiters, the tick timer. Every core call happens here (no
//                   mutex). Whatever else runs on that io_context can delay ticks and
//                   heartbeats, so it must not be a client-facing one: raftkv-server gives the
//                   node a context of its own, shared only with the peer transport
//                   (server/server.h); callers reach the strand only by posts (below).
//   persister     — one thread. Writes each Ready's snapshot, entries and hard state to the WAL
//                   in order and makes them durable with one fdatasync per batch of Readys
//                   (group commit), then hands the after-persist messages back to the strand.
//   applier       — one thread. Applies committed entries to the state machine, completes
//                   proposals, serves ReadIndex reads once applied >= the read index, and takes
//                   snapshots (then compacts the WAL).
// The leader sends AppendEntries while its own write is in flight (Raft thesis §10.2.1); it
// counts itself towards commit only once durable. A failed fsync stops the process.
//
// Public methods are thread-safe and never block on the strand: write(), read(), deliver(),
// report_unreachable(), transfer_leadership() and change_membership() post onto it; status(),
// members(), role() and leader() read a copy the strand refreshes. Completions run on the applier
// thread or the strand, never while holding a lock of the caller: a caller on another io_context
// posts them back to itself.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/histogram.h"
#include "base/ids.h"
#include "base/status.h"
#include "kv/reply.h"
#include "kv/state_machine.h"
#include "kv/value_codec.h"
#include "node/snapshot_transfer.h"
#include "raft/config.h"
#include "raft/raft.h"
#include "raft/types.h"
#include "storage/wal.h"

namespace asio {
class io_context;
}

namespace raftkv::transport {
class Transport;
}

namespace raftkv::node {

struct NodeOptions {
  NodeId id;
  GroupId group{1};
  std::string data_dir;  // WAL and snapshots live here
  // This data dir's incarnation (storage/node_identity.h), stamped on every message
  // (raft::Config::incarnation is set from it). 0 only in tests that predate incarnations.
  uint64_t incarnation = 0;

  // How an empty data dir gets its first membership; all ignored once it holds a log.
  //   initial_members: the initial voters with their peer and client addresses (incarnations
  //   are learned from the transport). The lowest id among them bootstraps (Raft::bootstrap)
  //   once the transport shows every other one connected and uninitialized; the others wait to
  //   be replicated to ("Bootstrap" in docs/node.md). A wiped member therefore never creates a
  //   second cluster: its peers say they are initialized.
  std::map<NodeId, raft::MemberInfo> initial_members;
  //   join: never bootstrap; wait for a leader to add this node (server --join).
  bool join = false;
  //   voters (legacy, tests only): every node writes the same unbound AddVoter entries at first
  //   start (raft::Config::voters). Used when initial_members is empty and join is false.
  std::vector<NodeId> voters;
  // Fallback client addresses ("host:port") for members whose record has none (data written
  // before records had addresses). The replicated membership's addresses win.
  std::map<NodeId, std::string> client_addrs;

  // Membership driver (leader): promote caught-up learners (the re-admitted ones too).
  bool auto_promote = true;
  // A membership operation without an outcome after this long completes with kTimeout (a
  // REPLACE waits this long for its new node to catch up).
  std::chrono::milliseconds membership_timeout{60'000};
  // Unsafe recovery: at open, rewrite the membership to this node alone (docs/node.md).
  bool force_new_cluster = false;
  // This node's own addresses, recorded when it rewrites the membership (force_new_cluster).
  std::string peer_addr, client_addr;

  std::chrono::milliseconds tick_interval{100};
  raft::Config raft;  // id, voters and applied are filled in by the node
  storage::WalOptions wal;
  kv::StateMachineOptions kv;

  // Snapshot after this many entries applied since the last one; keep this many entries
  // behind the snapshot so that briefly lagging followers catch up from the log.
  uint64_t snapshot_entries = 50'000;
  uint64_t snapshot_keep_entries = 5'000;
  // ...or after this many bytes were written to the WAL since the last one (0: off).
  uint64_t snapshot_log_bytes = uint64_t{256} << 20;
  // Streaming snapshots to followers (chunk size, window, throttle, timeouts).
  SnapshotTransferOptions snapshot_transfer;
  // A proposal or read without an outcome after this long completes with kTimeout.
  std::chrono::milliseconds request_timeout{10'000};
  // Backpressure: proposals are refused (kTooLarge) while this many committed entries await
  // apply on this node, and reads while this many reads wait.
  uint64_t max_apply_backlog = 100'000;
  uint64_t max_pending_reads = 100'000;
  // Every queue between the transport, the strand, the persister and the applier is bounded in
  // bytes as well as in count (DESIGN rule 3; docs/node.md lists them). A queue below its
  // bounds always takes one more item, so a single item larger than a bound still passes.
  //   inbox: peer messages delivered, not yet stepped. Beyond either bound new ones are
  //   dropped and counted (Raft tolerates loss; a heartbeat shows the leader what to re-send).
  size_t max_inbox_messages = 16'384;
  uint64_t max_inbox_bytes = uint64_t{64} << 20;
  //   persist / apply backlog: entry bytes handed to the persister / applier and not yet
  //   written / applied. Beyond either, proposals are refused (kTooLarge) and a follower drops
  //   incoming Apps with entries (its leader re-sends them once it has caught up).
  uint64_t max_persist_backlog_bytes = uint64_t{64} << 20;
  uint64_t max_apply_backlog_bytes = uint64_t{256} << 20;
  //   proposal batch: writes waiting for the strand's next flush into one kPropose.
  size_t max_batch_proposals = 16'384;
  uint64_t max_batch_bytes = uint64_t{64} << 20;
  //   read waiters: argument bytes of reads waiting for their read point or apply.
  uint64_t max_pending_read_bytes = uint64_t{64} << 20;
};

// One member as RAFTKV.MEMBER LIST shows it.
struct MemberView {
  NodeId id;
  std::string peer_addr, client_addr;
  bool voter = false;  // in the incoming or outgoing voters
  // The leader's view: "caught-up" | "catching-up" | "unreachable" | "stale-incarnation" (its
  // peer announced another incarnation than the membership records). "unknown" on a follower.
  std::string state;
  bool operator==(const MemberView&) const = default;
};

// An operator's membership change (RAFTKV.MEMBER; docs/node.md "Membership operations").
struct MembershipRequest {
  enum class Op : uint8_t { kAdd, kRemove, kPromote, kReplace } op = Op::kAdd;
  NodeId node;                         // kReplace: the node replaced
  NodeId new_node;                     // kReplace only
  std::string peer_addr, client_addr;  // kAdd, kReplace: of the node added
};

// Queue depths and drops of one node (NodeStatus::queues), for /metrics and INFO.
struct QueueStats {
  uint64_t inbox_messages = 0;
  uint64_t inbox_bytes = 0;
  uint64_t inbox_dropped = 0;  // peer messages dropped because the inbox was full
  uint64_t apps_refused = 0;   // Apps dropped because the persist/apply backlog was full
  uint64_t persist_backlog_bytes = 0;
  uint64_t apply_backlog_entries = 0;
  uint64_t apply_backlog_bytes = 0;
  uint64_t pending_reads = 0;
  uint64_t pending_read_bytes = 0;
};

struct NodeStatus {
  NodeId id;
  raft::Role role = raft::Role::kFollower;
  Term term;
  NodeId leader;
  Index commit_index;
  Index applied_index;
  Index last_index;
  Index first_index;
  Index snapshot_index;
  raft::ConfState conf;
  std::vector<raft::FollowerStatus> followers;  // leader only
  std::vector<MemberView> members;              // sorted by id (GroupNode::members())
  // No log, snapshot or hard state yet: waiting to bootstrap or to be replicated to; and why.
  bool initialized = true;
  std::string waiting_for;
  std::string membership_op;  // the operator change in progress ("" if none), for INFO
  // As of the newest applied entry (status() reads them live, not from the last refresh): a
  // write's completion is never seen before its key is counted.
  uint64_t keys = 0;
  uint64_t keys_with_ttl = 0;  // of those, keys stored with a TTL (kv::StateMachine)
  uint64_t proposals = 0;
  uint64_t snapshots_taken = 0;
  uint64_t snapshot_bytes = 0;        // size of the newest snapshot file this node wrote
  uint64_t snapshot_duration_ms = 0;  // how long writing it took
  uint64_t snapshot_transfers_in_flight = 0;
  SnapshotTransferStats snapshot_transfers;
  uint64_t leader_changes = 0;     // times this node saw the leader (or its absence) change
  uint64_t elections_started = 0;  // campaigns this node ran: one per candidate term
  uint64_t elections_won = 0;      // times this node became leader
  uint64_t fsyncs = 0;
  QueueStats queues;
};

using Completion = std::function<void(Result<kv::Reply>)>;

// read() of this single argument answers [applied index, hex digest of the whole state] at a
// linearizable point, for comparing replicas.
inline constexpr std::string_view kDigestRead = "raftkv.digest";

// How a read is ordered against the writes submitted to this node before it (write() and
// read() calls from one thread reach the raft strand in call order).
enum class ReadOrder : uint8_t {
  // ReadIndex alone (Raft thesis §6.4): reflects every write acknowledged before the read
  // began; a write still in flight may or may not be visible.
  kReadIndex,
  // Also served at an applied index >= the last entry this node appended as leader when the
  // read arrived, so the read observes the caller's own earlier writes (a Redis connection's
  // commands take effect in order). On a follower there are no such writes (they were
  // redirected), so this is the same as kReadIndex.
  kAfterLocalWrites,
};

class NodeImpl;

class GroupNode {
 public:
  // Recovers the WAL (refusing to start on corruption, with its message), restores the state
  // machine from the newest snapshot and builds the core. Nothing runs until start().
  static Result<std::unique_ptr<GroupNode>> open(asio::io_context& io, NodeOptions options,
                                                 transport::Transport* transport);
  ~GroupNode();  // stop()

  void start();
  // Transfers leadership away first when leader (best effort, bounded by `grace`), then stops
  // the timers and threads. Pending requests complete with kShutdown.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  // A write command (args[0] must be a kv write). `header` carries the client's session; the
  // node stamps the leader's wall-clock time. Completes once applied (never earlier).
  // kNotLeader's message is the leader's client address ("" if unknown).
  void write(std::vector<std::string> args, kv::RequestHeader header, Completion done);
  // A linearizable read (ReadIndex; followers forward to the leader). With kAfterLocalWrites it
  // is also served only once every write this node accepted as leader before it is applied.
  void read(std::vector<std::string> args, ReadOrder order, Completion done);
  // A peer's message for this group (from the transport; any thread).
  void deliver(raft::Message message);
  void report_unreachable(NodeId peer);
  // Hands leadership to `to` (thesis §3.10); completes once `to` leads (ok), with kNotLeader on
  // a follower, kInvalidArgument if `to` is not a voter, kTimeout if it did not happen within
  // two election timeouts.
  void transfer_leadership(NodeId to, std::function<void(Status)> done);
  // Changes the membership (leader only; kNotLeader with the leader's client address
  // otherwise). ok once committed (kReplace: once the joint change is entered and left).
  // kInvalidArgument with a message for the client when nothing would change or the change is
  // unsafe; kProposalDropped if leadership changed meanwhile (the change may or may not have
  // been made); kTimeout. A kRemove of this node (the leader) hands leadership over first and
  // then completes with kNotLeader(new leader's client address): the caller re-sends the
  // request there (server/node_backend.cc does), where it completes once committed.
  void change_membership(MembershipRequest request, std::function<void(Status)> done);
  // Every member (voters, outgoing voters and learners), sorted by id, as of the last status
  // refresh.
  std::vector<MemberView> members() const;
  // The data dir holds a log, a snapshot or a hard state.
  bool initialized() const;

  // The strand's copy as of its last refresh (each tick and role change), except for the key
  // counts, which are the state machine's current ones.
  NodeStatus status() const;
  // The role and leader as of the last status refresh, without copying the whole status (for
  // the per-request leader check).
  raft::Role role() const;
  NodeId leader() const;
  // Durations of the WAL's group-commit fdatasync calls.
  const LatencyHistogram& fsync_latency() const;
  // Durations and sizes of the snapshots this node wrote.
  const LatencyHistogram& snapshot_duration() const;
  const SizeHistogram& snapshot_size() const;
  std::string client_addr(NodeId id) const;

 private:
  explicit GroupNode(std::shared_ptr<NodeImpl> impl);
  std::shared_ptr<NodeImpl> impl_;
};

}  // namespace raftkv::node
