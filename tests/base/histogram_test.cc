#include "base/histogram.h"

#include <gtest/gtest.h>

namespace raftkv {
namespace {

TEST(LatencyHistogram, BucketsAreCumulativeAndInSeconds) {
  LatencyHistogram h;
  h.record(std::chrono::microseconds(40));   // le 50us
  h.record(std::chrono::microseconds(700));  // le 1ms
  h.record(std::chrono::milliseconds(3));    // le 5ms
  h.record(std::chrono::seconds(30));        // +Inf
  EXPECT_EQ(h.count(), 4u);
  const std::string text = h.prometheus("x_seconds", "command=\"get\"");
  EXPECT_NE(text.find("x_seconds_bucket{command=\"get\",le=\"5e-05\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("x_seconds_bucket{command=\"get\",le=\"0.001\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{command=\"get\",le=\"0.005\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{command=\"get\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_count{command=\"get\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_sum{command=\"get\"} 30.00374\n"), std::string::npos) << text;
}

TEST(LatencyHistogram, NoLabels) {
  LatencyHistogram h;
  h.record(std::chrono::microseconds(10));
  const std::string text = h.prometheus("y", "");
  EXPECT_NE(text.find("y_bucket{le=\"5e-05\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("y_count 1\n"), std::string::npos);
}

}  // namespace
}  // namespace raftkv
