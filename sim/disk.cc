#include "sim/disk.h"

#include <algorithm>
#include <utility>

namespace raftkv::sim {

uint64_t SimDisk::submit(DiskWrite write, SimTime now, SimTime latency) {
  write.id = next_id_++;
  write.done_at = std::max(now + latency, last_done_at_);
  last_done_at_ = write.done_at;
  const uint64_t id = write.id;
  pending_.push_back(std::move(write));
  return id;
}

Status SimDisk::complete_next(DiskWrite* out) {
  RAFTKV_ASSERT(!pending_.empty(), "complete_next with no write in flight");
  *out = std::move(pending_.front());
  pending_.pop_front();
  // Ready contract, step 1: snapshot, then entries, then hard state.
  if (out->snapshot) {
    Status s = durable_->apply_snapshot(out->snapshot);
    if (!s.is_ok()) return s;
  }
  if (!out->entries.empty()) {
    Status s = durable_->append(out->entries);
    if (!s.is_ok()) return s;
  }
  if (out->hard_state) durable_->set_hard_state(*out->hard_state);
  return Status::ok();
}

}  // namespace raftkv::sim
