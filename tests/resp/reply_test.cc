// Reply encoder and reply parser: exact encodings, round trips at every split, malformed input.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "resp/reply.h"

namespace raftkv::resp {
namespace {

TEST(ReplyEncoder, ExactBytes) {
  std::string out;
  append_simple_string(out, "OK");
  append_error(out, "ERR bad\r\nthing");
  append_integer(out, -42);
  append_bulk(out, std::string("a\0b", 3));
  append_null_bulk(out);
  append_array_header(out, 2);
  append_null_array(out);
  EXPECT_EQ(
      out, std::string("+OK\r\n-ERR bad  thing\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n*-1\r\n", 51));
  std::string cmd;
  append_command(cmd, {"GET", "k"});
  EXPECT_EQ(cmd, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

Reply random_reply(std::mt19937_64& rng, int depth) {
  auto below = [&](uint64_t n) { return rng() % n; };
  std::string s(below(10), 'x');
  for (auto& c : s) c = static_cast<char>(below(256));
  switch (below(depth > 2 ? 6 : 7)) {
    case 0:
      return Reply::simple("OK" + std::to_string(below(100)));
    case 1:
      return Reply::error("ERR e" + std::to_string(below(100)));
    case 2:
      return Reply::integer_reply(static_cast<int64_t>(rng()));
    case 3:
      return Reply::bulk(s);
    case 4:
      return Reply::null_bulk();
    case 5:
      return Reply::null_array();
    default: {
      std::vector<Reply> elements(below(4));
      for (auto& e : elements) e = random_reply(rng, depth + 1);
      return Reply::array(std::move(elements));
    }
  }
}

TEST(ReplyParser, RoundTripAtEverySplit) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<Reply> replies(1 + rng() % 5);
    std::string bytes;
    for (auto& r : replies) {
      r = random_reply(rng, 0);
      append_reply(bytes, r);
    }
    for (size_t cut = 0; cut <= bytes.size(); ++cut) {
      ReplyParser parser;
      std::vector<Reply> got;
      Reply r;
      parser.feed(std::string_view(bytes).substr(0, cut));
      while (parser.next(r) == ReplyOutcome::kReply) got.push_back(r);
      parser.feed(std::string_view(bytes).substr(cut));
      ReplyOutcome outcome;
      while ((outcome = parser.next(r)) == ReplyOutcome::kReply) got.push_back(r);
      ASSERT_EQ(outcome, ReplyOutcome::kNeedMore) << parser.error();
      ASSERT_EQ(got, replies) << "round " << round << " cut " << cut;
    }
  }
}

TEST(ReplyParser, MalformedRepliesFail) {
  for (const std::string bad :
       {"?x\r\n", ":abc\r\n", "$-2\r\n", "$3\r\nabcde", "*-5\r\n", "*1\r\n!\r\n", "$x\r\n"}) {
    ReplyParser parser;
    parser.feed(bad);
    Reply r;
    EXPECT_EQ(parser.next(r), ReplyOutcome::kError) << bad;
    EXPECT_FALSE(parser.error().empty());
  }
}

TEST(ReplyParser, LimitsBoundNestingAndSizes) {
  ReplyLimits limits;
  limits.max_nesting_depth = 3;
  limits.max_bulk_bytes = 4;
  ReplyParser deep(limits);
  deep.feed("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n");
  Reply r;
  EXPECT_EQ(deep.next(r), ReplyOutcome::kError);
  ReplyParser big(limits);
  big.feed("$5\r\n");
  EXPECT_EQ(big.next(r), ReplyOutcome::kError);
  ReplyParser huge_array;
  huge_array.feed("*100000000\r\n");  // claimed count beyond the default cap
  EXPECT_EQ(huge_array.next(r), ReplyOutcome::kError);
}

TEST(ReplyParser, IncompleteReplyWaits) {
  ReplyParser parser;
  parser.feed("*2\r\n$3\r\nfoo\r\n");
  Reply r;
  EXPECT_EQ(parser.next(r), ReplyOutcome::kNeedMore);
  parser.feed(":7\r\n");
  ASSERT_EQ(parser.next(r), ReplyOutcome::kReply);
  EXPECT_EQ(r, Reply::array({Reply::bulk("foo"), Reply::integer_reply(7)}));
}

}  // namespace
}  // namespace raftkv::resp
