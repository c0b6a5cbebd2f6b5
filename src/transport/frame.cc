#include "transport/frame.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "base/crc32c.h"

namespace raftkv::transport {

namespace {

void put_u32(uint32_t v, uint8_t* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t get_u32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

}  // namespace

FrameHeader encode_frame_header(std::string_view payload) {
  RAFTKV_ASSERT(payload.size() <= UINT32_MAX, "frame payload of {} bytes exceeds u32",
                payload.size());
  FrameHeader h{};
  h[0] = kFrameVersion;
  h[1] = 0;  // flags
  put_u32(static_cast<uint32_t>(payload.size()), &h[2]);
  put_u32(crc32c(payload), &h[6]);
  return h;
}

void append_frame(std::string_view payload, std::string* out) {
  FrameHeader h = encode_frame_header(payload);
  out->append(reinterpret_cast<const char*>(h.data()), h.size());
  out->append(payload);
}

FrameDecoder::FrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {
  RAFTKV_ASSERT(max_frame_bytes > 0 && max_frame_bytes <= UINT32_MAX,
                "max_frame_bytes {} out of range", max_frame_bytes);
}

void FrameDecoder::feed(std::string_view bytes) {
  if (failed()) return;
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

FrameOutcome FrameDecoder::fail(ErrorCode code, std::string message) {
  error_ = Status(code, std::move(message));
  buffer_.clear();
  buffer_.shrink_to_fit();
  consumed_ = 0;
  return FrameOutcome::kError;
}

FrameOutcome FrameDecoder::next(std::string_view* payload) {
  if (failed()) return FrameOutcome::kError;
  const size_t available = buffered_bytes();
  const char* p = buffer_.data() + consumed_;
  // Validate what we can as soon as the bytes are there, so a bad stream fails early.
  if (available >= 1 && static_cast<uint8_t>(p[0]) != kFrameVersion) {
    return fail(ErrorCode::kVersionMismatch,
                fmt::format("frame version {} is not supported (expected {})",
                            static_cast<uint8_t>(p[0]), kFrameVersion));
  }
  if (available >= 2 && p[1] != 0) {
    return fail(ErrorCode::kInvalidArgument,
                fmt::format("frame has unknown flags 0x{:02x}", static_cast<uint8_t>(p[1])));
  }
  if (available < kFrameHeaderBytes) return FrameOutcome::kNeedMore;
  const uint32_t len = get_u32(p + 2);
  if (len > max_frame_bytes_) {
    return fail(
        ErrorCode::kTooLarge,
        fmt::format("frame payload of {} bytes exceeds max frame size {}", len, max_frame_bytes_));
  }
  if (available - kFrameHeaderBytes < len) return FrameOutcome::kNeedMore;
  std::string_view body(p + kFrameHeaderBytes, len);
  const uint32_t expected_crc = get_u32(p + 6);
  const uint32_t actual_crc = crc32c(body);
  if (expected_crc != actual_crc) {
    return fail(ErrorCode::kCorruption,
                fmt::format("frame checksum mismatch (header {:08x}, payload {:08x}, {} bytes)",
                            expected_crc, actual_crc, len));
  }
  consumed_ += kFrameHeaderBytes + len;
  *payload = body;
  return FrameOutcome::kFrame;
}

}  // namespace raftkv::transport
