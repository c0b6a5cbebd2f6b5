// The input format of the WAL recovery fuzzer, shared with its seed-corpus generator.
//
//   byte 0            flags (kFixChecksums, kNameSnapshotsByContents)
//   then parts        separated by kPartSeparator; each part is "<file name>\n<contents>"
//
// Each part becomes one file in the data directory. Parts whose name is empty, contains '/' or
// is "." / ".." are ignored; a later part with the same name replaces an earlier one. A
// separator is easy for the mutator to keep intact, so mutations stay "around valid files".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raftkv::fuzz {

inline constexpr std::string_view kPartSeparator = "#RKVFILE#";

enum WalInputFlags : uint8_t {
  // Recompute the crc32c of segment headers, of every record that fits its file, and of
  // snapshot files, so that mutations reach the checks behind the checksums.
  kFixChecksums = 1,
  // Rename snapshot files after the index and term their contents claim.
  kNameSnapshotsByContents = 2,
};

struct WalInput {
  uint8_t flags = 0;
  std::vector<std::pair<std::string, std::string>> files;  // name, contents
};

WalInput parse_wal_input(std::string_view bytes);
std::string serialize_wal_input(const WalInput& input);

// Applies the flags: fixes checksums / snapshot names in place.
void apply_wal_input_flags(WalInput* input);

}  // namespace raftkv::fuzz
