// Frames: how payloads are delimited on a peer TCP connection.
//
// Frame format (version 1), all integers little-endian:
//
//   offset  size  field
//   0       1     version        kFrameVersion (1); any other value is an error
//   1       1     flags          0, or kFlagPart with kFlagFirstPart or kFlagLastPart or neither;
//                                other values are an error (reserved: compression)
//   2       4     payload_len    u32, bytes of payload; must be <= max_frame_bytes
//   6       4     payload_crc    CRC32C (Castagnoli, base/crc32c.h) of the payload bytes; of a
//   part,
//                                of the payload bytes followed by the flags byte
//   10      len   payload        one serialized pb::PeerMessage (proto/raft.proto), or a part of
//   one
//
// A frame is 10 header bytes + payload. There is no padding and no trailer. The checksum
// guards against corruption the TCP checksum misses and against framing bugs; Raft tolerates
// lost messages but must never see a corrupted one.
//
// Parts. A payload larger than the sender's part size travels as a first part frame
// (kFlagPart | kFlagFirstPart) whose 4-byte payload is the u32 length of the whole payload (at
// most max_frame_bytes; the receiver reserves up to 16 MiB of it and grows as parts arrive),
// then part
// frames (kFlagPart) of its bytes, the final one flagged kFlagPart | kFlagLastPart; their
// lengths must add up to the announced one. Whole frames (flags 0) may come between two parts,
// so that small messages (heartbeats, votes) are not held up behind one large entry for the
// whole of its transfer. At most one payload is in parts at a time per direction of a
// connection.
//
// Decoding is incremental: bytes are fed as they arrive, split anywhere, and complete payloads
// come out in order. Any error (bad version, unknown flags, oversize length, CRC mismatch) is
// final: the decoder stays failed and the connection must be closed, because after a framing
// error there is no way to find the next frame boundary. An oversize length is detected from
// the header alone, before any payload byte is buffered; the buffer grows only with bytes
// actually received, never to a length claimed by the peer (the buffer joining a payload in
// parts reserves at most 16 MiB ahead of what arrived).
// That buffer is released once the payload has been returned, so a large entry does not stay
// resident.
//
// Thread-safety: a FrameDecoder is used by one thread at a time (its connection's reader).
// The encoding functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace raftkv::transport {

inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 10;
inline constexpr size_t kDefaultMaxFrameBytes = size_t{64} << 20;  // 64 MiB
inline constexpr uint8_t kFlagPart = 0x01;       // a part of a payload sent in parts
inline constexpr uint8_t kFlagLastPart = 0x02;   // with kFlagPart: the payload's final part
inline constexpr uint8_t kFlagFirstPart = 0x04;  // with kFlagPart: announces the payload's length
inline constexpr size_t kFirstPartBytes = 4;     // the first part's payload: u32 length

// The first part frame of a payload of `payload_bytes` sent in parts (header and payload).
std::string encode_first_part_frame(uint32_t payload_bytes);

using FrameHeader = std::array<uint8_t, kFrameHeaderBytes>;

// The header of a frame carrying `payload` (written separately, e.g. as a gather buffer), or
// with flags, a part of one. Requires payload.size() <= UINT32_MAX.
FrameHeader encode_frame_header(std::string_view payload, uint8_t flags = 0);
// Appends header + payload to `out`.
void append_frame(std::string_view payload, std::string* out);

enum class FrameOutcome : uint8_t {
  kFrame,     // a complete payload was returned
  kNeedMore,  // no complete frame buffered; feed more bytes
  kError,     // the stream is broken; see error(). Final.
};

class FrameDecoder {
 public:
  // max_frame_bytes caps payload_len and the length of a payload joined from parts. Must be > 0
  // and <= UINT32_MAX.
  explicit FrameDecoder(size_t max_frame_bytes = kDefaultMaxFrameBytes);

  // Buffers received bytes. Ignored once failed.
  void feed(std::string_view bytes);

  // Extracts the next complete payload (a whole frame's, or one joined from its parts). On
  // kFrame, *payload views the decoder's buffer and stays valid until the next call to feed() or
  // next(). Call repeatedly until kNeedMore or kError.
  FrameOutcome next(std::string_view* payload);

  bool failed() const { return !error_.is_ok(); }
  // Why decoding failed (ok while not failed).
  const Status& error() const { return error_; }
  // Bytes received but not yet returned as frames, parts joined so far included (0 once failed).
  size_t buffered_bytes() const { return buffer_.size() - consumed_ + parts_.size(); }
  size_t max_frame_bytes() const { return max_frame_bytes_; }
  // A first part arrived and its last has not: a payload is being joined.
  bool joining() const { return in_parts_; }

 private:
  FrameOutcome fail(ErrorCode code, std::string message);
  // The next frame in the `available` bytes at `p` (buffer_ from consumed_), whole or a part.
  FrameOutcome next_frame(const char* p, size_t available, std::string_view* payload,
                          uint8_t* flags);

  size_t max_frame_bytes_;
  // Invariant: consumed_ <= buffer_.size(); bytes before consumed_ belong to frames already
  // returned and are dropped (compacted) on the next feed().
  std::string buffer_;
  size_t consumed_ = 0;
  // The parts received so far of a payload sent in parts (empty between such payloads); once
  // joined and returned, released on the next call.
  // Invariant: parts_.size() <= parts_total_ <= max_frame_bytes_.
  std::string parts_;
  bool parts_returned_ = false;
  bool in_parts_ = false;     // a first part arrived; the last has not
  uint64_t parts_total_ = 0;  // the length it announced
  Status error_;
};

}  // namespace raftkv::transport
