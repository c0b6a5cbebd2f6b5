#include "storage/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace raftkv::storage {
namespace {

Status errno_status(int err, std::string_view op, std::string_view path) {
  const ErrorCode code = err == ENOSPC ? ErrorCode::kNoSpace : ErrorCode::kIoError;
  return Status(code, fmt::format("{} {}: {}", op, path, std::strerror(err)));
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status pwrite(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "write", path_);
      }
      if (n == 0) {
        return Status(ErrorCode::kIoError, fmt::format("write {}: short write (0 bytes)", path_));
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return Status::ok();
  }

  Result<size_t> pread(uint64_t offset, char* buf, size_t len) const override {
    size_t done = 0;
    while (done < len) {
      const ssize_t n = ::pread(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "read", path_);
      }
      if (n == 0) break;  // end of file
      done += static_cast<size_t>(n);
    }
    return done;
  }

  // Never retried: after a failed fsync the kernel may have dropped the dirty pages, so a
  // second call could "succeed" without the data being durable.
  Status datasync() override {
    if (::fdatasync(fd_) != 0) return errno_status(errno, "fdatasync", path_);
    return Status::ok();
  }
  Status sync() override {
    if (::fsync(fd_) != 0) return errno_status(errno, "fsync", path_);
    return Status::ok();
  }

  Status allocate(uint64_t offset, uint64_t len) override {
    int rc;
    do {
      rc = ::posix_fallocate(fd_, static_cast<off_t>(offset), static_cast<off_t>(len));
    } while (rc == EINTR);
    if (rc != 0) return errno_status(rc, "fallocate", path_);
    return Status::ok();
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return errno_status(errno, "ftruncate", path_);
    }
    return Status::ok();
  }

  Result<uint64_t> size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_status(errno, "fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  const int fd_;
  const std::string path_;
};

}  // namespace

Result<std::unique_ptr<File>> PosixFileSystem::open(const std::string& path, OpenMode mode) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case OpenMode::kReadOnly:
      flags |= O_RDONLY;
      break;
    case OpenMode::kReadWrite:
      flags |= O_RDWR;
      break;
    case OpenMode::kCreateExclusive:
      flags |= O_RDWR | O_CREAT | O_EXCL;
      break;
  }
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_status(errno, "open", path);
  return std::unique_ptr<File>(std::make_unique<PosixFile>(fd, path));
}

Status PosixFileSystem::sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno, "open directory", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_status(err, "fsync directory", dir);
  return Status::ok();
}

Status PosixFileSystem::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return errno_status(errno, "rename", fmt::format("{} -> {}", from, to));
  }
  return Status::ok();
}

Status PosixFileSystem::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return errno_status(errno, "remove", path);
  return Status::ok();
}

Status PosixFileSystem::create_dirs(const std::string& dir) {
  std::string prefix;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    prefix = dir.substr(0, pos);
    if (prefix.empty()) continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return errno_status(errno, "mkdir", prefix);
    }
  }
  return Status::ok();
}

Result<std::vector<std::string>> PosixFileSystem::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_status(errno, "list directory", dir);
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(d)) {
    const std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

FileSystem& posix_file_system() {
  static PosixFileSystem fs;
  return fs;
}

std::string join_path(std::string_view dir, std::string_view name) {
  if (!dir.empty() && dir.back() == '/') return fmt::format("{}{}", dir, name);
  return fmt::format("{}/{}", dir, name);
}

Result<std::string> read_whole_file(FileSystem& fs, const std::string& path) {
  auto file = fs.open(path, OpenMode::kReadOnly);
  if (!file) return file.status();
  auto size = (*file)->size();
  if (!size) return size.status();
  std::string data(*size, '\0');
  auto n = (*file)->pread(0, data.data(), data.size());
  if (!n) return n.status();
  data.resize(*n);
  return data;
}

}  // namespace raftkv::storage
