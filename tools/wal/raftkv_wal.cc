// raftkv-wal: operator tool for a raftkv storage directory (read-only).
//   raftkv-wal dump DIR     print snapshots, every WAL record and the recovered state
//   raftkv-wal verify DIR   check everything recovery checks; print a summary
// Exit status: 0 when the directory would recover (a torn tail is reported, not an error),
// 1 with the recovery message on corruption, 2 on bad usage.
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "base/log.h"
#include "storage/snapshot_store.h"
#include "storage/wal_format.h"
#include "storage/wal_reader.h"

namespace raftkv::storage {
namespace {

std::string describe(const Record& r) {
  switch (r.type) {
    case RecordType::kEntry:
      return fmt::format(
          "entry index={} term={} type={} data_bytes={}", r.entry.index, r.entry.term,
          r.entry.type == raft::EntryType::kNormal ? "normal" : "conf-change", r.entry.data.size());
    case RecordType::kHardState:
      return fmt::format("hard-state term={} vote={} commit={}", r.hard_state.term,
                         r.hard_state.vote, r.hard_state.commit);
    case RecordType::kTruncate:
      return fmt::format("truncate from index={}", r.index);
    case RecordType::kLogReset:
      return fmt::format("log-reset after index={} term={}", r.index, r.term);
    case RecordType::kSegmentEnd:
      return fmt::format("segment-end next_seq={}", r.next_seq);
  }
  return "?";
}

std::string ids(const std::vector<NodeId>& v) {
  std::string out;
  for (NodeId id : v) out += fmt::format("{}{}", out.empty() ? "" : ",", id);
  return out.empty() ? "-" : out;
}

int run(bool dump, const std::string& dir) {
  FileSystem& fs = posix_file_system();
  SnapshotStore store(fs, dir);
  auto snapshots = store.list();
  if (!snapshots) {
    std::fprintf(stderr, "%s\n", snapshots.status().to_string().c_str());
    return 1;
  }
  Index snapshot_index;
  bool have_valid_snapshot = false;
  for (const SnapshotFileInfo& info : *snapshots) {
    auto snap = SnapshotFileReader::open(fs, info.path);
    Status valid = snap ? (*snap)->verify() : snap.status();
    if (!valid) {
      std::printf("snapshot %s: DAMAGED: %s\n", info.path.c_str(), valid.to_string().c_str());
      continue;
    }
    const raft::SnapshotMeta& meta = (*snap)->meta();
    std::printf("snapshot %s: index=%lu term=%lu voters=%s learners=%s data_bytes=%lu ok\n",
                info.path.c_str(), meta.index.value(), meta.term.value(),
                ids(meta.conf.voters).c_str(), ids(meta.conf.learners).c_str(),
                (*snap)->data_bytes());
    if (!have_valid_snapshot) snapshot_index = meta.index;
    have_valid_snapshot = true;
  }

  std::optional<Index> base;  // the log continues after this index
  raft::HardState hard_state;
  uint64_t records = 0;
  std::string current_segment;
  auto visit = [&](const SegmentInfo& seg, uint64_t offset, const Record& r) -> Status {
    if (!base) base = seg.first_index - 1;
    if (r.type == RecordType::kLogReset) base = r.index;
    if (r.type == RecordType::kHardState) hard_state = r.hard_state;
    ++records;
    if (dump) {
      if (seg.path != current_segment) {
        current_segment = seg.path;
        std::printf("segment %s: seq=%lu first_index=%lu\n", seg.path.c_str(), seg.seq,
                    seg.first_index.value());
      }
      std::printf("  @%-10lu %s\n", offset, describe(r).c_str());
    }
    return Status::ok();
  };
  auto scan = scan_wal(fs, dir, visit);
  if (!scan) {
    std::fprintf(stderr, "%s\n", scan.status().to_string().c_str());
    return 1;
  }
  if (base && *base > snapshot_index) {
    std::fprintf(stderr,
                 "corruption: the WAL starts after index %lu but the newest valid snapshot covers "
                 "only up to %lu: entries in between are missing. %s\n",
                 base->value(), snapshot_index.value(), kCorruptionAdvice);
    return 1;
  }
  for (const std::string& tmp : scan->temp_files) {
    std::printf("leftover temporary file %s (removed at the next start)\n", tmp.c_str());
  }
  if (scan->torn_tail) {
    std::printf(
        "torn tail: %s at offset %lu (%s); it will be truncated at the next start "
        "(never acknowledged)\n",
        scan->torn_tail->path.c_str(), scan->torn_tail->offset, scan->torn_tail->reason.c_str());
  }
  const Index first = std::max(base.value_or(Index{}), snapshot_index) + 1;
  std::printf(
      "ok: %zu segment(s), %lu record(s), log [%lu, %lu], snapshot %lu, hard state "
      "term=%lu vote=%lu commit=%lu\n",
      scan->segments.size(), records, first.value(),
      std::max(scan->last_index, snapshot_index).value(), snapshot_index.value(),
      hard_state.term.value(), hard_state.vote.value(), hard_state.commit.value());
  return 0;
}

}  // namespace
}  // namespace raftkv::storage

int main(int argc, char** argv) {
  const std::string command = argc >= 2 ? argv[1] : "";
  if (argc != 3 || (command != "dump" && command != "verify")) {
    std::fprintf(stderr,
                 "usage: raftkv-wal dump DIR     print snapshots, WAL records and state\n"
                 "       raftkv-wal verify DIR   check the directory as recovery would\n");
    return 2;
  }
  raftkv::set_log_level(raftkv::LogLevel::kError);  // findings are printed, not logged
  return raftkv::storage::run(command == "dump", argv[2]);
}
