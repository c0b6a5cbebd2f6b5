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
        // A snapshot the core installed was received and verified as this .partial file.
        const raft::SnapshotMeta& meta = job.snapshot->meta;
        if (Status s = wal_->install_snapshot(
                wal_->snapshot_store().partial_path_for(meta.index, meta.term), meta);
            !s) {
          RAFTKV_FATAL("saving snapshot at {} failed, the node must stop: {}",
                       job.snapshot->meta.index, s.to_string());
        }
        snapshot_index_ = job.snapshot->meta.index.value();
      }
      sync |= job.must_sync || !job.entries.empty();
      if (!job.entries.empty() || job.hard_state) {
        auto t = wal_->append(std::move(job.entries), job.hard_state);
        if (!t.is_ok())
          RAFTKV_FATAL("WAL append failed, the node must stop: {}", t.status().to_string());
      }
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
    uint64_t persisted_bytes = 0;
    for (const PersistJob& job : jobs) persisted_bytes += job.bytes;
    persist_backlog_bytes_ -= persisted_bytes;
    log_.debug("persisted {} Ready(s){}", jobs.size(), sync ? " with fdatasync" : "");
    post([this, jobs = std::move(jobs)]() mutable { on_persisted(std::move(jobs)); });
  }
}

Status NodeImpl::restore_from_durable_snapshot() {
  auto reader = wal_->open_snapshot();
  if (!reader) return reader.status();
  return sm_->restore(
      [&](char* buffer, size_t capacity) { return (*reader)->read_data(buffer, capacity); });
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
    RAFTKV_ASSERT(job.restore_file != nullptr, "restore without the snapshot's file");
    stop_snapshotter();  // a local snapshot of the state being replaced is useless
    storage::SnapshotFileReader& file = *job.restore_file;
    file.rewind();
    const Status s = sm_->restore(
        [&](char* buffer, size_t capacity) { return file.read_data(buffer, capacity); });
    if (!s) {
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
        // The membership snapshots record (the core's own copy was updated on the strand when
        // the entry was handed out, node.cc handle_ready).
        if (auto next = raft::apply_conf_change_to(applied_conf_, *cc); next.is_ok()) {
          applied_conf_ = std::move(next).value();
        }
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
  apply_backlog_bytes_ -= job.bytes;
  for (auto& [index, read] : job.reads) ready_reads_.emplace(index, std::move(read));
}

void NodeImpl::serve_ready_reads() {
  // Thesis §6.4: a read confirmed at read index r is linearizable once applied >= r. Served on
  // this thread between entries, so multi-key reads see one state.
  const Index applied = sm_->applied_index();
  while (!ready_reads_.empty() && ready_reads_.begin()->first <= applied) {
    auto node = ready_reads_.extract(ready_reads_.begin());
    ReadWaiter& w = node.mapped();
    if (w.args.size() == 1 && w.args[0] == kDigestRead) {
      w.done(kv::Reply::array({kv::Reply::integer_reply(static_cast<int64_t>(applied.value())),
                               kv::Reply::bulk(fmt::format("{:016x}", sm_->digest()))}));
    } else {
      w.done(sm_->read(w.args, wall_clock_ms()));
    }
    --pending_reads_;
    pending_read_bytes_ -= w.bytes;
  }
}

void NodeImpl::maybe_snapshot() {
  const Index applied = sm_->applied_index();
  if (applied == Index() || applied <= last_snapshot_index_ || snapshot_running_.load()) return;
  const uint64_t log_bytes = wal_->stats().bytes_written - log_bytes_at_snapshot_;
  const bool by_entries = applied - last_snapshot_index_ >= opts_.snapshot_entries;
  const bool by_bytes = opts_.snapshot_log_bytes > 0 && log_bytes >= opts_.snapshot_log_bytes;
  if (!by_entries && !by_bytes) return;

  // A copy-on-write view of this moment (kv/snapshot_view.h): the snapshot thread streams it
  // to disk while this thread keeps applying.
  auto view = sm_->begin_snapshot();
  if (!view) {
    log_.warn("cannot begin a snapshot at {}: {}", applied, view.status().to_string());
    return;
  }
  const raft::SnapshotMeta meta{applied, sm_->applied_term(), applied_conf_};
  last_snapshot_index_ = applied;
  log_bytes_at_snapshot_ += log_bytes;
  if (snapshotter_.joinable()) snapshotter_.join();  // the previous one has finished
  snapshot_running_ = true;
  {
    std::lock_guard lock(view_mu_);
    active_view_ = view->get();
  }
  snapshotter_ =
      std::thread([this, meta, view = std::shared_ptr<kv::SnapshotView>(std::move(view).value()),
                   trigger = by_entries ? "entries" : "log bytes"] {
        write_snapshot(*view, meta, trigger);
        {
          std::lock_guard lock(view_mu_);
          active_view_ = nullptr;
        }
        snapshot_running_ = false;
      });
}

void NodeImpl::write_snapshot(const kv::SnapshotView& view, const raft::SnapshotMeta& meta,
                              const char* trigger) {
  const auto started = std::chrono::steady_clock::now();
  auto writer = wal_->begin_snapshot_file(meta);
  Status s = writer.status();
  if (s) s = view.write([&](std::string_view chunk) { return (*writer)->append(chunk); });
  if (!s && s.code() == ErrorCode::kShutdown) {
    // Cancelled: a snapshot from the leader replaced the state, or the node is stopping.
    log_.info("snapshot at {} abandoned: {}", meta.index, s.message());
    if (writer) (void)fs_.remove((*writer)->path());
    return;
  }
  if (s) s = (*writer)->finish();
  if (s) s = wal_->install_snapshot((*writer)->path(), meta);
  if (!s) {
    RAFTKV_FATAL("saving snapshot at {} failed, the node must stop: {}", meta.index, s.to_string());
  }
  const uint64_t bytes = (*writer)->file_bytes();
  const auto took = std::chrono::steady_clock::now() - started;
  snapshot_duration_.record(took);
  snapshot_size_.record(bytes);
  last_snapshot_bytes_ = bytes;
  last_snapshot_ms_ =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  snapshot_index_ = std::max(snapshot_index_.load(), meta.index.value());
  ++snapshots_taken_;
  compact_after_snapshot(meta.index);
  log_.info("snapshot at {} ({} bytes, {} ms, trigger: {})", meta.index, bytes,
            last_snapshot_ms_.load(), trigger);
}

void NodeImpl::stop_snapshotter() {
  {
    std::lock_guard lock(view_mu_);
    if (active_view_ != nullptr) active_view_->cancel();
  }
  if (snapshotter_.joinable()) snapshotter_.join();
}

void NodeImpl::compact_after_snapshot(Index snapshot_index) {
  // Keep a tail so briefly lagging followers catch up from the log, not a snapshot; and keep
  // everything after a snapshot being streamed to a follower, so that once installed it is
  // caught up from the log instead of being sent another snapshot (an endless loop otherwise).
  if (snapshot_index.value() <= opts_.snapshot_keep_entries) return;
  Index upto = snapshot_index - opts_.snapshot_keep_entries;
  const uint64_t in_flight = min_transfer_index_.load();
  if (in_flight != 0 && Index(in_flight) < upto) upto = Index(in_flight);
  if (upto < wal_->first_index()) return;
  if (Status s = wal_->compact(upto); !s) {
    RAFTKV_FATAL("compacting the WAL to {} failed, the node must stop: {}", upto, s.to_string());
  }
}

}  // namespace raftkv::node
