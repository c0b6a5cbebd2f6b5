#include "client/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace raftkv::client {

size_t LatencyHistogram::bucket_index(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  const int msb = 63 - std::countl_zero(value);
  const int shift = msb - kSubBucketBits;
  return static_cast<size_t>(static_cast<uint64_t>(shift) * kSubBuckets + (value >> shift));
}

uint64_t LatencyHistogram::bucket_lower(size_t index) {
  const uint64_t shift = index < kSubBuckets ? 0 : index / kSubBuckets - 1;
  const uint64_t mantissa = index - shift * kSubBuckets;
  return mantissa << shift;
}

uint64_t LatencyHistogram::bucket_upper(size_t index) {
  if (index + 1 >= kBucketCount) return UINT64_MAX;
  return bucket_lower(index + 1) - 1;
}

void LatencyHistogram::record(uint64_t value) {
  ++buckets_[bucket_index(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::percentile(double quantile) const {
  if (count_ == 0) return 0;
  quantile = std::clamp(quantile, 0.0, 1.0);
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(quantile * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(bucket_upper(i), min_, max_);
  }
  return max_;
}

}  // namespace raftkv::client
