// The data directory's identity file (storage/node_identity.h): created once, read back, and
// refused with a clear error when it belongs to another node or is damaged.
#include "storage/node_identity.h"

#include <fstream>

#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "storage/fault_file_system.h"
#include "storage/wal.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(NodeIdentity, CreatedOnceThenReadBack) {
  TempDir dir;
  auto first = load_or_create_identity(posix_file_system(), dir.path(), NodeId(3), 0xabcdef);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_TRUE(first->created);
  EXPECT_FALSE(first->existing_data);
  EXPECT_EQ(first->identity, (NodeIdentity{NodeId(3), 0xabcdef}));
  EXPECT_EQ(read_file(dir.path() + "/IDENTITY"),
            "raftkv-identity 1\nnode 3\nincarnation 0000000000abcdef\ncrc32c " +
                fmt::format("{:08x}", crc32c("raftkv-identity 1\nnode 3\n"
                                             "incarnation 0000000000abcdef\n")) +
                "\n");
  // A later start keeps the incarnation it was created with, whatever it is offered.
  auto again = load_or_create_identity(posix_file_system(), dir.path(), NodeId(3), 0x1234);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->identity.incarnation, 0xabcdefu);
}

TEST(NodeIdentity, AnotherNodesDirectoryIsRefused) {
  TempDir dir;
  ASSERT_TRUE(load_or_create_identity(posix_file_system(), dir.path(), NodeId(2), 7).is_ok());
  auto other = load_or_create_identity(posix_file_system(), dir.path(), NodeId(5), 9);
  ASSERT_FALSE(other.is_ok());
  EXPECT_EQ(other.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(other.status().message().find("belongs to node 2"), std::string::npos)
      << other.status().message();
  EXPECT_NE(other.status().message().find("not to node 5"), std::string::npos);
}

TEST(NodeIdentity, DamagedFileIsAClearError) {
  TempDir dir;
  ASSERT_TRUE(load_or_create_identity(posix_file_system(), dir.path(), NodeId(2), 7).is_ok());
  const std::string path = dir.path() + "/IDENTITY";
  const std::string good = read_file(path);
  // One flipped digit (the CRC catches it), a torn file, garbage, an empty file.
  std::string flipped = good;
  flipped[flipped.find("node 2") + 5] = '4';
  for (const std::string& bad :
       {flipped, good.substr(0, good.size() / 2), std::string("xyz\n"), std::string()}) {
    write_file(path, bad);
    auto r = load_or_create_identity(posix_file_system(), dir.path(), NodeId(2), 7);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.code(), ErrorCode::kCorruption) << bad;
    EXPECT_NE(r.status().message().find("is damaged"), std::string::npos) << r.status().message();
  }
  // A zero incarnation with a valid CRC is refused too (0 means "unbound" in the membership).
  std::string zero = "raftkv-identity 1\nnode 2\nincarnation 0000000000000000\n";
  write_file(path, zero + fmt::format("crc32c {:08x}\n", crc32c(zero)));
  EXPECT_EQ(load_or_create_identity(posix_file_system(), dir.path(), NodeId(2), 7).code(),
            ErrorCode::kCorruption);
  // A newer format version.
  std::string v2 = "raftkv-identity 2\nnode 2\nincarnation 0000000000000007\n";
  write_file(path, v2 + fmt::format("crc32c {:08x}\n", crc32c(v2)));
  EXPECT_EQ(load_or_create_identity(posix_file_system(), dir.path(), NodeId(2), 7).code(),
            ErrorCode::kVersionMismatch);
}

TEST(NodeIdentity, ExistingDataDirGetsAnIdentity) {
  // A directory written before identities existed: a WAL, no IDENTITY.
  TempDir dir;
  {
    auto wal = Wal::open(posix_file_system(), dir.path());
    ASSERT_TRUE(wal.is_ok());
    ASSERT_TRUE((*wal)
                    ->append({raft::Entry{Term(1), Index(1), raft::EntryType::kNormal, {}}},
                             raft::HardState{Term(1), NodeId(1), Index(1)})
                    .is_ok());
    ASSERT_TRUE((*wal)->sync().is_ok());
  }
  auto r = load_or_create_identity(posix_file_system(), dir.path(), NodeId(1), 99);
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r->created);
  EXPECT_TRUE(r->existing_data);
  // The WAL recovers beside it (the identity file is not one of its files).
  auto wal = Wal::open(posix_file_system(), dir.path());
  ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
  EXPECT_EQ((*wal)->last_index(), Index(1));
}

TEST(NodeIdentity, FailedWriteLeavesNoIdentity) {
  // The write is atomic: a failed fsync leaves no IDENTITY (the next start tries afresh), and a
  // leftover temp file is replaced.
  TempDir dir;
  FaultInjectingFileSystem faulty(posix_file_system());
  faulty.fail_sync_after(1);
  auto r = load_or_create_identity(faulty, dir.path(), NodeId(1), 5);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("cannot write"), std::string::npos);
  auto names = posix_file_system().list_dir(dir.path());
  ASSERT_TRUE(names.is_ok());
  for (const auto& n : *names) EXPECT_NE(n, "IDENTITY");
  auto ok = load_or_create_identity(posix_file_system(), dir.path(), NodeId(1), 6);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->identity.incarnation, 6u);
  EXPECT_FALSE(ok->existing_data);  // the temp file is not data
}

TEST(NodeIdentity, RandomIncarnationsAreNonZeroAndDiffer) {
  const uint64_t a = random_incarnation(), b = random_incarnation();
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);  // 2^-64 chance of a false failure
}

}  // namespace
}  // namespace raftkv::storage
