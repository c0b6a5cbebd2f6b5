// Round trips, truncation, compaction, snapshots and restart after each; group commit with
// concurrent appenders.
#include "storage/wal.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "storage/snapshot_store.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using raft::Entry;
using raft::HardState;
using testing::make_entries;
using testing::TempDir;

constexpr uint64_t kNoLimit = UINT64_MAX;

WalOptions small_segments(uint64_t cache_bytes = 64 << 20) {
  return WalOptions{.segment_bytes = 8192, .cache_bytes = cache_bytes};
}

std::unique_ptr<Wal> open_wal(const std::string& dir, WalOptions options = small_segments()) {
  auto wal = Wal::open(posix_file_system(), dir, options);
  EXPECT_TRUE(wal.is_ok()) << wal.status().to_string();
  return wal.is_ok() ? std::move(wal).value() : nullptr;
}

std::vector<Entry> all_entries(const Wal& wal) {
  auto got = wal.entries(wal.first_index(), wal.last_index() + 1, kNoLimit);
  EXPECT_TRUE(got.is_ok()) << got.status().to_string();
  return got.is_ok() ? *got : std::vector<Entry>{};
}

size_t count_segments(const std::string& dir) {
  auto names = posix_file_system().list_dir(dir);
  size_t n = 0;
  for (const auto& name : *names) n += parse_segment_file_name(name).has_value();
  return n;
}

TEST(Wal, FreshDirectoryIsEmpty) {
  TempDir dir;
  auto wal = open_wal(dir.path());
  EXPECT_EQ(wal->first_index(), Index(1));
  EXPECT_EQ(wal->last_index(), Index(0));
  EXPECT_EQ(*wal->term(Index(0)), Term(0));
  EXPECT_EQ(wal->entries(Index(1), Index(2), kNoLimit).code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(wal->initial_state().hard_state.is_empty());
}

TEST(Wal, RoundTripSurvivesRestart) {
  TempDir dir;
  const auto entries = make_entries(1, 500, 1, 100);  // ~60 KB: several 8 KiB segments
  const HardState hs{Term(1), NodeId(2), Index(400)};
  {
    auto wal = open_wal(dir.path());
    ASSERT_TRUE(wal->append(entries, hs).is_ok());
    auto durable = wal->sync();
    ASSERT_TRUE(durable.is_ok());
    EXPECT_EQ(*durable, (DurablePoint{Index(500), Term(1)}));
    EXPECT_EQ(all_entries(*wal), entries);
  }
  EXPECT_GT(count_segments(dir.path()), 3u);
  auto wal = open_wal(dir.path());
  EXPECT_EQ(wal->first_index(), Index(1));
  EXPECT_EQ(wal->last_index(), Index(500));
  EXPECT_EQ(all_entries(*wal), entries);
  EXPECT_EQ(wal->initial_state().hard_state, hs);
  EXPECT_EQ(*wal->term(Index(250)), Term(1));
  EXPECT_EQ(wal->durable_point(), (DurablePoint{Index(500), Term(1)}));
}

TEST(Wal, EntriesRespectMaxBytesAndReadFromDiskWhenNotCached) {
  TempDir dir;
  const auto entries = make_entries(1, 200, 3, 100);
  {
    auto wal = open_wal(dir.path(), small_segments(/*cache_bytes=*/1000));
    ASSERT_TRUE(wal->append(entries).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
    EXPECT_EQ(all_entries(*wal), entries);
    EXPECT_GT(wal->stats().disk_reads, 150u);  // only ~8 entries fit in the cache
    // At least one entry even when it alone exceeds max_bytes; then stop before exceeding.
    EXPECT_EQ(wal->entries(Index(5), Index(50), 1)->size(), 1u);
    EXPECT_EQ(wal->entries(Index(5), Index(50), 3 * 116)->size(), 3u);
  }
  auto wal = open_wal(dir.path(), small_segments(/*cache_bytes=*/1000));
  EXPECT_EQ(all_entries(*wal), entries);
}

// Issue 11.2: entries of 1 MiB and more are written from their own bytes (no copy in the write
// buffer), may be larger than a segment, and read back the same, from the cache, from disk and
// after a restart; small records around them are unaffected.
TEST(Wal, LargeEntriesBeyondASegmentRoundTripThroughRestart) {
  TempDir dir;
  std::vector<Entry> entries;
  const size_t sizes[] = {10, (size_t{1} << 20) - 1, size_t{1} << 20,
                          20, (size_t{3} << 20) + 5, (size_t{1} << 20) + 3,
                          7};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    std::string data(sizes[i], '\0');
    for (size_t j = 0; j < data.size(); ++j) data[j] = static_cast<char>('a' + (i * 7 + j) % 26);
    entries.push_back(Entry{Term(2), Index(i + 1), raft::EntryType::kNormal, std::move(data)});
  }
  const HardState hs{Term(2), NodeId(1), Index(5)};
  const WalOptions options{.segment_bytes = 1 << 20, .cache_bytes = 1000};  // nothing cached
  {
    auto wal = open_wal(dir.path(), options);
    ASSERT_TRUE(wal->append(std::vector<Entry>(entries.begin(), entries.begin() + 3)).is_ok());
    ASSERT_TRUE(wal->append(std::vector<Entry>(entries.begin() + 3, entries.end()), hs).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
    EXPECT_EQ(all_entries(*wal), entries);
  }
  auto wal = open_wal(dir.path(), options);
  EXPECT_EQ(all_entries(*wal), entries);
  EXPECT_EQ(wal->initial_state().hard_state, hs);
  // And it goes on appending after them.
  const Entry next{Term(2), Index(entries.size() + 1), raft::EntryType::kNormal, "after"};
  ASSERT_TRUE(wal->append(std::vector<Entry>{next}).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  entries.push_back(next);
  EXPECT_EQ(all_entries(*open_wal(dir.path(), options)), entries);
}

TEST(Wal, EntryRecordHeadDataAndPaddingAreTheEncodedRecord) {
  for (size_t size : {0, 1, 7, 8, 100, 4099}) {
    const Entry e{Term(3), Index(9), raft::EntryType::kConfChange, std::string(size, 'q')};
    std::string whole;
    encode_entry_record(e, &whole);
    size_t padding = 0;
    const std::string head = encode_entry_record_head(e, &padding);
    EXPECT_EQ(head + e.data.str() + std::string(padding, '\0'), whole) << size;
  }
}

TEST(Wal, OverwritingASuffixTruncatesItAndSurvivesRestart) {
  TempDir dir;
  std::vector<Entry> expected = make_entries(1, 100, 1);
  {
    auto wal = open_wal(dir.path());
    ASSERT_TRUE(wal->append(expected).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
    // A new leader (term 2) overwrites 61..100 with 61..70 (Raft §5.3).
    const auto replacement = make_entries(61, 10, 2);
    ASSERT_TRUE(wal->append(replacement).is_ok());
    expected.resize(60);
    expected.insert(expected.end(), replacement.begin(), replacement.end());
    EXPECT_EQ(all_entries(*wal), expected);
    auto durable = wal->sync();
    EXPECT_EQ(*durable, (DurablePoint{Index(70), Term(2)}));
    // Appending before the truncated suffix must be contiguous.
    EXPECT_EQ(wal->append(make_entries(80, 1, 2)).code(), ErrorCode::kInvalidArgument);
  }
  auto wal = open_wal(dir.path());
  EXPECT_EQ(wal->last_index(), Index(70));
  EXPECT_EQ(all_entries(*wal), expected);
  // And again after the restart, across a segment boundary.
  const auto more = make_entries(31, 200, 3, 64);
  ASSERT_TRUE(wal->append(more).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  expected.resize(30);
  expected.insert(expected.end(), more.begin(), more.end());
  wal.reset();
  wal = open_wal(dir.path());
  EXPECT_EQ(all_entries(*wal), expected);
}

TEST(Wal, CompactionRemovesWholeSegmentsOnlyBehindADurableSnapshot) {
  TempDir dir;
  const auto entries = make_entries(1, 600, 1, 100);
  {
    auto wal = open_wal(dir.path());
    ASSERT_TRUE(wal->append(entries).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
    const size_t segments_before = count_segments(dir.path());
    // No snapshot covers 300 yet.
    EXPECT_EQ(wal->compact(Index(300)).code(), ErrorCode::kInvalidArgument);
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta = raft::SnapshotMeta{Index(300), Term(1), raft::ConfState{{NodeId(1)}, {}}};
    snap->data = "state at 300";
    ASSERT_TRUE(wal->save_snapshot(snap).is_ok());
    EXPECT_EQ(wal->last_index(), Index(600));  // the log still contains entry 300: kept
    ASSERT_TRUE(wal->compact(Index(300)).is_ok());
    EXPECT_LT(count_segments(dir.path()), segments_before);
    EXPECT_EQ(wal->first_index(), Index(301));
    EXPECT_EQ(*wal->term(Index(300)), Term(1));
    EXPECT_EQ(wal->term(Index(299)).code(), ErrorCode::kCompacted);
    EXPECT_EQ(wal->entries(Index(300), Index(301), kNoLimit).code(), ErrorCode::kCompacted);
  }
  auto wal = open_wal(dir.path());
  EXPECT_EQ(wal->first_index(), Index(301));
  EXPECT_EQ(wal->last_index(), Index(600));
  EXPECT_EQ(all_entries(*wal), std::vector<Entry>(entries.begin() + 300, entries.end()));
  auto snap = wal->snapshot();
  EXPECT_EQ((*snap)->meta.index, Index(300));
  EXPECT_EQ((*snap)->data, "");  // the core sees metadata; the bytes stay in the file
  auto stored = read_snapshot_file(posix_file_system(), (*wal->open_snapshot())->path());
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  EXPECT_EQ(stored->data, "state at 300");
  EXPECT_EQ(wal->initial_state().conf_state.voters, std::vector<NodeId>{NodeId(1)});
}

TEST(Wal, InstallingASnapshotBeyondTheLogResetsIt) {
  TempDir dir;
  {
    auto wal = open_wal(dir.path());
    ASSERT_TRUE(wal->append(make_entries(1, 50, 1)).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta = raft::SnapshotMeta{Index(1000), Term(4), {}};
    ASSERT_TRUE(wal->save_snapshot(snap).is_ok());
    EXPECT_EQ(wal->first_index(), Index(1001));
    EXPECT_EQ(wal->last_index(), Index(1000));
    EXPECT_EQ(*wal->term(Index(1000)), Term(4));
    ASSERT_TRUE(wal->append(make_entries(1001, 5, 4)).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
  }
  auto wal = open_wal(dir.path());
  EXPECT_EQ(wal->first_index(), Index(1001));
  EXPECT_EQ(wal->last_index(), Index(1005));
  EXPECT_EQ(all_entries(*wal), make_entries(1001, 5, 4));
}

TEST(Wal, SnapshotFileWithoutTheLogResetStillRecovers) {
  // Crash after the snapshot file was durable but before the log reset record was.
  TempDir dir;
  {
    auto wal = open_wal(dir.path());
    ASSERT_TRUE(wal->append(make_entries(1, 50, 1)).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
  }
  SnapshotStore store(posix_file_system(), dir.path());
  raft::Snapshot snap;
  snap.meta = raft::SnapshotMeta{Index(70), Term(3), {}};
  ASSERT_TRUE(store.save(snap).is_ok());
  {
    auto wal = open_wal(dir.path());
    EXPECT_EQ(wal->first_index(), Index(71));
    EXPECT_EQ(wal->last_index(), Index(70));
    ASSERT_TRUE(wal->append(make_entries(71, 3, 3)).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
  }
  auto wal = open_wal(dir.path());
  EXPECT_EQ(all_entries(*wal), make_entries(71, 3, 3));
}

TEST(SnapshotStore, LoadSkipsADamagedNewestSnapshot) {
  TempDir dir;
  SnapshotStore store(posix_file_system(), dir.path());
  raft::Snapshot older;
  older.meta =
      raft::SnapshotMeta{Index(10), Term(1), raft::ConfState{{NodeId(1), NodeId(2)}, {NodeId(3)}}};
  older.data = "older";
  ASSERT_TRUE(store.save(older).is_ok());
  const std::string older_path =
      join_path(dir.path(), SnapshotStore::file_name(Index(10), Term(1)));
  const std::string older_bytes = *read_whole_file(posix_file_system(), older_path);
  raft::Snapshot newer;
  newer.meta = raft::SnapshotMeta{Index(20), Term(2), {}};
  newer.data = "newer";
  ASSERT_TRUE(store.save(newer).is_ok());
  EXPECT_EQ(store.list()->size(), 1u);  // the older one was removed once the newer was durable
  EXPECT_EQ((*store.load_newest())->meta, newer.meta);

  // Put the older one back and damage the newer one: load falls back with a warning.
  auto f = posix_file_system().open(older_path, OpenMode::kCreateExclusive);
  ASSERT_TRUE((*f)->pwrite(0, older_bytes).is_ok());
  const std::string newer_path =
      join_path(dir.path(), SnapshotStore::file_name(Index(20), Term(2)));
  auto g = posix_file_system().open(newer_path, OpenMode::kReadWrite);
  ASSERT_TRUE((*g)->pwrite(50, "X").is_ok());
  auto loaded = store.load_newest();
  ASSERT_TRUE(loaded.is_ok());
  EXPECT_EQ((*loaded)->meta, older.meta);
  EXPECT_EQ(read_snapshot_file(posix_file_system(), older_path)->data, "older");
}

TEST(SnapshotFile, StreamsDataOfUnknownSizeAndDetectsEveryDamagedByte) {
  TempDir dir;
  const std::string path = join_path(dir.path(), "s.snap");
  raft::SnapshotMeta meta{Index(7), Term(3), raft::ConfState{{NodeId(1), NodeId(2)}, {NodeId(9)}}};
  std::string data;
  for (int i = 0; i < 3000; ++i) data += fmt::format("key{}=value{};", i, i);
  {
    auto w = SnapshotFileWriter::create(posix_file_system(), path, meta);
    ASSERT_TRUE(w.is_ok());
    for (size_t pos = 0; pos < data.size(); pos += 777) {
      ASSERT_TRUE((*w)->append(std::string_view(data).substr(pos, 777)).is_ok());
    }
    ASSERT_TRUE((*w)->finish().is_ok());
  }
  auto r = SnapshotFileReader::open(posix_file_system(), path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)->meta(), meta);
  EXPECT_EQ((*r)->data_bytes(), data.size());
  EXPECT_TRUE((*r)->verify().is_ok());
  EXPECT_EQ(read_snapshot_file(posix_file_system(), path)->data, data);

  // Flip each of a spread of bytes (header, data, trailer): open or verify reports it.
  const std::string good = *read_whole_file(posix_file_system(), path);
  for (size_t at = 0; at < good.size(); at += 997) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    auto f = posix_file_system().open(path, OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->pwrite(0, bad).is_ok());
    auto damaged = SnapshotFileReader::open(posix_file_system(), path);
    Status s = damaged ? (*damaged)->verify() : damaged.status();
    EXPECT_FALSE(s.is_ok()) << "byte " << at;
    EXPECT_FALSE(read_snapshot_file(posix_file_system(), path).is_ok()) << "byte " << at;
  }
  // A truncated file is refused, never read past its end.
  auto f = posix_file_system().open(path, OpenMode::kReadWrite);
  ASSERT_TRUE((*f)->truncate(good.size() / 2).is_ok());
  EXPECT_FALSE(read_snapshot_file(posix_file_system(), path).is_ok());
}

TEST(Wal, ConcurrentAppendersShareFsyncs) {
  TempDir dir;
  auto wal = open_wal(dir.path(), WalOptions{.segment_bytes = 1 << 20});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::mutex index_mu;
  uint64_t next_index = 1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kPerThread; ++k) {
        uint64_t lsn;
        Index mine;
        {
          std::lock_guard lock(index_mu);
          auto ticket = wal->append(make_entries(next_index++, 1, 1));
          ASSERT_TRUE(ticket.is_ok());
          lsn = ticket->lsn;
          mine = ticket->last_index;
        }
        auto durable = wal->wait_durable(lsn);
        ASSERT_TRUE(durable.is_ok());
        EXPECT_GE(durable->index, mine);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wal->last_index(), Index(kThreads * kPerThread));
  EXPECT_EQ(wal->durable_point().index, Index(kThreads * kPerThread));
  EXPECT_LE(wal->stats().syncs, static_cast<uint64_t>(kThreads * kPerThread));
  wal.reset();
  wal = open_wal(dir.path());
  EXPECT_EQ(all_entries(*wal), make_entries(1, kThreads * kPerThread, 1));
}

// The byte ranges of `path` that are allocated but unwritten (read as zeros without having
// been written); nullopt when the file system cannot tell (no FIEMAP, e.g. tmpfs).
std::optional<std::vector<std::pair<uint64_t, uint64_t>>> unwritten_ranges(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return std::nullopt;
  constexpr unsigned kMaxExtents = 256;
  std::vector<char> buffer(sizeof(fiemap) + kMaxExtents * sizeof(fiemap_extent));
  auto* map = reinterpret_cast<fiemap*>(buffer.data());
  map->fm_start = 0;
  map->fm_length = FIEMAP_MAX_OFFSET;
  map->fm_flags = FIEMAP_FLAG_SYNC;
  map->fm_extent_count = kMaxExtents;
  const int rc = ::ioctl(fd, FS_IOC_FIEMAP, map);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (unsigned i = 0; i < map->fm_mapped_extents; ++i) {
    const fiemap_extent& e = map->fm_extents[i];
    if (e.fe_flags & FIEMAP_EXTENT_UNWRITTEN) out.emplace_back(e.fe_logical, e.fe_length);
  }
  return out;
}

bool overlaps(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t from,
              uint64_t to) {
  for (const auto& [start, len] : ranges) {
    if (start < to && from < start + len) return true;
  }
  return false;
}

// Writing into fallocate'd (unwritten) extents makes each fdatasync commit an extent
// conversion; the WAL writes real zeros ahead of its records so syncs find written blocks.
TEST(Wal, ZerosAreWrittenAheadOfTheRecordsSoSyncsConvertNoExtents) {
  constexpr uint64_t kSegment = 4 << 20;
  constexpr uint64_t kWindow = 256 << 10;
  for (const uint64_t window : {kWindow, uint64_t{0}}) {
    TempDir dir;
    auto wal =
        open_wal(dir.path(), WalOptions{.segment_bytes = kSegment, .zero_ahead_bytes = window});
    uint64_t next = 1;
    // Enough records to slide the window several times.
    for (int batch = 0; batch < 100; ++batch) {
      auto ticket = wal->append(make_entries(next, 50, 1, 200));
      ASSERT_TRUE(ticket.is_ok());
      next += 50;
      ASSERT_TRUE(wal->wait_durable(ticket->lsn).is_ok());
    }
    const uint64_t written = wal->stats().bytes_written;
    ASSERT_GT(written, 2 * kWindow);
    const std::string segment = join_path(dir.path(), segment_file_name(1));
    auto unwritten = unwritten_ranges(segment);
    if (!unwritten || unwritten->empty()) {
      GTEST_SKIP() << "the file system of /tmp reports no unwritten extents";
    }
    const uint64_t end = kSegmentHeaderSize + written;  // where the next record goes
    const bool ahead_unwritten = overlaps(*unwritten, 0, end + kWindow / 2);
    if (window > 0) {
      EXPECT_FALSE(ahead_unwritten) << "records or the zero window lie in unwritten extents";
      EXPECT_TRUE(overlaps(*unwritten, end + window, kSegment))
          << "zeros were written far beyond the window";
    } else {
      EXPECT_TRUE(ahead_unwritten) << "control: without zeros the extents stay unwritten";
    }
    wal.reset();
    wal = open_wal(dir.path(), WalOptions{.segment_bytes = kSegment});
    EXPECT_EQ(all_entries(*wal), make_entries(1, next - 1, 1, 200));
  }
}

}  // namespace
}  // namespace raftkv::storage
