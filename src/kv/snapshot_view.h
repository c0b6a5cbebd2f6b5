// A point-in-time snapshot of the KV state machine that is written while apply() continues.
//
// StateMachine::begin_snapshot() (apply thread) fixes a point I (the applied index at that
// moment) and returns a SnapshotView. view.write(sink), on any thread and concurrently with
// apply(), streams exactly the bytes StateMachine::snapshot() would have produced at I (same
// format and checksum, see snapshot_stream.h), so a view's digest equals a replica's digest at I.
//
// Mechanism: key-granularity copy-on-write.
//   - kMeta (applied index, sessions, cached replies) is copied, already encoded as stream
//     records, by begin_snapshot() on the apply thread. Cost: O(meta bytes) time and memory:
//     a few tens of bytes per session plus each cached (unacknowledged) reply, at most
//     max_sessions x max_cached_replies_per_session replies; typically well under 1 MB.
//   - kData is not copied. While the view is active, apply() records in a shadow map, before
//     the engine write of each entry's batch, the pre-image (the value at I, or "absent") of
//     every kData key the batch modifies for the first time since I. write() scans the live
//     engine in key order in bounded batches and merges it with the shadow; snapshot_view.cc
//     argues why the merge equals the state at I.
//   - Memory: one shadow entry per distinct kData key modified since I: the key, its value at
//     I (none for keys created since I) and about 100 B of map overhead (see shadow_bytes()).
//     Bounded by the data size at I plus the keys created while the view is active. It is
//     freed when the view is cancelled or destroyed. The engine keeps nothing extra alive
//     beyond one scan batch (write() re-seeks after each batch, so the skiplist's epoch
//     reclamation is held up for at most one batch, not for the whole snapshot).
//   - Apply cost while a view is active: per entry one mutex acquisition, plus one engine
//     get and one shadow insertion per first-modified key.
//
// Threads and lifetime (the contract):
//   - begin_snapshot(), and destroying the StateMachine, on the apply thread. At most one view
//     is active per state machine; the StateMachine must outlive its views.
//   - write(), index(), term(), cancel(), shadow_keys(), shadow_bytes(): any thread, also
//     concurrently with apply() and with each other.
//   - Destroying the view: any thread, but not concurrently with a write() on it. It ends the
//     recording and frees the shadow at once; apply() forgets the view at its next entry.
//   - cancel() ends the recording and frees the shadow too; a write() in progress returns
//     kShutdown ("snapshot view cancelled") at its next scan batch, later ones at once.
//   - StateMachine::restore() cancels the active view (its engine is about to be replaced).
//   - The engine must have concurrent_reads() (see the kData scan guarantee in engine.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/status.h"
#include "kv/engine.h"
#include "raft/types.h"

namespace raftkv::kv {

// Receives snapshot bytes in chunks; an error aborts the snapshot.
using SnapshotSink = std::function<Status(std::string_view chunk)>;

namespace detail {

// The copy-on-write record of one view, shared by the view and its state machine.
struct SnapshotShadow {
  std::mutex mu;
  // Guarded by mu. Set once by cancel() or the view's destructor, never cleared. Invariant:
  // ended implies pre_images is empty and apply() records nothing more.
  bool ended = false;
  bool cancelled = false;  // guarded by mu: ended by cancel() or restore(), not the destructor
  // Guarded by mu. kData key -> its value at the view's point I (nullopt: absent at I), for every
  // key written since I. Only apply() inserts; an entry is never changed once inserted.
  std::map<std::string, std::optional<std::string>, std::less<>> pre_images;
  size_t bytes = 0;  // guarded by mu: approximate heap bytes of pre_images

  // Apply thread, before engine.write(batch): records the first modification of each kData key
  // of `batch`. Returns false (recording nothing) once the view has ended.
  bool record(const Engine& engine, const WriteBatch& batch);
  // Marks the view ended and frees the shadow; `cancel` also fails writes in progress.
  void end(bool cancel);
};

}  // namespace detail

struct SnapshotWriteOptions {
  // Bounds of one engine scan batch (the skiplist's reclamation waits for at most one batch).
  size_t scan_batch_keys = 1024;
  size_t scan_batch_bytes = 1 << 20;
  // Test hook: called on the writing thread after each scan batch has been read from the engine
  // and before it is merged with the shadow, with no lock held. A single-threaded test may
  // apply() entries here to interleave writes with the scan deterministically.
  std::function<void()> after_scan_batch;
};

class SnapshotView {
 public:
  ~SnapshotView();
  SnapshotView(const SnapshotView&) = delete;
  SnapshotView& operator=(const SnapshotView&) = delete;

  // The point I: the applied index and its term when the view began.
  Index index() const { return index_; }
  Term term() const { return term_; }

  // Streams the state at I to `sink` in chunks of about 64 KiB. Returns the sink's error,
  // kShutdown when the view is (or gets) cancelled, or ok: only ok means the bytes are a
  // complete snapshot. May be called more than once (each call streams the same bytes).
  Status write(const SnapshotSink& sink, const SnapshotWriteOptions& options = {}) const;
  std::string write_to_string() const;  // asserts success (tests, small states)

  void cancel();

  // The current size of the shadow (0 once the view ended).
  size_t shadow_keys() const;
  size_t shadow_bytes() const;

 private:
  friend class StateMachine;
  SnapshotView(const Engine& engine, std::shared_ptr<detail::SnapshotShadow> shadow, Index index,
               Term term, std::string meta_records, uint8_t format_version);

  const Engine& engine_;
  const std::shared_ptr<detail::SnapshotShadow> shadow_;
  const Index index_;
  const Term term_;
  // The kMeta space at I, encoded as stream records in key order.
  const std::string meta_records_;
  const uint8_t format_version_;  // of the stream at I (snapshot_stream.h)
};

}  // namespace raftkv::kv
