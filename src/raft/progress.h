// The leader's view of each follower's replication (etcd raft's tracker/).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

#include "base/ids.h"
#include "raft/raft.h"

namespace raftkv::raft {

// The kApp messages sent to one follower and not yet acknowledged, oldest first, bounded by
// count and bytes. Invariants: last indexes strictly increase; bytes_ == sum of the items'
// bytes; bytes_ <= max_bytes_ unless count() == 1 (one entry larger than the window still goes,
// alone); count() <= max_count_.
class Inflights {
 public:
  struct Item {
    Index last;          // the App's last entry
    uint64_t bytes;      // its entries' Entry::size_bytes()
    uint64_t round;      // the newest heartbeat round started before it was sent
    uint64_t sent_tick;  // the leader's tick when it was sent
  };

  Inflights(uint32_t max_count, uint64_t max_bytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}

  // Records an App. Requires !full(), `item.last` above the newest, and item.bytes <=
  // available_bytes() unless the window is empty.
  void add(Item item);
  // Acknowledges every App whose last entry is <= to.
  void free_le(Index to);
  void reset() {
    items_.clear();
    bytes_ = 0;
  }
  bool full() const { return items_.size() >= max_count_ || bytes_ >= max_bytes_; }
  // Bytes the next App may carry without exceeding the window.
  uint64_t available_bytes() const { return bytes_ >= max_bytes_ ? 0 : max_bytes_ - bytes_; }
  size_t count() const { return items_.size(); }
  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  // The oldest unacknowledged App, or null.
  const Item* oldest() const { return items_.empty() ? nullptr : &items_.front(); }
  const Item* newest() const { return items_.empty() ? nullptr : &items_.back(); }
  // The newest App sent before heartbeat round `round` started (item.round < round), or null.
  const Item* newest_before_round(uint64_t round) const;
  // The largest App in flight whose last entry is <= last (0 if none).
  uint64_t largest_through(Index last) const {
    uint64_t largest = 0;
    for (const Item& item : items_) {
      if (item.last > last) break;
      largest = std::max(largest, item.bytes);
    }
    return largest;
  }

 private:
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
  bool probe_sent = false;  // kProbe: an App is outstanding; pause until it is answered
  // kProbe with probe_sent: the probe's last entry (its prev index if it carried none), the
  // newest heartbeat round started before it and the tick it was sent at; these tell a lost
  // probe from one still being persisted (RaftImpl::maybe_resume_after_heartbeat).
  Index probe_last;
  uint64_t probe_round = 0;
  uint64_t probe_sent_tick = 0;
  uint64_t probe_bytes = 0;  // the probe's entries' Entry::size_bytes()
  // kProbe with probe_sent: resume on the next heartbeat response, whatever it shows (after a
  // snapshot: the follower may still be restoring).
  bool probe_resume_on_heartbeat = false;
  // The last tick an acknowledgement was asked for (request_ack): at most one per tick.
  uint64_t ack_request_tick = 0;
  Index pending_snapshot;      // kSnapshot: index of the snapshot being sent
  bool recent_active = false;  // heard from within the current check-quorum period
  Index sent_commit;           // the highest commit index an App to this follower carried
  Inflights inflights;
  bool learner = false;
  // The incarnation of the follower this progress describes: what its acknowledgements came
  // from (initially its recorded one). A message from another incarnation resets the progress
  // (RaftImpl::track_incarnation), so `match` is always one incarnation's.
  uint64_t incarnation = 0;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);
  // kProbe: an App ending at `last` (prev index if empty) was sent; pause until it is answered.
  void sent_probe(Index last, uint64_t bytes, uint64_t round, uint64_t tick) {
    probe_sent = true;
    probe_last = last;
    probe_bytes = bytes;
    probe_round = round;
    probe_sent_tick = tick;
    probe_resume_on_heartbeat = false;
  }
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
