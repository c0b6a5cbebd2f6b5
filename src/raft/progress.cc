#include "raft/progress.h"

#include <algorithm>

#include "base/assert.h"

namespace raftkv::raft {

void Inflights::add(Item item) {
  RAFTKV_ASSERT(items_.empty() || items_.back().last < item.last,
                "inflight App indexes must increase ({} after {})", item.last, items_.back().last);
  RAFTKV_ASSERT(items_.size() < max_count_, "inflight window full ({} Apps)", items_.size());
  RAFTKV_ASSERT(items_.empty() || item.bytes <= available_bytes(),
                "inflight App of {} bytes exceeds the window ({} of {} bytes in flight)",
                item.bytes, bytes_, max_bytes_);
  bytes_ += item.bytes;
  items_.push_back(item);
}

const Inflights::Item* Inflights::newest_before_round(uint64_t round) const {
  // Rounds, like indexes, never decrease from oldest to newest.
  for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
    if (it->round < round) return &*it;
  }
  return nullptr;
}

void Inflights::free_le(Index to) {
  while (!items_.empty() && items_.front().last <= to) {
    bytes_ -= items_.front().bytes;
    items_.pop_front();
  }
}

const char* progress_state_name(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Progress::become_probe() {
  // After a snapshot, resume right after it (or after match if that is further).
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  probe_resume_on_heartbeat = false;
  pending_snapshot = Index();
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  pending_snapshot = Index();
  inflights.reset();
}

void Progress::become_snapshot(Index snapshot_index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  pending_snapshot = snapshot_index;
  inflights.reset();
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index hint) {
  if (state == ProgressState::kReplicate) {
    // Stale if it rejects an index at or below what is already matched.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // kProbe / kSnapshot: only the response to the latest probe (at next-1) counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace raftkv::raft
