// The simulated disk of one node: a durable MemoryStorage plus a queue of writes in flight.
//
// A Ready's persistence work (snapshot, entries, hard state) becomes one DiskWrite that
// completes after a random latency; writes complete in submission order (a later write never
// finishes before an earlier one, as with one WAL). Only completed writes are in `durable()`,
// which is also the storage the Raft core reads: entries still in flight live in the core's
// unstable log. The messages that must wait for durability ride with their write.
// A crash discards every write still in flight; the durable storage survives.
//
// Thread-safety: none; owned by one simulated node.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "raft/memory_storage.h"
#include "raft/types.h"
#include "sim/trace.h"

namespace raftkv::sim {

struct DiskWrite {
  uint64_t id = 0;
  SimTime done_at = 0;
  std::shared_ptr<const raft::Snapshot> snapshot;
  std::vector<raft::Entry> entries;
  std::optional<raft::HardState> hard_state;
  // Ready::messages_after_persist: released (sent, or stepped back if self-addressed) only
  // once this write is durable.
  std::vector<raft::Message> after_persist;
};

class SimDisk {
 public:
  SimDisk() : durable_(std::make_unique<raft::MemoryStorage>()) {}

  raft::MemoryStorage& durable() { return *durable_; }
  const raft::MemoryStorage& durable() const { return *durable_; }

  // Queues `write`; it completes `latency` from `now`, but never before earlier writes.
  // Returns the write's id and sets its done_at.
  uint64_t submit(DiskWrite write, SimTime now, SimTime latency);
  bool idle() const { return pending_.empty(); }
  // Completion time of the most recently submitted write.
  SimTime last_done_at() const { return last_done_at_; }
  // True when a write in flight carries a snapshot (the durable log is about to be replaced).
  bool snapshot_in_flight() const {
    for (const DiskWrite& w : pending_) {
      if (w.snapshot) return true;
    }
    return false;
  }
  size_t pending() const { return pending_.size(); }
  // The oldest write in flight, if its id is `id` (completion events of writes lost in a crash
  // find nothing).
  bool next_is(uint64_t id) const { return !pending_.empty() && pending_.front().id == id; }
  // Makes the oldest write durable and returns it; a storage error means the driver broke the
  // core's contract (e.g. a gap in the log) and is reported by the caller.
  Status complete_next(DiskWrite* out);
  // Power loss: writes in flight are lost.
  void crash() { pending_.clear(); }

 private:
  std::unique_ptr<raft::MemoryStorage> durable_;
  std::deque<DiskWrite> pending_;
  SimTime last_done_at_ = 0;
  uint64_t next_id_ = 1;
};

}  // namespace raftkv::sim
