#include "storage/snapshot_file.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "raft/confchange.h"
#include "storage/wal_format.h"

namespace raftkv::storage {
namespace {

constexpr size_t kWriteBufferBytes = size_t{1} << 20;
constexpr uint64_t kV2FixedHeaderBytes = 40;  // also the part every version shares
constexpr uint64_t kV3FixedHeaderBytes = 56;
constexpr uint32_t kFlagAutoLeave = 1;
// Membership lists longer than this are not a plausible header (guards a damaged count).
constexpr uint64_t kMaxMembers = 1 << 16;
constexpr uint32_t kMaxAddrBytes = 4096;

void put_str(std::string* out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

std::string encode_header(const raft::SnapshotMeta& meta) {
  const raft::ConfState& c = meta.conf;
  std::string out(kSnapshotMagic, sizeof(kSnapshotMagic));
  put_u32(&out, kSnapshotFormatVersion);
  put_u32(&out, c.auto_leave ? kFlagAutoLeave : 0);
  put_u64(&out, meta.index.value());
  put_u64(&out, meta.term.value());
  put_u32(&out, static_cast<uint32_t>(c.voters.size()));
  put_u32(&out, static_cast<uint32_t>(c.learners.size()));
  put_u32(&out, static_cast<uint32_t>(c.voters_outgoing.size()));
  put_u32(&out, static_cast<uint32_t>(c.learners_next.size()));
  put_u32(&out, static_cast<uint32_t>(c.members.size()));
  put_u32(&out, 0);
  for (const auto* list : {&c.voters, &c.learners, &c.voters_outgoing, &c.learners_next}) {
    for (NodeId id : *list) put_u64(&out, id.value());
  }
  for (const auto& [id, info] : c.members) {
    put_u64(&out, id.value());
    put_u64(&out, info.incarnation);
    put_str(&out, info.peer_addr.substr(0, kMaxAddrBytes));
    put_str(&out, info.client_addr.substr(0, kMaxAddrBytes));
  }
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
  char fixed[kV2FixedHeaderBytes];
  auto n = r->file_->pread(0, fixed, kV2FixedHeaderBytes);
  if (!n) return n.status();
  if (*n < kV2FixedHeaderBytes || r->file_bytes_ < kV2FixedHeaderBytes + kSnapshotTrailerSize) {
    return r->corrupt(fmt::format("file too short ({} bytes)", r->file_bytes_));
  }
  if (std::memcmp(fixed, kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    return r->corrupt("bad magic: not a raftkv snapshot");
  }
  const uint32_t version = get_u32(fixed + 8);
  if (version != kSnapshotFormatVersion && version != kSnapshotOldestReadableVersion) {
    return Status(
        ErrorCode::kVersionMismatch,
        fmt::format("snapshot {}: format version {}, this build reads versions {} to {}", path,
                    version, kSnapshotOldestReadableVersion, kSnapshotFormatVersion));
  }
  // The header is read in pieces, each checked against the file's end, into `header` (for the
  // checksum, which covers it whole).
  std::string header(fixed, kV2FixedHeaderBytes);
  auto read_more = [&](uint64_t len) -> Status {
    if (len > r->file_bytes_ || header.size() + len + kSnapshotTrailerSize > r->file_bytes_) {
      return r->corrupt("membership runs past the end");
    }
    const size_t at = header.size();
    header.resize(at + len);
    if (len == 0) return Status::ok();
    auto m = r->file_->pread(at, header.data() + at, len);
    if (!m) return m.status();
    if (*m != len) return r->corrupt("truncated membership");
    return Status::ok();
  };
  raft::ConfState& conf = r->meta_.conf;
  r->meta_.index = Index(get_u64(fixed + 16));
  r->meta_.term = Term(get_u64(fixed + 24));
  uint64_t counts[4] = {get_u32(fixed + 32), get_u32(fixed + 36), 0, 0};
  uint64_t members = 0;
  if (version >= 3) {
    if (Status s = read_more(kV3FixedHeaderBytes - kV2FixedHeaderBytes); !s) return s;
    conf.auto_leave = (get_u32(header.data() + 12) & kFlagAutoLeave) != 0;
    counts[2] = get_u32(header.data() + 40);
    counts[3] = get_u32(header.data() + 44);
    members = get_u32(header.data() + 48);
  }
  const uint64_t listed = counts[0] + counts[1] + counts[2] + counts[3];
  if (listed > kMaxMembers || members > kMaxMembers) {
    return r->corrupt("implausible membership size");
  }
  const size_t ids_at = header.size();
  if (Status s = read_more(listed * 8); !s) return s;
  std::vector<NodeId>* lists[4] = {&conf.voters, &conf.learners, &conf.voters_outgoing,
                                   &conf.learners_next};
  size_t pos = ids_at;
  for (int l = 0; l < 4; ++l) {
    for (uint64_t i = 0; i < counts[l]; ++i, pos += 8) {
      lists[l]->emplace_back(get_u64(header.data() + pos));
    }
  }
  for (uint64_t i = 0; i < members; ++i) {
    // u64 id, u64 incarnation, u32 length + peer address, u32 length + client address.
    const size_t at = header.size();
    if (Status s = read_more(20); !s) return s;
    const NodeId id(get_u64(header.data() + at));
    raft::MemberInfo info;
    info.incarnation = get_u64(header.data() + at + 8);
    const uint32_t peer_len = get_u32(header.data() + at + 16);
    if (peer_len > kMaxAddrBytes) return r->corrupt("implausible member address length");
    if (Status s = read_more(peer_len + 4); !s) return s;
    info.peer_addr.assign(header.data() + at + 20, peer_len);
    const uint32_t client_len = get_u32(header.data() + at + 20 + peer_len);
    if (client_len > kMaxAddrBytes) return r->corrupt("implausible member address length");
    if (Status s = read_more(client_len); !s) return s;
    info.client_addr.assign(header.data() + at + 24 + peer_len, client_len);
    if (!conf.members.emplace(id, std::move(info)).second) {
      return r->corrupt(fmt::format("two member records for node {}", id));
    }
  }
  // Version 2 recorded no members: they are unbound (any incarnation counts).
  if (Status s = raft::validate_conf_state(conf); !s) {
    return r->corrupt(fmt::format("malformed membership: {}", s.message()));
  }
  r->header_bytes_ = header.size();
  r->header_crc_ = crc32c(header.data(), header.size());
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
