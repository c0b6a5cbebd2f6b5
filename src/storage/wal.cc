#include "storage/wal.h"

#include <algorithm>

#include <fmt/format.h>

#include "storage/wal_reader.h"

namespace raftkv::storage {
namespace {

constexpr uint64_t kEntryPayloadOverhead = 17;  // term, index, type
const uint64_t kSealRecordSize = padded_record_size(8);

Status unavailable(Index i, Index last) {
  return Status(ErrorCode::kUnavailable, fmt::format("index {} unavailable (last {})", i, last));
}

}  // namespace

Wal::Wal(FileSystem& fs, std::string dir, const WalOptions& options)
    : fs_(fs), dir_(std::move(dir)), options_(options), log_("wal"), snapshots_(fs, dir_) {}

Wal::~Wal() = default;

Result<std::unique_ptr<Wal>> Wal::open(FileSystem& fs, const std::string& dir,
                                       const WalOptions& options) {
  RAFTKV_ASSERT(options.segment_bytes >= kSegmentHeaderSize + 4096, "segment_bytes {} too small",
                options.segment_bytes);
  std::unique_ptr<Wal> wal(new Wal(fs, dir, options));
  if (Status s = wal->recover(); !s) return s;
  return wal;
}

Status Wal::recover() {
  if (Status s = fs_.create_dirs(dir_); !s) return s;
  auto snap = snapshots_.load_newest();
  if (!snap) return snap.status();
  snapshot_ = *snap;

  // Replay every record into locs_/cache_, starting from the first segment's base.
  bool have_base = false;
  bool base_from_reset = false;  // base_term_ was written by a kLogReset record
  auto visit = [&](const SegmentInfo& seg, uint64_t offset, const Record& r) -> Status {
    if (!have_base) {
      base_index_ = seg.first_index - 1;
      have_base = true;
    }
    switch (r.type) {
      case RecordType::kEntry: {
        locs_.push_back(
            EntryLocation{r.entry.term, seg.seq, offset,
                          static_cast<uint32_t>(r.entry.data.size() + kEntryPayloadOverhead)});
        cache_bytes_ += r.entry.size_bytes();
        cache_.push_back(CachedEntry{r.entry, 0});
        evict_cache_locked();
        break;
      }
      case RecordType::kTruncate:
        truncate_suffix_locked(r.index);
        break;
      case RecordType::kLogReset:
        locs_.clear();
        cache_.clear();
        cache_bytes_ = 0;
        base_index_ = r.index;
        base_term_ = r.term;
        base_from_reset = true;
        break;
      case RecordType::kHardState:
        hard_state_ = r.hard_state;
        break;
      case RecordType::kSegmentEnd:
        break;
    }
    return Status::ok();
  };
  std::unique_lock lock(mu_);  // uncontended; keeps the *_locked helpers honest
  auto scan = scan_wal(fs_, dir_, visit);
  if (!scan) return scan.status();
  // A first segment without a single valid record (only its header survived) still says where
  // the log starts; without this the log would restart at 0 below the segment's first index.
  if (!have_base && !scan->segments.empty()) base_index_ = scan->segments.front().first_index - 1;

  // Reconcile the replayed log with the newest snapshot.
  const Index snap_index = snapshot_->meta.index;
  const Term snap_term = snapshot_->meta.term;
  if (base_index_ > snap_index) {
    return Status(ErrorCode::kCorruption,
                  fmt::format("WAL in {} starts after index {} but the newest valid snapshot "
                              "covers only up to index {}: entries in between are missing. {}",
                              dir_, base_index_, snap_index, kCorruptionAdvice));
  }
  // True when the log does not contain the snapshot's last entry: a crash came after the
  // snapshot file was durable and before the log reset that replaces the log was.
  bool log_replaced_by_snapshot = false;
  if (snap_index > base_index_) {
    auto t = snap_index <= last_index_locked() ? term_locked(snap_index) : Result<Term>(Term{});
    if (snap_index > last_index_locked() || !t || *t != snap_term) {
      log_replaced_by_snapshot = true;
    } else {
      locs_.erase(locs_.begin(),
                  locs_.begin() + static_cast<std::ptrdiff_t>(snap_index - base_index_));
      while (cache_.size() > locs_.size()) {
        cache_bytes_ -= cache_.front().entry.size_bytes();
        cache_.pop_front();
      }
      base_index_ = snap_index;
      base_term_ = snap_term;
    }
  } else if (snap_index == base_index_) {
    // A log reset is written after, and with the term of, the snapshot at its index.
    if (base_from_reset && base_term_ != snap_term) {
      return Status(ErrorCode::kCorruption,
                    fmt::format("WAL in {} restarts after index {} term {} but the snapshot at "
                                "that index has term {}. {}",
                                dir_, base_index_, base_term_, snap_term, kCorruptionAdvice));
    }
    base_term_ = snap_term;
  }

  // Repair a torn tail: cut it off and re-extend with zeros so the next scan sees a clean end.
  if (scan->torn_tail) {
    auto file = fs_.open(scan->torn_tail->path, OpenMode::kReadWrite);
    if (!file) return file.status();
    const uint64_t cut = scan->torn_tail->offset;
    Status s = (*file)->truncate(cut);
    if (s && cut < options_.segment_bytes) s = (*file)->allocate(cut, options_.segment_bytes - cut);
    if (s) s = (*file)->sync();
    if (!s) return s;
    scan->segments.back().end_offset = cut;
    log_.warn("truncated the torn tail of {} at offset {}", scan->torn_tail->path, cut);
  }
  if (!scan->temp_files.empty()) {
    for (const std::string& path : scan->temp_files) {
      log_.info("removing leftover temporary file {}", path);
      if (Status s = fs_.remove(path); !s) return s;
    }
    if (Status s = fs_.sync_dir(dir_); !s) return s;
  }

  // Open segment files; the last unsealed one becomes the current segment.
  for (size_t i = 0; i < scan->segments.size(); ++i) {
    const SegmentInfo& info = scan->segments[i];
    const bool is_last = i + 1 == scan->segments.size();
    auto file = fs_.open(info.path, is_last ? OpenMode::kReadWrite : OpenMode::kReadOnly);
    if (!file) return file.status();
    std::shared_ptr<File> shared = std::move(file).value();
    segments_[info.seq] = Segment{info.first_index, info.path, shared};
    write_seq_ = info.seq;
    if (is_last && !info.sealed) {
      segment_open_ = true;
      write_offset_ = info.end_offset;
      current_file_ = shared;
      current_seq_ = info.seq;
      zeroed_until_ = info.end_offset;  // beyond it: fallocate'd or zeroed; zeroed again
    }
  }
  const bool must_write_reset = log_replaced_by_snapshot && !segments_.empty();
  if (log_replaced_by_snapshot) {
    log_.warn(
        "the log does not contain the snapshot's last entry ({}, {}); the log restarts "
        "after the snapshot",
        snap_index, snap_term);
    if (must_write_reset) {
      // Emitted before the in-memory reset so that a segment roll records the old end.
      emit_record_locked(
          Record{.type = RecordType::kLogReset, .index = snap_index, .term = snap_term});
      ++appended_lsn_;
    }
    locs_.clear();
    cache_.clear();
    cache_bytes_ = 0;
    base_index_ = snap_index;
    base_term_ = snap_term;
  }
  durable_ = DurablePoint{last_index_locked(), last_term_locked()};
  log_.info(
      "recovered {}: snapshot {} (term {}), log ({}, {}], hard state term {} vote {} "
      "commit {}, {} segment(s)",
      dir_, snap_index, snap_term, base_index_, last_index_locked(), hard_state_.term,
      hard_state_.vote, hard_state_.commit, segments_.size());
  if (must_write_reset) {
    flush(lock);
    if (!failed_) return failed_;
  }
  return Status::ok();
}

// ---- reads ----------------------------------------------------------------------------------

raft::InitialState Wal::initial_state() const {
  std::lock_guard lock(mu_);
  return raft::InitialState{hard_state_, snapshot_->meta.conf};
}

Index Wal::first_index() const {
  std::lock_guard lock(mu_);
  return base_index_ + 1;
}

Index Wal::last_index() const {
  std::lock_guard lock(mu_);
  return last_index_locked();
}

Result<std::shared_ptr<const raft::Snapshot>> Wal::snapshot() const {
  std::lock_guard lock(mu_);
  if (!failed_) return failed_;
  return snapshot_;
}

Result<Term> Wal::term_locked(Index i) const {
  if (i < base_index_) {
    return Status(ErrorCode::kCompacted,
                  fmt::format("term of {} compacted (first index {})", i, base_index_ + 1));
  }
  if (i == base_index_) return base_term_;
  if (i > last_index_locked()) return unavailable(i, last_index_locked());
  return locs_[i - base_index_ - 1].term;
}

Result<Term> Wal::term(Index i) const {
  std::lock_guard lock(mu_);
  if (!failed_) return failed_;
  return term_locked(i);
}

Result<std::vector<raft::Entry>> Wal::entries(Index lo, Index hi, uint64_t max_bytes) const {
  // Phase 1 (locked): decide the range within max_bytes, copy cached entries and note where the
  // others are on disk. Phase 2 (unlocked): read those from their segment files.
  struct DiskRun {
    std::shared_ptr<File> file;
    std::vector<std::pair<Index, EntryLocation>> entries;
  };
  std::vector<DiskRun> runs;
  std::vector<raft::Entry> cached;
  {
    std::lock_guard lock(mu_);
    if (!failed_) return failed_;
    if (lo <= base_index_) {
      return Status(ErrorCode::kCompacted,
                    fmt::format("entries from {} compacted (first {})", lo, base_index_ + 1));
    }
    if (hi > last_index_locked() + 1) return unavailable(hi - 1, last_index_locked());
    RAFTKV_ASSERT(lo <= hi, "entries({}, {}): lo > hi", lo, hi);
    const Index cache_first = last_index_locked() + 1 - cache_.size();
    uint64_t bytes = 0;
    for (Index i = lo; i < hi; ++i) {
      const EntryLocation& loc = locs_[i - base_index_ - 1];
      bytes += loc.payload_len - kEntryPayloadOverhead + 16;  // == Entry::size_bytes()
      if (i > lo && bytes > max_bytes) break;
      if (i >= cache_first) {
        cached.push_back(cache_[i - cache_first].entry);
        continue;
      }
      if (runs.empty() || runs.back().entries.front().second.seq != loc.seq) {
        auto it = segments_.find(loc.seq);
        RAFTKV_ASSERT(it != segments_.end(), "entry {} in missing segment {}", i, loc.seq);
        runs.push_back(DiskRun{it->second.file, {}});
      }
      runs.back().entries.emplace_back(i, loc);
    }
  }
  std::vector<raft::Entry> out;
  for (const DiskRun& run : runs) {
    for (const auto& [index, loc] : run.entries) {
      auto entry = read_entry_from_disk(*run.file, index, loc);
      if (!entry) return entry.status();
      out.push_back(std::move(entry).value());
    }
  }
  stat_disk_reads_.fetch_add(out.size(), std::memory_order_relaxed);
  out.insert(out.end(), std::make_move_iterator(cached.begin()),
             std::make_move_iterator(cached.end()));
  return out;
}

Result<raft::Entry> Wal::read_entry_from_disk(const File& file, Index index,
                                              const EntryLocation& loc) const {
  std::string buf(kRecordHeaderSize + loc.payload_len, '\0');
  auto n = file.pread(loc.offset, buf.data(), buf.size());
  if (!n) return n.status();
  uint64_t size = 0;
  auto record = decode_record(std::string_view(buf.data(), *n), 0, &size);
  if (!record || record->type != RecordType::kEntry || record->entry.index != index ||
      record->entry.term != loc.term) {
    return Status(
        ErrorCode::kCorruption,
        fmt::format("WAL {} at offset {}: entry {} unreadable ({}). {}", file.path(), loc.offset,
                    index, record ? "different record" : record.status().message(),
                    kCorruptionAdvice));
  }
  return std::move(record).value().entry;
}

// ---- writes ---------------------------------------------------------------------------------

Result<AppendTicket> Wal::append(const std::vector<raft::Entry>& entries,
                                 const std::optional<raft::HardState>& hard_state) {
  return append_impl(entries, hard_state);
}

Result<AppendTicket> Wal::append(std::vector<raft::Entry>&& entries,
                                 const std::optional<raft::HardState>& hard_state) {
  return append_impl(entries, hard_state);
}

template <typename Entries>
Result<AppendTicket> Wal::append_impl(Entries& entries,
                                      const std::optional<raft::HardState>& hard_state) {
  std::lock_guard lock(mu_);
  if (!failed_) return failed_;
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index <= base_index_) ++skip;
  for (size_t k = skip; k + 1 < entries.size(); ++k) {
    if (entries[k + 1].index != entries[k].index + 1 || entries[k + 1].term < entries[k].term) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("append: entries not contiguous at index {}", entries[k].index));
    }
  }
  if (skip < entries.size()) {
    const Index start = entries[skip].index;
    if (start > last_index_locked() + 1) {
      return Status(
          ErrorCode::kInvalidArgument,
          fmt::format("append at {} leaves a gap after last index {}", start, last_index_locked()));
    }
    if (start <= last_index_locked()) {
      // A new leader overwrote a conflicting suffix (Raft §5.3): record the truncation.
      truncate_suffix_locked(start);
      emit_record_locked(Record{.type = RecordType::kTruncate, .index = start});
    }
    if (entries[skip].term < last_term_locked()) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("append: entry {} has term {} below the previous term {}", start,
                                entries[skip].term, last_term_locked()));
    }
  }
  const uint64_t lsn = ++appended_lsn_;
  for (size_t k = skip; k < entries.size(); ++k) {
    const auto [seq, offset] = emit_entry_locked(entries[k]);
    locs_.push_back(
        EntryLocation{entries[k].term, seq, offset,
                      static_cast<uint32_t>(entries[k].data.size() + kEntryPayloadOverhead)});
    cache_bytes_ += entries[k].size_bytes();
    if constexpr (std::is_const_v<std::remove_reference_t<Entries>>) {
      cache_.push_back(CachedEntry{entries[k], lsn});
    } else {
      cache_.push_back(CachedEntry{std::move(entries[k]), lsn});
    }
  }
  if (hard_state) {
    hard_state_ = *hard_state;
    emit_record_locked(Record{.type = RecordType::kHardState, .hard_state = *hard_state});
  }
  evict_cache_locked();
  stat_appends_.fetch_add(1, std::memory_order_relaxed);
  return AppendTicket{lsn, last_index_locked(), last_term_locked()};
}

void Wal::truncate_suffix_locked(Index from) {
  RAFTKV_ASSERT(from > base_index_, "truncate at {} at or below the base {}", from, base_index_);
  while (last_index_locked() >= from) {
    locs_.pop_back();
    if (cache_.size() > locs_.size()) {
      cache_bytes_ -= cache_.back().entry.size_bytes();
      cache_.pop_back();
    }
  }
}

std::pair<uint64_t, uint64_t> Wal::emit_record_locked(const Record& record) {
  std::string bytes;
  encode_record(record, &bytes);
  return emit_locked(bytes.size(), [&](std::string* out) { out->append(bytes); });
}

std::pair<uint64_t, uint64_t> Wal::emit_entry_locked(const raft::Entry& entry) {
  const uint64_t size = encoded_entry_record_size(entry);
  // Entries this large are written from their own bytes: copying them into the write buffer
  // cost one more resident copy of every large value (issue 11.2).
  constexpr size_t kWrittenByReferenceBytes = size_t{1} << 20;
  if (entry.data.size() < kWrittenByReferenceBytes) {
    return emit_locked(size, [&](std::string* out) { encode_entry_record(entry, out); });
  }
  maybe_roll_locked(size);
  const auto position = std::make_pair(write_seq_, write_offset_);
  PendingEntryData write{write_seq_, write_offset_, {}, entry.data, 0};
  write.head = encode_entry_record_head(entry, &write.padding);
  pending_.push_back(std::move(write));
  write_offset_ += size;
  return position;
}

void Wal::maybe_roll_locked(uint64_t size) {
  const bool full = write_offset_ + size + kSealRecordSize > options_.segment_bytes &&
                    write_offset_ > kSegmentHeaderSize + padded_record_size(24);
  if (!segment_open_ || full) roll_segment_locked();
}

template <typename Encode>
std::pair<uint64_t, uint64_t> Wal::emit_locked(uint64_t size, Encode&& encode) {
  maybe_roll_locked(size);
  const auto position = std::make_pair(write_seq_, write_offset_);
  std::string& buffer = write_buffer_locked();
  const size_t before = buffer.size();
  encode(&buffer);
  RAFTKV_ASSERT(buffer.size() - before == size, "record encoded as {} bytes, expected {}",
                buffer.size() - before, size);
  write_offset_ += size;
  return position;
}

std::string& Wal::write_buffer_locked() {
  auto* last = pending_.empty() ? nullptr : std::get_if<PendingWrite>(&pending_.back());
  if (last != nullptr && last->seq == write_seq_ &&
      last->offset + last->bytes.size() == write_offset_) {
    return last->bytes;
  }
  pending_.push_back(PendingWrite{write_seq_, write_offset_, {}});
  return std::get<PendingWrite>(pending_.back()).bytes;
}

void Wal::push_write_locked(std::string bytes) {
  write_buffer_locked().append(bytes);
  write_offset_ += bytes.size();
}

void Wal::roll_segment_locked() {
  if (segment_open_) {
    std::string seal;
    encode_record(Record{.type = RecordType::kSegmentEnd, .next_seq = write_seq_ + 1}, &seal);
    push_write_locked(std::move(seal));
  }
  ++write_seq_;
  write_offset_ = kSegmentHeaderSize;
  segment_open_ = true;
  pending_.push_back(PendingRoll{write_seq_, last_index_locked() + 1});
  // Every segment starts with the latest hard state, so removing older segments never loses it.
  std::string hs;
  encode_record(Record{.type = RecordType::kHardState, .hard_state = hard_state_}, &hs);
  push_write_locked(std::move(hs));
}

void Wal::evict_cache_locked() {
  while (cache_bytes_ > options_.cache_bytes && !cache_.empty() &&
         cache_.front().lsn <= written_lsn_) {
    cache_bytes_ -= cache_.front().entry.size_bytes();
    cache_.pop_front();
  }
}

void Wal::fail_locked(const Status& cause) {
  if (!failed_) return;  // already failed: keep the first cause
  failed_ = Status(cause.code(),
                   fmt::format("WAL {} stopped after a failed write ({}); the node must stop. "
                               "Restart it: recovery keeps everything that was durable.",
                               dir_, cause.message()));
  log_.error("{}", failed_.message());
}

Result<DurablePoint> Wal::sync() {
  std::unique_lock lock(mu_);
  const uint64_t target = appended_lsn_;
  lock.unlock();
  return wait_durable(target);
}

Result<DurablePoint> Wal::wait_durable(uint64_t lsn) {
  std::unique_lock lock(mu_);
  RAFTKV_ASSERT(lsn <= appended_lsn_, "wait_durable({}) beyond the last append {}", lsn,
                appended_lsn_);
  while (true) {
    if (!failed_) return failed_;
    if (written_lsn_ >= lsn) return durable_;
    if (!flushing_) {
      flush(lock);
    } else {
      flushed_cv_.wait(lock);
    }
  }
}

DurablePoint Wal::durable_point() const {
  std::lock_guard lock(mu_);
  return durable_;
}

void Wal::flush(std::unique_lock<std::mutex>& lock) {
  RAFTKV_ASSERT(!flushing_, "concurrent flushes");
  flushing_ = true;
  std::vector<PendingOp> ops;
  ops.swap(pending_);
  const uint64_t target_lsn = appended_lsn_;
  const DurablePoint target_point{last_index_locked(), last_term_locked()};
  lock.unlock();
  const Status s = execute(ops);
  lock.lock();
  flushing_ = false;
  if (!s) {
    fail_locked(s);
  } else {
    written_lsn_ = target_lsn;
    durable_ = target_point;
    evict_cache_locked();
  }
  flushed_cv_.notify_all();
}

Status Wal::execute(std::vector<PendingOp>& ops) {
  for (PendingOp& op : ops) {
    if (auto* roll = std::get_if<PendingRoll>(&op)) {
      // The old segment (with its seal) must be durable before a successor appears.
      if (current_file_) {
        stat_syncs_.fetch_add(1, std::memory_order_relaxed);
        if (Status s = current_file_->datasync(); !s) return s;
      }
      auto file = create_segment(roll->seq, roll->first_index);
      if (!file) return file.status();
      current_file_ = *file;
      current_seq_ = roll->seq;
      zeroed_until_ = kSegmentHeaderSize;
      continue;
    }
    if (auto* large = std::get_if<PendingEntryData>(&op)) {
      RAFTKV_ASSERT(current_file_ && large->seq == current_seq_,
                    "write for segment {} while segment {} is current", large->seq, current_seq_);
      const uint64_t size = large->head.size() + large->data.size() + large->padding;
      if (Status s = zero_ahead(large->offset + size); !s) return s;
      if (Status s = current_file_->pwrite(large->offset, large->head); !s) return s;
      const uint64_t data_at = large->offset + large->head.size();
      if (Status s = current_file_->pwrite(data_at, large->data.view()); !s) return s;
      static const std::string kPadding(kRecordAlignment, '\0');
      if (Status s = current_file_->pwrite(data_at + large->data.size(),
                                           std::string_view(kPadding).substr(0, large->padding));
          !s) {
        return s;
      }
      stat_bytes_.fetch_add(size, std::memory_order_relaxed);
      continue;
    }
    auto& write = std::get<PendingWrite>(op);
    RAFTKV_ASSERT(current_file_ && write.seq == current_seq_,
                  "write for segment {} while segment {} is current", write.seq, current_seq_);
    if (Status s = zero_ahead(write.offset + write.bytes.size()); !s) return s;
    if (Status s = current_file_->pwrite(write.offset, write.bytes); !s) return s;
    stat_bytes_.fetch_add(write.bytes.size(), std::memory_order_relaxed);
  }
  if (!current_file_) return Status::ok();
  stat_syncs_.fetch_add(1, std::memory_order_relaxed);
  return current_file_->datasync();
}

Status Wal::zero_ahead(uint64_t end) {
  // Half the window still ahead: nothing to do. Otherwise extend it to a whole window (within
  // the preallocated size; a segment that grew past it has no unwritten extents to convert).
  const uint64_t window = options_.zero_ahead_bytes;
  if (window == 0 || end + window / 2 <= zeroed_until_) return Status::ok();
  const uint64_t from = std::max(zeroed_until_, end);
  const uint64_t to = std::min(end + window, options_.segment_bytes);
  if (from >= to) return Status::ok();
  static const std::string kZeros(256 << 10, '\0');
  for (uint64_t at = from; at < to;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), to - at));
    if (Status s = current_file_->pwrite(at, std::string_view(kZeros.data(), n)); !s) return s;
    at += n;
  }
  zeroed_until_ = to;
  return Status::ok();
}

Result<std::shared_ptr<File>> Wal::create_segment(uint64_t seq, Index first_index) {
  const std::string path = join_path(dir_, segment_file_name(seq));
  const std::string temp_path = path + ".tmp";
  {
    auto file = fs_.open(temp_path, OpenMode::kCreateExclusive);
    if (!file) return file.status();
    Status s = (*file)->allocate(0, options_.segment_bytes);
    if (s)
      s = (*file)->pwrite(0,
                          encode_segment_header(SegmentHeader{kFormatVersion, seq, first_index}));
    if (s) s = (*file)->sync();
    if (!s) return s;
  }
  if (Status s = fs_.rename(temp_path, path); !s) return s;
  if (Status s = fs_.sync_dir(dir_); !s) return s;
  auto file = fs_.open(path, OpenMode::kReadWrite);
  if (!file) return file.status();
  std::shared_ptr<File> shared = std::move(file).value();
  std::lock_guard lock(mu_);
  segments_[seq] = Segment{first_index, path, shared};
  return shared;
}

// ---- snapshots and compaction ---------------------------------------------------------------

Status Wal::save_snapshot(std::shared_ptr<const raft::Snapshot> snap) {
  const std::string temp_path = snapshots_.temp_path_for(snap->meta.index, snap->meta.term);
  if (Status s = write_snapshot_file(fs_, temp_path, *snap); !s) {
    std::lock_guard lock(mu_);
    fail_locked(s);
    return failed_;
  }
  return install_snapshot(temp_path, snap->meta);
}

Result<std::unique_ptr<SnapshotFileWriter>> Wal::begin_snapshot_file(
    const raft::SnapshotMeta& meta) {
  const std::string temp_path = snapshots_.temp_path_for(meta.index, meta.term);
  (void)fs_.remove(temp_path);  // a leftover of an abandoned attempt
  return SnapshotFileWriter::create(fs_, temp_path, meta);
}

Status Wal::install_snapshot(const std::string& complete_path, const raft::SnapshotMeta& meta) {
  std::lock_guard snapshot_lock(snapshot_mu_);
  {
    std::lock_guard lock(mu_);
    if (!failed_) return failed_;
    if (meta.index <= snapshot_->meta.index) {
      // Already covered by a durable snapshot (a local snapshot finished first): drop the file.
      log_.info("snapshot at {} is not newer than the durable one at {}; discarded", meta.index,
                snapshot_->meta.index);
      if (complete_path != snapshots_.path_for(snapshot_->meta.index, snapshot_->meta.term)) {
        (void)fs_.remove(complete_path);
      }
      return Status::ok();
    }
  }
  if (Status s = snapshots_.adopt(complete_path, meta); !s) {
    std::lock_guard lock(mu_);
    fail_locked(s);
    return failed_;
  }
  auto adopted = std::make_shared<raft::Snapshot>();
  adopted->meta = meta;
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    snapshot_ = adopted;
    const Index i = meta.index;
    auto t = i <= last_index_locked() ? term_locked(i) : Result<Term>(Term{});
    if (i > base_index_ && (i > last_index_locked() || !t || *t != meta.term)) {
      // The log does not contain the snapshot's last entry: it is replaced by the snapshot.
      emit_record_locked(Record{.type = RecordType::kLogReset, .index = i, .term = meta.term});
      ++appended_lsn_;
      locs_.clear();
      cache_.clear();
      cache_bytes_ = 0;
      base_index_ = i;
      base_term_ = meta.term;
      reset = true;
    }
  }
  if (!reset) return Status::ok();
  if (auto durable = sync(); !durable) return durable.status();
  return compact_segments_up_to(meta.index);
}

Result<std::unique_ptr<SnapshotFileReader>> Wal::open_snapshot() const {
  // Under snapshot_mu_ so that the file is not replaced between naming and opening it; the
  // open reader keeps reading it even after a newer snapshot removes its name.
  std::lock_guard snapshot_lock(snapshot_mu_);
  std::shared_ptr<const raft::Snapshot> snap;
  {
    std::lock_guard lock(mu_);
    if (!failed_) return failed_;
    snap = snapshot_;
  }
  if (snap->is_empty()) return Status(ErrorCode::kUnavailable, "no snapshot");
  return SnapshotFileReader::open(fs_, snapshots_.path_for(snap->meta.index, snap->meta.term));
}

Status Wal::compact(Index index) {
  std::lock_guard snapshot_lock(snapshot_mu_);
  {
    std::lock_guard lock(mu_);
    if (!failed_) return failed_;
    if (index > snapshot_->meta.index) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("compact to {} beyond the durable snapshot at {}", index,
                                snapshot_->meta.index));
    }
    if (index <= base_index_) return Status::ok();  // already compacted
    const Index new_base = std::min(index, last_index_locked());
    if (new_base <= base_index_) return Status::ok();  // nothing in memory to drop
    const Term new_base_term = locs_[new_base - base_index_ - 1].term;
    const uint64_t drop = new_base - base_index_;
    locs_.erase(locs_.begin(), locs_.begin() + static_cast<std::ptrdiff_t>(drop));
    while (cache_.size() > locs_.size()) {
      cache_bytes_ -= cache_.front().entry.size_bytes();
      cache_.pop_front();
    }
    base_index_ = new_base;
    base_term_ = new_base_term;
  }
  return compact_segments_up_to(index);
}

Status Wal::compact_segments_up_to(Index index) {
  std::vector<std::string> doomed;
  {
    std::lock_guard lock(mu_);
    // Segment k holds only indexes below segment k+1's first_index; the current (last)
    // segment is never removed.
    for (auto it = segments_.begin(); it != segments_.end();) {
      auto next = std::next(it);
      if (next == segments_.end() || next->second.first_index - 1 > index) break;
      doomed.push_back(it->second.path);
      it = segments_.erase(it);
    }
  }
  if (doomed.empty()) return Status::ok();
  for (const std::string& path : doomed) {
    if (Status s = fs_.remove(path); !s) return s;
  }
  Status s = fs_.sync_dir(dir_);
  if (!s) {
    std::lock_guard lock(mu_);
    fail_locked(s);
    return failed_;
  }
  log_.info("compacted the WAL up to index {}: removed {} segment(s)", index, doomed.size());
  return Status::ok();
}

Status Wal::health() const {
  std::lock_guard lock(mu_);
  return failed_;
}

WalStats Wal::stats() const {
  return WalStats{stat_appends_.load(), stat_syncs_.load(), stat_bytes_.load(),
                  stat_disk_reads_.load()};
}

}  // namespace raftkv::storage
