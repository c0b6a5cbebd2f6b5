// Configuration of one Raft core. All durations are in ticks: the core has no clock.
#pragma once

#include <cstdint>
#include <vector>

#include "base/ids.h"
#include "base/status.h"

namespace raftkv::raft {

enum class ReadMode : uint8_t {
  // ReadIndex (thesis §6.4): a heartbeat round confirms leadership before the read point is
  // released. Safe under any clock behaviour.
  kReadIndex,
  // Lease reads (thesis §6.4.1): the leader serves reads without a round while its lease holds.
  // The lease starts when a heartbeat round is *sent* and lasts election_ticks - lease_margin_ticks
  // once a quorum acknowledged that round. Followers (with check_quorum) neither vote nor campaign
  // until election_ticks have passed since they last heard from the leader, so no other leader can
  // exist during the lease provided no node's tick rate runs faster than the leader's by more than
  // the ratio election_ticks / (election_ticks - lease_margin_ticks). Requires check_quorum.
  kLease,
};

struct Config {
  NodeId id;
  // This node's incarnation (MemberInfo::incarnation): drawn when its data directory was created.
  // A node whose membership records another incarnation for it neither votes nor campaigns.
  uint64_t incarnation = 0;
  // Initial voters, used only when storage is empty (a freshly bootstrapped node): the node
  // then writes them as committed AddVoter entries at indexes 1..n, term 1 (identical on every
  // initial member). Leave empty on a node that will be added to a running cluster.
  std::vector<NodeId> voters;

  // A follower campaigns after a randomized timeout in [election_ticks, 2*election_ticks)
  // without hearing from a leader (Raft §5.2). Requires election_ticks > heartbeat_ticks.
  uint32_t election_ticks = 10;
  uint32_t heartbeat_ticks = 1;

  // Index of the last entry already applied by the state machine (on restart).
  Index applied;

  // Replication flow control (per follower).
  uint64_t max_msg_bytes = 1 << 20;           // entries per kApp, by Entry::size_bytes()
  uint32_t max_inflight_msgs = 256;           // unacknowledged kApp messages
  uint64_t max_inflight_bytes = 32ULL << 20;  // unacknowledged bytes
  // Apps whose entries exceed this many bytes may be overtaken by later heartbeats on the way
  // (the transport sends large frames in parts and lets small messages pass them): a heartbeat
  // answer then says nothing about whether such an App was lost, and the leader waits for the
  // App's answer, a lost connection (kUnreachable), or a silence that grows with the App's size
  // (one tick per this many bytes on top of an election timeout). 0: every App is ordered.
  uint64_t ordered_app_bytes = 0;
  // Leader-side cap on the bytes of proposed but uncommitted entries; proposals beyond it are
  // rejected with kTooLarge (0 = unlimited). The leader's no-op is exempt.
  uint64_t max_uncommitted_bytes = 64ULL << 20;
  // Bytes of committed entries handed out per Ready (at least one entry is always handed out).
  uint64_t max_committed_bytes_per_ready = 64ULL << 20;

  bool pre_vote = true;      // thesis §9.6
  bool check_quorum = true;  // thesis §6.2: leader steps down without a quorum; lease on votes
  ReadMode read_mode = ReadMode::kReadIndex;
  uint32_t lease_margin_ticks = 2;

  // Reports the first problem with the configuration, if any.
  Status validate() const;
};

}  // namespace raftkv::raft
