// The persister and applier threads of GroupNode.
#include <fmt/format.h>

#include "base/assert.h"
#include "node/node_impl.h"

namespace raftkv::node {
namespace {

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void NodeImpl::persist_loop() {
  for (;;) {
    std::vector<PersistJob> jobs;
    {
      std::unique_lock lock(persist_mu_);
      persist_cv_.wait(lock, [&] { return !persist_queue_.empty() || threads_stop_.load(); });
      if (persist_queue_.empty()) return;  // stopping and drained
      while (!persist_queue_.empty()) {
        jobs.push_back(std::move(persist_queue_.front()));
        persist_queue_.pop_front();
      }
    }
    // In Ready order: snapshot, then entries and hard state. Writes are buffered by the WAL.
    bool sync = false;
    for (PersistJob& job : jobs) {
      if (job.snapshot) {
        if (Status s = wal_->save_snapshot(job.snapshot); !s) {
          RAFTKV_FATAL("saving snapshot at {} failed, the node must stop: {}",
                       job.snapshot->meta.index, s.to_string());
        }
        snapshot_index_ = job.snapshot->meta.index.value();
      }
      if (!job.entries.empty() || job.hard_state) {
        auto t = wal_->append(job.entries, job.hard_state);
        if (!t.is_ok())
          RAFTKV_FATAL("WAL append failed, the node must stop: {}", t.status().to_string());
      }
      sync |= job.must_sync || !job.entries.empty();
    }
    // Group commit: one fdatasync makes every Ready drained above durable.
    if (sync) {
      const auto started = std::chrono::steady_clock::now();
      auto d = wal_->sync();
      fsync_latency_.record(std::chrono::steady_clock::now() - started);
      if (!d.is_ok())
        RAFTKV_FATAL("WAL sync failed, the node must stop: {}", d.status().to_string());
      ++fsyncs_;
    }
    log_.debug("persisted {} Ready(s){}", jobs.size(), sync ? " with fdatasync" : "");
    post([this, jobs = std::move(jobs)]() mutable { on_persisted(std::move(jobs)); });
  }
}

void NodeImpl::apply_loop() {
  for (;;) {
    std::deque<ApplyJob> jobs;
    {
      std::unique_lock lock(apply_mu_);
      apply_cv_.wait(lock, [&] { return !apply_queue_.empty() || threads_stop_.load(); });
      if (apply_queue_.empty()) break;
      jobs.swap(apply_queue_);
    }
    for (ApplyJob& job : jobs) apply_job(job);
    serve_ready_reads();
    maybe_snapshot();
  }
  // Stopping: reads that were never served get a retryable error.
  for (auto& [index, w] : ready_reads_) {
    w.done(Status(ErrorCode::kShutdown, "node is shutting down"));
  }
  ready_reads_.clear();
}

void NodeImpl::apply_job(ApplyJob& job) {
  if (job.restore) {
    if (Status s = sm_->restore_from_string(job.restore->data); !s) {
      RAFTKV_FATAL("installing the leader's snapshot at {} failed: {}", job.restore->meta.index,
                   s.to_string());
    }
    applied_conf_ = job.restore->meta.conf;
    last_snapshot_index_ = job.restore->meta.index;
  }
  for (const raft::Entry& e : job.entries) {
    if (e.index <= sm_->applied_index()) continue;  // covered by a restored snapshot
    std::optional<kv::Reply> reply = sm_->apply(e);
    if (e.type == raft::EntryType::kConfChange) {
      if (auto cc = raft::ConfChange::decode(e.data)) {
        applied_conf_ = raft::apply_conf_change_to(applied_conf_, *cc);
        post([this, cc = *cc] {
          raft_->apply_conf_change(cc);
          handle_ready();
        });
      }
    }
    auto w = job.waiters.find(e.index);
    if (w == job.waiters.end()) continue;
    if (w->second.term != e.term) {
      w->second.done(Status(ErrorCode::kProposalDropped,
                            "overwritten by a newer leader; the write was not applied"));
    } else {
      w->second.done(reply ? std::move(*reply) : kv::Reply::ok());
    }
    job.waiters.erase(w);
  }
  for (auto& [index, w] : job.waiters) {
    w.done(Status(ErrorCode::kProposalDropped, "not applied at its index; retry"));
  }
  apply_backlog_ -= job.entries.size();
  keys_ = sm_->engine().count(kv::Space::kData);
  for (auto& [index, read] : job.reads) ready_reads_.emplace(index, std::move(read));
}

void NodeImpl::serve_ready_reads() {
  // Thesis §6.4: a read confirmed at read index r is linearizable once applied >= r. Served on
  // this thread between entries, so multi-key reads see one state.
  const Index applied = sm_->applied_index();
  while (!ready_reads_.empty() && ready_reads_.begin()->first <= applied) {
    auto node = ready_reads_.extract(ready_reads_.begin());
    ReadWaiter& w = node.mapped();
    w.done(sm_->read(w.args, wall_clock_ms()));
    --pending_reads_;
  }
}

void NodeImpl::maybe_snapshot() {
  const Index applied = sm_->applied_index();
  if (applied - last_snapshot_index_ < opts_.snapshot_entries || applied == Index()) return;
  auto snap = std::make_shared<raft::Snapshot>();
  snap->meta = raft::SnapshotMeta{applied, sm_->applied_term(), applied_conf_};
  snap->data = sm_->snapshot_to_string();
  if (Status s = wal_->save_snapshot(snap); !s) {
    RAFTKV_FATAL("saving snapshot at {} failed, the node must stop: {}", applied, s.to_string());
  }
  last_snapshot_index_ = applied;
  snapshot_index_ = applied.value();
  ++snapshots_taken_;
  // Keep a tail so briefly lagging followers catch up from the log, not a snapshot.
  if (applied.value() > opts_.snapshot_keep_entries) {
    const Index upto = applied - opts_.snapshot_keep_entries;
    if (upto >= wal_->first_index()) {
      if (Status s = wal_->compact(upto); !s) {
        RAFTKV_FATAL("compacting the WAL to {} failed, the node must stop: {}", upto,
                     s.to_string());
      }
    }
  }
  log_.info("snapshot at {} ({} bytes), log compacted", applied, snap->data.size());
}

}  // namespace raftkv::node
