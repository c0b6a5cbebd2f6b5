#include "base/rng.h"

#include <gtest/gtest.h>

namespace raftkv {
namespace {

TEST(Rng, SameSeedSameSequence) {
  SeededRng a(99), b(99), c(100);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, UniformStaysInRangeAndCoversIt) {
  SeededRng r(1);
  int seen[10] = {};
  for (int i = 0; i < 10000; ++i) {
    uint64_t v = r.range(5, 14);
    ASSERT_GE(v, 5u);
    ASSERT_LE(v, 14u);
    seen[v - 5]++;
  }
  for (int count : seen) EXPECT_GT(count, 800);
}

}  // namespace
}  // namespace raftkv
