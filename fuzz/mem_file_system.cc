#include "mem_file_system.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace raftkv::fuzz {
namespace {

using storage::File;
using storage::OpenMode;

Status io_error(const std::string& what, const std::string& path) {
  return Status(ErrorCode::kIoError, fmt::format("{} {}: no such file or directory", what, path));
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string strip_slash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

class MemFile final : public File {
 public:
  MemFile(std::string path, std::shared_ptr<std::string> data)
      : path_(std::move(path)), data_(std::move(data)) {}

  Status pwrite(uint64_t offset, std::string_view bytes) override {
    if (offset + bytes.size() > MemFileSystem::kMaxFileBytes) {
      return Status(ErrorCode::kNoSpace, fmt::format("write {}: file too large", path_));
    }
    if (data_->size() < offset + bytes.size()) data_->resize(offset + bytes.size(), '\0');
    std::copy(bytes.begin(), bytes.end(), data_->begin() + static_cast<std::ptrdiff_t>(offset));
    return Status::ok();
  }
  Result<size_t> pread(uint64_t offset, char* buf, size_t len) const override {
    if (offset >= data_->size()) return size_t{0};
    const size_t n = std::min<uint64_t>(len, data_->size() - offset);
    std::memcpy(buf, data_->data() + offset, n);
    return n;
  }
  Status datasync() override { return Status::ok(); }
  Status sync() override { return Status::ok(); }
  Status allocate(uint64_t offset, uint64_t len) override {
    if (offset + len > MemFileSystem::kMaxFileBytes) {
      return Status(ErrorCode::kNoSpace, fmt::format("allocate {}: file too large", path_));
    }
    if (data_->size() < offset + len) data_->resize(offset + len, '\0');
    return Status::ok();
  }
  Status truncate(uint64_t size) override {
    if (size > MemFileSystem::kMaxFileBytes) {
      return Status(ErrorCode::kNoSpace, fmt::format("truncate {}: file too large", path_));
    }
    data_->resize(size, '\0');
    return Status::ok();
  }
  Result<uint64_t> size() const override { return uint64_t{data_->size()}; }
  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  std::shared_ptr<std::string> data_;
};

}  // namespace

void MemFileSystem::put(const std::string& path, std::string contents) {
  std::lock_guard lock(mu_);
  files_[path] = std::make_shared<std::string>(std::move(contents));
  for (std::string dir = parent_of(path); !dir.empty(); dir = parent_of(dir)) dirs_.insert(dir);
}

std::shared_ptr<const std::string> MemFileSystem::get(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : it->second;
}

std::vector<std::string> MemFileSystem::paths() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [path, data] : files_) out.push_back(path);
  return out;
}

Result<std::unique_ptr<File>> MemFileSystem::open(const std::string& path, OpenMode mode) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (mode == OpenMode::kCreateExclusive) {
    if (it != files_.end()) {
      return Status(ErrorCode::kIoError, fmt::format("create {}: file exists", path));
    }
    if (!parent_of(path).empty() && !dirs_.contains(parent_of(path)))
      return io_error("create", path);
    it = files_.emplace(path, std::make_shared<std::string>()).first;
  } else if (it == files_.end()) {
    return io_error("open", path);
  }
  return std::unique_ptr<File>(std::make_unique<MemFile>(path, it->second));
}

Status MemFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (!dirs_.contains(strip_slash(dir))) return io_error("sync directory", dir);
  return Status::ok();
}

Status MemFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return io_error("rename", from);
  auto data = it->second;
  files_.erase(it);
  files_[to] = std::move(data);
  return Status::ok();
}

Status MemFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  if (files_.erase(path) == 0) return io_error("remove", path);
  return Status::ok();
}

Status MemFileSystem::create_dirs(const std::string& dir) {
  std::lock_guard lock(mu_);
  for (std::string d = strip_slash(dir); !d.empty(); d = parent_of(d)) dirs_.insert(d);
  return Status::ok();
}

Result<std::vector<std::string>> MemFileSystem::list_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  const std::string d = strip_slash(dir);
  if (!dirs_.contains(d)) return io_error("list directory", dir);
  const std::string prefix = d + "/";
  std::set<std::string> names;  // sorted, like PosixFileSystem::list_dir
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix);
       ++it) {
    const std::string rest = it->first.substr(prefix.size());
    names.insert(rest.substr(0, rest.find('/')));
  }
  for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->starts_with(prefix); ++it) {
    const std::string rest = it->substr(prefix.size());
    names.insert(rest.substr(0, rest.find('/')));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

}  // namespace raftkv::fuzz
