// Injectable time. Nothing in the Raft core reads a clock: the core sees time only as tick().
// Components outside the core (drivers, storage, clients) take a Clock so tests control time.
#pragma once

#include <chrono>
#include <cstdint>

namespace raftkv {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
  virtual ~Clock() = default;
  // Monotonic time; never goes backwards.
  virtual TimePoint now() const = 0;
};

// The process's monotonic clock.
class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told. Single-threaded use.
class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }

 private:
  TimePoint now_{};
};

}  // namespace raftkv
