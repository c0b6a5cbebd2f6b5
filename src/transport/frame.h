// Frames: how payloads are delimited on a peer TCP connection.
//
// Frame format (version 1), all integers little-endian:
//
//   offset  size  field
//   0       1     version        kFrameVersion (1); any other value is an error
//   1       1     flags          must be 0 in version 1 (reserved: compression, chunked data)
//   2       4     payload_len    u32, bytes of payload; must be <= max_frame_bytes
//   6       4     payload_crc    CRC32C (Castagnoli, base/crc32c.h) of the payload bytes
//   10      len   payload        one serialized pb::PeerMessage (proto/raft.proto)
//
// A frame is 10 header bytes + payload. There is no padding and no trailer. The checksum
// guards against corruption the TCP checksum misses and against framing bugs; Raft tolerates
// lost messages but must never see a corrupted one.
//
// Decoding is incremental: bytes are fed as they arrive, split anywhere, and complete payloads
// come out in order. Any error (bad version, unknown flags, oversize length, CRC mismatch) is
// final: the decoder stays failed and the connection must be closed, because after a framing
// error there is no way to find the next frame boundary. An oversize length is detected from
// the header alone, before any payload byte is buffered; the buffer grows only with bytes
// actually received, never to a length claimed by the peer.
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

using FrameHeader = std::array<uint8_t, kFrameHeaderBytes>;

// The header of a frame carrying `payload` (written separately, e.g. as a gather buffer).
// Requires payload.size() <= UINT32_MAX.
FrameHeader encode_frame_header(std::string_view payload);
// Appends header + payload to `out`.
void append_frame(std::string_view payload, std::string* out);

enum class FrameOutcome : uint8_t {
  kFrame,     // a complete payload was returned
  kNeedMore,  // no complete frame buffered; feed more bytes
  kError,     // the stream is broken; see error(). Final.
};

class FrameDecoder {
 public:
  // max_frame_bytes caps payload_len. Must be > 0 and <= UINT32_MAX.
  explicit FrameDecoder(size_t max_frame_bytes = kDefaultMaxFrameBytes);

  // Buffers received bytes. Ignored once failed.
  void feed(std::string_view bytes);

  // Extracts the next complete frame. On kFrame, *payload views the decoder's buffer and stays
  // valid until the next call to feed() or next(). Call repeatedly until kNeedMore or kError.
  FrameOutcome next(std::string_view* payload);

  bool failed() const { return !error_.is_ok(); }
  // Why decoding failed (ok while not failed).
  const Status& error() const { return error_; }
  // Bytes received but not yet returned as frames (0 once failed).
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }
  size_t max_frame_bytes() const { return max_frame_bytes_; }

 private:
  FrameOutcome fail(ErrorCode code, std::string message);

  size_t max_frame_bytes_;
  // Invariant: consumed_ <= buffer_.size(); bytes before consumed_ belong to frames already
  // returned and are dropped (compacted) on the next feed().
  std::string buffer_;
  size_t consumed_ = 0;
  Status error_;
};

}  // namespace raftkv::transport
