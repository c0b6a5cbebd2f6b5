// Unit tests of the incremental RESP request parser: splits, pipelining, inline commands,
// malformed input (with Redis's error wording) and limits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resp/inline_args.h"
#include "resp/request_parser.h"

namespace raftkv::resp {
namespace {

struct Drained {
  std::vector<Command> commands;
  bool failed = false;
  std::string error;
};

// Feeds `chunks` in order, draining complete commands after each.
Drained feed_chunks(const std::vector<std::string>& chunks, RequestLimits limits = {}) {
  RequestParser parser(limits);
  Drained d;
  for (const auto& chunk : chunks) {
    parser.feed(chunk);
    Command cmd;
    ParseOutcome outcome;
    while ((outcome = parser.next(cmd)) == ParseOutcome::kCommand) d.commands.push_back(cmd);
    if (outcome == ParseOutcome::kError) {
      d.failed = true;
      d.error = parser.error();
      break;
    }
  }
  return d;
}

Drained feed_all(const std::string& bytes, RequestLimits limits = {}) {
  return feed_chunks({bytes}, limits);
}

std::vector<Command> expected_pipelined() {
  return {{"SET", "key", "va\r\nl"},
          {"PING"},
          {"set", "a b", "c d", "A\n"},
          {"GET", ""},
          {std::string("\x00\x01\xff\x7f", 4)}};
}

std::string pipelined_bytes() {
  // Holds a NUL byte: built with explicit lengths.
  std::string s =
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n*0\r\n*-1\r\nPING\r\n\r\n"
      "set \"a b\" 'c d' \"\\x41\\n\"\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
  s += "*1\r\n$4\r\n";
  s += std::string("\x00\x01\xff\x7f", 4);
  s += "\r\n";
  return s;
}

TEST(RequestParser, SplitAtEveryByteBoundaryGivesSameCommands) {
  const std::string bytes = pipelined_bytes();
  const auto whole = feed_all(bytes);
  ASSERT_FALSE(whole.failed) << whole.error;
  ASSERT_EQ(whole.commands, expected_pipelined());
  for (size_t i = 0; i <= bytes.size(); ++i) {
    for (size_t j = i; j <= bytes.size(); j += 7) {
      const auto d = feed_chunks({bytes.substr(0, i), bytes.substr(i, j - i), bytes.substr(j)});
      ASSERT_FALSE(d.failed) << "split at " << i << "," << j << ": " << d.error;
      ASSERT_EQ(d.commands, whole.commands) << "split at " << i << "," << j;
    }
  }
}

TEST(RequestParser, ByteByByteFeeding) {
  const std::string bytes = pipelined_bytes();
  std::vector<std::string> chunks;
  for (char c : bytes) chunks.emplace_back(1, c);
  const auto d = feed_chunks(chunks);
  ASSERT_FALSE(d.failed) << d.error;
  EXPECT_EQ(d.commands, expected_pipelined());
}

TEST(RequestParser, IncompleteCommandNeedsMoreAndKeepsState) {
  RequestParser parser;
  parser.feed("*2\r\n$3\r\nGET\r\n$3\r\nke");
  Command cmd;
  EXPECT_EQ(parser.next(cmd), ParseOutcome::kNeedMore);
  EXPECT_TRUE(parser.mid_command());
  parser.feed("y\r\n");
  ASSERT_EQ(parser.next(cmd), ParseOutcome::kCommand);
  EXPECT_EQ(cmd, (Command{"GET", "key"}));
  EXPECT_EQ(parser.next(cmd), ParseOutcome::kNeedMore);
  EXPECT_FALSE(parser.mid_command());
}

struct MalformedCase {
  std::string input;
  std::string error;
};

TEST(RequestParser, MalformedInputsGiveRedisErrors) {
  const std::vector<MalformedCase> cases = {
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*\r\n", "Protocol error: invalid multibulk length"},
      {"*+1\r\n", "Protocol error: invalid multibulk length"},
      {"*01\r\n", "Protocol error: invalid multibulk length"},
      {"* 1\r\n", "Protocol error: invalid multibulk length"},
      {"*99999999999999999999\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\nx", "Protocol error: expected '$', got 'x'"},
      {"*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
      {"*1\r\n$x\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"},
      {"SET \"abc\n", "Protocol error: unbalanced quotes in request"},
      {"SET 'abc\n", "Protocol error: unbalanced quotes in request"},
      {"SET \"a\"b\n", "Protocol error: unbalanced quotes in request"},
      {"SET 'a'b\n", "Protocol error: unbalanced quotes in request"},
      {std::string(64 * 1024 + 1, 'a'), "Protocol error: too big inline request"},
      {std::string(64 * 1024 + 1, 'a') + "\n", "Protocol error: too big inline request"},
      {"*" + std::string(64 * 1024 + 1, '1'), "Protocol error: too big mbulk count string"},
      {"*1\r\n$" + std::string(64 * 1024 + 1, '1'), "Protocol error: too big bulk count string"},
  };
  for (const auto& c : cases) {
    const auto d = feed_all(c.input);
    EXPECT_TRUE(d.failed) << c.input.substr(0, 40);
    EXPECT_EQ(d.error, c.error) << c.input.substr(0, 40);
    // The same error whatever the split.
    for (size_t i = 0; i < std::min<size_t>(c.input.size(), 24); ++i) {
      const auto s = feed_chunks({c.input.substr(0, i), c.input.substr(i)});
      EXPECT_EQ(s.error, c.error) << "split at " << i << ": " << c.input.substr(0, 40);
    }
  }
}

TEST(RequestParser, StaysFailedAfterError) {
  RequestParser parser;
  parser.feed("*x\r\n*1\r\n$4\r\nPING\r\n");
  Command cmd;
  EXPECT_EQ(parser.next(cmd), ParseOutcome::kError);
  parser.feed("*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(parser.next(cmd), ParseOutcome::kError);
  EXPECT_TRUE(parser.failed());
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(RequestParser, CommandsBeforeAnErrorAreDelivered) {
  const auto d = feed_all("PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n?");
  EXPECT_EQ(d.commands, (std::vector<Command>{{"PING"}, {"PING"}}));
  EXPECT_EQ(d.error, "Protocol error: expected '$', got '?'");
}

TEST(RequestParser, ConfigurableLimits) {
  RequestLimits limits;
  limits.max_bulk_bytes = 4;
  limits.max_multibulk_count = 2;
  limits.max_inline_bytes = 8;
  EXPECT_FALSE(feed_all("*2\r\n$4\r\nabcd\r\n$0\r\n\r\n", limits).failed);
  EXPECT_EQ(feed_all("*1\r\n$5\r\nabcde\r\n", limits).error, "Protocol error: invalid bulk length");
  EXPECT_EQ(feed_all("*3\r\n", limits).error, "Protocol error: invalid multibulk length");
  EXPECT_FALSE(feed_all("12345678\n", limits).failed);
  EXPECT_EQ(feed_all("123456789\n", limits).error, "Protocol error: too big inline request");
  EXPECT_EQ(feed_all("123456789", limits).error, "Protocol error: too big inline request");
}

TEST(RequestParser, HugeClaimedBulkWaitsForBytesWithoutFailing) {
  RequestParser parser;
  parser.feed("*1\r\n$536870912\r\nabc");  // 512 MiB claimed, 3 bytes sent
  Command cmd;
  EXPECT_EQ(parser.next(cmd), ParseOutcome::kNeedMore);
  EXPECT_TRUE(parser.mid_command());
}

TEST(RequestParser, LargeBulkArrivingInPieces) {
  const std::string value(1 << 20, 'v');
  std::string bytes =
      "*2\r\n$3\r\nSET\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  std::vector<std::string> chunks;
  for (size_t i = 0; i < bytes.size(); i += 1000) chunks.push_back(bytes.substr(i, 1000));
  const auto d = feed_chunks(chunks);
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0][1], value);
}

TEST(InlineArgs, RedisQuotingRules) {
  using Args = std::vector<std::string>;
  EXPECT_EQ(*split_inline_args("  a   b\tc "), (Args{"a", "b", "c"}));
  EXPECT_EQ(*split_inline_args(""), Args{});
  EXPECT_EQ(*split_inline_args("\"\""), Args{""});
  EXPECT_EQ(*split_inline_args("\"\\x4a\\x4B\\xzz\""), Args{"JKxzz"});
  EXPECT_EQ(*split_inline_args("\"a\\\"b\\\\c\\r\\t\\b\\a\""), Args{"a\"b\\c\r\t\b\a"});
  EXPECT_EQ(*split_inline_args("'it\\'s' 'a\\nb'"), (Args{"it's", "a\\nb"}));
  EXPECT_EQ(*split_inline_args("foo\"bar baz\""), Args{"foobar baz"});
  EXPECT_FALSE(split_inline_args("\"abc"));
  EXPECT_FALSE(split_inline_args("\"abc\\"));
  EXPECT_FALSE(split_inline_args("'abc"));
  EXPECT_FALSE(split_inline_args("\"a\"x"));
}

TEST(ParseInt64Strict, MatchesRedisString2ll) {
  int64_t v = 0;
  EXPECT_TRUE(parse_int64_strict("0", v));
  EXPECT_TRUE(parse_int64_strict("-9223372036854775808", v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(parse_int64_strict("9223372036854775807", v));
  EXPECT_EQ(v, INT64_MAX);
  for (const char* bad : {"", "-", "-0", "01", "+1", " 1", "1 ", "9223372036854775808",
                          "-9223372036854775809", "1a", "18446744073709551616"}) {
    EXPECT_FALSE(parse_int64_strict(bad, v)) << bad;
  }
}

}  // namespace
}  // namespace raftkv::resp
