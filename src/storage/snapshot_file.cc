#include "storage/snapshot_file.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "storage/wal_format.h"

namespace raftkv::storage {
namespace {

constexpr size_t kWriteBufferBytes = size_t{1} << 20;
constexpr uint64_t kFixedHeaderBytes = 40;
// Membership lists longer than this are not a plausible header (guards a damaged count).
constexpr uint64_t kMaxMembers = 1 << 16;

std::string encode_header(const raft::SnapshotMeta& meta) {
  std::string out(kSnapshotMagic, sizeof(kSnapshotMagic));
  put_u32(&out, kSnapshotFormatVersion);
  put_u32(&out, 0);
  put_u64(&out, meta.index.value());
  put_u64(&out, meta.term.value());
  put_u32(&out, static_cast<uint32_t>(meta.conf.voters.size()));
  put_u32(&out, static_cast<uint32_t>(meta.conf.learners.size()));
  for (NodeId id : meta.conf.voters) put_u64(&out, id.value());
  for (NodeId id : meta.conf.learners) put_u64(&out, id.value());
  return out;
}

}  // namespace

// ---- writer ---------------------------------------------------------------------------------

SnapshotFileWriter::SnapshotFileWriter(std::unique_ptr<File> file, std::string path,
                                       raft::SnapshotMeta meta)
    : file_(std::move(file)), path_(std::move(path)), meta_(std::move(meta)) {}

Result<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::create(
    FileSystem& fs, std::string path, const raft::SnapshotMeta& meta) {
  auto file = fs.open(path, OpenMode::kCreateExclusive);
  if (!file) return file.status();
  std::unique_ptr<SnapshotFileWriter> w(
      new SnapshotFileWriter(std::move(file).value(), std::move(path), meta));
  w->buffer_ = encode_header(meta);
  return w;
}

Status SnapshotFileWriter::append(std::string_view data) {
  RAFTKV_ASSERT(!finished_, "append after finish on {}", path_);
  data_bytes_ += data.size();
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kWriteBufferBytes - buffer_.size());
    buffer_.append(data.substr(0, n));
    data.remove_prefix(n);
    if (buffer_.size() >= kWriteBufferBytes) {
      if (Status s = write_buffer(); !s) return s;
    }
  }
  return Status::ok();
}

Status SnapshotFileWriter::write_buffer() {
  if (buffer_.empty()) return Status::ok();
  crc_ = crc32c_extend(crc_, buffer_.data(), buffer_.size());
  if (Status s = file_->pwrite(offset_, buffer_); !s) return s;
  offset_ += buffer_.size();
  buffer_.clear();
  return Status::ok();
}

Status SnapshotFileWriter::finish() {
  RAFTKV_ASSERT(!finished_, "finish twice on {}", path_);
  finished_ = true;
  put_u64(&buffer_, data_bytes_);
  if (Status s = write_buffer(); !s) return s;
  std::string crc;
  put_u32(&crc, crc_);
  if (Status s = file_->pwrite(offset_, crc); !s) return s;
  offset_ += crc.size();
  return file_->sync();
}

// ---- reader ---------------------------------------------------------------------------------

SnapshotFileReader::SnapshotFileReader(std::unique_ptr<File> file, std::string path)
    : file_(std::move(file)), path_(std::move(path)) {}

Status SnapshotFileReader::corrupt(std::string_view why) const {
  return Status(ErrorCode::kCorruption, fmt::format("snapshot {}: {}", path_, why));
}

Result<std::unique_ptr<SnapshotFileReader>> SnapshotFileReader::open(FileSystem& fs,
                                                                     const std::string& path) {
  auto file = fs.open(path, OpenMode::kReadOnly);
  if (!file) return file.status();
  std::unique_ptr<SnapshotFileReader> r(new SnapshotFileReader(std::move(file).value(), path));
  auto size = r->file_->size();
  if (!size) return size.status();
  r->file_bytes_ = *size;
  char fixed[kFixedHeaderBytes];
  auto n = r->file_->pread(0, fixed, sizeof(fixed));
  if (!n) return n.status();
  if (*n < sizeof(fixed) || r->file_bytes_ < kFixedHeaderBytes + kSnapshotTrailerSize) {
    return r->corrupt(fmt::format("file too short ({} bytes)", r->file_bytes_));
  }
  if (std::memcmp(fixed, kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    return r->corrupt("bad magic: not a raftkv snapshot");
  }
  const uint32_t version = get_u32(fixed + 8);
  if (version != kSnapshotFormatVersion) {
    return Status(ErrorCode::kVersionMismatch,
                  fmt::format("snapshot {}: format version {}, this build reads version {}", path,
                              version, kSnapshotFormatVersion));
  }
  r->meta_.index = Index(get_u64(fixed + 16));
  r->meta_.term = Term(get_u64(fixed + 24));
  const uint64_t voters = get_u32(fixed + 32);
  const uint64_t learners = get_u32(fixed + 36);
  if (voters + learners > kMaxMembers) return r->corrupt("implausible membership size");
  r->header_bytes_ = kFixedHeaderBytes + (voters + learners) * 8;
  if (r->header_bytes_ + kSnapshotTrailerSize > r->file_bytes_) {
    return r->corrupt("membership runs past the end");
  }
  std::string ids((voters + learners) * 8, '\0');
  if (!ids.empty()) {
    auto m = r->file_->pread(kFixedHeaderBytes, ids.data(), ids.size());
    if (!m) return m.status();
    if (*m != ids.size()) return r->corrupt("truncated membership");
  }
  for (uint64_t i = 0; i < voters + learners; ++i) {
    auto& list = i < voters ? r->meta_.conf.voters : r->meta_.conf.learners;
    list.emplace_back(get_u64(ids.data() + i * 8));
  }
  r->header_crc_ = crc32c_extend(crc32c(fixed, sizeof(fixed)), ids.data(), ids.size());
  r->data_crc_ = r->header_crc_;
  return r;
}

Status SnapshotFileReader::check_trailer(uint32_t crc_through_data) const {
  char trailer[kSnapshotTrailerSize];
  auto n = file_->pread(file_bytes_ - kSnapshotTrailerSize, trailer, sizeof(trailer));
  if (!n) return n.status();
  if (*n != sizeof(trailer)) return corrupt("truncated trailer");
  if (get_u64(trailer) != data_bytes()) {
    return corrupt(fmt::format("data length {} does not match the file size (expected {})",
                               get_u64(trailer), data_bytes()));
  }
  const uint32_t computed = crc32c_extend(crc_through_data, trailer, 8);
  const uint32_t stored = get_u32(trailer + 8);
  if (stored != computed) {
    return corrupt(
        fmt::format("checksum mismatch (stored {:08x}, computed {:08x})", stored, computed));
  }
  return Status::ok();
}

Status SnapshotFileReader::verify() const {
  uint32_t crc = header_crc_;
  std::string buf(kWriteBufferBytes, '\0');
  const uint64_t end = header_bytes_ + data_bytes();
  for (uint64_t pos = header_bytes_; pos < end;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
    auto n = file_->pread(pos, buf.data(), want);
    if (!n) return n.status();
    if (*n != want) return corrupt("file shrank while reading");
    crc = crc32c_extend(crc, buf.data(), want);
    pos += want;
  }
  return check_trailer(crc);
}

Result<size_t> SnapshotFileReader::read_data(char* buf, size_t capacity) {
  const uint64_t left = data_bytes() - data_pos_;
  if (left == 0) {
    if (Status s = check_trailer(data_crc_); !s) return s;
    return size_t{0};
  }
  const size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, left));
  auto n = file_->pread(header_bytes_ + data_pos_, buf, want);
  if (!n) return n.status();
  if (*n != want) return corrupt("file shrank while reading");
  data_crc_ = crc32c_extend(data_crc_, buf, want);
  data_pos_ += want;
  return want;
}

void SnapshotFileReader::rewind() {
  data_pos_ = 0;
  data_crc_ = header_crc_;
}

Result<size_t> SnapshotFileReader::read_raw(uint64_t offset, char* buf, size_t len) const {
  return file_->pread(offset, buf, len);
}

// ---- whole-file helpers ---------------------------------------------------------------------

Status write_snapshot_file(FileSystem& fs, const std::string& path, const raft::Snapshot& snap) {
  auto w = SnapshotFileWriter::create(fs, path, snap.meta);
  if (!w) return w.status();
  if (Status s = (*w)->append(snap.data); !s) return s;
  return (*w)->finish();
}

Result<raft::Snapshot> read_snapshot_file(FileSystem& fs, const std::string& path) {
  auto r = SnapshotFileReader::open(fs, path);
  if (!r) return r.status();
  raft::Snapshot snap;
  snap.meta = (*r)->meta();
  snap.data.resize((*r)->data_bytes());
  size_t pos = 0;
  for (;;) {
    auto n = (*r)->read_data(snap.data.data() + pos, snap.data.size() - pos);
    if (!n) return n.status();
    if (*n == 0) break;
    pos += *n;
  }
  return snap;
}

}  // namespace raftkv::storage
