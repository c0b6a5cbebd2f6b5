// Crash at every step of the snapshot protocol: a local snapshot (stream to a temp file,
// fsync, rename, directory fsync, remove the older one, compact the log) followed by
// installing a leader's snapshot received as a .partial file (rename, directory fsync, log
// reset, segment removal). The "crash" is a failed fsync at the k-th fsync point — the node
// stops there, exactly as it would — for every k; then recovery on a healthy disk must start
// and hold either the old or the new state, with no durable entry lost.
#include <gtest/gtest.h>

#include "storage/fault_file_system.h"
#include "storage/snapshot_store.h"
#include "storage/wal.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

const WalOptions kOptions{.segment_bytes = 8192};
const raft::ConfState kConf{{NodeId(1), NodeId(2), NodeId(3)}, {}};

std::string state_at(Index i) {
  return fmt::format("state machine through {}", i);
}

// The protocol under test; stops at the first error (the node would stop).
Status run_protocol(FileSystem& fs, const std::string& dir) {
  auto opened = Wal::open(fs, dir, kOptions);
  if (!opened) return opened.status();
  Wal& wal = **opened;
  // Local snapshot at 400, streamed.
  const raft::SnapshotMeta local{Index(400), Term(1), kConf};
  auto writer = wal.begin_snapshot_file(local);
  if (!writer) return writer.status();
  if (Status s = (*writer)->append(state_at(Index(400))); !s) return s;
  if (Status s = (*writer)->finish(); !s) return s;
  if (Status s = wal.install_snapshot((*writer)->path(), local); !s) return s;
  if (Status s = wal.compact(Index(350)); !s) return s;
  // A leader's snapshot at 900 (beyond the log), received as a .partial file.
  const raft::SnapshotMeta remote{Index(900), Term(2), kConf};
  SnapshotStore store(fs, dir);
  raft::Snapshot snap{remote, state_at(Index(900))};
  const std::string partial = store.partial_path_for(remote.index, remote.term);
  if (Status s = write_snapshot_file(fs, partial, snap); !s) return s;
  return wal.install_snapshot(partial, remote);
}

TEST(SnapshotCrash, RecoveryAfterACrashAtEveryFsyncOfTheSnapshotProtocol) {
  int crash_points = 0;
  for (uint64_t k = 1;; ++k) {
    TempDir dir;
    {
      // Durable starting point: entries 1..600 and a snapshot at 200.
      auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
      ASSERT_TRUE(wal.is_ok());
      ASSERT_TRUE((*wal)->append(make_entries(1, 600, 1)).is_ok());
      ASSERT_TRUE((*wal)->sync().is_ok());
      auto snap = std::make_shared<raft::Snapshot>(
          raft::Snapshot{raft::SnapshotMeta{Index(200), Term(1), kConf}, state_at(Index(200))});
      ASSERT_TRUE((*wal)->save_snapshot(snap).is_ok());
    }
    PosixFileSystem posix;
    FaultInjectingFileSystem fs(posix);
    fs.fail_sync_after(k);
    const bool crashed = !run_protocol(fs, dir.path()).is_ok();

    auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
    ASSERT_TRUE(wal.is_ok()) << "crash at fsync " << k << ": " << wal.status().to_string();
    const raft::SnapshotMeta meta = (*(*wal)->snapshot())->meta;
    ASSERT_TRUE(meta.index == Index(200) || meta.index == Index(400) || meta.index == Index(900))
        << "crash at fsync " << k << ": snapshot " << meta.index;
    auto data = read_snapshot_file(posix_file_system(), (*(*wal)->open_snapshot())->path());
    ASSERT_TRUE(data.is_ok()) << data.status().to_string();
    EXPECT_EQ(data->data, state_at(meta.index)) << "crash at fsync " << k;
    EXPECT_EQ(data->meta, meta);
    if (meta.index == Index(900)) {
      EXPECT_EQ((*wal)->last_index(), Index(900));  // the log continues after the snapshot
      EXPECT_EQ((*wal)->first_index(), Index(901));
    } else {
      // No durable entry is lost: the log still reaches 600 and joins the snapshot.
      EXPECT_EQ((*wal)->last_index(), Index(600)) << "crash at fsync " << k;
      EXPECT_LE((*wal)->first_index(), meta.index + 1);
      const Index first = (*wal)->first_index();
      auto entries = (*wal)->entries(first, Index(601), UINT64_MAX);
      ASSERT_TRUE(entries.is_ok());
      EXPECT_EQ(*entries, make_entries(first.value(), 601 - first.value(), 1));
    }
    // The recovered WAL works: append after it and recover again.
    ASSERT_TRUE((*wal)
                    ->append(make_entries((*wal)->last_index().value() + 1, 1,
                                          meta.index == Index(900) ? 2 : 1))
                    .is_ok());
    ASSERT_TRUE((*wal)->sync().is_ok());
    if (!crashed) break;  // k passed the last fsync: the protocol completed
    ++crash_points;
    ASSERT_LT(k, 100u) << "the protocol never completes";
  }
  EXPECT_GE(crash_points, 6);  // temp file, rename, removal, reset, segment removal, ...
}

}  // namespace
}  // namespace raftkv::storage
