// Snapshots in the core: InstallSnapshot to a lagging follower (Raft §7), restart from one.
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

TEST(Snapshot, LaggingFollowerCatchesUpBySnapshot) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.crash(3);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  c.snapshot_and_compact(1);
  ASSERT_GT(c.node(1).first_index(), Index(2));
  c.restart(3);
  c.reset_counts();
  c.tick_all(3);
  EXPECT_EQ(c.delivered[MessageType::kSnap], 1u);
  EXPECT_EQ(c.applied_data(3), c.applied_data(1));
  ASSERT_TRUE(c.propose(1, "after").is_ok());
  EXPECT_EQ(c.applied_data(3).back(), "after");
}

TEST(Snapshot, FailedSnapshotSendIsRetried) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.crash(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  c.snapshot_and_compact(1);
  c.restart(3);
  c.drop_types({MessageType::kSnap});
  c.tick_all(2);
  c.node(1).report_snapshot(NodeId(3), false);
  c.heal();
  c.tick_all(3);
  EXPECT_EQ(c.applied_data(3), c.applied_data(1));
}

TEST(Snapshot, RestartFromSnapshotAndLogTail) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  for (uint64_t id = 1; id <= 3; ++id) c.snapshot_and_compact(id, 2);
  for (int i = 10; i < 15; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  const auto want = c.applied_data(1);
  for (uint64_t id = 1; id <= 3; ++id) c.crash(id);
  for (uint64_t id = 1; id <= 3; ++id) c.restart(id);
  c.tick_all(30);
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(c.applied_data(id), want) << "node " << id;
}

TEST(Snapshot, FollowerThatLostItsLogIsReprobedAndGetsASnapshot) {
  // A follower whose disk was wiped still has the leader's trust (match); its heartbeat
  // responses reveal the loss and the leader finds its log again, here by snapshot.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  c.snapshot_and_compact(1);
  c.crash(3);
  c.wipe(3);
  c.restart(3);
  c.reset_counts();
  c.tick_all(3);
  EXPECT_EQ(c.delivered[MessageType::kSnap], 1u);
  EXPECT_EQ(c.applied_data(3), c.applied_data(1));
}

TEST(Snapshot, StaleSnapshotIsIgnored) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  auto snap = std::make_shared<Snapshot>();
  snap->meta = SnapshotMeta{Index(2), c.node(1).term(), c.node(1).conf_state()};
  const Index commit = c.node(2).commit_index();
  ASSERT_TRUE(c.node(2)
                  .step(Message{.type = MessageType::kSnap,
                                .from = NodeId(1),
                                .to = NodeId(2),
                                .term = c.node(1).term(),
                                .snapshot = snap})
                  .is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(2).commit_index(), commit);
  EXPECT_EQ(c.applied_data(2).size(), 5u);
}

}  // namespace
}  // namespace raftkv::raft::testing
