// Injectable randomness. The Raft core and the simulator draw every random choice from an Rng
// they are given, so a seed replays a run exactly. Never use a global generator in the core.
#pragma once

#include <cstdint>

#include "base/assert.h"

namespace raftkv {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual uint64_t next_u64() = 0;

  // Uniform in [0, n). n must be > 0. (Lemire's multiply-shift; bias < 2^-64 * n.)
  uint64_t uniform(uint64_t n) {
    RAFTKV_ASSERT(n > 0, "uniform(0)");
    __extension__ using U128 = unsigned __int128;
    return static_cast<uint64_t>((static_cast<U128>(next_u64()) * n) >> 64);
  }
  // Uniform in [lo, hi]; requires lo <= hi.
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + uniform(hi - lo + 1); }
  // True with probability p (0..1).
  bool chance(double p) {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53 < p;
  }
};

// xoshiro256** seeded by splitmix64: fast, small state, deterministic across platforms.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
  }
  uint64_t next_u64() override {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

}  // namespace raftkv
