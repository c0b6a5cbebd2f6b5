// Leader-side ReadIndex bookkeeping (thesis §6.4), batched per heartbeat round.
//
// A read request is answered with the commit index at the start of a heartbeat round once a
// quorum has acknowledged that round (proving that no newer leader existed when the round
// began). Requests that arrive while a read-carrying round is in flight wait for the next round,
// which starts as soon as the current one completes: under load one round serves many reads.
// Every round is numbered; the number travels as the heartbeat's `context`. An acknowledgement
// of round r also confirms every earlier round.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <vector>

#include "base/ids.h"

namespace raftkv::raft {

struct PendingRead {
  NodeId from;  // the requester (this node for local reads, a follower for forwarded ones)
  uint64_t context = 0;
};

struct ReadRound {
  uint64_t id = 0;
  Index index;  // commit index when the round started: the read point it confers
  uint64_t started_tick = 0;
  std::vector<PendingRead> reads;
  std::set<NodeId> acks;
};

class ReadOnly {
 public:
  // Caps rounds kept while no quorum answers (each Beat may start one). Rounds beyond it are
  // dropped oldest-first only if they carry no reads; reads are never silently dropped (they are
  // discarded with the leadership when check-quorum steps the leader down).
  static constexpr size_t kMaxRounds = 64;

  void add_waiting(PendingRead r) { waiting_.push_back(r); }
  bool has_waiting() const { return !waiting_.empty(); }
  // True if a round carrying reads is in flight (new reads then wait for the next round).
  bool read_round_in_flight() const;
  // Starts a round at `commit` carrying every waiting read (`self` counts as acknowledged).
  // Returns its id, the context for this round's heartbeats.
  uint64_t start_round(Index commit, uint64_t tick, NodeId self);
  // Id of the newest round ever started (released or not), 0 if none. Ids only grow.
  uint64_t last_started() const { return next_id_ - 1; }
  // Id of the newest round, 0 if none.
  uint64_t latest_round() const { return rounds_.empty() ? 0 : rounds_.back().id; }
  // Records that `from` acknowledged round `id`; returns the acks of that round (empty if the
  // round is unknown or already released).
  const std::set<NodeId>* ack(uint64_t id, NodeId from);
  // Removes and returns every round up to and including `id`, oldest first.
  std::vector<ReadRound> release_through(uint64_t id);
  void reset();
  size_t rounds() const { return rounds_.size(); }

 private:
  uint64_t next_id_ = 1;
  std::deque<ReadRound> rounds_;  // ids increasing
  std::vector<PendingRead> waiting_;
};

}  // namespace raftkv::raft
