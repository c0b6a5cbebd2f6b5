// On-disk format of the raftkv storage directory: WAL segments (format version 1) and snapshot
// files (their own format version, 2: snapshot_file.h).
// (Also described for operators in docs/storage-format.md.) All integers are little-endian.
//
// Directory DIR holds:
//   wal-<seq:016x>.log             WAL segments, seq = 1, 2, 3, ... (no gaps among those present;
//                                  a prefix may have been removed by compaction)
//   snap-<index:016x>-<term:016x>.snap   snapshot files
//   *.tmp                          files being created; removed at startup
//
// Segment file:
//   [0, 40) header
//      0  u8[8]  magic "RKVWAL\0\1"
//      8  u32    format version (kFormatVersion = 1); a larger value refuses to start
//     12  u32    header size (40)
//     16  u64    segment seq (must match the file name)
//     24  u64    first_index: the index the next appended entry had when the segment was
//                created (= last log index + 1 at that moment)
//     32  u32    crc32c of bytes [0, 32)
//     36  u32    zero
//   [40, ...) records, each starting at a multiple of 8:
//      0  u32    crc32c of bytes [4, 12 + length) (length, type, reserved and payload)
//      4  u32    payload length (<= kMaxRecordPayload, 2 GiB: an entry of the largest write, 1 GiB
//                plus headroom, fits; see server/config.h write_path_limits)
//      8  u8     record type (RecordType below; 0 is never written)
//      9  u8[3]  zero
//     12  u8[length] payload
//         zero padding up to the next multiple of 8 (not checksummed)
//   A record header of 12 zero bytes marks the end of the data; segments are preallocated
//   (fallocate), so the unused tail reads as zeros. Every segment but the last ends with a
//   kSegmentEnd record; each new segment starts with a kHardState record carrying the latest
//   hard state, so removing old segments never loses it.
//
// Record payloads:
//   kEntry       u64 term, u64 index, u8 entry type, data (rest of the payload)
//   kHardState   u64 term, u64 vote, u64 commit
//   kTruncate    u64 index: entries >= index are discarded; the next entry has this index
//   kLogReset    u64 index, u64 term: the whole log is discarded; it continues after
//                (index, term), which a durable snapshot covers (follower installed a snapshot)
//   kSegmentEnd  u64 next segment seq: the segment is complete
// Within the replayed log, entry indexes are contiguous (each is last + 1, or follows a
// kTruncate/kLogReset) and terms never decrease.
//
// Snapshot file (written to a .tmp name, fsynced, renamed, directory fsynced): format version
// 3 (kSnapshotFormatVersion; version 2 is still read), laid out in snapshot_file.h. It starts with kSnapshotMagic below
// and ends with a trailer (u64 data length, u32 crc32c of every preceding byte), so that it is
// streamed to disk as it is produced. A file of any other version refuses to load.
//
// Recovery (see wal_reader.h): a bad record in the last segment is a torn write, truncated with
// a warning, only if no valid record follows it anywhere in that segment; otherwise, and for any
// bad record, header, missing seal, gap or out-of-order segment elsewhere, startup is refused
// with the file, the offset and what to do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::storage {

inline constexpr uint32_t kFormatVersion = 1;  // WAL segments (snapshots: snapshot_file.h)
inline constexpr char kSegmentMagic[8] = {'R', 'K', 'V', 'W', 'A', 'L', '\0', '\1'};
inline constexpr char kSnapshotMagic[8] = {'R', 'K', 'V', 'S', 'N', 'A', 'P', '\1'};
inline constexpr uint64_t kSegmentHeaderSize = 40;
inline constexpr uint64_t kRecordHeaderSize = 12;
inline constexpr uint64_t kRecordAlignment = 8;
inline constexpr uint32_t kMaxRecordPayload = 2u << 30;

enum class RecordType : uint8_t {
  kEntry = 1,
  kHardState = 2,
  kTruncate = 3,
  kLogReset = 4,
  kSegmentEnd = 5,
};
const char* record_type_name(RecordType type);

// A decoded record. Only the fields of its type are meaningful.
struct Record {
  RecordType type = RecordType::kEntry;
  raft::Entry entry;           // kEntry
  raft::HardState hard_state;  // kHardState
  Index index;                 // kTruncate, kLogReset
  Term term;                   // kLogReset
  uint64_t next_seq = 0;       // kSegmentEnd
};

struct SegmentHeader {
  uint32_t version = kFormatVersion;
  uint64_t seq = 0;
  Index first_index;
};

// Bytes a record with `payload_len` bytes of payload occupies, padding included.
inline uint64_t padded_record_size(uint64_t payload_len) {
  return (kRecordHeaderSize + payload_len + kRecordAlignment - 1) / kRecordAlignment *
         kRecordAlignment;
}

// Appends the complete, padded record to `out`.
void encode_record(const Record& record, std::string* out);
// The same for an entry record, without copying the entry into a Record.
void encode_entry_record(const raft::Entry& entry, std::string* out);
size_t encoded_entry_record_size(const raft::Entry& entry);
// The same record in pieces, so that a large entry's data is written from its own bytes: returns
// the record's bytes before the data (header and entry fields, checksum over all of it included)
// and sets *padding_out to the zero bytes after the data. head + data + padding ==
// encode_entry_record(entry).
std::string encode_entry_record_head(const raft::Entry& entry, size_t* padding_out);
std::string encode_segment_header(const SegmentHeader& header);

// Checks and decodes the record at `offset` of `data`; on success *size_out is its padded size.
// Errors are kCorruption with a short reason (no file name: the caller adds context).
Result<Record> decode_record(std::string_view data, uint64_t offset, uint64_t* size_out);
// True when the 12 bytes at `offset` are all zero (or fewer than 12 bytes remain and all of them
// are zero): the end of the data.
bool is_end_of_data(std::string_view data, uint64_t offset);
// kCorruption / kVersionMismatch on a bad header.
Result<SegmentHeader> decode_segment_header(std::string_view data);

std::string segment_file_name(uint64_t seq);
// Parses "wal-<16 hex>.log"; nullopt for other names.
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

// Little-endian helpers.
void put_u32(std::string* out, uint32_t v);
void put_u64(std::string* out, uint64_t v);
uint32_t get_u32(const char* p);
uint64_t get_u64(const char* p);

}  // namespace raftkv::storage
