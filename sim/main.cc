// raftkv-sim: runs seeded cluster simulations of the Raft core and reports violations.
//
//   raftkv-sim --seeds 100000 --first-seed 1 --nodes 5 --faults all     search many seeds
//   raftkv-sim --seed 4242 --nodes 5 --faults all --trace               replay one run exactly
//
// Prints one summary line; on a violation also the failing seed, the broken invariant and the
// last part of that run's trace (the run is replayed with tracing on: a seed is a complete bug
// report). Exits 1 on any violation, 2 on bad usage.
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "base/log.h"
#include "sim/options.h"

namespace {

using raftkv::sim::FaultMode;
using raftkv::sim::InjectedBug;
using raftkv::sim::SimOptions;
using raftkv::sim::SimResult;
using raftkv::sim::SimStats;

// The seed each thread is running, so that a core assertion (which aborts) names it.
thread_local uint64_t current_seed = 0;
thread_local bool running = false;

void on_abort(int) {
  if (!running) return;
  char buf[96];
  char digits[24];
  int nd = 0;
  uint64_t v = current_seed;
  do {
    digits[nd++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && nd < 24);
  const char prefix[] = "\nraftkv-sim: aborted while running seed ";
  size_t len = 0;
  std::memcpy(buf, prefix, sizeof(prefix) - 1);
  len = sizeof(prefix) - 1;
  while (nd > 0) buf[len++] = digits[--nd];
  buf[len++] = '\n';
  (void)!write(STDERR_FILENO, buf, len);
}

struct Failure {
  uint64_t seed;
  std::string violation;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raftkv-sim: deterministic cluster simulation of the Raft core"};
  uint64_t seeds = 100;
  uint64_t first_seed = 1;
  std::optional<uint64_t> one_seed;
  int nodes = 3;
  std::string faults = "all";
  uint64_t steps = SimOptions{}.steps;
  bool trace = false;
  size_t trace_tail = 80;
  unsigned jobs = 1;
  std::string log_level = "off";
  std::string bug = "none";
  size_t show = 20;
  app.add_option("--seeds", seeds, "number of seeds to run")->check(CLI::PositiveNumber);
  app.add_option("--first-seed", first_seed, "first seed of the range");
  app.add_option("--seed", one_seed, "run exactly this seed (same as --seeds 1 --first-seed S)");
  app.add_option("--nodes", nodes, "cluster size")->check(CLI::IsMember({1, 3, 5, 7}));
  app.add_option("--faults", faults, "fault mode")
      ->check(CLI::IsMember({"none", "net", "crash", "member", "all"}));
  app.add_option("--steps", steps, "simulator events in the fault phase of each run")
      ->check(CLI::PositiveNumber);
  app.add_flag("--trace", trace, "print every event of each run as it happens");
  app.add_option("--trace-tail", trace_tail, "trace lines printed for a failing seed");
  app.add_option("--jobs", jobs, "runs in parallel (threads)")->check(CLI::Range(1u, 64u));
  app.add_option("--log-level", log_level, "Raft core log level (trace..off)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--inject-bug", bug, "plant a bug to see the checker catch it")
      ->check(CLI::IsMember({"none", "corrupt-apply", "stale-read"}));
  app.add_option("--show", show, "failing seeds listed (with their violation)");
  CLI11_PARSE(app, argc, argv);

  if (one_seed) {
    first_seed = *one_seed;
    seeds = 1;
  }
  raftkv::LogLevel level = raftkv::LogLevel::kOff;
  raftkv::parse_log_level(log_level, &level);
  raftkv::set_log_level(level);

  SimOptions base;
  base.nodes = nodes;
  base.faults = *raftkv::sim::parse_fault_mode(faults);
  base.steps = steps;
  base.trace_to_stdout = trace;
  base.bug = bug == "corrupt-apply" ? InjectedBug::kCorruptApply
             : bug == "stale-read"  ? InjectedBug::kStaleRead
                                    : InjectedBug::kNone;
  if (trace) jobs = 1;

  struct sigaction sa {};
  sa.sa_handler = on_abort;
  sigaction(SIGABRT, &sa, nullptr);

  const auto start = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  SimStats total;
  std::vector<Failure> failures;
  auto worker = [&] {
    SimStats local;
    std::vector<Failure> local_failures;
    for (uint64_t k = next++; k < seeds; k = next++) {
      SimOptions o = base;
      o.seed = first_seed + k;
      current_seed = o.seed;
      running = true;
      const SimResult r = raftkv::sim::run_simulation(o);
      running = false;
      local.add(r.stats);
      if (!r.ok) local_failures.push_back(Failure{o.seed, r.violation});
    }
    std::lock_guard lock(mu);
    total.add(local);
    failures.insert(failures.end(), local_failures.begin(), local_failures.end());
  };
  std::vector<std::thread> threads;
  for (unsigned j = 1; j < jobs; ++j) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(failures.begin(), failures.end(),
            [](const Failure& a, const Failure& b) { return a.seed < b.seed; });

  for (size_t i = 0; i < failures.size() && i < show; ++i) {
    fmt::print("VIOLATION seed={}: {}\n", failures[i].seed, failures[i].violation);
  }
  if (!failures.empty() && !trace) {
    // Replay the first failing seed with tracing on and print the tail of its trace.
    SimOptions o = base;
    o.seed = failures.front().seed;
    o.trace_lines = trace_tail;
    const SimResult r = raftkv::sim::run_simulation(o);
    fmt::print("--- last {} trace lines of seed {} ---\n", r.trace.size(), o.seed);
    for (const std::string& line : r.trace) fmt::print("{}\n", line);
    if (r.violation != failures.front().violation) {
      fmt::print("NOTE: the replay did not reproduce the violation (nondeterminism bug)\n");
    }
    fmt::print("replay: {} --seed {} --nodes {} --faults {} --steps {} --trace\n", argv[0], o.seed,
               nodes, faults, steps);
  }
  fmt::print(
      "seeds={} violations={} nodes={} faults={} steps={} commits={} acked={} reads={} "
      "elections={} crashes={} snapshots={} messages={} events={} conf_changes={} wipes={} "
      "readmissions={} unrecoverable={} time={:.1f}s\n",
      seeds, failures.size(), nodes, faults, steps, total.commits, total.acked_writes, total.reads,
      total.elections, total.crashes, total.snapshots_sent, total.messages, total.steps,
      total.conf_changes, total.wipes, total.readmissions, total.unrecoverable, seconds);
  return failures.empty() ? 0 : 1;
}
