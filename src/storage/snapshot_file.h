// One snapshot file, streamed: written and read in pieces, never held whole in memory.
//
// Layout (format version 3; all integers little-endian, see wal_format.h):
//      0  u8[8]  magic "RKVSNAP\1"
//      8  u32    format version (3)
//     12  u32    flags: bit 0 = the membership's auto_leave
//     16  u64    index, u64 term
//     32  u32    counts: voters V, learners L, outgoing voters O, next learners N, member
//                records M; u32 zero
//     56  u64    V + L + O + N node ids, in that order
//         ...    M member records: u64 id, u64 incarnation, u32 length + peer address,
//                u32 length + client address
//         ...    D bytes of state-machine data (D = file size - header - 12)
//         u64    D
//         u32    crc32c of every preceding byte of the file
// Version 2 (still read) had a 40-byte fixed part: a zero where the flags are, only V and L,
// then V + L ids and no member records (its members are unbound: incarnation 0, no addresses).
// The data length sits in the trailer so that a writer can stream data of unknown size; the
// checksum covers the header, so a reader trusts the metadata only after verify() or after
// reading the data to its end.
//
// Thread-safety: one object per thread; distinct objects on the same file are independent.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "raft/types.h"
#include "storage/file_system.h"

namespace raftkv::storage {

inline constexpr uint32_t kSnapshotFormatVersion = 3;  // written
inline constexpr uint32_t kSnapshotOldestReadableVersion = 2;
inline constexpr uint64_t kSnapshotTrailerSize = 12;

class SnapshotFileWriter {
 public:
  // Creates `path` (which must not exist) and writes the header.
  static Result<std::unique_ptr<SnapshotFileWriter>> create(FileSystem& fs, std::string path,
                                                            const raft::SnapshotMeta& meta);
  // Appends data bytes (buffered; written in pieces of about 1 MiB).
  Status append(std::string_view data);
  // Writes the trailer and fsyncs the file. The file keeps its (temporary) name: the caller
  // renames it into place and fsyncs the directory.
  Status finish();

  const std::string& path() const { return path_; }
  const raft::SnapshotMeta& meta() const { return meta_; }
  uint64_t file_bytes() const { return offset_ + buffer_.size(); }

 private:
  SnapshotFileWriter(std::unique_ptr<File> file, std::string path, raft::SnapshotMeta meta);
  Status write_buffer();

  std::unique_ptr<File> file_;
  const std::string path_;
  const raft::SnapshotMeta meta_;
  std::string buffer_;
  uint64_t offset_ = 0;      // bytes written to the file
  uint64_t data_bytes_ = 0;  // D so far
  uint32_t crc_ = 0;         // of every byte handed to write_buffer()
  bool finished_ = false;
};

class SnapshotFileReader {
 public:
  // Opens `path` and parses its header: kCorruption (naming the file) for a malformed header
  // (including a membership that breaks raft::validate_conf_state), kVersionMismatch for a
  // format version it does not read. The checksum is not checked yet.
  static Result<std::unique_ptr<SnapshotFileReader>> open(FileSystem& fs, const std::string& path);

  const raft::SnapshotMeta& meta() const { return meta_; }
  const std::string& path() const { return path_; }
  uint64_t file_bytes() const { return file_bytes_; }
  uint64_t data_bytes() const { return file_bytes_ - header_bytes_ - kSnapshotTrailerSize; }

  // Reads the whole file and checks the trailer and checksum.
  Status verify() const;
  // Reads the data section sequentially from the start (or from the last rewind()). Returns
  // 0 at its end, after checking the trailer and checksum (kCorruption if they fail), so a
  // consumer that reads to the end has read verified bytes.
  Result<size_t> read_data(char* buf, size_t capacity);
  void rewind();
  // Raw file bytes at `offset` (for streaming the whole file to a peer).
  Result<size_t> read_raw(uint64_t offset, char* buf, size_t len) const;

 private:
  SnapshotFileReader(std::unique_ptr<File> file, std::string path);
  Status check_trailer(uint32_t crc_through_data) const;
  Status corrupt(std::string_view why) const;

  std::unique_ptr<File> file_;
  const std::string path_;
  raft::SnapshotMeta meta_;
  uint64_t file_bytes_ = 0;
  uint64_t header_bytes_ = 0;
  uint32_t header_crc_ = 0;
  uint64_t data_pos_ = 0;  // read_data position within the data section
  uint32_t data_crc_ = 0;  // running checksum through header + data read so far
};

// Writes a whole in-memory snapshot (tests, small states) to `path` and fsyncs it.
Status write_snapshot_file(FileSystem& fs, const std::string& path, const raft::Snapshot& snap);
// Reads a whole snapshot file into memory, verifying it.
Result<raft::Snapshot> read_snapshot_file(FileSystem& fs, const std::string& path);

}  // namespace raftkv::storage
