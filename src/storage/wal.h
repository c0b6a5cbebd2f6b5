// Durable Raft log storage: a segmented write-ahead log of entries and hard state, plus
// snapshot files, behind the core's read-only raft::LogStorage interface.
//
// On-disk format (version 1): see wal_format.h (the authoritative description) and
// docs/storage-format.md. Recovery rules: see wal_reader.h.
//
// How the node driver uses it (one Raft group, one Wal, one directory):
//   auto wal = Wal::open(fs, dir, options);            // recovery; refuses on corruption
//   core restarts from wal->initial_state(), wal->snapshot(), and reads the log through it.
//   per Ready:  if (ready.snapshot) wal->save_snapshot(ready.snapshot);
//               auto ticket = wal->append(ready.entries, ready.hard_state);  // buffered, fast
//               auto durable = wal->sync();           // group commit; may run on another thread
//               → send messages_after_persist, step kStorageAppendDone(durable.index, .term)
//   after the state machine snapshotted at i: save_snapshot(snap at i); later compact(i').
// Group commit: append() only encodes records into memory. sync() (or wait_durable(lsn))
// makes everything appended before the call durable with a single fdatasync; concurrent
// callers share it (one thread flushes, the others wait and are all released by its fdatasync).
// A failed fdatasync/fsync, or any failed write, puts the Wal into a permanent failed state:
// every later call returns that error, and the node must stop. An fsync is never retried.
//
// Thread-safety: every public method may be called from any thread. One internal mutex guards
// the in-memory state; it is never held across file I/O (flushes and disk reads run outside it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/log.h"
#include "raft/storage.h"
#include "storage/file_system.h"
#include "storage/snapshot_store.h"
#include "storage/wal_format.h"

namespace raftkv::storage {

struct WalOptions {
  // Segment files are preallocated to this size; a record larger than a segment gets a
  // segment of its own that grows past it.
  uint64_t segment_bytes = 64ull << 20;
  // Recent entries kept in memory (Entry::size_bytes() total) so that the leader rarely reads
  // from disk. Entries not yet written to their file are always kept regardless.
  uint64_t cache_bytes = 64ull << 20;
  // Zeros are written this far ahead of the records (0: never). Writing into a fallocate'd
  // range makes every fdatasync also commit the extent conversion to the journal; writing over
  // real zeros does not, so a sync is one data flush (measured in docs/storage-format.md).
  uint64_t zero_ahead_bytes = 1ull << 20;
};

// The log through (index, term) is durable.
struct DurablePoint {
  Index index;
  Term term;
  bool operator==(const DurablePoint&) const = default;
};

// What append() buffered: pass `lsn` to wait_durable() to wait for exactly this append.
struct AppendTicket {
  uint64_t lsn = 0;
  Index last_index;
  Term last_term;
};

struct WalStats {
  uint64_t appends = 0;        // append() calls
  uint64_t syncs = 0;          // fdatasync calls made by flushes (group commits)
  uint64_t bytes_written = 0;  // record bytes written
  uint64_t disk_reads = 0;     // entries read from disk because they were not cached
};

class Wal final : public raft::LogStorage {
 public:
  // Recovers the directory (creating it if missing): loads the newest valid snapshot, replays
  // the segments, truncates a torn tail (with a warning) and removes leftover temp files.
  // Refuses with kCorruption / kVersionMismatch and a message naming the file, the offset and
  // what to do.
  static Result<std::unique_ptr<Wal>> open(FileSystem& fs, const std::string& dir,
                                           const WalOptions& options = {});
  ~Wal() override;
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // raft::LogStorage (reads; see raft/storage.h for the contract).
  raft::InitialState initial_state() const override;
  Result<std::vector<raft::Entry>> entries(Index lo, Index hi, uint64_t max_bytes) const override;
  Result<Term> term(Index i) const override;
  Index first_index() const override;
  Index last_index() const override;
  Result<std::shared_ptr<const raft::Snapshot>> snapshot() const override;

  // Buffers `entries` (which overwrite any stored entries from entries.front().index on: a
  // truncation record is written first) and then `hard_state`. Entries at or before the
  // snapshot index are skipped. Not durable until a sync covers it.
  Result<AppendTicket> append(const std::vector<raft::Entry>& entries,
                              const std::optional<raft::HardState>& hard_state = std::nullopt);
  // The same, moving the entries into the cache instead of copying them.
  Result<AppendTicket> append(std::vector<raft::Entry>&& entries,
                              const std::optional<raft::HardState>& hard_state = std::nullopt);
  // Makes everything appended before this call durable (group commit) and returns the durable
  // end of the log.
  Result<DurablePoint> sync();
  // Returns once the append with this lsn (and everything before it) is durable.
  Result<DurablePoint> wait_durable(uint64_t lsn);
  // The durable end of the log as of the last completed sync.
  DurablePoint durable_point() const;

  // The core sees only snapshot metadata (data left empty): the bytes stay in the file, read
  // through open_snapshot().
  //
  // Makes `snap` (data in memory; tests and small states) durable as a snapshot file, then as
  // install_snapshot().
  Status save_snapshot(std::shared_ptr<const raft::Snapshot> snap);
  // Starts streaming a snapshot to a temporary file; finish() it, then install_snapshot().
  Result<std::unique_ptr<SnapshotFileWriter>> begin_snapshot_file(const raft::SnapshotMeta& meta);
  // Makes the complete, fsynced snapshot file at `complete_path` (a finished writer's file, or
  // a verified transfer from the leader) the durable snapshot, then removes older snapshot
  // files. If the log does not contain (meta.index, meta.term) — a follower installing a
  // leader's snapshot — the log is reset to start after it (durably) and the segments it covers
  // are removed. A snapshot not newer than the durable one is discarded (ok).
  Status install_snapshot(const std::string& complete_path, const raft::SnapshotMeta& meta);
  // A reader of the durable snapshot's file (kUnavailable when there is none).
  Result<std::unique_ptr<SnapshotFileReader>> open_snapshot() const;
  const SnapshotStore& snapshot_store() const { return snapshots_; }
  // Discards entries up to and including `index` (which a durable snapshot must cover) and
  // removes the segment files holding only such entries.
  Status compact(Index index);

  // ok, or the error that stopped the Wal.
  Status health() const;
  WalStats stats() const;
  const std::string& dir() const { return dir_; }

 private:
  // Where an entry's record lives. Invariant: the record at (seq, offset) decodes to this entry.
  struct EntryLocation {
    Term term;
    uint64_t seq = 0;
    uint64_t offset = 0;
    uint32_t payload_len = 0;
  };
  struct CachedEntry {
    raft::Entry entry;
    uint64_t lsn = 0;  // append that wrote it; evictable once written_lsn_ >= lsn
  };
  struct Segment {
    Index first_index;
    std::string path;
    std::shared_ptr<File> file;
  };
  // Buffered work for the next flush, executed in order by one flushing thread.
  struct PendingWrite {
    uint64_t seq = 0;
    uint64_t offset = 0;
    std::string bytes;
  };
  struct PendingRoll {
    uint64_t seq = 0;  // create this segment and make it current
    Index first_index;
  };
  // A large entry record, written from the entry's own (shared, immutable) bytes rather than a
  // copy of them: head, data, then `padding` zero bytes (encode_entry_record_head).
  struct PendingEntryData {
    uint64_t seq = 0;
    uint64_t offset = 0;
    std::string head;
    raft::Payload data;
    size_t padding = 0;
  };
  using PendingOp = std::variant<PendingWrite, PendingRoll, PendingEntryData>;

  Wal(FileSystem& fs, std::string dir, const WalOptions& options);
  Status recover();

  Index last_index_locked() const { return base_index_ + locs_.size(); }
  Term last_term_locked() const { return locs_.empty() ? base_term_ : locs_.back().term; }
  Result<Term> term_locked(Index i) const;
  // Appends an encoded record to the pending writes, rolling to a new segment first if it
  // does not fit; returns its (seq, offset).
  // Entries is `const std::vector<raft::Entry>` (copied into the cache) or non-const (moved).
  template <typename Entries>
  Result<AppendTicket> append_impl(Entries& entries,
                                   const std::optional<raft::HardState>& hard_state);
  // Encodes a record at the write position, rolling to a new segment first when it would not
  // leave room for the seal; returns its (segment, offset).
  std::pair<uint64_t, uint64_t> emit_record_locked(const Record& record);
  std::pair<uint64_t, uint64_t> emit_entry_locked(const raft::Entry& entry);
  // `encode` appends exactly `size` bytes to the buffer it is given.
  template <typename Encode>
  std::pair<uint64_t, uint64_t> emit_locked(uint64_t size, Encode&& encode);
  // Rolls to a new segment if a record of `size` bytes does not fit the current one.
  void maybe_roll_locked(uint64_t size);
  // The pending write that ends at the write position (a new one if none does).
  std::string& write_buffer_locked();
  void push_write_locked(std::string bytes);
  void roll_segment_locked();
  void truncate_suffix_locked(Index from);
  void evict_cache_locked();
  void fail_locked(const Status& cause);
  // Runs one flush of the pending ops; called with `lock` held and flushing_ false; returns
  // with it held.
  void flush(std::unique_lock<std::mutex>& lock);
  Status execute(std::vector<PendingOp>& ops);
  // Writes zeros after a record ending at `end` of the current file (see zero_ahead_bytes).
  Status zero_ahead(uint64_t end);
  // Removes the segment files that hold only entries <= index (never the current one).
  Status compact_segments_up_to(Index index);
  Result<std::shared_ptr<File>> create_segment(uint64_t seq, Index first_index);
  Result<raft::Entry> read_entry_from_disk(const File& file, Index index,
                                           const EntryLocation& loc) const;

  FileSystem& fs_;
  const std::string dir_;
  const WalOptions options_;
  Logger log_;
  SnapshotStore snapshots_;

  mutable std::mutex mu_;
  std::condition_variable flushed_cv_;
  Status failed_;  // sticky: once not ok, every call returns it

  // The log as the core sees it. Invariant: locs_[k] describes index base_index_ + 1 + k;
  // cache_ holds a suffix of the log: cache_[k] has index last - cache_.size() + 1 + k.
  Index base_index_;  // snapshot/compaction point: first_index() - 1
  Term base_term_;
  std::deque<EntryLocation> locs_;
  std::deque<CachedEntry> cache_;
  uint64_t cache_bytes_ = 0;
  raft::HardState hard_state_;
  std::shared_ptr<const raft::Snapshot> snapshot_;  // newest durable snapshot

  // Write position for the next record. Invariant: segment_open_ means segment write_seq_
  // exists (or a PendingRoll will create it) and is not sealed.
  uint64_t write_seq_ = 0;
  uint64_t write_offset_ = 0;
  bool segment_open_ = false;
  std::vector<PendingOp> pending_;
  std::map<uint64_t, Segment> segments_;  // created segments by seq (the last is current)

  // Group commit. Invariant: written_lsn_ <= appended_lsn_; every append with lsn <=
  // written_lsn_ is durable.
  uint64_t appended_lsn_ = 0;
  uint64_t written_lsn_ = 0;
  DurablePoint durable_;
  bool flushing_ = false;
  std::shared_ptr<File> current_file_;  // touched only by the flushing thread
  uint64_t current_seq_ = 0;            // likewise
  // Likewise. Invariant: no record of the current file lies at or beyond zeroed_until_, so
  // zeros written there never overwrite one.
  uint64_t zeroed_until_ = 0;

  mutable std::mutex snapshot_mu_;  // serializes snapshot installation, compaction, opening
  mutable std::atomic<uint64_t> stat_appends_{0}, stat_syncs_{0}, stat_bytes_{0},
      stat_disk_reads_{0};
};

}  // namespace raftkv::storage
