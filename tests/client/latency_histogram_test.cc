// LatencyHistogram: bucket geometry, percentile accuracy against exact sorted values, merge.
#include "client/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/rng.h"

namespace raftkv::client {
namespace {

TEST(LatencyHistogram, BucketsAreContiguousAndOrdered) {
  EXPECT_EQ(LatencyHistogram::bucket_lower(0), 0u);
  for (size_t i = 0; i + 1 < LatencyHistogram::kBucketCount; ++i) {
    ASSERT_EQ(LatencyHistogram::bucket_upper(i) + 1, LatencyHistogram::bucket_lower(i + 1)) << i;
  }
  EXPECT_EQ(LatencyHistogram::bucket_upper(LatencyHistogram::kBucketCount - 1), UINT64_MAX);
  for (uint64_t v : std::vector<uint64_t>{0, 1, 127, 128, 129, 1000, 123456789, UINT64_MAX}) {
    const size_t i = LatencyHistogram::bucket_index(v);
    EXPECT_LE(LatencyHistogram::bucket_lower(i), v);
    EXPECT_GE(LatencyHistogram::bucket_upper(i), v);
  }
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(0.5), 50u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.percentile(0.0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogram, PercentilesWithinRelativeErrorOfExact) {
  SeededRng rng(99);
  std::vector<uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 20000; ++i) {
    // Log-uniform from 1 µs to ~10 s in nanoseconds: exercises many octaves.
    const double exponent = 3.0 + 7.0 * static_cast<double>(rng.uniform(1'000'000)) / 1e6;
    const auto v = static_cast<uint64_t>(std::pow(10.0, exponent));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
    const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    const uint64_t exact = values[rank - 1];
    const uint64_t approx = h.percentile(q);
    EXPECT_GE(approx, exact) << q;
    EXPECT_LE(static_cast<double>(approx - exact), static_cast<double>(exact) / 64.0 + 1) << q;
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 0; v < 5000; v += 7) {
    (v % 2 == 0 ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {0.1, 0.5, 0.9, 0.999}) EXPECT_EQ(a.percentile(q), all.percentile(q));
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.percentile(0.99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

}  // namespace
}  // namespace raftkv::client
