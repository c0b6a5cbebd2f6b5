#include "raft/memory_storage.h"

#include <fmt/format.h>

namespace raftkv::raft {

MemoryStorage::MemoryStorage() : snapshot_(std::make_shared<Snapshot>()), ents_(1) {}

InitialState MemoryStorage::initial_state() const {
  std::lock_guard lock(mu_);
  return InitialState{hard_state_, conf_state_};
}

Result<std::vector<Entry>> MemoryStorage::entries(Index lo, Index hi, uint64_t max_bytes) const {
  std::lock_guard lock(mu_);
  const Index offset = ents_.front().index;
  if (lo <= offset) {
    return Status(ErrorCode::kCompacted,
                  fmt::format("entries from {} compacted (first {})", lo, first_index_locked()));
  }
  if (hi > last_index_locked() + 1) {
    return Status(ErrorCode::kUnavailable,
                  fmt::format("entries up to {} unavailable (last {})", hi, last_index_locked()));
  }
  RAFTKV_ASSERT(lo <= hi, "entries({}, {}): lo > hi", lo, hi);
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = ents_[i - offset];
    bytes += e.size_bytes();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

Result<Term> MemoryStorage::term(Index i) const {
  std::lock_guard lock(mu_);
  const Index offset = ents_.front().index;
  if (i < offset) {
    return Status(ErrorCode::kCompacted, fmt::format("term of {} compacted", i));
  }
  if (i - offset >= ents_.size()) {
    return Status(ErrorCode::kUnavailable, fmt::format("term of {} unavailable", i));
  }
  return ents_[i - offset].term;
}

Index MemoryStorage::first_index() const {
  std::lock_guard lock(mu_);
  return first_index_locked();
}

Index MemoryStorage::last_index() const {
  std::lock_guard lock(mu_);
  return last_index_locked();
}

Result<std::shared_ptr<const Snapshot>> MemoryStorage::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

void MemoryStorage::set_hard_state(const HardState& hs) {
  std::lock_guard lock(mu_);
  hard_state_ = hs;
}

void MemoryStorage::set_conf_state(const ConfState& conf) {
  std::lock_guard lock(mu_);
  conf_state_ = conf;
}

Status MemoryStorage::append(const std::vector<Entry>& entries) {
  if (entries.empty()) return Status::ok();
  std::lock_guard lock(mu_);
  const Index first = first_index_locked();
  const Index last_new = entries.back().index;
  if (last_new < first) return Status::ok();  // all already compacted
  // Skip the prefix that is already compacted.
  size_t skip = entries.front().index < first ? first - entries.front().index : 0;
  const Index start = entries[skip].index;
  const Index offset = ents_.front().index;
  if (start > last_index_locked() + 1) {
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("append at {} leaves a gap after last index {}", start, last_index_locked()));
  }
  ents_.resize(start - offset);  // truncate any conflicting suffix
  ents_.insert(ents_.end(), entries.begin() + static_cast<std::ptrdiff_t>(skip), entries.end());
  return Status::ok();
}

Status MemoryStorage::apply_snapshot(std::shared_ptr<const Snapshot> snap) {
  std::lock_guard lock(mu_);
  if (snap->meta.index < snapshot_->meta.index) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("snapshot at {} is older than current {}", snap->meta.index,
                              snapshot_->meta.index));
  }
  conf_state_ = snap->meta.conf;
  ents_.assign(1, Entry{snap->meta.term, snap->meta.index, EntryType::kNormal, {}});
  snapshot_ = std::move(snap);
  return Status::ok();
}

Status MemoryStorage::create_snapshot(Index i, const ConfState& conf, std::string data) {
  std::lock_guard lock(mu_);
  if (i <= snapshot_->meta.index) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("snapshot at {} is not newer than {}", i, snapshot_->meta.index));
  }
  if (i > last_index_locked()) {
    return Status(ErrorCode::kUnavailable,
                  fmt::format("snapshot at {} beyond last index {}", i, last_index_locked()));
  }
  const Index offset = ents_.front().index;
  auto snap = std::make_shared<Snapshot>();
  snap->meta = SnapshotMeta{i, ents_[i - offset].term, conf};
  snap->data = std::move(data);
  snapshot_ = std::move(snap);
  // A restart replays the log after the snapshot, so it starts from the snapshot's membership
  // (the entries that built it may be compacted away).
  conf_state_ = conf;
  return Status::ok();
}

Status MemoryStorage::compact(Index compact_index) {
  std::lock_guard lock(mu_);
  const Index offset = ents_.front().index;
  if (compact_index <= offset) {
    return Status(ErrorCode::kCompacted, fmt::format("already compacted to {}", offset));
  }
  if (compact_index > last_index_locked()) {
    return Status(ErrorCode::kUnavailable, fmt::format("compact to {} beyond last index {}",
                                                       compact_index, last_index_locked()));
  }
  const size_t n = compact_index - offset;
  Entry dummy{ents_[n].term, ents_[n].index, EntryType::kNormal, {}};
  ents_.erase(ents_.begin(), ents_.begin() + static_cast<std::ptrdiff_t>(n));
  ents_.front() = std::move(dummy);
  return Status::ok();
}

}  // namespace raftkv::raft
