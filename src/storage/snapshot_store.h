// Snapshot files: one file per snapshot, named snap-<index>-<term>.snap (format in
// snapshot_file.h), streamed to and from disk, never held whole in memory.
//
// adopt()/save(): the file is complete and fsynced under a temporary name, renamed, and the
// directory fsynced; only then are older snapshot files removed (and the directory fsynced
// again). load_newest(): the newest snapshot whose checksum and format are valid; a damaged one
// is skipped with a warning.
// Thread-safety: not thread-safe; the owner (Wal) serializes calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "raft/types.h"
#include "storage/file_system.h"
#include "storage/snapshot_file.h"

namespace raftkv::storage {

struct SnapshotFileInfo {
  std::string path;
  Index index;  // from the file name
  Term term;
};

class SnapshotStore {
 public:
  SnapshotStore(FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // Where the snapshot (index, term) lives once durable; and the names of files on their way
  // there: a locally written snapshot (removed at recovery) and one being received from the
  // leader (kept across restarts so that a transfer can resume).
  std::string path_for(Index index, Term term) const;
  std::string temp_path_for(Index index, Term term) const { return path_for(index, term) + ".tmp"; }
  std::string partial_path_for(Index index, Term term) const {
    return path_for(index, term) + ".partial";
  }

  // Moves the complete, fsynced snapshot file at `complete_path` into place (rename, fsync the
  // directory), then removes older snapshot files and partial transfers at or below its index.
  // Errors from fsync are returned as is; the caller treats them as fatal.
  Status adopt(const std::string& complete_path, const raft::SnapshotMeta& meta);
  // Writes an in-memory snapshot to a temporary file and adopts it.
  Status save(const raft::Snapshot& snap);
  // The metadata (data left empty) of the newest snapshot file that verifies, or an empty
  // snapshot (index 0) if there is none. Damaged files are skipped with a warning.
  Result<std::shared_ptr<const raft::Snapshot>> load_newest() const;
  // Snapshot files present, newest first.
  Result<std::vector<SnapshotFileInfo>> list() const;
  // Partial transfers present (".partial" files), newest first.
  Result<std::vector<SnapshotFileInfo>> list_partial() const;

  static std::string file_name(Index index, Term term);

 private:
  Result<std::vector<SnapshotFileInfo>> list_with_suffix(std::string_view suffix) const;

  FileSystem& fs_;
  const std::string dir_;
};

}  // namespace raftkv::storage
