// Crash consistency with real processes: a child appends with group commit and reports each
// durable (index, term) through a pipe; the parent kill -9s it after a seeded-random number of
// reports (no timing involved) and checks that recovery contains every index reported durable.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include <gtest/gtest.h>

#include "storage/wal.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::TempDir;

struct Report {
  uint64_t index = 0;
  uint64_t term = 0;
};

// Reads exactly one report; false at end of file.
bool read_report(int fd, Report* out) {
  uint64_t buf[2];
  size_t got = 0;
  while (got < sizeof(buf)) {
    const ssize_t n = ::read(fd, reinterpret_cast<char*>(buf) + got, sizeof(buf) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  *out = Report{buf[0], buf[1]};
  return true;
}

TEST(Crash, KillNineNeverLosesADurableIndex) {
  TempDir dir;
  std::mt19937_64 rng(20240611);
  Report highest;  // the highest durable report over all rounds
  constexpr int kRounds = 30;
  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      const std::string term = std::to_string(round);
      ::execl(WAL_CRASH_CHILD, WAL_CRASH_CHILD, dir.path().c_str(), term.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    const int kill_after = 1 + static_cast<int>(rng() % 40);
    Report report;
    int received = 0;
    while (received < kill_after && read_report(fds[0], &report)) {
      ++received;
      if (report.index > highest.index) highest = report;
    }
    ASSERT_EQ(received, kill_after) << "the child exited early";
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    // Reports already in the pipe were also durable when sent.
    while (read_report(fds[0], &report)) {
      if (report.index > highest.index) highest = report;
    }
    ::close(fds[0]);

    auto wal = Wal::open(posix_file_system(), dir.path(), WalOptions{.segment_bytes = 64 << 10});
    ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
    ASSERT_GE((*wal)->last_index(), Index(highest.index));
    auto term = (*wal)->term(Index(highest.index));
    ASSERT_TRUE(term.is_ok());
    EXPECT_EQ(*term, Term(highest.term));
    auto entries = (*wal)->entries(Index(1), (*wal)->last_index() + 1, UINT64_MAX);
    ASSERT_TRUE(entries.is_ok());
    for (const raft::Entry& e : *entries) {
      ASSERT_TRUE(e.data.view().starts_with(fmt::format("e{}t{}:", e.index, e.term)))
          << "entry " << e.index << " has the wrong contents";
    }
  }
  EXPECT_GT(highest.index, 0u);
}

}  // namespace
}  // namespace raftkv::storage
