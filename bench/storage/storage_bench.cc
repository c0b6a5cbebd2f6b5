// storage_bench: WAL group-commit throughput beside the raw fsync rate of the same disk,
// measured in the same run.
//   BM_RawFdatasync4KiB      4 KiB pwrite + fdatasync loop on a preallocated file (reference)
//   BM_WalGroupCommit/A/S    A concurrent appenders, each appending one S-byte entry and
//                            waiting until it is durable, for a fixed wall time
// Counters: appends_per_s, MB_per_s, fsyncs_per_s (WAL fdatasyncs), appends_per_fsync, and
// raw_fsyncs_per_s (the reference, measured once per run) on every row for comparison.
// Files go to $RAFTKV_BENCH_DIR or /tmp.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "storage/wal.h"

namespace raftkv::storage {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRunTime = std::chrono::milliseconds(1500);

std::string make_temp_dir() {
  const char* base = std::getenv("RAFTKV_BENCH_DIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/raftkv-storage-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

// 4 KiB pwrite + fdatasync for `duration`; returns fsyncs per second.
double measure_raw_fsync_rate(std::chrono::milliseconds duration) {
  const std::string dir = make_temp_dir();
  const std::string path = dir + "/raw";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::posix_fallocate(fd, 0, 64 << 20) != 0) std::abort();
  const std::string block(4096, 'x');
  uint64_t count = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < duration) {
    const off_t offset = static_cast<off_t>((count % (16 << 10)) * 4096);
    if (::pwrite(fd, block.data(), block.size(), offset) != 4096) std::abort();
    if (::fdatasync(fd) != 0) std::abort();
    ++count;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  std::filesystem::remove_all(dir);
  return static_cast<double>(count) / seconds;
}

double raw_fsync_rate() {
  static const double rate = measure_raw_fsync_rate(std::chrono::milliseconds(1000));
  return rate;
}

void BM_RawFdatasync4KiB(benchmark::State& state) {
  for (auto _ : state) {
    const double rate = measure_raw_fsync_rate(kRunTime);
    state.SetIterationTime(std::chrono::duration<double>(kRunTime).count());
    state.counters["raw_fsyncs_per_s"] = rate;
    state.counters["MB_per_s"] = rate * 4096 / 1e6;
  }
}

void BM_WalGroupCommit(benchmark::State& state) {
  const int appenders = static_cast<int>(state.range(0));
  const size_t entry_bytes = static_cast<size_t>(state.range(1));
  const double raw = raw_fsync_rate();
  for (auto _ : state) {
    const std::string dir = make_temp_dir();
    auto wal_or = Wal::open(posix_file_system(), dir, WalOptions{});
    if (!wal_or) {
      state.SkipWithError(wal_or.status().to_string().c_str());
      return;
    }
    Wal& wal = **wal_or;
    std::mutex index_mu;  // Raft assigns indexes in order; appends are serialized anyway
    uint64_t next_index = 1;
    std::atomic<uint64_t> completed{0};
    const std::string payload(entry_bytes, 'v');
    const uint64_t syncs_before = wal.stats().syncs;
    const auto start = Clock::now();
    const auto deadline = start + kRunTime;
    std::vector<std::thread> threads;
    for (int t = 0; t < appenders; ++t) {
      threads.emplace_back([&] {
        std::vector<raft::Entry> batch(1);
        batch[0].term = Term(1);
        batch[0].data = payload;
        while (Clock::now() < deadline) {
          uint64_t lsn;
          {
            std::lock_guard lock(index_mu);
            batch[0].index = Index(next_index++);
            auto ticket = wal.append(batch);
            if (!ticket) std::abort();
            lsn = ticket->lsn;
          }
          if (!wal.wait_durable(lsn)) std::abort();
          completed.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(seconds);
    const double appends = static_cast<double>(completed.load());
    const double syncs = static_cast<double>(wal.stats().syncs - syncs_before);
    state.counters["appends_per_s"] = appends / seconds;
    state.counters["MB_per_s"] = appends * static_cast<double>(entry_bytes) / seconds / 1e6;
    state.counters["fsyncs_per_s"] = syncs / seconds;
    state.counters["appends_per_fsync"] = syncs > 0 ? appends / syncs : 0;
    state.counters["raw_fsyncs_per_s"] = raw;
    wal_or = Status(ErrorCode::kShutdown, "closing");
    std::filesystem::remove_all(dir);
  }
}

BENCHMARK(BM_RawFdatasync4KiB)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalGroupCommit)
    ->ArgNames({"appenders", "entry_bytes"})
    ->ArgsProduct({{1, 16, 256}, {100, 4096}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace raftkv::storage

BENCHMARK_MAIN();
