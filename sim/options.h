// What one simulated run is asked to do (SimOptions) and what it found (SimResult).
//
// A run is a pure function of its SimOptions: the same options give the same trace, the same
// statistics and the same verdict on every machine (the determinism test holds us to this).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::sim {

enum class FaultMode : uint8_t {
  kNone,    // reliable network (delays and reordering only), no crashes
  kNet,     // loss, duplication, delay spikes, symmetric and one-way partitions
  kCrash,   // crash/restart of nodes (unfinished writes are lost), reliable network otherwise
  kMember,  // membership changes (add learner, promote, remove, joint replace, re-add) and
            // wiped-disk restarts, reliable network otherwise
  kAll,     // all of the above
};

std::string_view fault_mode_name(FaultMode mode);
std::optional<FaultMode> parse_fault_mode(std::string_view text);
inline bool has_net_faults(FaultMode m) {
  return m == FaultMode::kNet || m == FaultMode::kAll;
}
inline bool has_crash_faults(FaultMode m) {
  return m == FaultMode::kCrash || m == FaultMode::kAll;
}
inline bool has_membership_faults(FaultMode m) {
  return m == FaultMode::kMember || m == FaultMode::kAll;
}

// Deliberate bugs the harness can plant to prove that the checker catches them.
enum class InjectedBug : uint8_t {
  kNone,
  kCorruptApply,  // node 1 applies a corrupted copy of one committed entry
  kStaleRead,     // reads are reported as served at a read index lowered to 0
};

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  FaultMode faults = FaultMode::kAll;
  // Simulator events (message deliveries, ticks, disk completions, client operations, faults)
  // processed in the fault phase. Every event is followed by all invariant checks. A healed
  // phase of fixed length follows.
  uint64_t steps = 12000;
  // Trace recording: when `trace_lines` > 0 the last that many lines are kept (0 with
  // `trace_all` keeps everything); `trace_to_stdout` prints every line as it happens.
  bool trace_all = false;
  size_t trace_lines = 0;
  bool trace_to_stdout = false;
  InjectedBug bug = InjectedBug::kNone;
};

struct SimStats {
  uint64_t steps = 0;    // events processed, both phases
  uint64_t commits = 0;  // highest committed index at the end of the run
  uint64_t acked_writes = 0;
  uint64_t reads = 0;      // ReadIndex reads served and checked
  uint64_t elections = 0;  // distinct (term, leader) pairs observed
  uint64_t crashes = 0;
  uint64_t snapshots_sent = 0;
  uint64_t messages = 0;      // network messages sent (before loss/duplication)
  uint64_t ticks = 0;         // simulated ticks of the longest-lived clock (whole run)
  uint64_t conf_changes = 0;  // membership changes applied by a leader (its own entries)
  uint64_t wipes = 0;         // restarts with an empty disk (a new incarnation)
  uint64_t readmissions = 0;  // re-admissions proposed by a leader's policy
  // Runs whose final membership had lost a majority of some configuration to wiped disks, so
  // that no leader can be elected without unsafe recovery: safety is checked, liveness is not.
  uint64_t unrecoverable = 0;

  void add(const SimStats& o) {
    steps += o.steps;
    commits += o.commits;
    acked_writes += o.acked_writes;
    reads += o.reads;
    elections += o.elections;
    crashes += o.crashes;
    snapshots_sent += o.snapshots_sent;
    messages += o.messages;
    ticks += o.ticks;
    conf_changes += o.conf_changes;
    wipes += o.wipes;
    readmissions += o.readmissions;
    unrecoverable += o.unrecoverable;
  }
};

struct SimResult {
  bool ok = true;
  std::string violation;  // the first broken invariant, named; empty when ok
  SimStats stats;
  std::vector<std::string> trace;  // as requested by SimOptions
};

// Runs one seeded cluster simulation to completion.
SimResult run_simulation(const SimOptions& options);

}  // namespace raftkv::sim
