#include "base/histogram.h"

#include <fmt/format.h>

namespace raftkv {

std::string LatencyHistogram::prometheus(const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::string out;
  uint64_t cumulative = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    cumulative += counts_[b].load(std::memory_order_relaxed);
    const std::string le =
        b < kBoundsUs.size() ? fmt::format("{}", static_cast<double>(kBoundsUs[b]) / 1e6) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n", name, braces,
                     static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  out += fmt::format("{}_count{} {}\n", name, braces, cumulative);
  return out;
}

std::string SizeHistogram::prometheus(const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::string out;
  uint64_t cumulative = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    cumulative += counts_[b].load(std::memory_order_relaxed);
    const std::string le = b < kBuckets ? fmt::format("{}", bound(b)) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n", name, braces, sum_.load(std::memory_order_relaxed));
  out += fmt::format("{}_count{} {}\n", name, braces, cumulative);
  return out;
}

}  // namespace raftkv
