#include "resp/request_parser.h"

#include "resp/buffer.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "resp/inline_args.h"

namespace raftkv::resp {

bool parse_int64_strict(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;  // no leading zeros, no "-0"
  uint64_t magnitude = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1;
    if (magnitude > limit) return false;
    out =
        magnitude == limit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(magnitude);
  } else {
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(magnitude);
  }
  return true;
}

RequestParser::RequestParser(RequestLimits limits) : limits_(limits) {}

void RequestParser::feed(std::string_view bytes) {
  if (state_ == State::kFailed) return;
  maybe_compact();
  buffer_.append(bytes);
}

void RequestParser::maybe_compact() {
  compact_consumed(buffer_, pos_);
}

ParseOutcome RequestParser::fail(std::string message) {
  state_ = State::kFailed;
  error_ = std::move(message);
  args_.clear();
  buffer_.clear();
  buffer_.shrink_to_fit();
  pos_ = 0;
  return ParseOutcome::kError;
}

ParseOutcome RequestParser::next(Command& out) {
  while (true) {
    bool produced = false;
    ParseOutcome outcome = ParseOutcome::kNeedMore;
    switch (state_) {
      case State::kFailed:
        return ParseOutcome::kError;
      case State::kIdle:
        outcome = parse_request_start(out, produced);
        break;
      case State::kBulkHeader:
        outcome = parse_bulk_header();
        break;
      case State::kBulkPayload:
        outcome = parse_bulk_payload(out, produced);
        break;
    }
    if (outcome != ParseOutcome::kCommand) {
      if (outcome == ParseOutcome::kNeedMore) maybe_compact();
      return outcome;
    }
    if (produced) return ParseOutcome::kCommand;
    // kCommand without a command: progress was made (header parsed, blank line skipped): loop.
  }
}

// At a request boundary: a multibulk header or an inline line.
ParseOutcome RequestParser::parse_request_start(Command& out, bool& produced) {
  const size_t available = buffer_.size() - pos_;
  if (available == 0) return ParseOutcome::kNeedMore;
  const char* begin = buffer_.data() + pos_;

  if (*begin != '*') {
    const void* newline = std::memchr(begin, '\n', available);
    if (newline == nullptr) {
      if (available > limits_.max_inline_bytes) {
        return fail("Protocol error: too big inline request");
      }
      return ParseOutcome::kNeedMore;
    }
    size_t line_length = static_cast<size_t>(static_cast<const char*>(newline) - begin);
    if (line_length > limits_.max_inline_bytes) {
      return fail("Protocol error: too big inline request");
    }
    pos_ += line_length + 1;
    if (line_length > 0 && begin[line_length - 1] == '\r') --line_length;
    auto args = split_inline_args(std::string_view(begin, line_length));
    if (!args) return fail("Protocol error: unbalanced quotes in request");
    if (!args->empty()) {
      out = std::move(*args);
      produced = true;
    }
    return ParseOutcome::kCommand;
  }

  const void* cr = std::memchr(begin, '\r', available);
  if (cr == nullptr) {
    if (available > limits_.max_inline_bytes) {
      return fail("Protocol error: too big mbulk count string");
    }
    return ParseOutcome::kNeedMore;
  }
  const size_t header_length = static_cast<size_t>(static_cast<const char*>(cr) - begin);
  if (header_length > limits_.max_inline_bytes) {
    return fail("Protocol error: too big mbulk count string");
  }
  if (header_length + 2 > available) return ParseOutcome::kNeedMore;  // the byte after '\r'
  int64_t count = 0;
  if (!parse_int64_strict(std::string_view(begin + 1, header_length - 1), count) ||
      (count > 0 && static_cast<uint64_t>(count) > limits_.max_multibulk_count)) {
    return fail("Protocol error: invalid multibulk length");
  }
  pos_ += header_length + 2;
  if (count <= 0) return ParseOutcome::kCommand;  // empty request: nothing to run
  args_.clear();
  // Reserve no more than a small bound: the claimed count may be a lie.
  args_.reserve(std::min<uint64_t>(static_cast<uint64_t>(count), 1024));
  args_remaining_ = static_cast<uint64_t>(count);
  state_ = State::kBulkHeader;
  return ParseOutcome::kCommand;
}

ParseOutcome RequestParser::parse_bulk_header() {
  const size_t available = buffer_.size() - pos_;
  if (available == 0) return ParseOutcome::kNeedMore;
  const char* begin = buffer_.data() + pos_;
  if (*begin != '$') {
    return fail(fmt::format("Protocol error: expected '$', got '{}'", *begin));
  }
  const void* cr = std::memchr(begin, '\r', available);
  if (cr == nullptr) {
    if (available > limits_.max_inline_bytes) {
      return fail("Protocol error: too big bulk count string");
    }
    return ParseOutcome::kNeedMore;
  }
  const size_t header_length = static_cast<size_t>(static_cast<const char*>(cr) - begin);
  if (header_length > limits_.max_inline_bytes) {
    return fail("Protocol error: too big bulk count string");
  }
  if (header_length + 2 > available) return ParseOutcome::kNeedMore;
  int64_t length = 0;
  if (!parse_int64_strict(std::string_view(begin + 1, header_length - 1), length) || length < 0 ||
      static_cast<uint64_t>(length) > limits_.max_bulk_bytes) {
    return fail("Protocol error: invalid bulk length");
  }
  pos_ += header_length + 2;
  args_.emplace_back();
  payload_remaining_ = static_cast<uint64_t>(length);
  // Reserve only what has arrived (plus what fits in the buffer): never trust the claim.
  args_.back().reserve(std::min<uint64_t>(payload_remaining_, buffer_.size() - pos_));
  state_ = State::kBulkPayload;
  return ParseOutcome::kCommand;
}

ParseOutcome RequestParser::parse_bulk_payload(Command& out, bool& produced) {
  const size_t available = buffer_.size() - pos_;
  const size_t take = static_cast<size_t>(std::min<uint64_t>(available, payload_remaining_));
  if (take > 0) {
    args_.back().append(buffer_.data() + pos_, take);
    pos_ += take;
    payload_remaining_ -= take;
  }
  if (payload_remaining_ > 0 || buffer_.size() - pos_ < 2) return ParseOutcome::kNeedMore;
  pos_ += 2;  // the "\r\n" terminator, skipped unchecked as redis-server does
  --args_remaining_;
  if (args_remaining_ > 0) {
    state_ = State::kBulkHeader;
    return ParseOutcome::kCommand;
  }
  state_ = State::kIdle;
  out = std::move(args_);
  args_ = Command();
  produced = true;
  return ParseOutcome::kCommand;
}

}  // namespace raftkv::resp
