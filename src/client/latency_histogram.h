// A log-bucketed latency histogram in the manner of HdrHistogram: values below 128 are exact;
// above, each power-of-two range is split into 64 equal sub-buckets, so a reported percentile
// is within 1/64 (1.6%) of a true recorded value. Fixed size (3776 buckets of 64 bits, ~30 KiB),
// no allocation after construction, O(1) record.
//
// Bucket index of v: v < 128 → v; else with shift = floor(log2 v) - 6, index = 64*shift +
// (v >> shift). Bucket i covers [lower(i), upper(i)], contiguous and ordered by i.
//
// Thread-safety: none. Give each thread its own histogram and merge() them at the end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace raftkv::client {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 6;
  static constexpr uint64_t kSubBuckets = 1ull << kSubBucketBits;  // 64
  static constexpr size_t kBucketCount = (64 - kSubBucketBits) * kSubBuckets + kSubBuckets;

  void record(uint64_t value);
  void merge(const LatencyHistogram& other);
  void reset() { *this = LatencyHistogram(); }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }
  // The smallest recorded-bucket bound v such that at least quantile*count values are <= v
  // (the bucket's upper bound, clamped to max()). quantile in [0, 1]; 0 when empty.
  uint64_t percentile(double quantile) const;

  static size_t bucket_index(uint64_t value);
  static uint64_t bucket_lower(size_t index);
  static uint64_t bucket_upper(size_t index);

 private:
  std::array<uint64_t, kBucketCount> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;  // wraps only after ~584 years of nanoseconds
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace raftkv::client
