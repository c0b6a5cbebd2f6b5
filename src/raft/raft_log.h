// The core's view of the log: durable entries in LogStorage followed by an unstable tail held
// in memory until storage reports it durable (etcd raft's raftLog + unstable).
//
//   storage:  [first_index ........ stable_last]
//   unstable:                   [offset ............. last_index]   (offset <= stable_last + 1;
//                                                                    overlapping storage entries
//                                                                    are being overwritten)
// Invariants:
//   applied <= applying <= committed <= last_index()
//   unstable entries have contiguous indexes starting at offset, with non-decreasing terms
//   in_progress is in [offset-1, last_index()]: entries up to it were handed to the driver
#pragma once

#include <memory>
#include <vector>

#include "base/status.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace raftkv::raft {

class RaftLog {
 public:
  RaftLog(const LogStorage* storage, Index applied);

  Index first_index() const;
  Index last_index() const;
  Term last_term() const;
  Result<Term> term(Index i) const;
  // Term of i, or 0 when i is compacted or beyond the log (for comparisons).
  Term term_or_zero(Index i) const;
  bool match_term(Index i, Term t) const {
    return term_or_zero(i) == t && (t > Term() || i == Index());
  }
  // Raft §5.4.1: a candidate's log (last_term, last_index) is at least as up-to-date as ours.
  bool is_up_to_date(Index last_index, Term last_term) const;

  // Entries [lo, hi) by at most max_bytes (at least one). kCompacted if lo is compacted.
  Result<std::vector<Entry>> slice(Index lo, Index hi, uint64_t max_bytes) const;

  // Appends at the tail, truncating any conflicting unstable/stable suffix from
  // entries.front().index. Returns the new last index. Requires entries.front().index > committed.
  Index append(std::vector<Entry> entries);
  // Follower side of AppendEntries (Raft §5.3): if our log has (prev_index, prev_term), append
  // the new entries after the first conflict and advance commit to min(commit, last new index).
  // Returns the last index of the new entries, or nullopt if (prev_index, prev_term) mismatches.
  std::optional<Index> maybe_append(Index prev_index, Term prev_term, Index commit,
                                    std::vector<Entry> entries);
  // Fast backtracking: the largest index <= i whose term is <= t (etcd findConflictByTerm).
  Index find_conflict_by_term(Index i, Term t) const;

  Index committed() const { return committed_; }
  void commit_to(Index i);
  Index applying() const { return applying_; }
  Index applied() const { return applied_; }
  void applied_to(Index i);
  // Restart: the state machine already holds everything up to i (<= committed).
  void skip_applied_to(Index i);

  // Replaces the log with a snapshot (InstallSnapshot, Raft §7).
  void restore(std::shared_ptr<const Snapshot> snap);
  const std::shared_ptr<const Snapshot>& unstable_snapshot() const { return unstable_snapshot_; }

  // Ready plumbing.
  bool has_unstable_to_hand_out() const;
  std::vector<Entry> take_unstable_entries();                // marks them in progress
  std::shared_ptr<const Snapshot> take_unstable_snapshot();  // marks it in progress
  bool has_committed_to_hand_out() const;
  std::vector<Entry> take_committed_entries(uint64_t max_bytes);  // advances applying
  // Storage made entries up to (i, t) durable (and any snapshot at or below i).
  // Returns true if anything became stable.
  bool stable_to(Index i, Term t);
  // Highest index that is durable in storage (entries before the unstable tail).
  Index stable_last() const;

  Status check_invariants() const;
  size_t unstable_size() const { return unstable_.size(); }

 private:
  const Entry* unstable_at(Index i) const;

  const LogStorage* storage_;
  std::shared_ptr<const Snapshot> unstable_snapshot_;  // not yet durable
  bool snapshot_in_progress_ = false;
  std::vector<Entry> unstable_;  // unstable_[k].index == offset_ + k
  Index offset_;                 // index of unstable_[0] (or where it would be)
  Index in_progress_;            // last unstable index handed to the driver
  Index committed_;
  Index applying_;  // last index handed out for apply
  Index applied_;   // last index the driver confirmed (advance)
};

}  // namespace raftkv::raft
