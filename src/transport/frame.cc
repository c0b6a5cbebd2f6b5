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

// The checksum of a frame: of the payload, extended over the flags byte for a part, so that a
// flipped flags byte (outside the payload) cannot turn a part into a whole payload or back.
// Whole frames keep the plain payload CRC of version 1.
uint32_t frame_crc(std::string_view payload, uint8_t flags) {
  const uint32_t crc = crc32c(payload);
  return flags == 0 ? crc : crc32c_extend(crc, &flags, 1);
}

}  // namespace

FrameHeader encode_frame_header(std::string_view payload, uint8_t flags) {
  RAFTKV_ASSERT(payload.size() <= UINT32_MAX, "frame payload of {} bytes exceeds u32",
                payload.size());
  RAFTKV_ASSERT(flags == 0 || flags == kFlagPart || flags == (kFlagPart | kFlagLastPart) ||
                    flags == (kFlagPart | kFlagFirstPart),
                "bad frame flags 0x{:02x}", flags);
  FrameHeader h{};
  h[0] = kFrameVersion;
  h[1] = flags;
  put_u32(static_cast<uint32_t>(payload.size()), &h[2]);
  put_u32(frame_crc(payload, flags), &h[6]);
  return h;
}

std::string encode_first_part_frame(uint32_t payload_bytes) {
  uint8_t length[kFirstPartBytes];
  put_u32(payload_bytes, length);
  const std::string_view payload(reinterpret_cast<const char*>(length), sizeof(length));
  const FrameHeader h = encode_frame_header(payload, kFlagPart | kFlagFirstPart);
  std::string out(reinterpret_cast<const char*>(h.data()), h.size());
  out.append(payload);
  return out;
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
    // A large frame is not kept resident once returned (its capacity would be, after erase).
    constexpr size_t kKeptCapacityBytes = size_t{8} << 20;
    if (buffer_.capacity() > kKeptCapacityBytes && buffer_.size() < buffer_.capacity() / 4) {
      buffer_.shrink_to_fit();
    }
  }
  buffer_.append(bytes);
}

FrameOutcome FrameDecoder::fail(ErrorCode code, std::string message) {
  error_ = Status(code, std::move(message));
  buffer_.clear();
  buffer_.shrink_to_fit();
  consumed_ = 0;
  std::string().swap(parts_);
  in_parts_ = false;
  return FrameOutcome::kError;
}

FrameOutcome FrameDecoder::next(std::string_view* payload) {
  if (failed()) return FrameOutcome::kError;
  if (parts_returned_) {
    std::string().swap(parts_);  // release the joined payload's memory
    parts_returned_ = false;
  }
  for (;;) {
    const size_t available = buffer_.size() - consumed_;
    const char* p = buffer_.data() + consumed_;
    uint8_t flags = 0;
    const FrameOutcome outcome = next_frame(p, available, payload, &flags);
    if (outcome != FrameOutcome::kFrame || flags == 0) return outcome;
    if ((flags & kFlagFirstPart) != 0) {
      if (in_parts_)
        return fail(ErrorCode::kInvalidArgument, "first part inside a payload in parts");
      if (payload->size() != kFirstPartBytes) {
        return fail(ErrorCode::kInvalidArgument, fmt::format("first part of {} bytes (expected {})",
                                                             payload->size(), kFirstPartBytes));
      }
      parts_total_ = get_u32(payload->data());
      if (parts_total_ > max_frame_bytes_) {
        return fail(ErrorCode::kTooLarge,
                    fmt::format("payload in parts of {} bytes exceeds max frame size {}",
                                parts_total_, max_frame_bytes_));
      }
      in_parts_ = true;
      // Reserved as the parts arrive, not on the announcement alone: a peer that announces
      // 1 GiB and sends nothing (e.g. before its handshake) costs nothing.
      parts_.reserve(std::min<size_t>(parts_total_, size_t{16} << 20));
      continue;
    }
    if (!in_parts_) return fail(ErrorCode::kInvalidArgument, "part without a first part");
    if (parts_.size() + payload->size() > parts_total_) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("parts exceed the announced {} bytes ({} + {})", parts_total_,
                              parts_.size(), payload->size()));
    }
    parts_.append(*payload);
    if ((flags & kFlagLastPart) == 0) continue;
    if (parts_.size() != parts_total_) {
      return fail(
          ErrorCode::kInvalidArgument,
          fmt::format("parts end after {} of the announced {} bytes", parts_.size(), parts_total_));
    }
    in_parts_ = false;
    parts_returned_ = true;
    *payload = parts_;
    return FrameOutcome::kFrame;
  }
}

FrameOutcome FrameDecoder::next_frame(const char* p, size_t available, std::string_view* payload,
                                      uint8_t* flags) {
  // Validate what we can as soon as the bytes are there, so a bad stream fails early.
  if (available >= 1 && static_cast<uint8_t>(p[0]) != kFrameVersion) {
    return fail(ErrorCode::kVersionMismatch,
                fmt::format("frame version {} is not supported (expected {})",
                            static_cast<uint8_t>(p[0]), kFrameVersion));
  }
  if (available >= 2) {
    const auto f = static_cast<uint8_t>(p[1]);
    if (f != 0 && f != kFlagPart && f != (kFlagPart | kFlagLastPart) &&
        f != (kFlagPart | kFlagFirstPart)) {
      return fail(ErrorCode::kInvalidArgument, fmt::format("frame has unknown flags 0x{:02x}", f));
    }
    *flags = f;
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
  const uint32_t actual_crc = frame_crc(body, *flags);
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
