// The core's view of stable storage: read-only. The driver writes (append, snapshot, compact);
// the core only reads what was written. Expected conditions are distinct error codes
// (etcd raft's storage.go): kCompacted when asked for entries or terms before the first
// available index, kUnavailable when asked beyond the last, kSnapshotTemporarilyUnavailable when
// a snapshot is being produced.
//
// Thread-safety: implementations must allow these const calls from the core's thread while the
// driver appends from another thread (MemoryStorage and the WAL lock internally).
#pragma once

#include <memory>
#include <vector>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::raft {

struct InitialState {
  HardState hard_state;
  ConfState conf_state;  // membership as of the latest snapshot (empty: use Config::voters)
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual InitialState initial_state() const = 0;
  // Entries in [lo, hi), at least one if any exist in range, and otherwise stopping before the
  // total of Entry::size_bytes() would exceed max_bytes. Requires first_index() <= lo < hi <=
  // last_index()+1, else kCompacted / kUnavailable.
  virtual Result<std::vector<Entry>> entries(Index lo, Index hi, uint64_t max_bytes) const = 0;
  // Term of entry i, for first_index()-1 <= i <= last_index() (the entry just before the first
  // available one is the snapshot's last entry, whose term is kept).
  virtual Result<Term> term(Index i) const = 0;
  // Index of the first entry still in the log (snapshot index + 1).
  virtual Index first_index() const = 0;
  // Index of the last entry (snapshot index if the log is empty after it).
  virtual Index last_index() const = 0;
  // The latest durable snapshot (possibly empty, with index 0).
  virtual Result<std::shared_ptr<const Snapshot>> snapshot() const = 0;
};

}  // namespace raftkv::raft
