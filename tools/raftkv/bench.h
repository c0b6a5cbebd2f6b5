// `raftkv bench`: closed-loop load from N client threads (each its own Client), a mix of GET and
// SET over a key space, bounded by a duration and optionally an operation count.
//
// Each thread: pick key "key:<uniform(keys)>"; with probability write_ratio SET it to a value of
// value_size bytes, else GET it; time the call (steady clock) into its own LatencyHistogram.
// A failed call counts as an error (its latency is not recorded). The histograms are merged at
// the end. Progress (ops so far, overall and last-second ops/s) goes to a callback once a second.
//
// Thread-safety: run_bench() is called from one thread; it starts and joins the workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/address.h"
#include "client/latency_histogram.h"

namespace raftkv::cli {

struct BenchOptions {
  std::vector<client::HostPort> addrs;
  int clients = 16;
  double duration_s = 10;
  uint64_t value_size = 100;
  uint64_t keys = 10000;
  double write_ratio = 0.5;
  uint64_t max_ops = 0;  // 0: unbounded (duration only)
  bool sessions = true;
  uint64_t seed = 1;  // worker i uses seed + i
  std::chrono::milliseconds call_timeout{5000};
};

struct BenchProgress {
  double elapsed_s = 0;
  uint64_t ops = 0;
  uint64_t errors = 0;
  double ops_per_s_overall = 0;
  double ops_per_s_last = 0;
};

struct BenchReport {
  BenchOptions options;
  double elapsed_s = 0;
  uint64_t ops = 0;  // successful calls
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t errors = 0;  // failed calls
  std::string first_error;
  client::LatencyHistogram latency_ns;

  double throughput() const { return elapsed_s > 0 ? static_cast<double>(ops) / elapsed_s : 0; }
};

// Checks ranges: clients 1..1024, duration > 0, keys >= 1, write_ratio in [0,1],
// value_size <= 512 MiB, addrs non-empty.
Status validate_bench_options(const BenchOptions& options);

BenchReport run_bench(const BenchOptions& options,
                      const std::function<void(const BenchProgress&)>& on_progress);

std::string format_progress(const BenchProgress& progress);
std::string format_report(const BenchReport& report);
nlohmann::json report_to_json(const BenchReport& report);

}  // namespace raftkv::cli
