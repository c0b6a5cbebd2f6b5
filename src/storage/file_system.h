// The file-system interface that all storage I/O goes through, so that tests can inject faults
// (short writes, ENOSPC, EIO on fsync) and a simulator can later substitute a fake disk.
//
// Errors map to ErrorCode: ENOSPC → kNoSpace, everything else → kIoError; the message names the
// path, the operation and strerror(errno).
// Thread-safety: a File's pread/size may be called from any thread concurrently with one writer
// (positional I/O, no shared offset). FileSystem methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::storage {

class File {
 public:
  virtual ~File() = default;

  // Writes all of `data` at `offset`, or fails. A write that stops early is an error (kNoSpace
  // for ENOSPC, kIoError for a short write); some prefix of `data` may then be on the file.
  virtual Status pwrite(uint64_t offset, std::string_view data) = 0;
  // Reads up to `len` bytes at `offset` into `buf`; returns the count (less than len only at
  // end of file).
  virtual Result<size_t> pread(uint64_t offset, char* buf, size_t len) const = 0;
  // fdatasync: the data written so far (and the size, if it changed) is durable.
  virtual Status datasync() = 0;
  // fsync: data and all metadata are durable.
  virtual Status sync() = 0;
  // Reserves [offset, offset+len) so later writes there cannot fail with ENOSPC; extends the
  // file size (fallocate mode 0). The new range reads as zeros.
  virtual Status allocate(uint64_t offset, uint64_t len) = 0;
  // Sets the file size (ftruncate).
  virtual Status truncate(uint64_t size) = 0;
  virtual Result<uint64_t> size() const = 0;
  virtual const std::string& path() const = 0;
};

enum class OpenMode : uint8_t {
  kReadOnly,        // must exist
  kReadWrite,       // must exist
  kCreateExclusive  // read-write; fails if the file exists
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  // Makes creations, renames and removals of entries in `dir` durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  // Atomically replaces `to` with `from` (rename(2)); not durable until sync_dir.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  // Creates `dir` (and missing parents); ok if it exists.
  virtual Status create_dirs(const std::string& dir) = 0;
  // Names (not paths) of the entries in `dir`, sorted, without "." and "..".
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
};

// The real thing: POSIX calls, retrying EINTR, never retrying a failed fsync/fdatasync.
class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  Status sync_dir(const std::string& dir) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status create_dirs(const std::string& dir) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
};

// Process-wide POSIX file system (stateless).
FileSystem& posix_file_system();

// "dir/name", without doubling a trailing slash.
std::string join_path(std::string_view dir, std::string_view name);

// Reads the whole file at `path` (for recovery scans and tools).
Result<std::string> read_whole_file(FileSystem& fs, const std::string& path);

}  // namespace raftkv::storage
