#include "base/log_limiter.h"

#include <gtest/gtest.h>

namespace raftkv {
namespace {

using namespace std::chrono_literals;

TEST(LogLimiter, OneLineAnIntervalThenSaysHowManyWereLeftOut) {
  LogLimiter limiter(1s);
  const auto t0 = std::chrono::steady_clock::time_point() + 100s;
  EXPECT_EQ(limiter.admit(t0), "");
  EXPECT_EQ(limiter.admit(t0 + 10ms), std::nullopt);
  EXPECT_EQ(limiter.admit(t0 + 999ms), std::nullopt);
  EXPECT_EQ(limiter.admit(t0 + 1s), " (2 more since the last such line)");
  EXPECT_EQ(limiter.admit(t0 + 3s), "");
}

TEST(LogLimiter, ABurstPerInterval) {
  LogLimiter limiter(1s, 3);
  const auto t0 = std::chrono::steady_clock::time_point() + 100s;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.admit(t0 + i * 1ms), "");
  EXPECT_EQ(limiter.admit(t0 + 5ms), std::nullopt);
  EXPECT_EQ(limiter.admit(t0 + 1001ms), " (1 more since the last such line)");
}

}  // namespace
}  // namespace raftkv
