#include "storage/wal_reader.h"

#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"

namespace raftkv::storage {
namespace {

Status refuse(ErrorCode code, const std::string& path, uint64_t offset, const std::string& what) {
  return Status(code,
                fmt::format("WAL {} at offset {}: {}. {}", path, offset, what, kCorruptionAdvice));
}

// First 8-aligned offset after `bad_offset` where a valid record starts, if any.
std::optional<uint64_t> find_valid_record_after(std::string_view data, uint64_t bad_offset) {
  for (uint64_t y = (bad_offset / kRecordAlignment + 1) * kRecordAlignment;
       y + kRecordHeaderSize <= data.size(); y += kRecordAlignment) {
    if (is_end_of_data(data, y)) continue;
    uint64_t size = 0;
    if (decode_record(data, y, &size).is_ok()) return y;
  }
  return std::nullopt;
}

// Log-continuity state while replaying (see wal_format.h for the rules).
struct Continuity {
  Index base;  // the log starts after it (first segment's first_index - 1, or the last reset)
  Index last;
  std::optional<Term> base_term;  // from the last reset; unknown at the first segment's start
  // (first index, term) of each run of equal terms in (base, last], in order, so that the term
  // before a truncation point is known. Invariant: first indexes and terms strictly increase.
  std::vector<std::pair<Index, Term>> runs;

  std::optional<Term> last_term() const {
    return runs.empty() ? base_term : std::optional<Term>(runs.back().second);
  }
};

Status check_continuity(Continuity* c, const Record& r, const std::string& path, uint64_t offset) {
  switch (r.type) {
    case RecordType::kEntry:
      if (r.entry.index != c->last + 1) {
        return refuse(ErrorCode::kCorruption, path, offset,
                      fmt::format("entry index {} does not follow the previous index {} (a gap "
                                  "or reordering in the log)",
                                  r.entry.index, c->last));
      }
      if (c->last_term() && r.entry.term < *c->last_term()) {
        return refuse(ErrorCode::kCorruption, path, offset,
                      fmt::format("entry {} has term {}, lower than the previous term {}",
                                  r.entry.index, r.entry.term, *c->last_term()));
      }
      c->last = r.entry.index;
      if (c->runs.empty() || c->runs.back().second != r.entry.term) {
        c->runs.emplace_back(r.entry.index, r.entry.term);
      }
      break;
    case RecordType::kTruncate:
      if (r.index <= c->base) {
        return refuse(ErrorCode::kCorruption, path, offset,
                      fmt::format("truncation to index {} at or below the start of the log {}",
                                  r.index, c->base));
      }
      if (r.index > c->last + 1 || r.index == Index{}) {
        return refuse(
            ErrorCode::kCorruption, path, offset,
            fmt::format("truncation to index {} beyond the last index {}", r.index, c->last));
      }
      c->last = r.index - 1;
      while (!c->runs.empty() && c->runs.back().first > c->last) c->runs.pop_back();
      break;
    case RecordType::kLogReset:
      c->base = r.index;
      c->last = r.index;
      c->base_term = r.term;
      c->runs.clear();
      break;
    case RecordType::kHardState:
    case RecordType::kSegmentEnd:
      break;
  }
  return Status::ok();
}

}  // namespace

Result<WalScan> scan_wal(FileSystem& fs, const std::string& dir, const RecordVisitor& visit) {
  Logger log("wal-recovery");
  auto names = fs.list_dir(dir);
  if (!names) return names.status();
  WalScan scan;
  std::vector<std::pair<uint64_t, std::string>> segment_names;
  for (const std::string& name : *names) {
    if (name.ends_with(".tmp")) {
      scan.temp_files.push_back(join_path(dir, name));
    } else if (auto seq = parse_segment_file_name(name)) {
      segment_names.emplace_back(*seq, name);
    }
  }
  // list_dir sorts by name and names are fixed-width hex, so seqs are ascending.
  Continuity continuity;
  for (size_t i = 0; i < segment_names.size(); ++i) {
    const bool is_last = i + 1 == segment_names.size();
    SegmentInfo seg;
    seg.seq = segment_names[i].first;
    seg.path = join_path(dir, segment_names[i].second);
    if (i > 0 && seg.seq != scan.segments.back().seq + 1) {
      return refuse(ErrorCode::kCorruption, seg.path, 0,
                    fmt::format("segment {} follows segment {}: segments in between are missing",
                                seg.seq, scan.segments.back().seq));
    }
    auto data_or = read_whole_file(fs, seg.path);
    if (!data_or) return data_or.status();
    const std::string& data = *data_or;
    seg.file_size = data.size();
    auto header = decode_segment_header(data);
    if (!header) return refuse(header.code(), seg.path, 0, header.status().message());
    if (header->seq != seg.seq) {
      return refuse(ErrorCode::kCorruption, seg.path, 16,
                    fmt::format("header says segment {} but the file name says {} (renamed or "
                                "out of order)",
                                header->seq, seg.seq));
    }
    seg.first_index = header->first_index;
    if (i == 0) {
      continuity.base = seg.first_index - 1;
      continuity.last = continuity.base;
    } else if (seg.first_index != continuity.last + 1) {
      return refuse(ErrorCode::kCorruption, seg.path, 24,
                    fmt::format("segment starts at index {} but the previous segment ends at {}",
                                seg.first_index, continuity.last));
    }

    uint64_t offset = kSegmentHeaderSize;
    while (true) {
      if (is_end_of_data(data, offset)) {
        if (!is_last) {
          return refuse(ErrorCode::kCorruption, seg.path, offset,
                        "segment ends without its end marker although a later segment exists "
                        "(records are missing)");
        }
        auto later = find_valid_record_after(data, offset);
        if (!later) break;  // clean end of the log
        return refuse(ErrorCode::kCorruption, seg.path, offset,
                      fmt::format("zeroed bytes inside the log: a valid record follows at offset "
                                  "{}, so this is not a torn write",
                                  *later));
      }
      uint64_t size = 0;
      auto record = decode_record(data, offset, &size);
      if (!record) {
        if (!is_last) {
          return refuse(ErrorCode::kCorruption, seg.path, offset,
                        fmt::format("bad record ({}) in a segment that is not the last",
                                    record.status().message()));
        }
        if (auto later = find_valid_record_after(data, offset)) {
          return refuse(ErrorCode::kCorruption, seg.path, offset,
                        fmt::format("bad record ({}); a valid record follows at offset {}, so "
                                    "this is not a torn write",
                                    record.status().message(), *later));
        }
        scan.torn_tail = TornTail{seg.path, offset, record.status().message()};
        log.warn(
            "torn write at the end of the WAL: {} offset {}: {}; {} bytes after it will be "
            "discarded (they were never acknowledged)",
            seg.path, offset, record.status().message(), data.size() - offset);
        break;
      }
      Status s = check_continuity(&continuity, *record, seg.path, offset);
      if (!s) return s;
      if (visit) {
        s = visit(seg, offset, *record);
        if (!s) return s;
      }
      offset += size;
      if (record->type == RecordType::kSegmentEnd) {
        if (record->next_seq != seg.seq + 1) {
          return refuse(ErrorCode::kCorruption, seg.path, offset - size,
                        fmt::format("end marker names next segment {}, expected {}",
                                    record->next_seq, seg.seq + 1));
        }
        seg.sealed = true;
        break;
      }
    }
    seg.end_offset = offset;
    scan.segments.push_back(std::move(seg));
  }
  scan.last_index = continuity.last;
  return scan;
}

}  // namespace raftkv::storage
