// Linearizable reads: ReadIndex (thesis §6.4) and lease reads (§6.4.1).
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

TEST(ReadIndex, ReturnsCommitIndexAfterHeartbeatRound) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "a").is_ok());
  c.reset_counts();
  ASSERT_TRUE(c.node(1).read_index(77).is_ok());
  c.stabilize();
  auto rs = c.take_read_states(1);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].context, 77u);
  EXPECT_EQ(rs[0].index, c.node(1).commit_index());
  EXPECT_EQ(c.delivered[MessageType::kHeartbeat], 2u) << "one round confirms leadership";
}

TEST(ReadIndex, ReadsArrivingDuringARoundShareTheNextRound) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.reset_counts();
  for (uint64_t ctx = 1; ctx <= 50; ++ctx) ASSERT_TRUE(c.node(1).read_index(ctx).is_ok());
  c.stabilize();
  EXPECT_EQ(c.take_read_states(1).size(), 50u);
  // The first read starts a round; the other 49 wait for it and share a second one.
  EXPECT_EQ(c.delivered[MessageType::kHeartbeat], 4u);
}

TEST(ReadIndex, StaleLeaderDoesNotServeReads) {
  // A leader cut off from the majority still believes it leads (check-quorum is off here, as in
  // the window before it would fire); its read must not complete, because the majority has
  // elected a new leader that committed a write the stale leader has not seen.
  TestCluster c(5, [](Config& cfg) { cfg.check_quorum = false; });
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "old").is_ok());
  c.partition({{1, 2}, {3, 4, 5}});
  for (int t = 0; t < 30; ++t) {
    for (uint64_t id = 3; id <= 5; ++id) c.tick(id);
    c.stabilize();
  }
  const uint64_t l = c.leader();
  ASSERT_GE(l, 3u);
  ASSERT_TRUE(c.propose(l, "new").is_ok());
  ASSERT_EQ(c.node(1).role(), Role::kLeader) << "the stale leader must still think it leads";
  ASSERT_TRUE(c.node(1).read_index(5).is_ok());
  c.tick(1, 3);
  c.stabilize();
  EXPECT_TRUE(c.take_read_states(1).empty()) << "stale leader served a read";
  // After healing, the stale leader steps down and its read is never answered with old data.
  c.heal();
  c.tick_all(3);
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  EXPECT_TRUE(c.take_read_states(1).empty());
}

TEST(ReadIndex, NewLeaderWaitsForItsFirstCommit) {
  // Thesis §6.4: until an entry of its term commits, a new leader's commit index may be stale.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.drop_types({MessageType::kAppResp});
  ASSERT_TRUE(c.node(1).transfer_leadership(NodeId(2)).is_ok());
  c.stabilize();
  ASSERT_EQ(c.node(2).role(), Role::kLeader);
  ASSERT_TRUE(c.node(2).read_index(9).is_ok());
  c.stabilize();
  EXPECT_TRUE(c.take_read_states(2).empty()) << "read served before the no-op committed";
  c.heal();
  c.tick_all(2);
  auto rs = c.take_read_states(2);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_GE(rs[0].index, c.node(2).commit_index() - 1);
  EXPECT_EQ(c.node(2).term_at(rs[0].index).value(), c.node(2).term());
}

TEST(ReadIndex, FollowerForwardsToLeader) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "a").is_ok());
  ASSERT_TRUE(c.node(3).read_index(11).is_ok());
  c.stabilize();
  auto rs = c.take_read_states(3);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].context, 11u);
  EXPECT_EQ(rs[0].index, c.node(1).commit_index());
}

TEST(ReadIndex, ForeignReadReachingAFollowerIsNotForwardedAgain) {
  // Found by raftkv-sim: node 3 forwarded a read to node 2 while 2 led; 2 had stepped down and
  // re-forwarded it, so the read state came back to the wrong node (and peers reject messages
  // whose sender is not the connection's peer).
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.reset_counts();
  ASSERT_TRUE(
      c.node(2)
          .step(Message{
              .type = MessageType::kReadIndex, .from = NodeId(3), .to = NodeId(2), .context = 5})
          .is_ok());
  c.stabilize();
  EXPECT_EQ(c.delivered[MessageType::kReadIndex], 0u);
  EXPECT_TRUE(c.take_read_states(2).empty());
  EXPECT_TRUE(c.take_read_states(3).empty());
}

TEST(ReadIndex, FollowerWithoutLeaderRefuses) {
  TestCluster c(3);
  EXPECT_EQ(c.node(2).read_index(1).code(), ErrorCode::kNotLeader);
}

TEST(LeaseRead, ServesWithoutRoundWhileLeaseHolds) {
  TestCluster c(3, [](Config& cfg) { cfg.read_mode = ReadMode::kLease; });
  c.tick_all(25);  // past the restart vote guard; elect someone
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  c.tick_all(2);  // a heartbeat round acknowledged by a quorum grants the lease
  ASSERT_TRUE(c.node(l).lease_valid());
  c.reset_counts();
  ASSERT_TRUE(c.node(l).read_index(3).is_ok());
  c.stabilize();
  EXPECT_EQ(c.take_read_states(l).size(), 1u);
  EXPECT_EQ(c.delivered[MessageType::kHeartbeat], 0u);
}

TEST(LeaseRead, LeaseExpiresWithoutQuorumBeforeAnotherLeaderCanExist) {
  TestCluster c(3, [](Config& cfg) { cfg.read_mode = ReadMode::kLease; });
  c.tick_all(25);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  c.tick_all(2);
  ASSERT_TRUE(c.node(l).lease_valid());
  c.isolate(l);
  // Tick only the old leader until its lease lapses; count the ticks.
  int ticks = 0;
  while (c.node(l).lease_valid() && ticks < 100) {
    c.tick(l);
    c.stabilize();
    ++ticks;
  }
  EXPECT_LE(ticks, 10 - 2) << "lease must lapse within election_ticks - margin";
}

TEST(LeaseRead, NoOtherLeaderWhileLeaseHolds) {
  // The majority side, ticking at the leader's rate, cannot elect a new leader while the old
  // leader still considers its lease valid.
  TestCluster c(3, [](Config& cfg) { cfg.read_mode = ReadMode::kLease; });
  c.tick_all(25);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  c.tick_all(2);
  c.isolate(l);
  for (int t = 0; t < 40; ++t) {
    c.tick_all(1);
    for (uint64_t id = 1; id <= 3; ++id) {
      if (id != l && c.node(id).role() == Role::kLeader) {
        EXPECT_FALSE(c.node(l).lease_valid()) << "two leaders while the old lease holds";
      }
    }
  }
  EXPECT_NE(c.leader(), 0u);
}

TEST(LeaseRead, TransferRevokesLease) {
  TestCluster c(3, [](Config& cfg) { cfg.read_mode = ReadMode::kLease; });
  c.tick_all(25);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  c.tick_all(2);
  ASSERT_TRUE(c.node(l).lease_valid());
  const uint64_t target = l == 1 ? 2 : 1;
  c.drop_types({MessageType::kTimeoutNow});
  c.isolate(target);
  ASSERT_TRUE(c.node(l).transfer_leadership(NodeId(target)).is_ok());
  EXPECT_FALSE(c.node(l).lease_valid());
}

}  // namespace
}  // namespace raftkv::raft::testing
