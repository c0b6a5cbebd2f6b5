// At most one log line per interval for a kind of event that a stranger can cause at will
// (refused handshakes, bad connections), with how many were left out: so that a flood of bad
// input costs a counter increment, not a disk full of log.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace raftkv {

class LogLimiter {
 public:
  // Up to `burst` lines in each `interval` (a window that starts at its first line).
  explicit LogLimiter(std::chrono::steady_clock::duration interval = std::chrono::seconds(1),
                      uint32_t burst = 1)
      : interval_(interval), burst_(burst) {}

  // nullopt: do not log this one (it is counted). Otherwise log it, followed by the returned
  // suffix: "" or " (N more since the last such line)".
  std::optional<std::string> admit(
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    std::lock_guard lock(mu_);
    if (!started_ || now - window_start_ >= interval_) {
      started_ = true;
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= burst_) {
      ++left_out_;
      return std::nullopt;
    }
    ++in_window_;
    std::string suffix = left_out_ == 0
                             ? std::string()
                             : fmt::format(" ({} more since the last such line)", left_out_);
    left_out_ = 0;
    return suffix;
  }

 private:
  const std::chrono::steady_clock::duration interval_;
  const uint32_t burst_;
  std::mutex mu_;
  bool started_ = false;
  std::chrono::steady_clock::time_point window_start_;
  uint32_t in_window_ = 0;
  uint64_t left_out_ = 0;
};

}  // namespace raftkv
