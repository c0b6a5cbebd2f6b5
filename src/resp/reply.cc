#include "resp/reply.h"

#include "resp/buffer.h"

#include <algorithm>

#include <fmt/format.h>

#include "resp/request_parser.h"

namespace raftkv::resp {
namespace {

void append_line(std::string& out, char prefix, std::string_view text) {
  out.push_back(prefix);
  const size_t start = out.size();
  out.append(text);
  std::replace_if(
      out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
      [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out.append("\r\n");
}

void append_header(std::string& out, char prefix, int64_t n) {
  out.push_back(prefix);
  fmt::format_to(std::back_inserter(out), "{}\r\n", n);
}

}  // namespace

void append_simple_string(std::string& out, std::string_view text) {
  append_line(out, '+', text);
}
void append_error(std::string& out, std::string_view text) {
  append_line(out, '-', text);
}
void append_integer(std::string& out, int64_t value) {
  append_header(out, ':', value);
}

void append_bulk(std::string& out, std::string_view bytes) {
  append_header(out, '$', static_cast<int64_t>(bytes.size()));
  out.append(bytes);
  out.append("\r\n");
}

void append_null_bulk(std::string& out) {
  out.append("$-1\r\n");
}
void append_array_header(std::string& out, size_t count) {
  append_header(out, '*', static_cast<int64_t>(count));
}
void append_null_array(std::string& out) {
  out.append("*-1\r\n");
}

void append_command(std::string& out, const std::vector<std::string>& args) {
  append_array_header(out, args.size());
  for (const auto& a : args) append_bulk(out, a);
}

void append_reply(std::string& out, const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::kSimpleString:
      append_simple_string(out, reply.text);
      break;
    case Reply::Type::kError:
      append_error(out, reply.text);
      break;
    case Reply::Type::kInteger:
      append_integer(out, reply.integer);
      break;
    case Reply::Type::kBulk:
      append_bulk(out, reply.text);
      break;
    case Reply::Type::kNullBulk:
      append_null_bulk(out);
      break;
    case Reply::Type::kNullArray:
      append_null_array(out);
      break;
    case Reply::Type::kArray:
      append_array_header(out, reply.elements.size());
      for (const auto& e : reply.elements) append_reply(out, e);
      break;
  }
}

std::string to_debug_string(const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::kSimpleString:
      return reply.text;
    case Reply::Type::kError:
      return "(error) " + reply.text;
    case Reply::Type::kInteger:
      return fmt::format("(integer) {}", reply.integer);
    case Reply::Type::kBulk:
      return fmt::format("\"{}\"", reply.text);
    case Reply::Type::kNullBulk:
    case Reply::Type::kNullArray:
      return "(nil)";
    case Reply::Type::kArray: {
      std::string s = "[";
      for (size_t i = 0; i < reply.elements.size(); ++i) {
        if (i > 0) s += ", ";
        s += to_debug_string(reply.elements[i]);
      }
      return s + "]";
    }
  }
  return "?";
}

ReplyParser::ReplyParser(ReplyLimits limits) : limits_(limits) {}

void ReplyParser::feed(std::string_view bytes) {
  if (failed_) return;
  compact_consumed(buffer_, pos_);
  buffer_.append(bytes);
}

ReplyOutcome ReplyParser::next(Reply& out) {
  if (failed_) return ReplyOutcome::kError;
  size_t pos = pos_;
  Reply reply;
  switch (parse_one(pos, 0, reply)) {
    case Step::kDone:
      pos_ = pos;
      out = std::move(reply);
      return ReplyOutcome::kReply;
    case Step::kNeedMore:
      return ReplyOutcome::kNeedMore;
    case Step::kError:
      return ReplyOutcome::kError;
  }
  return ReplyOutcome::kError;
}

ReplyParser::Step ReplyParser::fail(std::string message) {
  failed_ = true;
  error_ = std::move(message);
  buffer_.clear();
  pos_ = 0;
  return Step::kError;
}

// Reads the rest of a line after its type byte; `line` excludes the "\r\n".
ReplyParser::Step ReplyParser::read_line(size_t& pos, std::string_view& line) {
  const size_t crlf = buffer_.find("\r\n", pos);
  if (crlf == std::string::npos) {
    if (buffer_.size() - pos > limits_.max_line_bytes) return fail("reply line too long");
    return Step::kNeedMore;
  }
  if (crlf - pos > limits_.max_line_bytes) return fail("reply line too long");
  line = std::string_view(buffer_).substr(pos, crlf - pos);
  pos = crlf + 2;
  return Step::kDone;
}

ReplyParser::Step ReplyParser::parse_one(size_t& pos, uint64_t depth, Reply& out) {
  if (pos >= buffer_.size()) return Step::kNeedMore;
  const char type = buffer_[pos++];
  std::string_view line;
  if (Step s = read_line(pos, line); s != Step::kDone) return s;
  int64_t n = 0;
  switch (type) {
    case '+':
      out = Reply::simple(std::string(line));
      return Step::kDone;
    case '-':
      out = Reply::error(std::string(line));
      return Step::kDone;
    case ':':
      if (!parse_int64_strict(line, n)) return fail("invalid integer reply");
      out = Reply::integer_reply(n);
      return Step::kDone;
    case '$': {
      if (!parse_int64_strict(line, n) || n < -1) return fail("invalid bulk length in reply");
      if (n == -1) {
        out = Reply::null_bulk();
        return Step::kDone;
      }
      if (static_cast<uint64_t>(n) > limits_.max_bulk_bytes) return fail("bulk reply too large");
      const size_t length = static_cast<size_t>(n);
      if (buffer_.size() - pos < length + 2) return Step::kNeedMore;
      if (buffer_.compare(pos + length, 2, "\r\n") != 0) {
        return fail("bulk reply not terminated by CRLF");
      }
      out = Reply::bulk(buffer_.substr(pos, length));
      pos += length + 2;
      return Step::kDone;
    }
    case '*': {
      if (!parse_int64_strict(line, n) || n < -1) return fail("invalid array length in reply");
      if (n == -1) {
        out = Reply::null_array();
        return Step::kDone;
      }
      if (static_cast<uint64_t>(n) > limits_.max_array_count) return fail("array reply too large");
      if (depth + 1 > limits_.max_nesting_depth) return fail("array reply nested too deeply");
      out = Reply::array({});
      out.elements.reserve(std::min<uint64_t>(static_cast<uint64_t>(n), 1024));
      for (int64_t i = 0; i < n; ++i) {
        Reply element;
        if (Step s = parse_one(pos, depth + 1, element); s != Step::kDone) return s;
        out.elements.push_back(std::move(element));
      }
      return Step::kDone;
    }
    default:
      return fail(fmt::format("unexpected reply type byte 0x{:02x}", static_cast<uint8_t>(type)));
  }
}

}  // namespace raftkv::resp
