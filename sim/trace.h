// The run's event trace: one line per event that matters (deliveries, drops, crashes, role
// changes, commits, client operations). Lines are formatted only when tracing is on, so a
// sweep over many seeds pays nothing; a failing seed is re-run with tracing to print its tail.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace raftkv::sim {

// Simulated time in microseconds since the start of the run.
using SimTime = uint64_t;

class Trace {
 public:
  // keep_all: keep every line; otherwise keep the last `keep_lines` (0 = record nothing).
  Trace(bool keep_all, size_t keep_lines, bool to_stdout)
      : keep_all_(keep_all), keep_lines_(keep_lines), to_stdout_(to_stdout) {}

  bool enabled() const { return keep_all_ || keep_lines_ > 0 || to_stdout_; }

  template <typename... Args>
  void log(SimTime at, fmt::format_string<Args...> f, Args&&... args) {
    if (!enabled()) return;
    add(fmt::format("{:>10.3f}ms {}", static_cast<double>(at) / 1000.0,
                    fmt::format(f, std::forward<Args>(args)...)));
  }

  std::vector<std::string> take_lines() { return {lines_.begin(), lines_.end()}; }

 private:
  void add(std::string line) {
    if (to_stdout_) fmt::print("{}\n", line);
    if (!keep_all_ && keep_lines_ == 0) return;
    lines_.push_back(std::move(line));
    if (!keep_all_ && lines_.size() > keep_lines_) lines_.pop_front();
  }

  bool keep_all_;
  size_t keep_lines_;
  bool to_stdout_;
  std::deque<std::string> lines_;
};

}  // namespace raftkv::sim
