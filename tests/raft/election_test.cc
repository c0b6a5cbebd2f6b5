// Elections: Raft §5.2, PreVote (thesis §9.6), CheckQuorum (thesis §6.2), transfer (§3.10).
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

TEST(Election, InitialElectionByTimeout) {
  // §5.2: followers that hear from no leader time out and elect one.
  TestCluster c(3);
  c.tick_all(25);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.node(id).leader(), NodeId(l));
    EXPECT_EQ(c.node(id).term(), c.node(l).term());
  }
}

TEST(Election, ReElectionAfterLeaderLoss) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const Term t1 = c.node(1).term();
  c.crash(1);
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  EXPECT_NE(l, 1u);
  EXPECT_GT(c.node(l).term(), t1);
}

TEST(Election, NoLeaderWithoutQuorum) {
  // §5.2: a candidate needs votes from a majority.
  TestCluster c(5);
  c.partition({{1, 2}, {3}, {4}, {5}});
  c.tick_all(100);
  EXPECT_EQ(c.leader(), 0u);
  c.heal();
  c.tick_all(40);
  EXPECT_NE(c.leader(), 0u);
}

TEST(Election, AtMostOneLeaderPerTermUnderChurn) {
  // §5.2 Election Safety, across many partitions and crashes.
  TestCluster c(5, {}, 7);
  std::map<Term, uint64_t> leaders;
  SeededRng rng(42);
  for (int round = 0; round < 60; ++round) {
    c.heal();
    const uint64_t a = rng.range(1, 5), b = rng.range(1, 5);
    if (a != b) c.isolate(a);
    if (rng.chance(0.3)) c.crash(b);
    for (int t = 0; t < 15; ++t) {
      c.tick_all(1);
      for (uint64_t id = 1; id <= 5; ++id) {
        if (!c.alive(id) || c.node(id).role() != Role::kLeader) continue;
        auto [it, inserted] = leaders.emplace(c.node(id).term(), id);
        ASSERT_TRUE(inserted || it->second == id) << "two leaders in term " << it->first;
      }
    }
    for (uint64_t id = 1; id <= 5; ++id) {
      if (!c.alive(id)) c.restart(id);
    }
  }
  EXPECT_GT(leaders.size(), 5u);
}

TEST(Election, VoteRequiresUpToDateLog) {
  // §5.4.1: a voter denies its vote to a candidate whose log is less up to date.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, "x").is_ok());
  c.heal();
  c.crash(1);
  c.isolate(1);
  // Node 3 lacks "x": node 2 must refuse it, so only 2 can win.
  EXPECT_FALSE(c.elect(3));
  EXPECT_TRUE(c.elect(2));
}

TEST(Election, PreVoteKeepsRejoiningNodeFromDisruptingLeader) {
  // Thesis §9.6: a node partitioned away keeps failing pre-votes; it does not raise its term,
  // so when it rejoins the leader continues undisturbed.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const Term t = c.node(1).term();
  c.isolate(3);
  c.tick_all(100);
  EXPECT_EQ(c.node(3).term(), t) << "pre-vote must not increase the term";
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).term(), t);
}

TEST(Election, WithoutPreVoteRejoiningNodeDisruptsLeader) {
  // The counterfactual of the test above: it shows what PreVote prevents.
  TestCluster c(3, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  ASSERT_TRUE(c.elect(1));
  const Term t = c.node(1).term();
  c.isolate(3);
  c.tick_all(100);
  EXPECT_GT(c.node(3).term(), t);
  c.heal();
  c.tick_all(30);
  EXPECT_GT(c.node(c.leader()).term(), t + 1);
}

TEST(Election, StaleCandidateCannotHoldOffElectionsWithoutPreVote) {
  // Raft Figure 2: learning a higher term from a candidate does not reset the election timer.
  // Found by raftkv-sim (seed 21548): a node with a stale log campaigning over and over kept
  // the up-to-date node's timer from ever firing, so no leader was elected.
  TestCluster c(3, [](Config& cfg) { cfg.pre_vote = false; });
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, "x").is_ok());  // node 3 lacks it: it can never win
  c.crash(1);
  c.heal();
  uint64_t leader = 0;
  for (int t = 0; t < 60 && leader == 0; ++t) {
    c.tick(2);
    c.stabilize();
    leader = c.leader();
    if (leader != 0) break;
    ASSERT_TRUE(c.node(3).campaign().is_ok());  // as fast as it can, every tick
    c.stabilize();
    leader = c.leader();
  }
  EXPECT_EQ(leader, 2u);
}

TEST(Election, CheckQuorumStepsDownIsolatedLeader) {
  // Thesis §6.2: a leader that hears from no quorum for an election timeout steps down.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(1);
  c.tick(1, 25);
  c.stabilize();
  EXPECT_NE(c.node(1).role(), Role::kLeader);
}

TEST(Election, LeaseIgnoresVoteRequestsWhileLeaderIsHeard) {
  // Thesis §4.2.3: with check-quorum, a follower that hears from its leader ignores a vote
  // request from a node that skipped pre-vote (e.g. one whose timer misfired).
  TestCluster c(3, [](Config& cfg) { cfg.pre_vote = false; });
  ASSERT_TRUE(c.elect(1));
  const Term t = c.node(1).term();
  ASSERT_TRUE(c.node(3).campaign().is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(2).term(), t) << "node 2 must ignore the higher-term vote request";
  EXPECT_EQ(c.node(2).voted_for(), NodeId(1));
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_NE(c.node(3).role(), Role::kLeader);
}

TEST(Election, LeadershipTransfer) {
  // Thesis §3.10: the leader brings the target up to date and sends TimeoutNow.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, "a").is_ok());
  c.heal();
  ASSERT_TRUE(c.node(1).transfer_leadership(NodeId(3)).is_ok());
  // While transferring, proposals are refused.
  EXPECT_EQ(c.node(1).propose("b").code(), ErrorCode::kProposalDropped);
  c.stabilize();
  EXPECT_EQ(c.leader(), 3u);
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  ASSERT_TRUE(c.propose(3, "c").is_ok());
  EXPECT_EQ(c.applied_data(1), (std::vector<std::string>{"a", "c"}));
}

TEST(Election, LeadershipTransferRequestedAtFollowerIsForwarded) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.node(2).transfer_leadership(NodeId(3)).is_ok());
  c.stabilize();
  EXPECT_EQ(c.leader(), 3u);
}

TEST(Election, LeadershipTransferToUnreachableTargetTimesOut) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  ASSERT_TRUE(c.node(1).transfer_leadership(NodeId(3)).is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(1).propose("x").code(), ErrorCode::kProposalDropped);
  c.tick(1, 11);  // one election timeout
  c.stabilize();
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_TRUE(c.propose(1, "y").is_ok());
}

TEST(Election, SingleNodeElectsItselfAfterPersistingItsVote) {
  TestCluster c(1);
  ASSERT_TRUE(c.elect(1));
  EXPECT_EQ(c.storage(1).initial_state().hard_state.vote, NodeId(1));
  ASSERT_TRUE(c.propose(1, "solo").is_ok());
  EXPECT_EQ(c.applied_data(1), std::vector<std::string>{"solo"});
}

}  // namespace
}  // namespace raftkv::raft::testing
