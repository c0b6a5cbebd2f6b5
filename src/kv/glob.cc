#include "kv/glob.h"

#include <cstddef>
#include <utility>

namespace raftkv::kv {
namespace {

// Matches one pattern element (not '*') at pattern[p] against byte c. Sets `next` to the
// index after the element. Returns whether it matched.
bool match_one(std::string_view pattern, size_t p, char c, size_t& next) {
  if (pattern[p] == '?') {
    next = p + 1;
    return true;
  }
  if (pattern[p] == '\\' && p + 1 < pattern.size()) {
    next = p + 2;
    return pattern[p + 1] == c;
  }
  if (pattern[p] != '[') {
    next = p + 1;
    return pattern[p] == c;
  }
  // Byte class, as in Redis: '^' negates; "a-z" ranges (either order); '\' escapes; an
  // unterminated class runs to the end of the pattern.
  size_t i = p + 1;
  bool negate = false;
  if (i < pattern.size() && pattern[i] == '^') {
    negate = true;
    ++i;
  }
  bool matched = false;
  while (i < pattern.size() && pattern[i] != ']') {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == c) matched = true;
      i += 2;
    } else if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      unsigned char lo = static_cast<unsigned char>(pattern[i]);
      unsigned char hi = static_cast<unsigned char>(pattern[i + 2]);
      if (lo > hi) std::swap(lo, hi);
      const auto uc = static_cast<unsigned char>(c);
      if (uc >= lo && uc <= hi) matched = true;
      i += 3;
    } else {
      if (pattern[i] == c) matched = true;
      ++i;
    }
  }
  next = i < pattern.size() ? i + 1 : i;
  return matched != negate;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  // Greedy matching with backtracking to the last '*' only: linear-ish, never exponential.
  size_t p = 0;
  size_t t = 0;
  size_t star_p = std::string_view::npos;  // pattern index after the last '*'
  size_t star_t = 0;                       // text index that '*' is currently extended to
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*') ++p;
      star_p = p;
      star_t = t;
      continue;
    }
    size_t next = 0;
    if (p < pattern.size() && match_one(pattern, p, text[t], next)) {
      p = next;
      ++t;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace raftkv::kv
