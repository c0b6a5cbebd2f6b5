#include "kv/snapshot_stream.h"

#include <algorithm>

#include "kv/value_codec.h"

namespace raftkv::kv::snapshot_stream {
namespace {

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

}  // namespace

size_t append_record(std::string& out, Space space, std::string_view key, std::string_view value) {
  out.push_back(static_cast<char>(space));
  append_varint(out, key.size());
  const size_t key_offset = out.size();
  out.append(key);
  append_varint(out, value.size());
  out.append(value);
  return key_offset;
}

Writer::Writer(const SnapshotSink& sink, uint8_t version) : sink_(sink) {
  std::string magic(kMagic);
  magic.back() = static_cast<char>(version);
  hash_.update(magic);
  buffer_.append(magic);
}

Status Writer::append(std::string_view bytes) {
  hash_.update(bytes);
  buffer_.append(bytes);
  if (buffer_.size() >= kChunkBytes) return flush();
  return Status::ok();
}

Status Writer::finish() {
  if (Status s = append(std::string_view("\xFF", 1)); !s.is_ok()) return s;
  std::string checksum;
  append_u64_be(checksum, hash_.hash);  // not hashed itself
  buffer_.append(checksum);
  return flush();
}

Status Writer::flush() {
  if (buffer_.empty()) return Status::ok();
  Status s = sink_ ? sink_(buffer_) : Status::ok();
  buffer_.clear();
  return s;
}

Status Reader::read_exact(size_t n, std::string& out, bool hashed) {
  out.clear();
  while (out.size() < n) {
    if (pos_ == buffer_.size()) {
      if (Status s = refill(); !s.is_ok()) return s;
    }
    const size_t take = std::min(n - out.size(), buffer_.size() - pos_);
    out.append(buffer_, pos_, take);
    pos_ += take;
  }
  if (hashed) hash_.update(out);
  return Status::ok();
}

Status Reader::read_varint(uint64_t& v) {
  v = 0;
  std::string byte;
  for (int shift = 0; shift < 64; shift += 7) {
    if (Status s = read_exact(1, byte); !s.is_ok()) return s;
    const auto b = static_cast<uint8_t>(byte[0]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return Status::ok();
  }
  return Status(ErrorCode::kCorruption, "snapshot: varint too long");
}

bool Reader::at_end() {
  if (pos_ < buffer_.size()) return false;
  return !refill().is_ok();
}

Status Reader::refill() {
  buffer_.resize(kChunkBytes);
  Result<size_t> n = source_(buffer_.data(), buffer_.size());
  if (!n.is_ok()) return n.status();
  buffer_.resize(*n);
  pos_ = 0;
  if (*n == 0) return Status(ErrorCode::kCorruption, "snapshot: truncated");
  return Status::ok();
}

}  // namespace raftkv::kv::snapshot_stream
