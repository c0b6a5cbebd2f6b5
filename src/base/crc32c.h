// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of every WAL record,
// snapshot file and peer frame. Backed by ISA-L's crc32_iscsi, which uses the raw register
// convention (no initial or final inversion); these wrappers apply the standard convention so that
// crc32c("123456789") == 0xE3069283 and crc32c_extend(crc32c(a), b) == crc32c(a + b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace raftkv {

// Standard CRC32C of `data`, continuing from a previous standard CRC32C value `crc`
// (0 for a fresh computation).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t len);

inline uint32_t crc32c(const void* data, size_t len) {
  return crc32c_extend(0, data, len);
}
inline uint32_t crc32c(std::string_view data) {
  return crc32c(data.data(), data.size());
}

}  // namespace raftkv
