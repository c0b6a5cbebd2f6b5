// Fixed-bucket histograms for metrics (latencies in seconds, sizes in bytes): lock-free to
// record from any thread, rendered in the Prometheus text format (cumulative buckets, sum and
// count).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace raftkv {

// The samples of a histogram with N buckets: a count per bucket and the sum of the values.
template <size_t N>
struct BucketCounts {
  void add(size_t bucket, uint64_t value) {
    counts[bucket].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(value, std::memory_order_relaxed);
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (const auto& c : counts) n += c.load(std::memory_order_relaxed);
    return n;
  }

  std::array<std::atomic<uint64_t>, N> counts{};
  std::atomic<uint64_t> sum{0};
};

class LatencyHistogram {
 public:
  // Upper bounds in microseconds; a last implicit bucket is +Inf.
  static constexpr std::array<uint64_t, 16> kBoundsUs = {
      50,     100,    250,     500,     1'000,   2'500,     5'000,     10'000,
      25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000};

  void record(std::chrono::nanoseconds d) {
    const uint64_t us = static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()) / 1000;
    size_t b = 0;
    while (b < kBoundsUs.size() && us > kBoundsUs[b]) ++b;
    samples_.add(b, us);
  }
  uint64_t count() const { return samples_.count(); }
  // "# HELP/# TYPE" lines are the caller's; this renders the samples of one series.
  // `labels` is either empty or like `command="get"` (no braces).
  std::string prometheus(const std::string& name, const std::string& labels) const;

 private:
  BucketCounts<kBoundsUs.size() + 1> samples_;  // sum in microseconds
};

// Sizes in bytes: buckets at 4 KiB × 4^k up to 64 GiB.
class SizeHistogram {
 public:
  static constexpr size_t kBuckets = 13;
  static constexpr uint64_t bound(size_t b) { return uint64_t{4096} << (2 * b); }

  void record(uint64_t bytes) {
    size_t b = 0;
    while (b < kBuckets && bytes > bound(b)) ++b;
    samples_.add(b, bytes);
  }
  uint64_t count() const { return samples_.count(); }
  std::string prometheus(const std::string& name, const std::string& labels) const;

 private:
  BucketCounts<kBuckets + 1> samples_;
};

}  // namespace raftkv
