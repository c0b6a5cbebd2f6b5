// Helper process for Crash.KillNineNeverLosesADurableIndex: appends to the WAL in DIR from
// several threads with group commit, forever, and after each durable sync writes the durable
// (index, term) as two little-endian u64 to stdout (one atomic 16-byte pipe write). The parent
// kills it with SIGKILL at arbitrary moments.
//   usage: wal_crash_child DIR TERM
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/wal.h"
#include "test_util.h"

using namespace raftkv;
using namespace raftkv::storage;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR TERM\n", argv[0]);
    return 2;
  }
  set_log_level(LogLevel::kWarn);
  const std::string dir = argv[1];
  const uint64_t term = std::strtoull(argv[2], nullptr, 10);
  auto wal_or = Wal::open(posix_file_system(), dir, WalOptions{.segment_bytes = 64 << 10});
  if (!wal_or) {
    std::fprintf(stderr, "open failed: %s\n", wal_or.status().to_string().c_str());
    return 1;
  }
  Wal& wal = **wal_or;
  std::mutex append_mu;
  std::mutex report_mu;
  auto appender = [&](uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + term;
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    while (true) {
      uint64_t lsn;
      {
        std::lock_guard lock(append_mu);
        const uint64_t first = wal.last_index().value() + 1;
        const uint64_t count = 1 + next() % 8;
        std::vector<raft::Entry> batch;
        for (uint64_t i = first; i < first + count; ++i) {
          batch.push_back(raft::Entry{Term(term), Index(i), raft::EntryType::kNormal,
                                      testing::payload_for(Index(i), Term(term), next() % 1500)});
        }
        auto ticket = wal.append(batch, raft::HardState{Term(term), NodeId(1), Index(first)});
        if (!ticket) std::abort();
        lsn = ticket->lsn;
      }
      auto durable = wal.wait_durable(lsn);
      if (!durable) std::abort();
      uint64_t report[2] = {durable->index.value(), durable->term.value()};
      std::lock_guard lock(report_mu);
      if (::write(STDOUT_FILENO, report, sizeof(report)) != sizeof(report)) std::_Exit(0);
    }
  };
  std::vector<std::thread> threads;
  for (uint64_t t = 1; t <= 4; ++t) threads.emplace_back(appender, t);
  for (auto& t : threads) t.join();
  return 0;
}
