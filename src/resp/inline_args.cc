#include "resp/inline_args.h"

namespace raftkv::resp {
namespace {

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// isspace() in the C locale, as sdssplitargs uses to skip blanks between arguments.
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

std::optional<std::vector<std::string>> split_inline_args(std::string_view line) {
  std::vector<std::string> args;
  size_t p = 0;
  const size_t end = line.size();
  // at(i) returns the byte at i, or '\0' past the end (sdssplitargs reads a C string).
  auto at = [&](size_t i) -> char { return i < end ? line[i] : '\0'; };
  while (true) {
    while (p < end && is_blank(line[p])) ++p;
    if (p >= end) return args;
    bool in_double_quotes = false;
    bool in_single_quotes = false;
    bool done = false;
    std::string current;
    while (!done) {
      if (in_double_quotes) {
        if (p >= end) return std::nullopt;  // unterminated quotes
        if (line[p] == '\\' && at(p + 1) == 'x' && p + 3 < end && is_hex_digit(line[p + 2]) &&
            is_hex_digit(line[p + 3])) {
          current.push_back(
              static_cast<char>(hex_value(line[p + 2]) * 16 + hex_value(line[p + 3])));
          p += 3;
        } else if (line[p] == '\\' && p + 1 < end) {
          ++p;
          switch (line[p]) {
            case 'n':
              current.push_back('\n');
              break;
            case 'r':
              current.push_back('\r');
              break;
            case 't':
              current.push_back('\t');
              break;
            case 'b':
              current.push_back('\b');
              break;
            case 'a':
              current.push_back('\a');
              break;
            default:
              current.push_back(line[p]);
              break;
          }
        } else if (line[p] == '"') {
          // A closing quote must be followed by a blank or the end.
          if (p + 1 < end && !is_blank(line[p + 1])) return std::nullopt;
          done = true;
        } else {
          current.push_back(line[p]);
        }
      } else if (in_single_quotes) {
        if (p >= end) return std::nullopt;
        if (line[p] == '\\' && at(p + 1) == '\'') {
          ++p;
          current.push_back('\'');
        } else if (line[p] == '\'') {
          if (p + 1 < end && !is_blank(line[p + 1])) return std::nullopt;
          done = true;
        } else {
          current.push_back(line[p]);
        }
      } else {
        if (p >= end) {
          done = true;
        } else {
          switch (line[p]) {
            case ' ':
            case '\n':
            case '\r':
            case '\t':
              done = true;
              break;
            case '"':
              in_double_quotes = true;
              break;
            case '\'':
              in_single_quotes = true;
              break;
            default:
              current.push_back(line[p]);
              break;
          }
        }
      }
      if (p < end) ++p;
    }
    args.push_back(std::move(current));
  }
}

}  // namespace raftkv::resp
