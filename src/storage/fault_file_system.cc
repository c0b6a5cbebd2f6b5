#include "storage/fault_file_system.h"

#include <fmt/format.h>

namespace raftkv::storage {

class FaultInjectingFile final : public File {
 public:
  FaultInjectingFile(FaultInjectingFileSystem& fs, std::unique_ptr<File> base)
      : fs_(fs), base_(std::move(base)) {}

  Status pwrite(uint64_t offset, std::string_view data) override {
    Status error;
    const uint64_t admitted = fs_.admit_write(data.size(), path(), &error);
    if (admitted > 0) {
      Status s = base_->pwrite(offset, data.substr(0, admitted));
      if (!s) return s;
    }
    return error;
  }
  Result<size_t> pread(uint64_t offset, char* buf, size_t len) const override {
    return base_->pread(offset, buf, len);
  }
  Status datasync() override {
    Status s = fs_.on_sync(fmt::format("fdatasync {}", path()));
    if (!s) return s;
    return base_->datasync();
  }
  Status sync() override {
    Status s = fs_.on_sync(fmt::format("fsync {}", path()));
    if (!s) return s;
    return base_->sync();
  }
  Status allocate(uint64_t offset, uint64_t len) override {
    Status s = fs_.admit_allocate(len, path());
    if (!s) return s;
    return base_->allocate(offset, len);
  }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectingFileSystem& fs_;
  std::unique_ptr<File> base_;
};

void FaultInjectingFileSystem::fail_sync_after(uint64_t n) {
  std::lock_guard lock(mu_);
  syncs_until_failure_ = n;
}
void FaultInjectingFileSystem::fail_short_write_after_bytes(uint64_t bytes) {
  std::lock_guard lock(mu_);
  bytes_until_short_write_ = bytes;
}
void FaultInjectingFileSystem::set_space_bytes(uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_bytes_ = bytes;
}
void FaultInjectingFileSystem::clear_faults() {
  std::lock_guard lock(mu_);
  syncs_until_failure_ = kNever;
  bytes_until_short_write_ = kNever;
  space_bytes_ = kNever;
}

Status FaultInjectingFileSystem::on_sync(const std::string& what) {
  sync_calls_.fetch_add(1);
  std::lock_guard lock(mu_);
  if (syncs_until_failure_ == kNever) return Status::ok();
  if (syncs_until_failure_ > 1) {
    --syncs_until_failure_;
    return Status::ok();
  }
  syncs_until_failure_ = 1;  // sticky: every later sync fails too
  return Status(ErrorCode::kIoError, fmt::format("{}: Input/output error (injected)", what));
}

uint64_t FaultInjectingFileSystem::admit_write(uint64_t len, const std::string& path,
                                               Status* error) {
  std::lock_guard lock(mu_);
  uint64_t admitted = len;
  if (bytes_until_short_write_ != kNever) {
    if (len > bytes_until_short_write_) {
      admitted = bytes_until_short_write_;
      *error = Status(
          ErrorCode::kIoError,
          fmt::format("write {}: short write ({} of {} bytes, injected)", path, admitted, len));
      bytes_until_short_write_ = 0;
    } else {
      bytes_until_short_write_ -= len;
    }
  }
  if (space_bytes_ != kNever) {
    if (admitted > space_bytes_) {
      admitted = space_bytes_;
      *error = Status(ErrorCode::kNoSpace,
                      fmt::format("write {}: No space left on device (injected)", path));
    }
    space_bytes_ -= admitted;
  }
  return admitted;
}

Status FaultInjectingFileSystem::admit_allocate(uint64_t len, const std::string& path) {
  std::lock_guard lock(mu_);
  if (space_bytes_ == kNever) return Status::ok();
  if (len > space_bytes_) {
    return Status(ErrorCode::kNoSpace,
                  fmt::format("fallocate {}: No space left on device (injected)", path));
  }
  space_bytes_ -= len;
  return Status::ok();
}

Result<std::unique_ptr<File>> FaultInjectingFileSystem::open(const std::string& path,
                                                             OpenMode mode) {
  auto file = base_.open(path, mode);
  if (!file) return file.status();
  return std::unique_ptr<File>(
      std::make_unique<FaultInjectingFile>(*this, std::move(file).value()));
}
Status FaultInjectingFileSystem::sync_dir(const std::string& dir) {
  Status s = on_sync(fmt::format("fsync directory {}", dir));
  if (!s) return s;
  return base_.sync_dir(dir);
}
Status FaultInjectingFileSystem::rename(const std::string& from, const std::string& to) {
  return base_.rename(from, to);
}
Status FaultInjectingFileSystem::remove(const std::string& path) {
  return base_.remove(path);
}
Status FaultInjectingFileSystem::create_dirs(const std::string& dir) {
  return base_.create_dirs(dir);
}
Result<std::vector<std::string>> FaultInjectingFileSystem::list_dir(const std::string& dir) {
  return base_.list_dir(dir);
}

}  // namespace raftkv::storage
