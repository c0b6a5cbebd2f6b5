// An in-memory FileSystem for fuzzing storage recovery: no disk I/O, no temp directories, and
// every run starts from exactly the files the input describes.
//
// Semantics follow POSIX where storage relies on them: an open File keeps its contents after
// the path is renamed or removed (it holds the "inode"), rename replaces the target, allocate
// extends with zeros, list_dir returns sorted names. Syncs always succeed (nothing is volatile).
// Invariant: every file's size stays <= kMaxFileBytes; larger writes fail with kNoSpace, so a
// hostile input cannot exhaust memory.
// Thread-safety: the directory map is guarded by a mutex; a File's data is not (the harnesses
// use one thread).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "storage/file_system.h"

namespace raftkv::fuzz {

class MemFileSystem final : public storage::FileSystem {
 public:
  static constexpr uint64_t kMaxFileBytes = 64ull << 20;

  // Creates or replaces `path` with `contents` (its directory is created too).
  void put(const std::string& path, std::string contents);
  // The contents of `path`, or nullptr if it does not exist.
  std::shared_ptr<const std::string> get(const std::string& path) const;
  // Every file path, sorted.
  std::vector<std::string> paths() const;

  Result<std::unique_ptr<storage::File>> open(const std::string& path,
                                              storage::OpenMode mode) override;
  Status sync_dir(const std::string& dir) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status create_dirs(const std::string& dir) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::string>> files_;
  std::set<std::string> dirs_;  // without a trailing slash
};

}  // namespace raftkv::fuzz
