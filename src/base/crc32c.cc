#include "base/crc32c.h"

#include <climits>

#include <isa-l/crc.h>

namespace raftkv {

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t len) {
  // ISA-L: crc32_iscsi(buf, len, init) runs the reflected register from `init` and returns it
  // without the final xor. Standard CRC32C = ~register, starting from ~0; so invert in and out.
  uint32_t reg = ~crc;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  while (len > 0) {
    const int chunk = len > static_cast<size_t>(INT_MAX / 2) ? INT_MAX / 2 : static_cast<int>(len);
    reg = crc32_iscsi(p, chunk, reg);
    p += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return ~reg;
}

}  // namespace raftkv
