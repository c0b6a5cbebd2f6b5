// The leader's view of each follower's replication (etcd raft's tracker/).
#pragma once

#include <cstdint>
#include <deque>

#include "base/ids.h"
#include "raft/raft.h"

namespace raftkv::raft {

// The kApp messages sent to one follower and not yet acknowledged, oldest first, bounded by
// count and bytes. Invariant: last indexes strictly increase; bytes_ == sum of entries' bytes.
class Inflights {
 public:
  Inflights(uint32_t max_count, uint64_t max_bytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}

  // Records an App whose last entry is `last`. Requires !full() and `last` above the newest.
  void add(Index last, uint64_t bytes);
  // Acknowledges every App whose last entry is <= to.
  void free_le(Index to);
  // Frees the oldest slot (its acknowledgement was presumably lost).
  void free_first_one() {
    if (items_.empty()) return;
    bytes_ -= items_.front().bytes;
    items_.pop_front();
  }
  void reset() {
    items_.clear();
    bytes_ = 0;
  }
  bool full() const { return items_.size() >= max_count_ || bytes_ >= max_bytes_; }
  size_t count() const { return items_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Item {
    Index last;
    uint64_t bytes;
  };
  uint32_t max_count_;
  uint64_t max_bytes_;
  std::deque<Item> items_;
  uint64_t bytes_ = 0;
};

// Invariants: match < next; in kSnapshot, pending_snapshot > 0; in kProbe, at most one App is
// outstanding (probe_sent) until a response or heartbeat response arrives.
struct Progress {
  Progress(Index next_index, uint32_t max_inflight, uint64_t max_inflight_bytes, bool is_learner)
      : next(next_index), inflights(max_inflight, max_inflight_bytes), learner(is_learner) {}

  Index match;  // highest index known replicated on the follower
  Index next;   // index of the next entry to send
  ProgressState state = ProgressState::kProbe;
  bool probe_sent = false;     // kProbe: an App is outstanding; pause until it is answered
  Index pending_snapshot;      // kSnapshot: index of the snapshot being sent
  bool recent_active = false;  // heard from within the current check-quorum period
  Index sent_commit;           // the highest commit index an App to this follower carried
  Inflights inflights;
  bool learner = false;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);
  // A successful AppResp acknowledging `n`. Returns true if match advanced.
  bool maybe_update(Index n);
  // kReplicate: entries up to `last` were just sent optimistically.
  void optimistic_update(Index last) { next = last + 1; }
  // A rejected AppResp for the App at `rejected`, with the follower's hint. Returns false if the
  // rejection is stale (already handled). (Raft §5.3, with the conflict-term optimisation.)
  bool maybe_decr_to(Index rejected, Index hint);
  // No App may be sent now.
  bool is_paused() const;
};

}  // namespace raftkv::raft
