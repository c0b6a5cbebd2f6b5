// Recovery scan of a WAL directory: reads every segment in order, checks headers, records,
// seals and index continuity, and hands each valid record to a visitor. Read-only: it reports a
// torn tail but does not repair it (Wal::open does; raftkv-wal verify only reports).
//
// Torn-tail rule: a bad record (or zero header) at offset X of the LAST segment is the remains
// of a write that never completed — truncated with a warning — if and only if no valid record
// starts at any 8-aligned offset after X in that segment. A valid record after X means the bad
// bytes were once durable, so this is corruption and startup is refused. Anything bad in an
// earlier segment, a missing seal, a gap in sequence numbers or indexes, a header that does not
// match its file name, or a newer format version is refused too. Never silently drop data.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/file_system.h"
#include "storage/wal_format.h"

namespace raftkv::storage {

struct SegmentInfo {
  uint64_t seq = 0;
  std::string path;
  Index first_index;        // from the header
  uint64_t end_offset = 0;  // where the next record goes (after the last valid record)
  uint64_t file_size = 0;
  bool sealed = false;  // ends with a kSegmentEnd record
};

struct TornTail {
  std::string path;
  uint64_t offset = 0;  // truncate here
  std::string reason;   // what was wrong with the record at `offset`
};

struct WalScan {
  std::vector<SegmentInfo> segments;    // in seq order
  std::optional<TornTail> torn_tail;    // in the last segment, if any
  std::vector<std::string> temp_files;  // paths of leftover *.tmp files
  Index last_index;                     // of the replayed log (0 if no segment)
};

using RecordVisitor =
    std::function<Status(const SegmentInfo& segment, uint64_t offset, const Record& record)>;

// Scans `dir`. The visitor sees records in log order; an error it returns stops the scan.
Result<WalScan> scan_wal(FileSystem& fs, const std::string& dir, const RecordVisitor& visit);

// The advice appended to every refusal message.
inline constexpr const char* kCorruptionAdvice =
    "The data directory is damaged; refusing to start so that no acknowledged write is lost. "
    "Inspect it with `raftkv-wal verify DIR`; do not edit or delete WAL files by hand. To "
    "recover, replace this node: remove it from its group and re-add it with an empty data "
    "directory so that it catches up from the leader (keep a copy of the damaged directory).";

}  // namespace raftkv::storage
