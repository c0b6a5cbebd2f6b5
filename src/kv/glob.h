// Redis-style glob matching (stringmatchlen) for SCAN MATCH and KEYS-like filters:
//   *  any run of bytes      ?  any one byte      [abc] [^abc] [a-z]  byte classes
//   \x matches x literally.  Case-sensitive, binary safe.
// Runs in O(pattern * string) time with no recursion (Redis's recursive version could take
// exponential time on patterns like "a*a*a*a*b").
#pragma once

#include <string_view>

namespace raftkv::kv {

bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace raftkv::kv
