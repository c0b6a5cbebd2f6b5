// Base-128 varints as in the protobuf wire format (little-endian groups of 7 bits, high bit set
// on every byte but the last), for the encoders that write protobuf bytes directly
// (transport/codec.cc, kv/value_codec.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace raftkv {

inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

}  // namespace raftkv
