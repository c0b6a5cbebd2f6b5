// Input buffering shared by the RESP parsers.
#pragma once

#include <cstddef>
#include <string>

namespace raftkv::resp {

// Drops the consumed prefix buffer[0, pos) when that is cheap relative to what remains
// (everything consumed, or at least 4 KiB consumed and at least half the buffer), so a long
// pipelined stream neither grows without bound nor is copied on every feed.
// Invariant kept: pos <= buffer.size(); bytes before pos are consumed.
inline void compact_consumed(std::string& buffer, size_t& pos) {
  if (pos == buffer.size()) {
    buffer.clear();
    pos = 0;
  } else if (pos >= 4096 && pos * 2 >= buffer.size()) {
    buffer.erase(0, pos);
    pos = 0;
  }
}

}  // namespace raftkv::resp
