#include "wal_input.h"

#include "base/crc32c.h"
#include "storage/snapshot_store.h"
#include "storage/wal_format.h"

namespace raftkv::fuzz {
namespace {

using storage::get_u32;
using storage::get_u64;
using storage::kRecordHeaderSize;
using storage::kSegmentHeaderSize;

void store_u32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

void fix_segment(std::string* data) {
  if (data->size() < kSegmentHeaderSize) return;
  store_u32(data, 32, crc32c(data->data(), 32));
  uint64_t offset = kSegmentHeaderSize;
  while (offset + kRecordHeaderSize <= data->size()) {
    if (storage::is_end_of_data(*data, offset)) {
      offset += storage::kRecordAlignment;  // keep fixing records after a hole
      continue;
    }
    const uint64_t length = get_u32(data->data() + offset + 4);
    if (offset + kRecordHeaderSize + length > data->size()) return;
    store_u32(data, offset, crc32c(data->data() + offset + 4, kRecordHeaderSize - 4 + length));
    offset += storage::padded_record_size(length);
  }
}

void fix_snapshot(std::string* data) {
  if (data->size() < 4) return;
  store_u32(data, data->size() - 4, crc32c(data->data(), data->size() - 4));
}

}  // namespace

WalInput parse_wal_input(std::string_view bytes) {
  WalInput input;
  if (bytes.empty()) return input;
  input.flags = static_cast<uint8_t>(bytes[0]);
  bytes.remove_prefix(1);
  while (!bytes.empty()) {
    const size_t end = bytes.find(kPartSeparator);
    std::string_view part = bytes.substr(0, end);
    bytes = end == std::string_view::npos ? std::string_view()
                                          : bytes.substr(end + kPartSeparator.size());
    const size_t newline = part.find('\n');
    if (newline == std::string_view::npos) continue;
    const std::string_view name = part.substr(0, newline);
    if (!valid_name(name)) continue;
    input.files.emplace_back(std::string(name), std::string(part.substr(newline + 1)));
  }
  return input;
}

std::string serialize_wal_input(const WalInput& input) {
  std::string out(1, static_cast<char>(input.flags));
  for (size_t i = 0; i < input.files.size(); ++i) {
    if (i > 0) out += kPartSeparator;
    out += input.files[i].first;
    out += '\n';
    out += input.files[i].second;
  }
  return out;
}

void apply_wal_input_flags(WalInput* input) {
  for (auto& [name, data] : input->files) {
    const bool is_snapshot = name.ends_with(".snap");
    if ((input->flags & kNameSnapshotsByContents) && is_snapshot && data.size() >= 32) {
      name = storage::SnapshotStore::file_name(Index(get_u64(data.data() + 16)),
                                               Term(get_u64(data.data() + 24)));
    }
    if (input->flags & kFixChecksums) {
      if (storage::parse_segment_file_name(name)) fix_segment(&data);
      if (is_snapshot) fix_snapshot(&data);
    }
  }
}

}  // namespace raftkv::fuzz
