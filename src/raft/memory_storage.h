// In-memory LogStorage, for tests, the simulator and benchmarks (etcd raft's MemoryStorage).
//
// Layout: ents_[0] is a dummy entry holding the snapshot's (index, term); real entries follow,
// so ents_[i] has index snapshot_index + i.
// Invariant: ents_ non-empty; ents_[i].index == ents_[0].index + i.
// Thread-safety: every method takes the internal mutex.
#pragma once

#include <mutex>

#include "raft/storage.h"

namespace raftkv::raft {

class MemoryStorage final : public LogStorage {
 public:
  MemoryStorage();

  InitialState initial_state() const override;
  Result<std::vector<Entry>> entries(Index lo, Index hi, uint64_t max_bytes) const override;
  Result<Term> term(Index i) const override;
  Index first_index() const override;
  Index last_index() const override;
  Result<std::shared_ptr<const Snapshot>> snapshot() const override;

  // Writers (the driver's side).
  void set_hard_state(const HardState& hs);
  // Appends, first discarding any stored entries at or after entries.front().index.
  // Entries before first_index() are ignored. Requires no gap after last_index().
  Status append(const std::vector<Entry>& entries);
  // Replaces everything with the snapshot. Fails with kInvalidArgument if older than current.
  Status apply_snapshot(std::shared_ptr<const Snapshot> snap);
  // Records a snapshot of the state machine at index i (first_index()-1 <= i <= last_index()).
  Status create_snapshot(Index i, const ConfState& conf, std::string data);
  // Discards entries before `compact_index` (which must be <= last_index()).
  Status compact(Index compact_index);
  // Sets the membership reported by initial_state() (bootstrap of a fresh node).
  void set_conf_state(const ConfState& conf);

 private:
  Index first_index_locked() const { return ents_.front().index + 1; }
  Index last_index_locked() const { return ents_.front().index + (ents_.size() - 1); }

  mutable std::mutex mu_;
  HardState hard_state_;
  ConfState conf_state_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<Entry> ents_;
};

}  // namespace raftkv::raft
