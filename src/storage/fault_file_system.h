// A FileSystem that forwards to another one and injects faults on command, for tests:
//   - EIO from the Nth fdatasync/fsync (file or directory) from now on;
//   - a short write: once `short_write_after_bytes` more bytes have been written, a write stores
//     only the part that fits and fails with kIoError;
//   - ENOSPC: the disk "holds" only `space_bytes` more bytes of writes and allocations; a write
//     that crosses the limit stores the part that fits and fails with kNoSpace, an allocation
//     that crosses it fails without allocating.
// Counters are shared by all files of the file system. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>

#include "storage/file_system.h"

namespace raftkv::storage {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

  explicit FaultInjectingFileSystem(FileSystem& base) : base_(base) {}

  // The `n`-th sync call from now (1 = the next one) and every later one fail with EIO.
  void fail_sync_after(uint64_t n);
  void fail_short_write_after_bytes(uint64_t bytes);
  void set_space_bytes(uint64_t bytes);
  void clear_faults();

  uint64_t sync_calls() const { return sync_calls_.load(); }

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  Status sync_dir(const std::string& dir) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status create_dirs(const std::string& dir) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

 private:
  friend class FaultInjectingFile;
  // Returns the error to report for this sync call, or ok.
  Status on_sync(const std::string& what);
  // How many of `len` bytes a write may store; sets *error when it must fail after them.
  uint64_t admit_write(uint64_t len, const std::string& path, Status* error);
  Status admit_allocate(uint64_t len, const std::string& path);

  FileSystem& base_;
  std::mutex mu_;
  uint64_t syncs_until_failure_ = kNever;  // 1 = the next sync fails
  uint64_t bytes_until_short_write_ = kNever;
  uint64_t space_bytes_ = kNever;
  std::atomic<uint64_t> sync_calls_{0};
};

}  // namespace raftkv::storage
