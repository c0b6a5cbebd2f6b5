// Redis Cluster key → hash slot mapping.
//
// slot = CRC16(key) mod 16384, where CRC16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0,
// no reflection), exactly as Redis's crc16.c. Hash tags: when the key contains "{" followed
// later by "}" with at least one byte between them, only the bytes between the first "{" and
// the first "}" after it are hashed, so "{user1000}.following" and "{user1000}.followers" share
// a slot. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace raftkv::frontend {

inline constexpr uint16_t kClusterSlots = 16384;

// CRC-16/XMODEM of `bytes` (crc16("123456789") == 0x31C3).
uint16_t crc16_xmodem(std::string_view bytes);

// The Redis Cluster slot of `key`, in [0, kClusterSlots).
uint16_t key_slot(std::string_view key);

}  // namespace raftkv::frontend
