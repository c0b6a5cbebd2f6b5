// Issue 12, the safety fix: a node that lost its disk comes back as a new incarnation, which
// never votes for its old self, is never counted (votes, commit, check-quorum, reads), never
// campaigns, and is re-admitted by ordinary changes (membership_policy.h).
#include <gtest/gtest.h>

#include "raft/confchange.h"
#include "raft/membership_policy.h"
#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

using B = TestCluster::Bootstrap;

TestCluster bound(size_t n, TestCluster::ConfigTweak tweak = {}) {
  return TestCluster(n, std::move(tweak), 1, B::kBound);
}

void wipe_and_restart(TestCluster& c, uint64_t id) {
  c.crash(id);
  c.wipe(id);
  c.restart(id);
}

TEST(Incarnation, BoundBootstrapRecordsEveryIncarnation) {
  TestCluster c = bound(3);
  ASSERT_TRUE(c.elect(1));
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(recorded_incarnation(c.node(2).conf_state(), NodeId(id)), c.incarnation(id));
  }
  for (const FollowerStatus& f : c.node(1).follower_status()) {
    EXPECT_EQ(f.incarnation, c.incarnation(f.id.value()));
    EXPECT_TRUE(f.voter);
  }
}

// The issue's sequence: an acknowledged write on {3, 1}; 3 and 1 die, 1's disk is wiped; 2
// (which missed the write) must not become leader with the wiped 1's vote and overwrite it.
void issue_sequence(TestCluster::ConfigTweak tweak) {
  TestCluster c = bound(3, std::move(tweak));
  ASSERT_TRUE(c.elect(3));
  c.crash(2);
  ASSERT_TRUE(c.propose(3, "wipe2").is_ok());
  ASSERT_EQ(c.applied_data(3).back(), "wipe2");  // acknowledged
  c.crash(3);
  wipe_and_restart(c, 1);
  c.restart(2);
  c.tick_all(100);
  EXPECT_EQ(c.leader(), 0u) << "elected with the vote of a node that lost its disk";
  EXPECT_TRUE(c.node(1).hard_state().vote.is_none() || c.node(1).hard_state().vote == NodeId(3));
  c.restart(3);
  c.tick_all(60);
  ASSERT_NE(c.leader(), 0u);
  EXPECT_EQ(c.applied_data(2).back(), "wipe2");
  EXPECT_EQ(c.applied_data(3).back(), "wipe2");
}

TEST(Incarnation, TheIssueSequenceKeepsTheAcknowledgedWrite) {
  issue_sequence({});
}

TEST(Incarnation, TheIssueSequenceWithoutPreVoteOrCheckQuorum) {
  issue_sequence([](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
}

TEST(Incarnation, AVoterGrantsOnlyRequestsForItsOwnIncarnation) {
  TestCluster c = bound(3, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.stabilize();
  const Term next = c.node(3).term() + 1;
  Message vote{.type = MessageType::kVote,
               .from = NodeId(1),
               .to = NodeId(3),
               .term = next,
               .log_term = Term(1),
               .index = Index(1)};
  vote.to_incarnation = c.incarnation(3) + 1;  // another incarnation of node 3
  ASSERT_TRUE(c.node(3).step(vote).is_ok());
  EXPECT_TRUE(c.node(3).voted_for().is_none());
  vote.to_incarnation = c.incarnation(3);
  ASSERT_TRUE(c.node(3).step(vote).is_ok());
  EXPECT_EQ(c.node(3).voted_for(), NodeId(1));
}

TEST(Incarnation, VotesFromAnotherIncarnationAreNotCounted) {
  TestCluster c = bound(3, [](Config& cfg) { cfg.pre_vote = false; });
  c.stabilize();
  c.isolate(1);
  ASSERT_TRUE(c.node(1).campaign().is_ok());
  c.stabilize();  // its own vote comes back once durable
  ASSERT_EQ(c.node(1).role(), Role::kCandidate);
  Message grant{
      .type = MessageType::kVoteResp, .from = NodeId(2), .to = NodeId(1), .term = c.node(1).term()};
  grant.from_incarnation = c.incarnation(2) + 1;
  ASSERT_TRUE(c.node(1).step(grant).is_ok());
  EXPECT_EQ(c.node(1).role(), Role::kCandidate);
  grant.from_incarnation = c.incarnation(2);
  ASSERT_TRUE(c.node(1).step(grant).is_ok());
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

TEST(Incarnation, AcknowledgementsOfAnotherIncarnationCountForNothing) {
  TestCluster c = bound(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "before").is_ok());
  wipe_and_restart(c, 3);
  c.isolate(2);
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "only the wiped one has it").is_ok());
  c.tick_all(3);
  EXPECT_EQ(c.node(1).commit_index(), commit);
  EXPECT_EQ(c.node(3).last_index(), c.node(1).last_index());  // it follows and replicates
  for (const FollowerStatus& f : c.node(1).follower_status()) {
    if (f.id != NodeId(3)) continue;
    EXPECT_EQ(f.incarnation, c.incarnation(3));  // the new one
    EXPECT_EQ(f.match, c.node(1).last_index());
  }
  // Reads are not confirmed by it either.
  ASSERT_TRUE(c.node(1).read_index(5).is_ok());
  c.tick(1, 2);
  c.stabilize();
  EXPECT_TRUE(c.take_read_states(1).empty());
  // Nor is check-quorum satisfied: the leader steps down.
  c.tick_all(25);
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  c.heal();
  c.tick_all(40);
  ASSERT_NE(c.leader(), 0u);
  EXPECT_EQ(c.applied_data(2).back(), "only the wiped one has it");
}

TEST(Incarnation, ProgressStartsOverForANewIncarnation) {
  TestCluster c = bound(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "x").is_ok());
  c.crash(3);
  c.wipe(3);
  c.restart(3);
  c.tick(1, 1);  // a heartbeat; the new incarnation answers
  c.deliver_filter = [](const Message& m) { return m.type != MessageType::kApp; };
  c.stabilize();
  c.deliver_filter = nullptr;
  for (const FollowerStatus& f : c.node(1).follower_status()) {
    if (f.id != NodeId(3)) continue;
    EXPECT_EQ(f.incarnation, c.incarnation(3));
    EXPECT_EQ(f.match, Index());
    EXPECT_EQ(f.state, ProgressState::kProbe);
  }
}

TEST(Incarnation, AStaleIncarnationNeverCampaigns) {
  TestCluster c = bound(3);
  ASSERT_TRUE(c.elect(1));
  wipe_and_restart(c, 3);
  c.tick_all(3);  // it learns the membership from the log: node 3 is recorded with the old one
  ASSERT_EQ(c.node(3).conf_state().voters.size(), 3u);
  ASSERT_NE(recorded_incarnation(c.node(3).conf_state(), NodeId(3)), c.incarnation(3));
  c.isolate(3);
  const Term term = c.node(3).term();
  c.tick(3, 200);
  c.stabilize();
  EXPECT_EQ(c.node(3).term(), term);
  EXPECT_EQ(c.node(3).role(), Role::kFollower);
  EXPECT_TRUE(c.node(3).campaign().is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(3).role(), Role::kFollower);
}

// The leader's policy heals a wiped voter: learner of the new incarnation, then voter.
TEST(Incarnation, AWipedVoterIsReadmittedAndCountsAgain) {
  TestCluster c = bound(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "before").is_ok());
  c.snapshot_and_compact(1);  // the wiped node catches up by snapshot
  wipe_and_restart(c, 3);
  c.tick_all(2);
  auto policy = [&] {
    return next_membership_change(c.node(1).conf_state(), NodeId(1), c.node(1).commit_index(),
                                  c.node(1).follower_status(), {}, {});
  };
  std::optional<ConfChange> cc = policy();
  ASSERT_TRUE(cc.has_value());
  ASSERT_EQ(cc->changes.size(), 1u);
  EXPECT_EQ(cc->changes[0].type, ConfChangeType::kAddLearner);
  EXPECT_EQ(cc->changes[0].info.incarnation, c.incarnation(3));
  EXPECT_EQ(cc->changes[0].info.peer_addr, "n3:7000");  // the addresses are kept
  ASSERT_TRUE(c.node(1).propose_conf_change(*cc).is_ok());
  c.stabilize();
  c.tick_all(3);
  ASSERT_EQ(c.node(1).conf_state().learners, std::vector<NodeId>{NodeId(3)});
  cc = policy();
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(cc->changes[0].type, ConfChangeType::kAddVoter);
  EXPECT_EQ(cc->changes[0].info.incarnation, c.incarnation(3));
  ASSERT_TRUE(c.node(1).propose_conf_change(*cc).is_ok());
  c.stabilize();
  c.tick_all(2);
  EXPECT_FALSE(policy().has_value());
  EXPECT_EQ(c.node(1).conf_state().voters.size(), 3u);
  EXPECT_EQ(recorded_incarnation(c.node(2).conf_state(), NodeId(3)), c.incarnation(3));
  EXPECT_EQ(c.applied_data(3), c.applied_data(1));
  // It counts again: {1 3} commit without 2.
  c.isolate(2);
  ASSERT_TRUE(c.propose(1, "with the new 3").is_ok());
  EXPECT_EQ(c.applied_data(3).back(), "with the new 3");
}

}  // namespace
}  // namespace raftkv::raft::testing
