// The snapshot file's membership header: a joint membership with member records round-trips
// (format 3), files of format 2 (no joint fields, no records) still load as a plain membership
// of unbound members, and a header whose membership breaks the ConfState rules is refused.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "storage/wal_format.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using testing::TempDir;

raft::ConfState joint_conf() {
  raft::ConfState c;
  c.voters = {NodeId(1), NodeId(2), NodeId(4)};
  c.voters_outgoing = {NodeId(1), NodeId(2), NodeId(3)};
  c.learners = {NodeId(5)};
  c.learners_next = {NodeId(3)};
  c.auto_leave = true;
  c.members[NodeId(1)] = raft::MemberInfo{0xAAAA, "10.0.0.1:7001", "10.0.0.1:6379"};
  c.members[NodeId(2)] = raft::MemberInfo{0, "", ""};  // unbound, no addresses
  c.members[NodeId(3)] = raft::MemberInfo{0xCCCC, "n3:7001", "n3:6379"};
  c.members[NodeId(4)] = raft::MemberInfo{~uint64_t{0}, std::string(300, 'a'), "n4:1"};
  c.members[NodeId(5)] = raft::MemberInfo{5, "n5:7001", ""};
  return c;
}

// A format-2 file as the previous build wrote it.
std::string version2_file(Index index, Term term, const std::vector<NodeId>& voters,
                          const std::vector<NodeId>& learners, std::string_view data) {
  std::string out(kSnapshotMagic, sizeof(kSnapshotMagic));
  put_u32(&out, 2);
  put_u32(&out, 0);
  put_u64(&out, index.value());
  put_u64(&out, term.value());
  put_u32(&out, static_cast<uint32_t>(voters.size()));
  put_u32(&out, static_cast<uint32_t>(learners.size()));
  for (NodeId id : voters) put_u64(&out, id.value());
  for (NodeId id : learners) put_u64(&out, id.value());
  out.append(data);
  put_u64(&out, data.size());
  put_u32(&out, crc32c(out.data(), out.size()));
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  auto f = posix_file_system().open(path, OpenMode::kCreateExclusive);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  ASSERT_TRUE((*f)->pwrite(0, bytes).is_ok());
}

TEST(SnapshotFileMembership, JointMembershipWithRecordsRoundTrips) {
  TempDir dir;
  const std::string path = dir.path() + "/joint.snap";
  raft::Snapshot snap;
  snap.meta = raft::SnapshotMeta{Index(42), Term(7), joint_conf()};
  snap.data = "state machine bytes";
  ASSERT_TRUE(write_snapshot_file(posix_file_system(), path, snap).is_ok());
  auto back = read_snapshot_file(posix_file_system(), path);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->meta, snap.meta);
  EXPECT_TRUE(back->meta.conf.joint());
  EXPECT_EQ(back->data, snap.data);

  // Every byte of the header is covered by the checksum.
  const std::string good = *read_whole_file(posix_file_system(), path);
  const size_t header = good.size() - snap.data.size() - kSnapshotTrailerSize;
  for (size_t at = 0; at < header; ++at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    const std::string bad_path = dir.path() + fmt::format("/bad{}.snap", at);
    write_file(bad_path, bad);
    EXPECT_FALSE(read_snapshot_file(posix_file_system(), bad_path).is_ok()) << "byte " << at;
  }
}

TEST(SnapshotFileMembership, Version2FilesStillLoad) {
  TempDir dir;
  const std::string path = dir.path() + "/old.snap";
  write_file(path,
             version2_file(Index(9), Term(2), {NodeId(1), NodeId(2), NodeId(3)}, {NodeId(4)}, "x"));
  auto back = read_snapshot_file(posix_file_system(), path);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->meta.index, Index(9));
  EXPECT_EQ(back->meta.term, Term(2));
  EXPECT_EQ(back->meta.conf.voters, (std::vector<NodeId>{NodeId(1), NodeId(2), NodeId(3)}));
  EXPECT_EQ(back->meta.conf.learners, std::vector<NodeId>{NodeId(4)});
  EXPECT_FALSE(back->meta.conf.joint());
  EXPECT_TRUE(back->meta.conf.members.empty());  // unbound
  EXPECT_EQ(back->data, "x");
}

TEST(SnapshotFileMembership, OtherVersionsAndBadMembershipsAreRefused) {
  TempDir dir;
  std::string v1 = version2_file(Index(9), Term(2), {NodeId(1)}, {}, "x");
  v1[8] = 1;
  write_file(dir.path() + "/v1.snap", v1);
  EXPECT_EQ(SnapshotFileReader::open(posix_file_system(), dir.path() + "/v1.snap").code(),
            ErrorCode::kVersionMismatch);

  // Checksums are right; the membership is not: a voter that is also a learner.
  write_file(dir.path() + "/overlap.snap",
             version2_file(Index(9), Term(2), {NodeId(1), NodeId(2)}, {NodeId(2)}, "x"));
  auto overlap = SnapshotFileReader::open(posix_file_system(), dir.path() + "/overlap.snap");
  EXPECT_EQ(overlap.code(), ErrorCode::kCorruption);
  EXPECT_NE(overlap.status().message().find("both a voter and a learner"), std::string::npos)
      << overlap.status().to_string();

  // A record for a node that is not a member, written by this build's writer.
  raft::Snapshot snap;
  snap.meta = raft::SnapshotMeta{Index(3), Term(1), raft::ConfState{{NodeId(1)}, {}}};
  snap.meta.conf.members[NodeId(8)] = raft::MemberInfo{1, "", ""};
  ASSERT_TRUE(write_snapshot_file(posix_file_system(), dir.path() + "/stray.snap", snap).is_ok());
  EXPECT_EQ(read_snapshot_file(posix_file_system(), dir.path() + "/stray.snap").code(),
            ErrorCode::kCorruption);
}

}  // namespace
}  // namespace raftkv::storage
