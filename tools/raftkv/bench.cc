#include "bench.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "base/rng.h"
#include "client/client.h"

namespace raftkv::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct WorkerResult {
  uint64_t ops = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t errors = 0;
  std::string first_error;
  client::LatencyHistogram latency_ns;
};

// Shared between the coordinator and the workers.
struct SharedState {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> issued{0};     // claimed operations (for max_ops)
  std::atomic<uint64_t> completed{0};  // successful + failed
  std::atomic<uint64_t> errors{0};
  std::atomic<int> running{0};
  std::mutex mutex;
  std::condition_variable all_done;  // signalled when running reaches 0
};

void run_worker(const BenchOptions& options, int index, SharedState& shared, WorkerResult& out) {
  client::ClientOptions client_options;
  client_options.seeds = options.addrs;
  client_options.sessions = options.sessions;
  client_options.call_timeout = options.call_timeout;
  auto rng = std::make_unique<SeededRng>(options.seed + static_cast<uint64_t>(index));
  SeededRng choices(options.seed * 1000003 + static_cast<uint64_t>(index));
  client::Client client(client_options, std::move(rng));
  const std::string value(options.value_size, 'x');
  while (!shared.stop.load(std::memory_order_relaxed)) {
    if (options.max_ops > 0 &&
        shared.issued.fetch_add(1, std::memory_order_relaxed) >= options.max_ops) {
      break;
    }
    const std::string key = "key:" + std::to_string(choices.uniform(options.keys));
    const bool write = choices.chance(options.write_ratio);
    const auto start = SteadyClock::now();
    const Status status = write ? client.set(key, value) : client.get(key).status();
    const auto elapsed = SteadyClock::now() - start;
    if (status) {
      ++out.ops;
      ++(write ? out.writes : out.reads);
      out.latency_ns.record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
    } else {
      ++out.errors;
      shared.errors.fetch_add(1, std::memory_order_relaxed);
      if (out.first_error.empty()) out.first_error = status.to_string();
    }
    shared.completed.fetch_add(1, std::memory_order_relaxed);
  }
  std::lock_guard lock(shared.mutex);
  if (--shared.running == 0) shared.all_done.notify_all();
}

}  // namespace

Status validate_bench_options(const BenchOptions& o) {
  auto invalid = [](std::string m) { return Status(ErrorCode::kInvalidArgument, std::move(m)); };
  if (o.addrs.empty()) return invalid("--addrs: at least one address");
  if (o.clients < 1 || o.clients > 1024) return invalid("--clients must be 1..1024");
  if (!(o.duration_s > 0)) return invalid("--duration must be > 0 seconds");
  if (o.keys < 1) return invalid("--keys must be >= 1");
  if (!(o.write_ratio >= 0 && o.write_ratio <= 1)) return invalid("--write-ratio must be 0..1");
  if (o.value_size > 512ull * 1024 * 1024) return invalid("--value-size must be <= 512 MiB");
  return Status::ok();
}

BenchReport run_bench(const BenchOptions& options,
                      const std::function<void(const BenchProgress&)>& on_progress) {
  SharedState shared;
  std::vector<WorkerResult> results(static_cast<size_t>(options.clients));
  std::vector<std::thread> workers;
  shared.running = options.clients;
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(options.duration_s));
  for (int i = 0; i < options.clients; ++i) {
    workers.emplace_back(
        [&, i] { run_worker(options, i, shared, results[static_cast<size_t>(i)]); });
  }
  // Coordinator: wake once a second for progress; stop at the end time or when every worker
  // finished (max_ops reached).
  uint64_t last_completed = 0;
  auto last_tick = start;
  {
    std::unique_lock lock(shared.mutex);
    while (shared.running > 0) {
      const auto next_tick = std::min(end, last_tick + std::chrono::seconds(1));
      shared.all_done.wait_until(lock, next_tick, [&] { return shared.running == 0; });
      const auto now = SteadyClock::now();
      if (now >= next_tick && shared.running > 0 && on_progress) {
        const uint64_t completed = shared.completed.load(std::memory_order_relaxed);
        BenchProgress progress;
        progress.elapsed_s = std::chrono::duration<double>(now - start).count();
        progress.ops = completed;
        progress.errors = shared.errors.load(std::memory_order_relaxed);
        progress.ops_per_s_overall = static_cast<double>(completed) / progress.elapsed_s;
        progress.ops_per_s_last = static_cast<double>(completed - last_completed) /
                                  std::chrono::duration<double>(now - last_tick).count();
        last_completed = completed;
        last_tick = now;
        lock.unlock();
        on_progress(progress);
        lock.lock();
      } else if (now >= next_tick) {
        last_tick = now;
      }
      if (now >= end) {
        shared.stop = true;
        break;
      }
    }
  }
  for (auto& worker : workers) worker.join();
  BenchReport report;
  report.options = options;
  report.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (auto& r : results) {
    report.ops += r.ops;
    report.reads += r.reads;
    report.writes += r.writes;
    report.errors += r.errors;
    if (report.first_error.empty()) report.first_error = r.first_error;
    report.latency_ns.merge(r.latency_ns);
  }
  return report;
}

std::string format_progress(const BenchProgress& p) {
  return fmt::format("[{:5.1f}s] {} ops, {:.0f} ops/s (last second {:.0f} ops/s), {} errors",
                     p.elapsed_s, p.ops, p.ops_per_s_overall, p.ops_per_s_last, p.errors);
}

namespace {
double us(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}
}  // namespace

std::string format_report(const BenchReport& r) {
  const auto& h = r.latency_ns;
  std::string out = fmt::format(
      "clients {}  value {} B  keys {}  write ratio {:.2f}  sessions {}\n"
      "{} ops in {:.2f} s: {:.0f} ops/s ({} reads, {} writes), {} errors\n"
      "latency us: p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}\n",
      r.options.clients, r.options.value_size, r.options.keys, r.options.write_ratio,
      r.options.sessions ? "on" : "off", r.ops, r.elapsed_s, r.throughput(), r.reads, r.writes,
      r.errors, us(h.percentile(0.5)), us(h.percentile(0.9)), us(h.percentile(0.99)),
      us(h.percentile(0.999)), us(h.max()), h.mean() / 1000.0);
  if (!r.first_error.empty()) out += "first error: " + r.first_error + "\n";
  return out;
}

nlohmann::json report_to_json(const BenchReport& r) {
  const auto& h = r.latency_ns;
  std::vector<std::string> addrs;
  for (const auto& a : r.options.addrs) addrs.push_back(a.to_string());
  return nlohmann::json{
      {"addrs", addrs},
      {"clients", r.options.clients},
      {"duration_s", r.options.duration_s},
      {"value_size", r.options.value_size},
      {"keys", r.options.keys},
      {"write_ratio", r.options.write_ratio},
      {"sessions", r.options.sessions},
      {"elapsed_s", r.elapsed_s},
      {"ops", r.ops},
      {"reads", r.reads},
      {"writes", r.writes},
      {"errors", r.errors},
      {"first_error", r.first_error},
      {"throughput_ops_per_s", r.throughput()},
      {"latency_us",
       {{"p50", us(h.percentile(0.5))},
        {"p90", us(h.percentile(0.9))},
        {"p99", us(h.percentile(0.99))},
        {"p999", us(h.percentile(0.999))},
        {"max", us(h.max())},
        {"mean", h.mean() / 1000.0}}},
  };
}

}  // namespace raftkv::cli
