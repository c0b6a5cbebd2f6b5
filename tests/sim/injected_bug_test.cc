// The whole pipeline (cluster -> checker) must catch a planted bug, not just the checker in
// isolation: a run with a corrupted apply or a stale read must report the broken guarantee.
#include <gtest/gtest.h>

#include "sim/options.h"

namespace raftkv::sim {
namespace {

SimResult run_with_bug(uint64_t seed, InjectedBug bug) {
  SimOptions o;
  o.seed = seed;
  o.nodes = 3;
  o.faults = FaultMode::kNone;
  o.steps = 6000;
  o.bug = bug;
  return run_simulation(o);
}

TEST(SimInjectedBug, CorruptedApplyIsCaught) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const SimResult r = run_with_bug(seed, InjectedBug::kCorruptApply);
    EXPECT_FALSE(r.ok) << "seed " << seed;
    EXPECT_NE(r.violation.find("state machine safety"), std::string::npos)
        << "seed " << seed << ": " << r.violation;
  }
}

TEST(SimInjectedBug, StaleReadIsCaught) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const SimResult r = run_with_bug(seed, InjectedBug::kStaleRead);
    EXPECT_FALSE(r.ok) << "seed " << seed;
    EXPECT_NE(r.violation.find("linearizable read"), std::string::npos)
        << "seed " << seed << ": " << r.violation;
  }
}

TEST(SimInjectedBug, SameSeedsPassWithoutTheBug) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const SimResult r = run_with_bug(seed, InjectedBug::kNone);
    EXPECT_TRUE(r.ok) << "seed " << seed << ": " << r.violation;
  }
}

}  // namespace
}  // namespace raftkv::sim
