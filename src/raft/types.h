// Value types of the Raft core: log entries, persistent state, snapshots, messages, Ready.
//
// These are plain C++ structs, independent of any wire format: the transport converts them to
// and from protobuf frames; storage encodes them in its own record format. Nothing here does I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/ids.h"
#include "base/status.h"

namespace raftkv::raft {

enum class EntryType : uint8_t {
  kNormal = 0,      // application command (or the leader's empty no-op, data == "")
  kConfChange = 1,  // membership change; data is an encoded ConfChange
};

// An entry's bytes: immutable, and shared by every copy of the entry (the unstable log, Ready
// batches, the App to each follower, the WAL cache, the applier), so copying an Entry costs a
// reference count instead of an allocation and a copy of the bytes. Assigning replaces the whole
// buffer; the bytes themselves are never changed once shared.
class Payload {
 public:
  Payload() = default;
  Payload(std::string bytes)  // NOLINT(google-explicit-constructor): entries are built from strings
      : bytes_(bytes.empty() ? nullptr : std::make_shared<const std::string>(std::move(bytes))) {}
  Payload(const char* bytes)
      : Payload(std::string(bytes)) {}  // NOLINT(google-explicit-constructor)
  Payload(std::string_view bytes) : Payload(std::string(bytes)) {}  // NOLINT

  std::string_view view() const { return bytes_ ? std::string_view(*bytes_) : std::string_view(); }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }
  const char* data() const { return view().data(); }
  size_t size() const { return bytes_ ? bytes_->size() : 0; }
  bool empty() const { return size() == 0; }
  bool operator==(const Payload& other) const { return view() == other.view(); }

 private:
  std::shared_ptr<const std::string> bytes_;  // null when empty
};

inline std::ostream& operator<<(std::ostream& os, const Payload& payload) {
  return os << payload.view();
}

// One log entry (Raft §5.3). Invariant: within a log, indexes are contiguous and terms never
// decrease.
struct Entry {
  Term term;
  Index index;
  EntryType type = EntryType::kNormal;
  Payload data;

  // Bytes counted against size caps (batching, inflight, uncommitted): the payload plus a fixed
  // per-entry overhead, so that floods of empty entries are also bounded.
  uint64_t size_bytes() const { return data.size() + 16; }
  bool operator==(const Entry&) const = default;
};

// State that must be durable before the node answers any message that depends on it
// (Raft Figure 2, "Persistent state on all servers"; commit is persisted as an optimisation).
struct HardState {
  Term term;
  NodeId vote;   // candidate voted for in `term`, or none
  Index commit;  // highest index known committed (may lag; never ahead of the durable log)
  bool operator==(const HardState&) const = default;
  bool is_empty() const { return *this == HardState{}; }
};

// What the membership records of one member besides its role. The core reads only the
// incarnation; the addresses ride along so that they are replicated, snapshotted and recovered
// with the membership (the driver routes peers and redirects clients by them).
struct MemberInfo {
  // The data directory this member is: a random non-zero id drawn when the directory was
  // created. Votes and acknowledgements count only from the recorded incarnation, so a node that
  // lost its disk (a new incarnation) never counts twice. 0 = not bound: any incarnation counts
  // (data written before incarnations existed, and learners added before they connected).
  uint64_t incarnation = 0;
  std::string peer_addr;    // "host:port" of its peer transport
  std::string client_addr;  // "host:port" where it serves RESP
  bool operator==(const MemberInfo&) const = default;
};

// Cluster membership (thesis §4): single-server changes (§4.1) or joint consensus (§4.3).
// While joint (voters_outgoing not empty), elections and commitment need a majority of
// `voters` and a majority of `voters_outgoing`.
struct ConfState {
  // (Field order: voters and learners first, as before joint consensus existed.)
  std::vector<NodeId> voters;           // sorted, unique: the incoming (or only) configuration
  std::vector<NodeId> learners;         // sorted, unique, disjoint from voters and voters_outgoing
  std::vector<NodeId> voters_outgoing;  // sorted, unique: the outgoing configuration while joint
  // Joint only: voters of the outgoing configuration that become learners when it is left.
  std::vector<NodeId> learners_next;
  // Joint only: the leader proposes leaving the joint configuration as soon as it is applied.
  bool auto_leave = false;
  // The record of each node named above (and of no other). A member without one is unbound
  // (incarnation 0, no addresses): membership written before records existed. Changes always
  // write the record of the member they add.
  std::map<NodeId, MemberInfo> members;

  bool joint() const { return !voters_outgoing.empty(); }
  bool operator==(const ConfState&) const = default;
};

// One step of a membership change (etcd's ConfChangeSingle). For the add types `info` is the
// member's new record: an add on an existing member replaces its record (so a voter demoted to
// a learner of a new incarnation is one simple change).
enum class ConfChangeType : uint8_t { kAddVoter = 0, kAddLearner = 1, kRemoveNode = 2 };

struct ConfChangeSingle {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node;
  MemberInfo info;  // add types only; ignored by kRemoveNode
  bool operator==(const ConfChangeSingle&) const = default;
};

// How a change moves between configurations (etcd's ConfChangeTransition, thesis §4.3):
//   kAuto           one change that moves at most one voter is applied directly (thesis §4.1);
//                   more than one change enters a joint configuration left automatically;
//   kJointImplicit  always joint; the leader proposes leaving it once it is applied;
//   kJointExplicit  always joint; left by a later empty change.
enum class ConfChangeTransition : uint8_t { kAuto = 0, kJointImplicit = 1, kJointExplicit = 2 };

// A membership change (etcd's ConfChangeV2). An empty `changes` list leaves the joint
// configuration.
struct ConfChange {
  ConfChangeTransition transition = ConfChangeTransition::kAuto;
  std::vector<ConfChangeSingle> changes;

  static ConfChange single(ConfChangeType type, NodeId node, MemberInfo info = {}) {
    return ConfChange{ConfChangeTransition::kAuto, {ConfChangeSingle{type, node, std::move(info)}}};
  }
  static ConfChange leave_joint() { return ConfChange{}; }
  bool is_leave_joint() const { return changes.empty(); }
  bool operator==(const ConfChange&) const = default;

  // A single kAuto change without a member record keeps the original 9-byte format (type, node
  // id as little-endian u64), so legacy entries (the bootstrap's AddVoters) stay byte-identical;
  // everything else is the versioned format of confchange.cc. decode() reads both and rejects
  // anything else (node 0, unknown types, trailing bytes).
  std::string encode() const;
  static std::optional<ConfChange> decode(std::string_view data);
};

// The membership after applying `cc` to `conf`, or kInvalidArgument naming the problem (etcd's
// confchange.Changer rules: a simple change moves at most one voter; no entering a joint
// configuration while joint; no leaving when not joint; never zero voters; a node that stays a
// voter keeps its incarnation). From the empty configuration any set of additions is the initial
// one (Raft::bootstrap). See confchange.h.
Result<ConfState> apply_conf_change_to(const ConfState& conf, const ConfChange& cc);

struct SnapshotMeta {
  Index index;  // last index covered by the snapshot
  Term term;    // term of the entry at `index`
  ConfState conf;
  bool operator==(const SnapshotMeta&) const = default;
};

// A point-in-time image of the state machine covering the log up to meta.index.
struct Snapshot {
  SnapshotMeta meta;
  std::string data;
  bool is_empty() const { return meta.index == Index{}; }
};

enum class MessageType : uint8_t {
  // Local inputs: given to step() by the driver on this node, never sent on the network.
  kHup,                // campaign now (election timeout or explicit)
  kBeat,               // leader: broadcast heartbeats now
  kPropose,            // append `entries` (terms/indexes are assigned by the leader)
  kReadIndex,          // request a linearizable read point for `context`; may be forwarded
  kUnreachable,        // transport: peer `from` could not be reached
  kSnapshotStatus,     // transport: snapshot to `from` finished; reject=true means it failed
  kTransferLeader,     // leader: hand leadership to `from` (thesis §3.10)
  kStorageAppendDone,  // storage: entries up to (index, log_term) and any snapshot are durable
  kCheckQuorum,        // leader: step down unless a quorum was heard from recently (internal)

  // Network messages between peers.
  kApp,  // AppendEntries (Raft §5.3)
  kAppResp,
  kVote,  // RequestVote (Raft §5.2)
  kVoteResp,
  kPreVote,  // thesis §9.6: would you vote for me? (terms not incremented)
  kPreVoteResp,
  kHeartbeat,  // empty AppendEntries carrying commit (bounded by the follower's match)
  kHeartbeatResp,
  kSnap,           // InstallSnapshot (Raft §7)
  kTimeoutNow,     // leadership transfer: campaign immediately (thesis §3.10)
  kReadIndexResp,  // leader → follower: read point for a forwarded kReadIndex

  // Driver-to-driver messages: the streamed snapshot transfer (src/node/snapshot_transfer.h).
  // They cross the network but are never stepped into a core (step() refuses them).
  kSnapChunk,      // leader → follower: `snapshot` names the snapshot (meta) and carries the
                   // bytes at chunk.offset of its file in `snapshot->data`
  kSnapChunkResp,  // follower → leader: (index, log_term) name the snapshot; chunk.offset is
                   // the next byte wanted; reject = start over (the file failed verification)
};

const char* message_type_name(MessageType t);
bool is_local_message(MessageType t);
// Responses carry the term of the request they answer (PreVoteResp: the term offered).
bool is_response_message(MessageType t);
// kSnapChunk / kSnapChunkResp: handled by the node driver, never by the core.
bool is_snapshot_transfer_message(MessageType t);

// Position within a streamed snapshot file (kSnapChunk / kSnapChunkResp only).
struct SnapshotChunk {
  uint64_t offset = 0;       // kSnapChunk: where `data` starts; resp: next byte wanted
  uint64_t total_bytes = 0;  // size of the whole file
  uint32_t crc32c = 0;       // kSnapChunk: checksum of this chunk's data
};

struct Message {
  MessageType type = MessageType::kHup;
  NodeId from;
  NodeId to;
  Term term;      // sender's current term (0 for local messages)
  Term log_term;  // kApp: term at `index`; kVote/kPreVote: last log term;
                  // kAppResp reject: hint term; kStorageAppendDone: term at `index`
  Index index;    // kApp: index preceding entries; kVote: last log index;
                  // kAppResp: last matching index (or rejected index);
                  // kReadIndexResp: the read point; kHeartbeatResp: sender's last index
  std::vector<Entry> entries;
  Index commit;  // kApp/kHeartbeat: leader's commit
  bool reject = false;
  Index reject_hint;  // kAppResp reject: the follower's hint for the next probe
  std::shared_ptr<const Snapshot> snapshot;  // kSnap
  uint64_t context = 0;   // kReadIndex/kReadIndexResp: request id; heartbeats: read round
  bool transfer = false;  // kVote/kPreVote/kTimeoutNow: campaign caused by leader transfer
  SnapshotChunk chunk;    // kSnapChunk/kSnapChunkResp
  // The sender's incarnation (Config::incarnation), and the incarnation the sender's membership
  // records for the recipient (0 if none). The transport delivers a message only when
  // from_incarnation is the one its connection's handshake proved.
  uint64_t from_incarnation = 0;
  uint64_t to_incarnation = 0;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role r);

// Volatile state useful to the driver (who is leader). Not persisted.
struct SoftState {
  NodeId leader;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A read point: once the state machine has applied `index`, the read tagged `context` may be
// served and will be linearizable (thesis §6.4).
struct ReadState {
  Index index;
  uint64_t context = 0;
  bool operator==(const ReadState&) const = default;
};

// Everything the core asks its driver to do, as one batch. The driver must:
//   1. persist `snapshot` (if set), then `entries` (overwriting any stored suffix from
//      entries.front().index on), then `hard_state` (if set), as one atomic step from the
//      core's point of view;
//   2. send `messages` at any time (they do not depend on step 1), and send
//      `messages_after_persist` only once step 1 is durable;
//   3. apply `committed_entries` in order (all are already durable locally);
//   4. call advance(ready) once it has taken the batch (committed entries are then applied).
// Messages in `messages_after_persist` addressed to this node itself (to == own id) are not for
// the network: once step 1 is durable the driver steps them back into this core. They carry the
// candidate's own vote (a vote counts only once durable) and a kStorageAppendDone that tells the
// core which entries are durable (the leader counts itself towards commit only then). Drivers
// may also call on_persisted() directly; duplicates are harmless.
// Steps 1 and 3 may run concurrently with later steps of the core (thesis §10.2.1), but Readys
// must be persisted in the order they were taken.
struct Ready {
  std::optional<SoftState> soft_state;
  std::optional<HardState> hard_state;
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<Entry> entries;
  std::vector<Entry> committed_entries;
  std::vector<Message> messages;
  std::vector<Message> messages_after_persist;
  std::vector<ReadState> read_states;
  // Step 1 must be fsynced before messages_after_persist go out. False when only the commit
  // index changed: it may be written lazily (a lost commit index is recomputed after restart).
  bool must_sync = false;

  // True when step 1 above has something to make durable.
  bool must_persist() const { return hard_state.has_value() || snapshot || !entries.empty(); }
  bool empty() const {
    return !soft_state && !must_persist() && committed_entries.empty() && messages.empty() &&
           messages_after_persist.empty() && read_states.empty();
  }
};

}  // namespace raftkv::raft

template <>
struct fmt::formatter<raftkv::raft::Payload> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const raftkv::raft::Payload& payload, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(payload.view(), ctx);
  }
};
