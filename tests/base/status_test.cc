#include "base/status.h"

#include <gtest/gtest.h>

namespace raftkv {
namespace {

TEST(Status, OkAndError) {
  EXPECT_TRUE(Status::ok().is_ok());
  Status s(ErrorCode::kNotLeader, "leader is 3");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.to_string(), "not leader: leader is 3");
}

TEST(Result, ValueOrError) {
  Result<int> r(42);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, 42);
  Result<int> e(ErrorCode::kCompacted, "gone");
  EXPECT_FALSE(e.is_ok());
  EXPECT_EQ(e.code(), ErrorCode::kCompacted);
  EXPECT_EQ(e.status().message(), "gone");
}

TEST(ResultDeathTest, ValueOfErrorStopsWithInvariantMessage) {
  Result<int> e(ErrorCode::kCompacted, "gone");
  EXPECT_DEATH((void)e.value(), "invariant violated.*compacted: gone");
}

}  // namespace
}  // namespace raftkv
