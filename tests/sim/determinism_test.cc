// A seed is a complete bug report only if it replays exactly: the same options must give the
// same trace, event for event, and the same statistics.
#include <gtest/gtest.h>

#include "sim/options.h"

namespace raftkv::sim {
namespace {

SimResult traced_run(uint64_t seed, int nodes, FaultMode faults) {
  SimOptions o;
  o.seed = seed;
  o.nodes = nodes;
  o.faults = faults;
  o.steps = 4000;
  o.trace_all = true;
  return run_simulation(o);
}

TEST(SimDeterminism, SameSeedReplaysTheSameTrace) {
  for (FaultMode faults : {FaultMode::kAll, FaultMode::kMember, FaultMode::kNone}) {
    const SimResult a = traced_run(4242, 5, faults);
    const SimResult b = traced_run(4242, 5, faults);
    ASSERT_TRUE(a.ok) << a.violation;
    ASSERT_GT(a.trace.size(), 1000u);
    ASSERT_EQ(a.trace.size(), b.trace.size());
    for (size_t i = 0; i < a.trace.size(); ++i) {
      ASSERT_EQ(a.trace[i], b.trace[i]) << "traces diverge at line " << i;
    }
    EXPECT_EQ(a.stats.steps, b.stats.steps);
    EXPECT_EQ(a.stats.commits, b.stats.commits);
    EXPECT_EQ(a.stats.messages, b.stats.messages);
    EXPECT_GT(a.stats.commits, 0u);
  }
}

TEST(SimDeterminism, DifferentSeedsExploreDifferentSchedules) {
  const SimResult a = traced_run(1, 3, FaultMode::kAll);
  const SimResult b = traced_run(2, 3, FaultMode::kAll);
  EXPECT_NE(a.trace, b.trace);
}

TEST(SimDeterminism, TracingDoesNotChangeTheRun) {
  SimOptions o;
  o.seed = 99;
  o.nodes = 3;
  o.faults = FaultMode::kAll;
  o.steps = 4000;
  const SimResult quiet = run_simulation(o);
  o.trace_lines = 10;
  const SimResult traced = run_simulation(o);
  EXPECT_EQ(quiet.stats.steps, traced.stats.steps);
  EXPECT_EQ(quiet.stats.messages, traced.stats.messages);
  EXPECT_EQ(quiet.stats.commits, traced.stats.commits);
  EXPECT_EQ(traced.trace.size(), 10u);
}

}  // namespace
}  // namespace raftkv::sim
