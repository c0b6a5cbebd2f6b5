// Recovery: torn tails are truncated, corruption anywhere else is refused with a message that
// names the file, the offset and what to do.
#include <gtest/gtest.h>

#include "storage/wal.h"
#include "storage/wal_reader.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::make_entries;
using testing::TempDir;

const WalOptions kOptions{.segment_bytes = 8192};

struct RecordPosition {
  std::string path;
  uint64_t offset = 0;
  uint64_t payload_len = 0;
};

// Positions of every entry record, in log order.
std::vector<RecordPosition> entry_positions(const std::string& dir) {
  std::vector<RecordPosition> out;
  auto scan = scan_wal(posix_file_system(), dir,
                       [&](const SegmentInfo& seg, uint64_t offset, const Record& r) {
                         if (r.type == RecordType::kEntry) {
                           out.push_back({seg.path, offset, r.entry.data.size() + 17});
                         }
                         return Status::ok();
                       });
  EXPECT_TRUE(scan.is_ok()) << scan.status().to_string();
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  auto f = posix_file_system().open(path, OpenMode::kReadWrite);
  ASSERT_TRUE(f.is_ok());
  ASSERT_TRUE((*f)->truncate(0).is_ok());
  ASSERT_TRUE((*f)->pwrite(0, bytes).is_ok());
}

void write_log(const std::string& dir, uint64_t count, uint64_t term = 1, size_t size = 40) {
  auto wal = Wal::open(posix_file_system(), dir, kOptions);
  ASSERT_TRUE(wal.is_ok());
  ASSERT_TRUE((*wal)->append(make_entries(1, count, term, size)).is_ok());
  ASSERT_TRUE((*wal)->sync().is_ok());
}

TEST(Recovery, TornWriteAtEveryByteOfTheLastRecordKeepsEverythingBefore) {
  TempDir dir;
  write_log(dir.path(), 20);
  const auto positions = entry_positions(dir.path());
  ASSERT_EQ(positions.size(), 20u);
  const RecordPosition last = positions.back();
  const std::string original = *read_whole_file(posix_file_system(), last.path);
  const uint64_t record_len = kRecordHeaderSize + last.payload_len;
  for (uint64_t k = 0; k < record_len; ++k) {
    for (bool zero_fill : {true, false}) {
      SCOPED_TRACE(fmt::format("torn after {} of {} bytes, {}", k, record_len,
                               zero_fill ? "rest zeroed" : "file cut"));
      std::string torn = original;
      if (zero_fill) {
        std::fill(torn.begin() + static_cast<std::ptrdiff_t>(last.offset + k),
                  torn.begin() + static_cast<std::ptrdiff_t>(last.offset + record_len), '\0');
      } else {
        torn.resize(last.offset + k);
      }
      write_file(last.path, torn);
      {
        auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
        ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
        EXPECT_EQ((*wal)->last_index(), Index(19));
        auto got = (*wal)->entries(Index(1), Index(20), UINT64_MAX);
        ASSERT_TRUE(got.is_ok());
        EXPECT_EQ(*got, make_entries(1, 19, 1, 40));
        // The repaired log accepts new appends that survive the next restart.
        ASSERT_TRUE((*wal)->append(make_entries(20, 1, 2)).is_ok());
        ASSERT_TRUE((*wal)->sync().is_ok());
      }
      auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
      ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
      EXPECT_EQ(*(*wal)->term(Index(20)), Term(2));
    }
  }
}

TEST(Recovery, FlippedBitInAMiddleRecordIsRefusedWithAClearMessage) {
  TempDir dir;
  write_log(dir.path(), 20);
  const auto positions = entry_positions(dir.path());
  const RecordPosition middle = positions[9];
  std::string bytes = *read_whole_file(posix_file_system(), middle.path);
  bytes[middle.offset + kRecordHeaderSize + 20] ^= 0x04;
  write_file(middle.path, bytes);
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_FALSE(wal.is_ok());
  EXPECT_EQ(wal.code(), ErrorCode::kCorruption);
  const std::string message = wal.status().message();
  EXPECT_NE(message.find(middle.path), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("at offset {}", middle.offset)), std::string::npos) << message;
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("not a torn write"), std::string::npos) << message;
  EXPECT_NE(message.find("raftkv-wal verify"), std::string::npos) << message;
  EXPECT_NE(message.find("refusing to start"), std::string::npos) << message;
}

TEST(Recovery, BadRecordInAnEarlierSegmentIsRefused) {
  TempDir dir;
  write_log(dir.path(), 400, 1, 100);  // several segments
  const auto positions = entry_positions(dir.path());
  const RecordPosition first = positions[3];
  ASSERT_NE(first.path, positions.back().path);
  std::string bytes = *read_whole_file(posix_file_system(), first.path);
  bytes[first.offset + 4] ^= 0x01;  // the length field
  write_file(first.path, bytes);
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find(first.path), std::string::npos);
  EXPECT_NE(wal.status().message().find("not the last"), std::string::npos)
      << wal.status().message();
}

TEST(Recovery, MissingSegmentIsRefused) {
  TempDir dir;
  write_log(dir.path(), 400, 1, 100);
  ASSERT_TRUE(posix_file_system().remove(join_path(dir.path(), segment_file_name(2))).is_ok());
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("missing"), std::string::npos) << wal.status().message();
}

TEST(Recovery, SegmentOutOfOrderIsRefused) {
  TempDir dir;
  write_log(dir.path(), 400, 1, 100);
  const std::string a = join_path(dir.path(), segment_file_name(2));
  const std::string b = join_path(dir.path(), segment_file_name(3));
  const std::string a_bytes = *read_whole_file(posix_file_system(), a);
  write_file(a, *read_whole_file(posix_file_system(), b));
  write_file(b, a_bytes);
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kCorruption);
  EXPECT_NE(wal.status().message().find("out of order"), std::string::npos)
      << wal.status().message();
}

TEST(Recovery, NewerFormatVersionIsRefused) {
  TempDir dir;
  write_log(dir.path(), 5);
  const std::string path = join_path(dir.path(), segment_file_name(1));
  std::string bytes = *read_whole_file(posix_file_system(), path);
  bytes[8] = 2;
  write_file(path, bytes);
  auto wal = Wal::open(posix_file_system(), dir.path(), kOptions);
  ASSERT_EQ(wal.code(), ErrorCode::kVersionMismatch);
  EXPECT_NE(wal.status().message().find("newer raftkv"), std::string::npos)
      << wal.status().message();
  EXPECT_NE(wal.status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace raftkv::storage
