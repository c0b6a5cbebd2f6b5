// Regression tests for recovery bugs found by fuzz/wal_fuzz (each input reduced by hand to the
// records that matter). Every directory here has valid checksums: the damage is in what the
// records say, which recovery must refuse cleanly (never abort, never accept a log that the
// next restart refuses).
#include <gtest/gtest.h>

#include "storage/snapshot_store.h"
#include "storage/wal.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::TempDir;

const WalOptions kOptions{.segment_bytes = 8192};

// Writes segment `seq` starting at `first_index` with `records` (and no preallocated tail).
void write_segment(const std::string& dir, uint64_t seq, uint64_t first_index,
                   const std::vector<Record>& records) {
  std::string bytes = encode_segment_header(SegmentHeader{kFormatVersion, seq, Index(first_index)});
  for (const Record& r : records) encode_record(r, &bytes);
  auto f =
      posix_file_system().open(join_path(dir, segment_file_name(seq)), OpenMode::kCreateExclusive);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  ASSERT_TRUE((*f)->pwrite(0, bytes).is_ok());
}

Record entry(uint64_t index, uint64_t term) {
  return Record{.type = RecordType::kEntry,
                .entry = raft::Entry{Term(term), Index(index), raft::EntryType::kNormal, "x"}};
}
Record hard_state(uint64_t term) {
  return Record{.type = RecordType::kHardState,
                .hard_state = raft::HardState{Term(term), NodeId(1), Index()}};
}

void save_snapshot(const std::string& dir, uint64_t index, uint64_t term) {
  raft::Snapshot snap;
  snap.meta.index = Index(index);
  snap.meta.term = Term(term);
  snap.meta.conf.voters = {NodeId(1)};
  ASSERT_TRUE(SnapshotStore(posix_file_system(), dir).save(snap).is_ok());
}

// Bug: a first segment without a valid record (only its header survived) was read as an empty
// log starting at index 1 whatever the header said, so a WAL starting at 11 with no snapshot
// was accepted; the next append (index 1) then made every later restart refuse.
TEST(RecoveryFuzzRegression, HeaderOnlySegmentStartingAfterTheSnapshotIsRefused) {
  TempDir dir;
  write_segment(dir.path(), 1, 11, {});
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("entries in between are missing"), std::string::npos)
      << wal.status().message();
}

TEST(RecoveryFuzzRegression, HeaderOnlySegmentCoveredByTheSnapshotRecoversAndRestarts) {
  TempDir dir;
  save_snapshot(dir.path(), 10, 2);
  write_segment(dir.path(), 1, 11, {});
  {
    auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
    ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
    EXPECT_EQ((*wal)->first_index(), Index(11));
    EXPECT_EQ((*wal)->last_index(), Index(10));
    ASSERT_TRUE(
        (*wal)->append({raft::Entry{Term(2), Index(11), raft::EntryType::kNormal, "a"}}).is_ok());
    ASSERT_TRUE((*wal)->sync().is_ok());
  }
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
  EXPECT_EQ((*wal)->last_index(), Index(11));
  EXPECT_EQ(*(*wal)->term(Index(11)), Term(2));
}

// Bug: a log reset whose term disagrees with the snapshot at the same index was accepted (the
// snapshot's term won silently); an entry appended with that term was refused at the next
// restart ("lower than the previous term").
TEST(RecoveryFuzzRegression, LogResetWhoseTermDisagreesWithTheSnapshotIsRefused) {
  TempDir dir;
  save_snapshot(dir.path(), 40, 3);
  write_segment(dir.path(), 1, 1,
                {hard_state(1), entry(1, 1), entry(2, 1),
                 Record{.type = RecordType::kLogReset, .index = Index(40), .term = Term(7)}});
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("the snapshot at that index has term 3"), std::string::npos)
      << wal.status().message();
}

// Bug: a truncation record at or below the start of the log tripped an assertion in
// Wal::truncate_suffix_locked (the process aborted) instead of being refused.
TEST(RecoveryFuzzRegression, TruncationBelowTheStartOfTheLogIsRefusedNotAnAbort) {
  TempDir dir;
  save_snapshot(dir.path(), 10, 2);
  write_segment(dir.path(), 1, 11,
                {hard_state(2), Record{.type = RecordType::kTruncate, .index = Index(4)}});
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("at or below the start of the log"), std::string::npos)
      << wal.status().message();
}

TEST(RecoveryFuzzRegression, TruncationBelowALogResetIsRefusedNotAnAbort) {
  TempDir dir;
  save_snapshot(dir.path(), 40, 3);
  write_segment(dir.path(), 1, 1,
                {hard_state(1), entry(1, 1),
                 Record{.type = RecordType::kLogReset, .index = Index(40), .term = Term(3)},
                 entry(41, 3), Record{.type = RecordType::kTruncate, .index = Index(40)}});
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("at or below the start of the log"), std::string::npos)
      << wal.status().message();
}

// Bug: after a truncation the reader forgot the previous term, so an entry with a lower term
// than the entry before it was accepted (wal_fuzz property "terms decrease"; terms of a Raft
// log never decrease, wal_format.h).
TEST(RecoveryFuzzRegression, EntryAfterATruncationWithATermBelowThePreviousEntryIsRefused) {
  TempDir dir;
  write_segment(dir.path(), 1, 1,
                {hard_state(5), entry(1, 5), entry(2, 5), entry(3, 5),
                 Record{.type = RecordType::kTruncate, .index = Index(3)}, entry(3, 1)});
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("entry 3 has term 1, lower than the previous term 5"),
            std::string::npos)
      << wal.status().message();
}

TEST(RecoveryFuzzRegression, EntryAfterATruncationMayRaiseTheTerm) {
  TempDir dir;
  write_segment(
      dir.path(), 1, 1,
      {hard_state(5), entry(1, 1), entry(2, 2), entry(3, 2),
       Record{.type = RecordType::kTruncate, .index = Index(2)}, entry(2, 1), entry(3, 4)});
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
  EXPECT_EQ((*wal)->last_index(), Index(3));
  EXPECT_EQ(*(*wal)->term(Index(2)), Term(1));
  EXPECT_EQ(*(*wal)->term(Index(3)), Term(4));
}

}  // namespace
}  // namespace raftkv::storage
