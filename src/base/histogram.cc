#include "base/histogram.h"

#include <fmt/format.h>

namespace raftkv {
namespace {

// Prometheus histogram samples: cumulative buckets (`le(b)` names bucket b's bound; the last
// bucket is +Inf), then _sum and _count.
template <size_t N, typename BoundLabel>
std::string render(const std::string& name, const std::string& labels,
                   const std::array<std::atomic<uint64_t>, N>& counts, BoundLabel le,
                   const std::string& sum) {
  const std::string sep = labels.empty() ? "" : ",";
  std::string out;
  uint64_t cumulative = 0;
  for (size_t b = 0; b < N; ++b) {
    cumulative += counts[b].load(std::memory_order_relaxed);
    const std::string bound = b + 1 < N ? le(b) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bound, cumulative);
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n", name, braces, sum);
  out += fmt::format("{}_count{} {}\n", name, braces, cumulative);
  return out;
}

}  // namespace

std::string LatencyHistogram::prometheus(const std::string& name, const std::string& labels) const {
  return render(
      name, labels, samples_.counts,
      [](size_t b) { return fmt::format("{}", static_cast<double>(kBoundsUs[b]) / 1e6); },
      fmt::format("{}", static_cast<double>(samples_.sum.load(std::memory_order_relaxed)) / 1e6));
}

std::string SizeHistogram::prometheus(const std::string& name, const std::string& labels) const {
  return render(
      name, labels, samples_.counts, [](size_t b) { return fmt::format("{}", bound(b)); },
      fmt::format("{}", samples_.sum.load(std::memory_order_relaxed)));
}

}  // namespace raftkv
