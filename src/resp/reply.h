// RESP2 replies: a value type, an encoder that appends to an output buffer, and an incremental
// reply parser (for clients).
//
// Wire format (RESP2):
//   simple string  "+<text>\r\n"        (text has no CR/LF)
//   error          "-<text>\r\n"        (text conventionally starts with a code: "ERR ...")
//   integer        ":<int64>\r\n"
//   bulk string    "$<len>\r\n<bytes>\r\n",  null bulk  "$-1\r\n"
//   array          "*<n>\r\n" then n replies, null array "*-1\r\n"
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::resp {

// --- Encoder: each function appends one reply (or an array header) to `out`. ---

// `text` must not contain CR or LF (they are replaced by spaces to keep the stream framed).
void append_simple_string(std::string& out, std::string_view text);
// `text` is the whole error line without the '-', e.g. "ERR syntax error". CR/LF replaced.
void append_error(std::string& out, std::string_view text);
void append_integer(std::string& out, int64_t value);
void append_bulk(std::string& out, std::string_view bytes);
void append_null_bulk(std::string& out);
// Header of an array of `count` elements; the caller appends the elements.
void append_array_header(std::string& out, size_t count);
void append_null_array(std::string& out);
// A request as clients send it: an array of bulk strings.
void append_command(std::string& out, const std::vector<std::string>& args);

// --- A parsed reply. ---

struct Reply {
  enum class Type : uint8_t {
    kSimpleString,
    kError,
    kInteger,
    kBulk,
    kNullBulk,
    kArray,
    kNullArray
  };

  Type type = Type::kNullBulk;
  std::string text;             // kSimpleString, kError, kBulk
  int64_t integer = 0;          // kInteger
  std::vector<Reply> elements;  // kArray

  static Reply simple(std::string s) { return Reply{Type::kSimpleString, std::move(s), 0, {}}; }
  static Reply error(std::string s) { return Reply{Type::kError, std::move(s), 0, {}}; }
  static Reply integer_reply(int64_t v) { return Reply{Type::kInteger, {}, v, {}}; }
  static Reply bulk(std::string s) { return Reply{Type::kBulk, std::move(s), 0, {}}; }
  static Reply null_bulk() { return Reply{Type::kNullBulk, {}, 0, {}}; }
  static Reply array(std::vector<Reply> e) { return Reply{Type::kArray, {}, 0, std::move(e)}; }
  static Reply null_array() { return Reply{Type::kNullArray, {}, 0, {}}; }

  bool operator==(const Reply&) const = default;
};

// Appends the encoding of `reply` (recursively for arrays).
void append_reply(std::string& out, const Reply& reply);
// Human-readable rendering, like redis-cli's (for logs and test failure messages).
std::string to_debug_string(const Reply& reply);

struct ReplyLimits {
  uint64_t max_bulk_bytes = 512ull * 1024 * 1024;
  uint64_t max_array_count = 64ull * 1024 * 1024;
  uint64_t max_nesting_depth = 64;      // arrays inside arrays
  uint64_t max_line_bytes = 64 * 1024;  // simple string, error and header lines
};

enum class ReplyOutcome : uint8_t { kNeedMore, kReply, kError };

// Incremental reply parser: feed bytes as they arrive, take complete replies with next().
// A partly received reply is re-scanned from its start on the next call (replies are small
// relative to the cost of a round trip; bulk payloads are not copied until complete).
// After an error the parser stays failed. Thread-safety: none.
class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {});

  void feed(std::string_view bytes);
  ReplyOutcome next(Reply& out);

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  size_t buffered_bytes() const { return buffer_.size() - pos_; }

 private:
  enum class Step : uint8_t { kDone, kNeedMore, kError };
  // Parses one reply starting at `pos`; on kDone advances `pos` past it.
  Step parse_one(size_t& pos, uint64_t depth, Reply& out);
  Step read_line(size_t& pos, std::string_view& line);
  Step fail(std::string message);

  ReplyLimits limits_;
  std::string buffer_;
  size_t pos_ = 0;  // Invariant: pos_ <= buffer_.size(); bytes before pos_ are consumed.
  bool failed_ = false;
  std::string error_;
};

}  // namespace raftkv::resp
