// Fault injection through the FileSystem interface: the right error, the WAL stops for good,
// and a later recovery (on a healthy disk) is clean and keeps everything durable.
#include <gtest/gtest.h>

#include "storage/fault_file_system.h"
#include "storage/wal.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

const WalOptions kOptions{.segment_bytes = 8192};

// Opens a WAL on `fs`, makes entries 1..10 durable and returns it.
std::unique_ptr<Wal> wal_with_durable_prefix(FileSystem& fs, const std::string& dir) {
  auto wal = Wal::open(fs, dir, kOptions);
  EXPECT_TRUE(wal.is_ok());
  EXPECT_TRUE((*wal)->append(make_entries(1, 10, 1)).is_ok());
  EXPECT_TRUE((*wal)->sync().is_ok());
  return std::move(wal).value();
}

void expect_stopped(Wal& wal, ErrorCode code) {
  EXPECT_EQ(wal.health().code(), code);
  EXPECT_EQ(wal.append(make_entries(wal.last_index().value() + 1, 1, 1)).code(), code);
  EXPECT_EQ(wal.sync().code(), code);
  EXPECT_EQ(wal.term(Index(1)).code(), code);
  EXPECT_NE(wal.health().message().find("the node must stop"), std::string::npos);
}

// Recovery on the real file system keeps entries 1..10 and whatever prefix of the failed batch
// fully reached the file, and nothing else.
void expect_clean_recovery(const std::string& dir, uint64_t attempted_last,
                           size_t failed_batch_entry_size = 32) {
  auto wal = Wal::open(posix_file_system(), dir, kOptions);
  ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
  const Index last = (*wal)->last_index();
  EXPECT_GE(last, Index(10));
  EXPECT_LE(last, Index(attempted_last));
  auto got = (*wal)->entries(Index(1), last + 1, UINT64_MAX);
  ASSERT_TRUE(got.is_ok());
  auto expected = make_entries(1, 10, 1);
  if (last > Index(10)) {
    const auto tail = make_entries(11, last.value() - 10, 1, failed_batch_entry_size);
    expected.insert(expected.end(), tail.begin(), tail.end());
  }
  EXPECT_EQ(*got, expected);
  ASSERT_TRUE((*wal)->append(make_entries(last.value() + 1, 1, 1)).is_ok());
  ASSERT_TRUE((*wal)->sync().is_ok());
}

TEST(FaultInjection, FailedFdatasyncStopsTheWalForGood) {
  TempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(posix);
  auto wal = wal_with_durable_prefix(fs, dir.path());
  fs.fail_sync_after(1);
  ASSERT_TRUE(wal->append(make_entries(11, 5, 1)).is_ok());
  auto durable = wal->sync();
  ASSERT_EQ(durable.code(), ErrorCode::kIoError);
  EXPECT_NE(durable.status().message().find("fdatasync"), std::string::npos);
  const uint64_t syncs = fs.sync_calls();
  fs.clear_faults();  // even a healthy disk now: no retry
  expect_stopped(*wal, ErrorCode::kIoError);
  EXPECT_EQ(fs.sync_calls(), syncs) << "a failed fsync must never be retried";
  wal.reset();
  expect_clean_recovery(dir.path(), 15);
}

TEST(FaultInjection, ShortWriteStopsTheWalAndRecoveryTruncatesIt) {
  TempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(posix);
  auto wal = wal_with_durable_prefix(fs, dir.path());
  fs.fail_short_write_after_bytes(150);
  ASSERT_TRUE(wal->append(make_entries(11, 20, 1)).is_ok());
  auto durable = wal->sync();
  ASSERT_EQ(durable.code(), ErrorCode::kIoError);
  EXPECT_NE(durable.status().message().find("short write"), std::string::npos);
  expect_stopped(*wal, ErrorCode::kIoError);
  wal.reset();
  expect_clean_recovery(dir.path(), 30);
}

TEST(FaultInjection, NoSpaceOnWriteStopsTheWal) {
  TempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(posix);
  auto wal = wal_with_durable_prefix(fs, dir.path());
  fs.set_space_bytes(100);
  ASSERT_TRUE(wal->append(make_entries(11, 20, 1)).is_ok());
  auto durable = wal->sync();
  ASSERT_EQ(durable.code(), ErrorCode::kNoSpace);
  EXPECT_NE(durable.status().message().find("No space left"), std::string::npos);
  expect_stopped(*wal, ErrorCode::kNoSpace);
  wal.reset();
  expect_clean_recovery(dir.path(), 30);
}

TEST(FaultInjection, NoSpaceForANewSegmentStopsTheWal) {
  TempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(posix);
  auto wal = wal_with_durable_prefix(fs, dir.path());
  fs.set_space_bytes(8000);  // enough to fill segment 1, not to preallocate an 8 KiB segment 2
  ASSERT_TRUE(wal->append(make_entries(11, 200, 1, 64)).is_ok());
  auto durable = wal->sync();
  ASSERT_EQ(durable.code(), ErrorCode::kNoSpace);
  EXPECT_NE(durable.status().message().find("fallocate"), std::string::npos);
  expect_stopped(*wal, ErrorCode::kNoSpace);
  wal.reset();
  expect_clean_recovery(dir.path(), 210, 64);  // also removes the half-created .tmp segment
}

}  // namespace
}  // namespace raftkv::storage
