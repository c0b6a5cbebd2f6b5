// The KV snapshot stream: the bytes StateMachine::snapshot() and SnapshotView::write() produce
// and StateMachine::restore() consumes.
//
// Format (version 1, and 2 = 1 plus ACL user records in the meta space, acl_state.h):
//   magic     8 bytes  "RKVSNAP" then the version byte (0x01 or 0x02)
//   records   repeated: space (1 byte: 0 = data, 1 = meta), key length (varint), key,
//                       value length (varint), value — data in key order, then meta in key order
//   end       1 byte   0xFF
//   checksum  8 bytes  FNV-1a 64 of every preceding byte, big-endian
// The applied index, state time, sessions and ACL users are meta records, so the stream is the
// whole state. A state whose ACL was never set is written as version 1, byte for byte what
// earlier releases wrote (they read it); one with ACL records as version 2, which releases before
// it refuse with a clear version error rather than an unknown record. restore() reads both.
// Deterministic: equal states give equal bytes (hence equal checksums: the state digest).
//
// Internal to src/kv. Not thread-safe: one Writer or Reader per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "kv/engine.h"
#include "kv/state_machine.h"

namespace raftkv::kv::snapshot_stream {

inline constexpr std::string_view kMagic("RKVSNAP\x01", 8);
inline constexpr uint8_t kVersion = 1;
inline constexpr uint8_t kVersionWithAcl = 2;
inline constexpr uint8_t kEndOfRecords = 0xFF;
inline constexpr size_t kChunkBytes = 64 * 1024;
inline constexpr uint64_t kMaxRecordFieldBytes = 1ull << 32;

// Appends one record (space, key, value) to `out`; returns the offset of the key in `out`.
size_t append_record(std::string& out, Space space, std::string_view key, std::string_view value);

struct Fnv1a {
  uint64_t hash = 0xcbf29ce484222325ull;
  void update(std::string_view bytes) {
    for (char c : bytes) {
      hash ^= static_cast<uint8_t>(c);
      hash *= 0x100000001b3ull;
    }
  }
};

// Buffers stream bytes into chunks of about kChunkBytes for the sink, hashing everything.
class Writer {
 public:
  // Appends the magic with the format version (kVersion or kVersionWithAcl).
  explicit Writer(const SnapshotSink& sink, uint8_t version = kVersion);

  Status append(std::string_view bytes);
  // Appends the end marker and the checksum, then flushes the last chunk.
  Status finish();

 private:
  Status flush();

  const SnapshotSink& sink_;
  Fnv1a hash_;
  std::string buffer_;
};

// Pulls bytes from a SnapshotSource, hashing everything consumed (unless told otherwise).
class Reader {
 public:
  explicit Reader(const SnapshotSource& source) : source_(source) {}

  Status read_exact(size_t n, std::string& out, bool hashed = true);
  Status read_varint(uint64_t& v);
  // True when the source has no more bytes.
  bool at_end();
  uint64_t hash() const { return hash_.hash; }

 private:
  Status refill();

  const SnapshotSource& source_;
  std::string buffer_;
  size_t pos_ = 0;
  Fnv1a hash_;
};

}  // namespace raftkv::kv::snapshot_stream
