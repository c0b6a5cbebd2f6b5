#include <gtest/gtest.h>

#include "kv/glob.h"

namespace raftkv::kv {
namespace {

TEST(Glob, RedisPatterns) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "heeeello"));
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(glob_match("h[b-a]llo", "hallo"));
  EXPECT_TRUE(glob_match("h\\*llo", "h*llo"));
  EXPECT_FALSE(glob_match("h\\*llo", "hello"));
  EXPECT_TRUE(glob_match("user:*:name", "user:42:name"));
  EXPECT_FALSE(glob_match("user:*:name", "user:42:age"));
  EXPECT_TRUE(glob_match("*a*b", "xaxxb"));
  EXPECT_FALSE(glob_match("a*a*a*a*a*a*a*a*b", std::string(200, 'a')));  // no blow-up
}

}  // namespace
}  // namespace raftkv::kv
