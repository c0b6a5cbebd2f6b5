#include "storage/wal_format.h"

#include <cstring>

#include <fmt/format.h>

#include "base/crc32c.h"

namespace raftkv::storage {
namespace {

Status corrupt(std::string reason) {
  return Status(ErrorCode::kCorruption, std::move(reason));
}

// Expected payload size of fixed-size record types; 0 for variable-size kEntry.
uint64_t fixed_payload_size(RecordType type) {
  switch (type) {
    case RecordType::kEntry:
      return 0;
    case RecordType::kHardState:
      return 24;
    case RecordType::kTruncate:
      return 8;
    case RecordType::kLogReset:
      return 16;
    case RecordType::kSegmentEnd:
      return 8;
  }
  return 0;
}

bool is_known_type(uint8_t t) {
  return t >= 1 && t <= 5;
}

}  // namespace

const char* record_type_name(RecordType type) {
  switch (type) {
    case RecordType::kEntry:
      return "entry";
    case RecordType::kHardState:
      return "hard-state";
    case RecordType::kTruncate:
      return "truncate";
    case RecordType::kLogReset:
      return "log-reset";
    case RecordType::kSegmentEnd:
      return "segment-end";
  }
  return "unknown";
}

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 4);
}
void put_u64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 8);
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

namespace {

// Appends a record whose payload (`payload_len` bytes) `write_payload` appends to `out`:
// header, payload, CRC over everything after the CRC field, zero padding.
template <typename WritePayload>
void encode_with_payload(RecordType type, size_t payload_len, std::string* out,
                         WritePayload&& write_payload) {
  RAFTKV_ASSERT(payload_len <= kMaxRecordPayload, "record payload {} exceeds the cap {}",
                payload_len, kMaxRecordPayload);
  const size_t start = out->size();
  out->reserve(start + padded_record_size(payload_len));
  put_u32(out, 0);  // crc, filled below
  put_u32(out, static_cast<uint32_t>(payload_len));
  out->push_back(static_cast<char>(type));
  out->append(3, '\0');
  write_payload(out);
  RAFTKV_ASSERT(out->size() - start == kRecordHeaderSize + payload_len,
                "record payload of {} bytes announced as {}", out->size() - start, payload_len);
  const uint32_t crc = crc32c(out->data() + start + 4, out->size() - start - 4);
  for (int i = 0; i < 4; ++i) (*out)[start + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  out->append(padded_record_size(payload_len) - (out->size() - start), '\0');
}

}  // namespace

void encode_entry_record(const raft::Entry& entry, std::string* out) {
  encode_with_payload(RecordType::kEntry, 17 + entry.data.size(), out, [&](std::string* o) {
    put_u64(o, entry.term.value());
    put_u64(o, entry.index.value());
    o->push_back(static_cast<char>(entry.type));
    o->append(entry.data);
  });
}

std::string encode_entry_record_head(const raft::Entry& entry, size_t* padding_out) {
  const size_t payload_len = 17 + entry.data.size();
  RAFTKV_ASSERT(payload_len <= kMaxRecordPayload, "record payload {} exceeds the cap {}",
                payload_len, kMaxRecordPayload);
  std::string head;
  head.reserve(kRecordHeaderSize + 17);
  put_u32(&head, 0);  // crc, filled below
  put_u32(&head, static_cast<uint32_t>(payload_len));
  head.push_back(static_cast<char>(RecordType::kEntry));
  head.append(3, '\0');
  put_u64(&head, entry.term.value());
  put_u64(&head, entry.index.value());
  head.push_back(static_cast<char>(entry.type));
  const uint32_t crc =
      crc32c_extend(crc32c(head.data() + 4, head.size() - 4), entry.data.data(), entry.data.size());
  for (int i = 0; i < 4; ++i) head[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  *padding_out = padded_record_size(payload_len) - kRecordHeaderSize - payload_len;
  return head;
}

size_t encoded_entry_record_size(const raft::Entry& entry) {
  return padded_record_size(17 + entry.data.size());
}

void encode_record(const Record& record, std::string* out) {
  switch (record.type) {
    case RecordType::kEntry:
      encode_entry_record(record.entry, out);
      return;
    case RecordType::kHardState:
      encode_with_payload(record.type, 24, out, [&](std::string* o) {
        put_u64(o, record.hard_state.term.value());
        put_u64(o, record.hard_state.vote.value());
        put_u64(o, record.hard_state.commit.value());
      });
      return;
    case RecordType::kTruncate:
      encode_with_payload(record.type, 8, out,
                          [&](std::string* o) { put_u64(o, record.index.value()); });
      return;
    case RecordType::kLogReset:
      encode_with_payload(record.type, 16, out, [&](std::string* o) {
        put_u64(o, record.index.value());
        put_u64(o, record.term.value());
      });
      return;
    case RecordType::kSegmentEnd:
      encode_with_payload(record.type, 8, out,
                          [&](std::string* o) { put_u64(o, record.next_seq); });
      return;
  }
  RAFTKV_ASSERT(false, "unknown record type {}", static_cast<int>(record.type));
}

std::string encode_segment_header(const SegmentHeader& header) {
  std::string out(kSegmentMagic, sizeof(kSegmentMagic));
  put_u32(&out, header.version);
  put_u32(&out, static_cast<uint32_t>(kSegmentHeaderSize));
  put_u64(&out, header.seq);
  put_u64(&out, header.first_index.value());
  put_u32(&out, crc32c(out));
  put_u32(&out, 0);
  return out;
}

bool is_end_of_data(std::string_view data, uint64_t offset) {
  if (offset >= data.size()) return true;
  const uint64_t n = std::min<uint64_t>(kRecordHeaderSize, data.size() - offset);
  for (uint64_t i = 0; i < n; ++i) {
    if (data[offset + i] != '\0') return false;
  }
  return true;
}

Result<Record> decode_record(std::string_view data, uint64_t offset, uint64_t* size_out) {
  if (offset + kRecordHeaderSize > data.size()) {
    return corrupt(fmt::format("partial record header ({} of {} bytes before end of file)",
                               data.size() - offset, kRecordHeaderSize));
  }
  const char* h = data.data() + offset;
  const uint32_t stored_crc = get_u32(h);
  const uint32_t length = get_u32(h + 4);
  const uint8_t type = static_cast<uint8_t>(h[8]);
  if (!is_known_type(type)) return corrupt(fmt::format("unknown record type {}", type));
  if (h[9] != 0 || h[10] != 0 || h[11] != 0) return corrupt("non-zero reserved header bytes");
  if (length > kMaxRecordPayload) return corrupt(fmt::format("record length {} too large", length));
  if (offset + kRecordHeaderSize + length > data.size()) {
    return corrupt(fmt::format("record length {} runs past the end of the file", length));
  }
  const uint32_t actual_crc = crc32c(h + 4, kRecordHeaderSize - 4 + length);
  if (actual_crc != stored_crc) {
    return corrupt(
        fmt::format("checksum mismatch (stored {:08x}, computed {:08x})", stored_crc, actual_crc));
  }
  const auto rtype = static_cast<RecordType>(type);
  const uint64_t fixed = fixed_payload_size(rtype);
  if ((fixed != 0 && length != fixed) || (rtype == RecordType::kEntry && length < 17)) {
    return corrupt(fmt::format("{} record has payload length {}", record_type_name(rtype), length));
  }
  const char* p = h + kRecordHeaderSize;
  Record r;
  r.type = rtype;
  switch (rtype) {
    case RecordType::kEntry: {
      const uint8_t etype = static_cast<uint8_t>(p[16]);
      if (etype > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
        return corrupt(fmt::format("unknown entry type {}", etype));
      }
      r.entry.term = Term(get_u64(p));
      r.entry.index = Index(get_u64(p + 8));
      r.entry.type = static_cast<raft::EntryType>(etype);
      r.entry.data = std::string(p + 17, length - 17);
      break;
    }
    case RecordType::kHardState:
      r.hard_state =
          raft::HardState{Term(get_u64(p)), NodeId(get_u64(p + 8)), Index(get_u64(p + 16))};
      break;
    case RecordType::kTruncate:
      r.index = Index(get_u64(p));
      break;
    case RecordType::kLogReset:
      r.index = Index(get_u64(p));
      r.term = Term(get_u64(p + 8));
      break;
    case RecordType::kSegmentEnd:
      r.next_seq = get_u64(p);
      break;
  }
  *size_out = padded_record_size(length);
  return r;
}

Result<SegmentHeader> decode_segment_header(std::string_view data) {
  if (data.size() < kSegmentHeaderSize) {
    return corrupt(
        fmt::format("segment header is {} bytes, expected {}", data.size(), kSegmentHeaderSize));
  }
  if (std::memcmp(data.data(), kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    return corrupt("bad magic: not a raftkv WAL segment");
  }
  SegmentHeader header;
  header.version = get_u32(data.data() + 8);
  if (header.version > kFormatVersion) {
    return Status(ErrorCode::kVersionMismatch,
                  fmt::format("written with WAL format version {}, this build reads up to {}: "
                              "run a newer raftkv on this data directory",
                              header.version, kFormatVersion));
  }
  if (header.version == 0) return corrupt("format version 0");
  if (crc32c(data.data(), 32) != get_u32(data.data() + 32)) {
    return corrupt("segment header checksum mismatch");
  }
  if (get_u32(data.data() + 12) != kSegmentHeaderSize) return corrupt("bad segment header size");
  header.seq = get_u64(data.data() + 16);
  header.first_index = Index(get_u64(data.data() + 24));
  return header;
}

std::string segment_file_name(uint64_t seq) {
  return fmt::format("wal-{:016x}.log", seq);
}

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || !name.starts_with("wal-") || !name.ends_with(".log")) {
    return std::nullopt;
  }
  uint64_t seq = 0;
  for (char c : name.substr(4, 16)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    seq = seq * 16 + static_cast<uint64_t>(digit);
  }
  return seq;
}

}  // namespace raftkv::storage
