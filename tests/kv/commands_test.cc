// Every command's happy path and Redis error cases, through apply() and the read path.
#include <gtest/gtest.h>

#include <set>

#include "harness.h"

namespace raftkv::kv {
namespace {

using testing::bulk;
using testing::error;
using testing::Harness;
using testing::integer;

const Reply kOk = Reply::ok();
const Reply kNull = Reply::null();
const std::string kNotInteger = "ERR value is not an integer or out of range";

TEST(Commands, GetSetDelExists) {
  Harness h;
  EXPECT_EQ(h.run({"GET", "k"}), kNull);
  EXPECT_EQ(h.run({"set", "k", "v"}), kOk);
  EXPECT_EQ(h.run({"GET", "k"}), bulk("v"));
  EXPECT_EQ(h.read({"get", "k"}), bulk("v"));
  EXPECT_EQ(h.read({"EXISTS", "k", "k", "nope"}), integer(2));
  EXPECT_EQ(h.run({"DEL", "k", "k", "nope"}), integer(1));
  EXPECT_EQ(h.read({"EXISTS", "k"}), integer(0));
  EXPECT_EQ(h.read({"DBSIZE"}), integer(0));
}

TEST(Commands, ArityAndUnknownCommands) {
  Harness h;
  EXPECT_EQ(h.run({"GET"}), error("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(h.run({"SET", "k"}), error("ERR wrong number of arguments for 'set' command"));
  EXPECT_EQ(h.run({"MSET", "a", "1", "b"}),
            error("ERR wrong number of arguments for 'mset' command"));
  EXPECT_EQ(h.run({"FOO", "a", "b"}),
            error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "));
  EXPECT_EQ(classify_command("get"), CommandKind::kRead);
  EXPECT_EQ(classify_command("MSET"), CommandKind::kWrite);
  EXPECT_EQ(classify_command("PING"), CommandKind::kUnknown);
  EXPECT_TRUE(h.read({"SET", "k", "v"}).is_error());  // writes never run on the read path
}

TEST(Commands, SetOptions) {
  Harness h;
  EXPECT_EQ(h.run({"SET", "k", "v1", "NX"}), kOk);
  EXPECT_EQ(h.run({"SET", "k", "v2", "NX"}), kNull);
  EXPECT_EQ(h.run({"SET", "k", "v2", "NX", "GET"}), bulk("v1"));
  EXPECT_EQ(h.run({"SET", "k", "v3", "XX", "GET"}), bulk("v1"));
  EXPECT_EQ(h.run({"SET", "other", "x", "XX"}), kNull);
  EXPECT_EQ(h.run({"SET", "other", "x", "GET"}), kNull);
  EXPECT_EQ(h.run({"GET", "other"}), bulk("x"));
  for (std::vector<std::string> bad : {std::vector<std::string>{"SET", "k", "v", "NX", "XX"},
                                       {"SET", "k", "v", "EX", "10", "PX", "100"},
                                       {"SET", "k", "v", "EX", "10", "KEEPTTL"},
                                       {"SET", "k", "v", "KEEPTTL", "EX", "10"},
                                       {"SET", "k", "v", "EX"},
                                       {"SET", "k", "v", "BOGUS"}}) {
    EXPECT_EQ(h.run(bad), error("ERR syntax error")) << bad.back();
  }
  EXPECT_EQ(h.run({"SET", "k", "v", "EX", "ten"}), error(kNotInteger));
  EXPECT_EQ(h.run({"SET", "k", "v", "EX", "0"}), error("ERR invalid expire time in 'set' command"));
  EXPECT_EQ(h.run({"SET", "k", "v", "PX", "-5"}),
            error("ERR invalid expire time in 'set' command"));
  EXPECT_EQ(h.run({"SET", "k", "v", "EX", "9223372036854775"}),
            error("ERR invalid expire time in 'set' command"));
  EXPECT_EQ(h.run({"GET", "k"}), bulk("v3"));  // failed SETs changed nothing
}

TEST(Commands, ExpiryUsesEntryTime) {
  Harness h;
  EXPECT_EQ(h.run({"SET", "ex", "1", "EX", "10"}), kOk);
  EXPECT_EQ(h.run({"SET", "px", "1", "PX", "500"}), kOk);
  EXPECT_EQ(h.run({"SET", "pxat", "1", "PXAT", std::to_string(h.now_ms() + 2000)}), kOk);
  EXPECT_EQ(h.run({"SET", "exat", "1", "EXAT", std::to_string(h.now_ms() / 1000 + 3)}), kOk);
  h.advance_ms(500);  // expiry instant itself: still alive (Redis: expired when now > at)
  EXPECT_EQ(h.run({"GET", "px"}), bulk("1"));
  h.advance_ms(1);
  EXPECT_EQ(h.run({"GET", "px"}), kNull);
  EXPECT_EQ(h.read({"EXISTS", "ex", "pxat", "exat"}), integer(3));
  h.advance_ms(10'000);
  EXPECT_EQ(h.read({"EXISTS", "ex", "pxat", "exat"}), integer(0));
  EXPECT_EQ(h.run({"INCR", "ex"}), integer(1));  // an expired key is absent for writes too
  // EXAT/PXAT in the past: the key is deleted, reply as if set.
  EXPECT_EQ(h.run({"SET", "ex", "v", "PXAT", "1"}), kOk);
  EXPECT_EQ(h.run({"GET", "ex"}), kNull);
}

TEST(Commands, KeepTtlAndTtlPreservingCommands) {
  Harness h;
  EXPECT_EQ(h.run({"SET", "k", "1", "PX", "1000"}), kOk);
  EXPECT_EQ(h.run({"SET", "k", "2", "KEEPTTL"}), kOk);
  EXPECT_EQ(h.run({"INCR", "k"}), integer(3));         // keeps TTL
  EXPECT_EQ(h.run({"APPEND", "k", "0"}), integer(2));  // keeps TTL
  h.advance_ms(1001);
  EXPECT_EQ(h.run({"GET", "k"}), kNull);
  EXPECT_EQ(h.run({"SET", "k", "1", "PX", "1000"}), kOk);
  EXPECT_EQ(h.run({"SET", "k", "2"}), kOk);  // plain SET clears the TTL
  h.advance_ms(5000);
  EXPECT_EQ(h.run({"GET", "k"}), bulk("2"));
}

// A SET without NX/XX/GET/KEEPTTL does not look the old value up (so it does not lazily
// delete an expired one first): the state must be the same as on the path that does.
TEST(Commands, SetWithoutLookupLeavesTheSameStateAsSetWithLookup) {
  Harness plain, looked_up;
  for (Harness* h : {&plain, &looked_up}) {
    EXPECT_EQ(h->run({"SET", "live", "1", "PX", "10000"}), kOk);
    EXPECT_EQ(h->run({"SET", "expired", "1", "PX", "100"}), kOk);
    h->advance_ms(200);
  }
  for (const char* key : {"live", "expired", "absent"}) {
    EXPECT_EQ(plain.run({"SET", key, "2", "PX", "300"}), kOk);
    EXPECT_NE(looked_up.run({"SET", key, "2", "PX", "300", "GET"}), kOk);  // took the lookup
  }
  EXPECT_EQ(plain.sm().digest(), looked_up.sm().digest());
  EXPECT_EQ(plain.sm().snapshot_to_string(), looked_up.sm().snapshot_to_string());
  EXPECT_EQ(plain.run({"GET", "expired"}), bulk("2"));
}

TEST(Commands, IncrDecrFamily) {
  Harness h;
  EXPECT_EQ(h.run({"INCR", "n"}), integer(1));
  EXPECT_EQ(h.run({"INCRBY", "n", "41"}), integer(42));
  EXPECT_EQ(h.run({"DECR", "n"}), integer(41));
  EXPECT_EQ(h.run({"DECRBY", "n", "-9"}), integer(50));
  EXPECT_EQ(h.run({"GET", "n"}), bulk("50"));
  EXPECT_EQ(h.run({"INCRBY", "n", "x"}), error(kNotInteger));
  EXPECT_EQ(h.run({"INCRBY", "n", "1.5"}), error(kNotInteger));
  EXPECT_EQ(h.run({"SET", "s", "abc"}), kOk);
  EXPECT_EQ(h.run({"INCR", "s"}), error(kNotInteger));
  EXPECT_EQ(h.run({"SET", "s", " 1"}), kOk);
  EXPECT_EQ(h.run({"INCR", "s"}), error(kNotInteger));
  EXPECT_EQ(h.run({"SET", "m", "9223372036854775807"}), kOk);
  EXPECT_EQ(h.run({"INCR", "m"}), error("ERR increment or decrement would overflow"));
  EXPECT_EQ(h.run({"SET", "m", "-9223372036854775808"}), kOk);
  EXPECT_EQ(h.run({"DECR", "m"}), error("ERR increment or decrement would overflow"));
  EXPECT_EQ(h.run({"DECRBY", "z", "-9223372036854775808"}), error("ERR decrement would overflow"));
  EXPECT_EQ(h.run({"GET", "m"}), bulk("-9223372036854775808"));
}

TEST(Commands, AppendStrlenGetdelSetnx) {
  Harness h;
  EXPECT_EQ(h.run({"APPEND", "a", "Hello"}), integer(5));
  EXPECT_EQ(h.run({"APPEND", "a", " World"}), integer(11));
  EXPECT_EQ(h.read({"STRLEN", "a"}), integer(11));
  EXPECT_EQ(h.read({"STRLEN", "missing"}), integer(0));
  EXPECT_EQ(h.run({"GETDEL", "a"}), bulk("Hello World"));
  EXPECT_EQ(h.run({"GETDEL", "a"}), kNull);
  EXPECT_EQ(h.run({"SETNX", "a", "1"}), integer(1));
  EXPECT_EQ(h.run({"SETNX", "a", "2"}), integer(0));
  EXPECT_EQ(h.run({"GET", "a"}), bulk("1"));
}

TEST(Commands, MsetMgetAreMultiKey) {
  Harness h;
  EXPECT_EQ(h.run({"MSET", "a", "1", "b", "2", "a", "3"}), kOk);  // later duplicate wins
  EXPECT_EQ(h.read({"MGET", "a", "b", "c"}), Reply::array({bulk("3"), bulk("2"), kNull}));
}

TEST(Commands, ValueSizeLimit) {
  StateMachineOptions options;
  options.limits.max_value_bytes = 8;
  Harness h(options);
  // Redis 7's reply for a string over proto-max-bulk-len (APPEND, SETRANGE).
  const Reply too_large = error("ERR string exceeds maximum allowed size");
  EXPECT_EQ(h.run({"SET", "k", "123456789"}), too_large);
  EXPECT_EQ(h.run({"SET", "k", "12345678"}), kOk);
  EXPECT_EQ(h.run({"APPEND", "k", "9"}), too_large);
  EXPECT_EQ(h.run({"MSET", "x", "1", "y", "123456789"}), too_large);
  EXPECT_EQ(h.read({"EXISTS", "x", "y"}), integer(0));  // MSET is all or nothing
  EXPECT_EQ(h.run({"SETNX", "n", "123456789"}), too_large);
}

// Issue 11.2: an oversized write must be refused before it is proposed, so that nothing over
// the limits reaches the log.
TEST(Commands, CheckWriteSizeRefusesOversizedStringsBeforeTheyAreProposed) {
  CommandLimits limits;
  limits.max_value_bytes = 8;
  const Reply too_large = error("ERR string exceeds maximum allowed size");
  using Args = std::vector<std::string>;
  EXPECT_EQ(check_write_size(Args{"SET", "k", "12345678"}, limits), std::nullopt);
  EXPECT_EQ(check_write_size(Args{"SET", "k", "123456789"}, limits), too_large);
  EXPECT_EQ(check_write_size(Args{"SET", "123456789", "v"}, limits), too_large);  // keys too
  EXPECT_EQ(check_write_size(Args{"APPEND", "k", "123456789"}, limits), too_large);
  EXPECT_EQ(check_write_size(Args{"MSET", "a", "1", "b", "123456789"}, limits), too_large);
  EXPECT_EQ(check_write_size(Args{"SET", "k", "v", "EX", "10"}, limits), std::nullopt);
  // Many strings within the limit, but more than one log entry may hold.
  Args many{"MSET"};
  const uint64_t pairs = limits.max_request_bytes() / 13 + 1;  // a pair encodes to 3 + 10 bytes
  for (uint64_t i = 0; i < pairs; ++i) {
    many.push_back("k");
    many.push_back("12345678");
  }
  ASSERT_GT(max_encoded_request_bytes(many), limits.max_request_bytes());
  const auto refused = check_write_size(many, limits);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->kind, Reply::Kind::kError);
  EXPECT_NE(refused->text.find("exceeds the largest log entry"), std::string::npos)
      << refused->text;
}

TEST(Commands, MaxEncodedRequestBytesBoundsTheEncoding) {
  const std::vector<std::string> args{"SET", "key", std::string(300, 'v')};
  RequestHeader h{~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, -1};
  EXPECT_LE(encode_request(h, args).size(), max_encoded_request_bytes(args));
  EXPECT_LE(encode_request(RequestHeader{}, args).size(), max_encoded_request_bytes(args));
}

TEST(Commands, ScanVisitsEveryKeyOnceWithCursorsMatchAndCount) {
  Harness h;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(h.run({"SET", "key:" + std::to_string(i), "v"}), kOk);
  }
  ASSERT_EQ(h.run({"SET", "other", "v", "PX", "10"}), kOk);
  h.advance_ms(20);  // "other" expired: never returned
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    Reply r = h.read({"SCAN", cursor, "MATCH", "key:*", "COUNT", "7"});
    ASSERT_EQ(r.kind, Reply::Kind::kArray) << r.text;
    cursor = r.elements[0].text;
    for (const auto& k : r.elements[1].elements) EXPECT_TRUE(seen.insert(k.text).second);
    ASSERT_LT(++calls, 100);
  } while (cursor != "0");
  EXPECT_EQ(seen.size(), 100u);
  Reply all = h.read({"SCAN", "0", "COUNT", "1000"});
  EXPECT_EQ(all.elements[0].text, "0");
  EXPECT_EQ(all.elements[1].elements.size(), 100u);
  EXPECT_EQ(h.read({"SCAN", "0", "TYPE", "hash"}).elements[1].elements.size(), 0u);
  EXPECT_EQ(h.read({"SCAN", "abc"}), error("ERR invalid cursor"));
  EXPECT_EQ(h.read({"SCAN", "0", "COUNT", "0"}), error("ERR syntax error"));
  EXPECT_EQ(h.read({"SCAN", "0", "COUNT"}), error("ERR syntax error"));
  EXPECT_EQ(h.read({"SCAN", "0", "COUNT", "x"}), error(kNotInteger));
  EXPECT_EQ(decode_scan_cursor(encode_scan_cursor(std::string("a\0\xff", 3))),
            std::string("a\0\xff", 3));
}

}  // namespace
}  // namespace raftkv::kv
