#include "raft/raft_log.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"

namespace raftkv::raft {

RaftLog::RaftLog(const LogStorage* storage, Index applied) : storage_(storage) {
  const Index first = storage_->first_index();
  offset_ = storage_->last_index() + 1;
  in_progress_ = offset_ - 1;
  // The snapshot (first - 1) is committed and applied by definition.
  committed_ = first - 1;
  applying_ = first - 1;
  applied_ = applying_;
  (void)applied;
}

const Entry* RaftLog::unstable_at(Index i) const {
  if (i < offset_ || i - offset_ >= unstable_.size()) return nullptr;
  return &unstable_[i - offset_];
}

Index RaftLog::first_index() const {
  if (unstable_snapshot_) return unstable_snapshot_->meta.index + 1;
  return storage_->first_index();
}

Index RaftLog::last_index() const {
  if (!unstable_.empty()) return unstable_.back().index;
  if (unstable_snapshot_) return unstable_snapshot_->meta.index;
  return offset_ - 1;
}

Index RaftLog::stable_last() const {
  if (unstable_snapshot_) return Index();  // storage is about to be replaced
  return offset_ - 1;
}

Term RaftLog::last_term() const {
  return term_or_zero(last_index());
}

Result<Term> RaftLog::term(Index i) const {
  if (const Entry* e = unstable_at(i)) return e->term;
  if (unstable_snapshot_) {
    const auto& meta = unstable_snapshot_->meta;
    if (i == meta.index) return meta.term;
    if (i < meta.index) return Status(ErrorCode::kCompacted, fmt::format("term of {}", i));
    return Status(ErrorCode::kUnavailable, fmt::format("term of {}", i));
  }
  if (i >= offset_) return Status(ErrorCode::kUnavailable, fmt::format("term of {}", i));
  if (i == Index()) return Term();
  return storage_->term(i);
}

Term RaftLog::term_or_zero(Index i) const {
  auto t = term(i);
  return t.is_ok() ? *t : Term();
}

bool RaftLog::is_up_to_date(Index last, Term last_t) const {
  const Term our = last_term();
  return last_t > our || (last_t == our && last >= last_index());
}

Result<std::vector<Entry>> RaftLog::slice(Index lo, Index hi, uint64_t max_bytes) const {
  if (lo >= hi) return std::vector<Entry>{};
  if (lo < first_index()) {
    return Status(ErrorCode::kCompacted, fmt::format("entries from {} compacted", lo));
  }
  if (hi > last_index() + 1) {
    return Status(ErrorCode::kUnavailable, fmt::format("entries up to {} unavailable", hi));
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  Index next = lo;
  if (lo < offset_) {
    auto stored = storage_->entries(lo, std::min(hi, offset_), max_bytes);
    if (!stored.is_ok()) return stored.status();
    out = std::move(*stored);
    for (const Entry& e : out) bytes += e.size_bytes();
    next = lo + out.size();
    if (next < std::min(hi, offset_)) return out;  // byte cap reached inside storage
  }
  for (; next < hi; ++next) {
    const Entry* e = unstable_at(next);
    RAFTKV_ASSERT(e != nullptr, "unstable entry {} missing (offset {}, size {})", next, offset_,
                  unstable_.size());
    bytes += e->size_bytes();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(*e);
  }
  return out;
}

Index RaftLog::append(std::vector<Entry> entries) {
  if (entries.empty()) return last_index();
  const Index after = entries.front().index;
  RAFTKV_ASSERT(after > committed_, "append at {} would overwrite committed {}", after, committed_);
  const Index next_unstable = offset_ + unstable_.size();
  if (after == next_unstable) {
    // Plain append.
  } else if (after <= offset_) {
    // Replaces the whole unstable tail (and the stored suffix from `after`, once persisted).
    offset_ = after;
    unstable_.clear();
  } else {
    unstable_.resize(after - offset_);
  }
  in_progress_ = std::min(in_progress_, after - 1);
  for (auto& e : entries) unstable_.push_back(std::move(e));
  return last_index();
}

std::optional<Index> RaftLog::maybe_append(Index prev_index, Term prev_term, Index commit,
                                           std::vector<Entry> entries) {
  if (!match_term(prev_index, prev_term)) return std::nullopt;
  const Index last_new = prev_index + entries.size();
  // First entry that conflicts with ours (different term) or is new.
  size_t k = 0;
  for (; k < entries.size(); ++k) {
    const Entry& e = entries[k];
    if (e.index > last_index()) break;
    if (term_or_zero(e.index) != e.term) {
      RAFTKV_ASSERT(e.index > committed_, "entry {} conflicts with committed log (commit {})",
                    e.index, committed_);
      break;
    }
  }
  if (k < entries.size()) {
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(k));
    append(std::move(entries));
  }
  // Raft Figure 2, AppendEntries rule 5: commit = min(leaderCommit, index of last new entry).
  commit_to(std::min(commit, last_new));
  return last_new;
}

Index RaftLog::find_conflict_by_term(Index i, Term t) const {
  for (; i > Index(); i = i - 1) {
    auto ti = term(i);
    if (!ti.is_ok()) break;  // compacted or unavailable: stop here
    if (*ti <= t) break;
  }
  return i;
}

void RaftLog::commit_to(Index i) {
  if (i <= committed_) return;
  RAFTKV_ASSERT(i <= last_index(), "commit {} beyond last index {}", i, last_index());
  committed_ = i;
}

void RaftLog::applied_to(Index i) {
  RAFTKV_ASSERT(i <= applying_, "applied {} beyond handed-out {}", i, applying_);
  applied_ = std::max(applied_, i);
}

void RaftLog::skip_applied_to(Index i) {
  RAFTKV_ASSERT(i <= committed_, "applied {} beyond commit {}", i, committed_);
  applying_ = std::max(applying_, i);
  applied_ = std::max(applied_, i);
}

void RaftLog::restore(std::shared_ptr<const Snapshot> snap) {
  const Index idx = snap->meta.index;
  RAFTKV_ASSERT(idx > committed_, "restore of snapshot {} at or below commit {}", idx, committed_);
  unstable_.clear();
  offset_ = idx + 1;
  in_progress_ = idx;
  unstable_snapshot_ = std::move(snap);
  snapshot_in_progress_ = false;
  committed_ = idx;
}

bool RaftLog::has_unstable_to_hand_out() const {
  return (unstable_snapshot_ && !snapshot_in_progress_) ||
         (!unstable_.empty() && in_progress_ < unstable_.back().index);
}

std::vector<Entry> RaftLog::take_unstable_entries() {
  std::vector<Entry> out;
  if (unstable_.empty() || in_progress_ >= unstable_.back().index) return out;
  const Index from = std::max(in_progress_ + 1, offset_);
  out.assign(unstable_.begin() + static_cast<std::ptrdiff_t>(from - offset_), unstable_.end());
  in_progress_ = unstable_.back().index;
  return out;
}

std::shared_ptr<const Snapshot> RaftLog::take_unstable_snapshot() {
  if (!unstable_snapshot_ || snapshot_in_progress_) return nullptr;
  snapshot_in_progress_ = true;
  // The driver restores the state machine from it: everything up to it counts as handed out.
  applying_ = std::max(applying_, unstable_snapshot_->meta.index);
  return unstable_snapshot_;
}

bool RaftLog::has_committed_to_hand_out() const {
  if (unstable_snapshot_) return false;  // entries after it are applied once it is durable
  return applying_ < std::min(committed_, stable_last());
}

std::vector<Entry> RaftLog::take_committed_entries(uint64_t max_bytes) {
  std::vector<Entry> out;
  if (!has_committed_to_hand_out()) return out;
  // Only durable entries are applied: a committed entry may still be in flight to our disk.
  const Index hi = std::min(committed_, stable_last()) + 1;
  auto r = slice(applying_ + 1, hi, max_bytes);
  RAFTKV_ASSERT(r.is_ok(), "committed entries ({}, {}) unreadable: {}", applying_, hi,
                r.status().to_string());
  out = std::move(*r);
  if (!out.empty()) applying_ = out.back().index;
  return out;
}

bool RaftLog::stable_to(Index i, Term t) {
  bool changed = false;
  if (unstable_snapshot_ && snapshot_in_progress_ && unstable_snapshot_->meta.index <= i) {
    unstable_snapshot_.reset();
    snapshot_in_progress_ = false;
    changed = true;
  }
  if (unstable_snapshot_) return changed;  // the snapshot itself is not durable yet
  const Entry* e = unstable_at(i);
  // Only entries that were handed out, still hold term t (not overwritten since) become stable.
  if (e == nullptr || e->term != t || i > in_progress_) return changed;
  const size_t n = i - offset_ + 1;
  unstable_.erase(unstable_.begin(), unstable_.begin() + static_cast<std::ptrdiff_t>(n));
  offset_ = i + 1;
  return true;
}

Status RaftLog::check_invariants() const {
  auto broken = [](std::string what) { return Status(ErrorCode::kInternal, std::move(what)); };
  if (!(applied_ <= applying_)) {
    return broken(fmt::format("applied ({}) <= applying ({})", applied_, applying_));
  }
  if (!(applying_ <= committed_)) {
    return broken(fmt::format("applying ({}) <= committed ({})", applying_, committed_));
  }
  if (!(committed_ <= last_index())) {
    return broken(fmt::format("committed ({}) <= last index ({})", committed_, last_index()));
  }
  for (size_t k = 0; k < unstable_.size(); ++k) {
    if (unstable_[k].index != offset_ + k) {
      return broken(fmt::format("unstable entry {} has index {}, expected {}", k,
                                unstable_[k].index, offset_ + k));
    }
    if (k > 0 && unstable_[k].term < unstable_[k - 1].term) {
      return broken(fmt::format("unstable terms decrease at index {}", unstable_[k].index));
    }
  }
  if (in_progress_ + 1 < offset_ || in_progress_ > last_index()) {
    return broken(
        fmt::format("in-progress {} outside [{}, {}]", in_progress_, offset_ - 1, last_index()));
  }
  return Status::ok();
}

}  // namespace raftkv::raft
