// Snapshot files: one file per snapshot, named snap-<index>-<term>.snap (format in wal_format.h).
//
// save(): write to a .tmp name, fsync, rename, fsync the directory; only then remove older
// snapshot files (and fsync the directory again). load_newest(): the newest snapshot whose
// checksum and format are valid; a damaged one is skipped with a warning.
// Thread-safety: not thread-safe; the owner (Wal) serializes calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "raft/types.h"
#include "storage/file_system.h"

namespace raftkv::storage {

struct SnapshotFileInfo {
  std::string path;
  Index index;  // from the file name
  Term term;
};

class SnapshotStore {
 public:
  SnapshotStore(FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // Makes `snap` durable, then removes older snapshot files. Errors from fsync are returned as
  // is; the caller treats them as fatal.
  Status save(const raft::Snapshot& snap);
  // The newest valid snapshot, or an empty one (index 0) if there is none.
  Result<std::shared_ptr<const raft::Snapshot>> load_newest() const;
  // Snapshot files present, newest first.
  Result<std::vector<SnapshotFileInfo>> list() const;

  static std::string encode(const raft::Snapshot& snap);
  // kCorruption / kVersionMismatch with a reason on a damaged file.
  static Result<raft::Snapshot> decode(std::string_view bytes);
  static Result<raft::Snapshot> read_file(FileSystem& fs, const std::string& path);
  static std::string file_name(Index index, Term term);

 private:
  FileSystem& fs_;
  const std::string dir_;
};

}  // namespace raftkv::storage
