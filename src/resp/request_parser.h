// Incremental RESP2 request parser: bytes in (split anywhere), complete commands out.
//
// Wire format (what redis-server accepts from clients):
//   multibulk:  "*<n>\r\n" then n times "$<len>\r\n<len bytes>\r\n"
//               (n <= 0 is an empty request: skipped, no command)
//   inline:     any line not starting with '*', terminated by "\n" (an optional "\r" before it
//               is dropped), split into arguments like sdssplitargs (see inline_args.h);
//               blank lines are skipped.
// As in Redis, the two bytes after a bulk payload are skipped without being checked, and the
// byte after the '\r' of a "*<n>" / "$<len>" header line is not checked either.
//
// Errors use Redis's wording ("Protocol error: ..."). After an error the parser stays failed:
// the caller sends "-ERR <error()>" and closes the connection.
//
// Memory: the parser holds only bytes fed to it plus the arguments parsed so far; a claimed
// bulk length is never reserved beyond the bytes that have actually arrived. Limits apply to
// every split of the input alike (so a header or inline line longer than max_inline_bytes is
// rejected even when it arrives in one piece; redis-server checks only incomplete lines).
//
// Thread-safety: none; one parser per connection, used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::resp {

struct RequestLimits {
  // Longest bulk argument (Redis proto-max-bulk-len, default 512 MiB).
  uint64_t max_bulk_bytes = 512ull * 1024 * 1024;
  // Most arguments in one multibulk request (Redis allows up to INT_MAX; we default lower).
  uint64_t max_multibulk_count = 1024 * 1024;
  // Longest inline request line and longest "*<n>" / "$<len>" header (Redis PROTO_INLINE_MAX_SIZE).
  uint64_t max_inline_bytes = 64 * 1024;
};

// One command: the command name followed by its arguments, binary safe.
using Command = std::vector<std::string>;

enum class ParseOutcome : uint8_t {
  kNeedMore,  // no complete command buffered: feed more bytes
  kCommand,   // a command was stored in the output argument
  kError,     // protocol error (see error()); close the connection after replying
};

class RequestParser {
 public:
  explicit RequestParser(RequestLimits limits = {});

  // Appends received bytes. Allowed in any state (bytes after an error are ignored).
  void feed(std::string_view bytes);

  // Extracts the next complete command into `out` (replacing its contents). Call repeatedly
  // until kNeedMore to drain a pipelined buffer.
  ParseOutcome next(Command& out);

  bool failed() const { return state_ == State::kFailed; }
  // The protocol error, e.g. "Protocol error: invalid multibulk length"; empty unless failed().
  const std::string& error() const { return error_; }
  // Bytes fed but not yet consumed (for per-connection input buffer limits).
  size_t buffered_bytes() const { return buffer_.size() - pos_; }
  // True when a command has been partly received (useful to tell a clean close from a torn one).
  bool mid_command() const { return state_ != State::kIdle || buffered_bytes() > 0; }

 private:
  enum class State : uint8_t {
    kIdle,         // at a request boundary
    kBulkHeader,   // inside a multibulk: expecting "$<len>\r\n"
    kBulkPayload,  // inside a bulk argument: expecting payload bytes then 2 terminator bytes
    kFailed,
  };

  ParseOutcome parse_request_start(Command& out, bool& produced);
  ParseOutcome parse_bulk_header();
  ParseOutcome parse_bulk_payload(Command& out, bool& produced);
  ParseOutcome fail(std::string message);
  void maybe_compact();

  RequestLimits limits_;
  std::string buffer_;
  // Invariant: pos_ <= buffer_.size(); bytes before pos_ are consumed.
  size_t pos_ = 0;
  State state_ = State::kIdle;
  // Arguments of the multibulk request in progress.
  Command args_;
  // kBulkHeader/kBulkPayload: arguments still to come, including the one in progress.
  uint64_t args_remaining_ = 0;
  // kBulkPayload: payload bytes still missing from args_.back() (the 2 terminator bytes follow).
  uint64_t payload_remaining_ = 0;
  std::string error_;
};

// Parses a decimal integer exactly like Redis's string2ll(): optional '-', no '+', no leading
// zeros, no blanks, must fit in int64. Returns false when `s` is not such a number.
bool parse_int64_strict(std::string_view s, int64_t& out);

}  // namespace raftkv::resp
