// Joint consensus (thesis §4.3; etcd's ConfChangeV2): entering and leaving a joint
// configuration, both majorities for commitment, elections, check-quorum and reads while
// joint, learners_next, and a snapshot that carries a joint configuration.
#include <gtest/gtest.h>

#include "raft/confchange.h"
#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

std::vector<NodeId> ids(std::initializer_list<uint64_t> v) {
  std::vector<NodeId> out;
  for (uint64_t x : v) out.emplace_back(x);
  return out;
}
ConfChangeSingle voter(uint64_t id) {
  return {ConfChangeType::kAddVoter, NodeId(id), {}};
}
ConfChangeSingle learner(uint64_t id) {
  return {ConfChangeType::kAddLearner, NodeId(id), {}};
}
ConfChangeSingle removal(uint64_t id) {
  return {ConfChangeType::kRemoveNode, NodeId(id), {}};
}

void change(TestCluster& c, uint64_t leader, const ConfChange& cc) {
  const Status s = c.node(leader).propose_conf_change(cc);
  ASSERT_TRUE(s.is_ok()) << describe_change(cc) << ": " << s.to_string();
  c.stabilize();
}

// Voters 1 2 3 with node 1 leading, and learners 4 and 5 caught up.
TestCluster three_voters_two_learners() {
  TestCluster c(3);
  EXPECT_TRUE(c.elect(1));
  EXPECT_EQ(c.add_node(), 4u);
  EXPECT_EQ(c.add_node(), 5u);
  change(c, 1, ConfChange{ConfChangeTransition::kAuto, {learner(4)}});
  change(c, 1, ConfChange{ConfChangeTransition::kAuto, {learner(5)}});
  EXPECT_TRUE(c.propose(1, "before").is_ok());
  EXPECT_EQ(c.node(1).conf_state().learners, ids({4, 5}));
  return c;
}

// {1 2 3} -> {1 4 5}, left only by an explicit empty change.
const ConfChange kReplaceTwo{ConfChangeTransition::kJointExplicit,
                             {voter(4), voter(5), removal(2), removal(3)}};

TEST(Joint, CommitNeedsBothMajorities) {
  TestCluster c = three_voters_two_learners();
  change(c, 1, kReplaceTwo);
  const ConfState& conf = c.node(1).conf_state();
  ASSERT_TRUE(conf.joint());
  EXPECT_EQ(conf.voters, ids({1, 4, 5}));
  EXPECT_EQ(conf.voters_outgoing, ids({1, 2, 3}));
  EXPECT_EQ(c.node(4).conf_state(), conf);

  // The outgoing majority alone (1 2 3) does not commit...
  c.partition({{1, 2, 3}, {4, 5}});
  Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "needs the new majority").is_ok());
  EXPECT_EQ(c.node(1).commit_index(), commit);
  c.heal();
  c.tick_all(2);
  EXPECT_GT(c.node(1).commit_index(), commit);
  // ...and neither does the incoming one alone (1 4 5).
  c.partition({{1, 4, 5}, {2, 3}});
  commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "needs the old majority").is_ok());
  EXPECT_EQ(c.node(1).commit_index(), commit);
  c.heal();
  c.tick_all(2);
  EXPECT_GT(c.node(1).commit_index(), commit);
  EXPECT_EQ(c.applied_data(5).back(), "needs the old majority");
}

TEST(Joint, ExplicitJointStaysUntilTheEmptyChange) {
  TestCluster c = three_voters_two_learners();
  change(c, 1, kReplaceTwo);
  c.tick_all(50);
  ASSERT_TRUE(c.node(1).conf_state().joint());
  const Status simple =
      c.node(1).propose_conf_change(ConfChange::single(ConfChangeType::kRemoveNode, NodeId(4)));
  EXPECT_EQ(simple.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(simple.message().find("leave it"), std::string::npos) << simple.message();
  change(c, 1, ConfChange::leave_joint());
  const ConfState& conf = c.node(1).conf_state();
  EXPECT_FALSE(conf.joint());
  EXPECT_EQ(conf.voters, ids({1, 4, 5}));
  EXPECT_TRUE(conf.learners.empty());
  // 2 and 3 are no longer members: the new majority commits alone.
  c.isolate(2);
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, "new config").is_ok());
  EXPECT_EQ(c.applied_data(4).back(), "new config");
}

TEST(Joint, AutoLeaveIsProposedByTheLeaderOnceApplied) {
  TestCluster c = three_voters_two_learners();
  const Index before = c.node(1).last_index();
  // kAuto with more than one change: joint, left automatically.
  change(c, 1, ConfChange{ConfChangeTransition::kAuto, {voter(4), removal(3)}});
  c.tick_all(1);
  const ConfState& conf = c.node(1).conf_state();
  EXPECT_FALSE(conf.joint());
  EXPECT_EQ(conf.voters, ids({1, 2, 4}));
  EXPECT_EQ(conf.learners, ids({5}));
  // Two entries: the joint one and the leader's empty leave.
  auto ents = c.node(1).entries(before + 1, c.node(1).last_index() + 1);
  ASSERT_TRUE(ents.is_ok());
  size_t conf_entries = 0;
  for (const Entry& e : *ents) {
    if (e.type != EntryType::kConfChange) continue;
    ++conf_entries;
    auto cc = ConfChange::decode(e.data);
    ASSERT_TRUE(cc.has_value());
    if (conf_entries == 2) {
      EXPECT_TRUE(cc->is_leave_joint());
    }
  }
  EXPECT_EQ(conf_entries, 2u);
  for (uint64_t id = 2; id <= 5; ++id) EXPECT_EQ(c.node(id).conf_state(), conf) << id;
}

TEST(Joint, AutoLeaveByANewLeader) {
  // The leader that entered the joint configuration dies before leaving it: its successor
  // leaves (etcd: the leader proposes the leave once the joint configuration is applied).
  TestCluster c = three_voters_two_learners();
  // The followers apply the joint entry but never receive the leave.
  c.deliver_filter = [](const Message& m) {
    for (const Entry& e : m.entries) {
      if (e.type == EntryType::kConfChange && ConfChange::decode(e.data)->is_leave_joint()) {
        return false;
      }
    }
    return true;
  };
  change(c, 1, ConfChange{ConfChangeTransition::kJointImplicit, {voter(4)}});
  c.tick(1, 1);  // heartbeats tell the followers the joint entry is committed
  c.stabilize();
  ASSERT_TRUE(c.node(2).conf_state().joint());
  ASSERT_TRUE(c.node(1).conf_state().joint());  // its leave is not committed
  c.crash(1);
  c.deliver_filter = nullptr;
  c.tick_all(40);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  ASSERT_NE(l, 1u);
  c.tick_all(2);
  EXPECT_FALSE(c.node(l).conf_state().joint());
  EXPECT_EQ(c.node(l).conf_state().voters, ids({1, 2, 3, 4}));
}

TEST(Joint, ElectionsNeedBothMajorities) {
  TestCluster c = three_voters_two_learners();
  change(c, 1, kReplaceTwo);
  c.crash(1);
  // {2 3} hold a majority of the outgoing voters only, {4 5} of the incoming only.
  c.partition({{2, 3}, {4, 5}});
  c.tick_all(60);
  EXPECT_EQ(c.leader(), 0u);
  for (uint64_t id = 2; id <= 5; ++id) EXPECT_NE(c.node(id).role(), Role::kLeader);
  c.heal();
  c.tick_all(40);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  ASSERT_TRUE(c.propose(l, "after").is_ok());
  EXPECT_EQ(c.applied_data(4).back(), "after");
}

TEST(Joint, CheckQuorumCountsBothConfigurations) {
  TestCluster c = three_voters_two_learners();
  change(c, 1, kReplaceTwo);
  c.partition({{1, 2, 3}, {4, 5}});  // the outgoing majority is heard, the incoming one is not
  c.tick(1, 25);
  c.stabilize();
  EXPECT_NE(c.node(1).role(), Role::kLeader);
}

TEST(Joint, ReadIndexNeedsBothMajorities) {
  TestCluster c = three_voters_two_learners();
  change(c, 1, kReplaceTwo);
  c.partition({{1, 4, 5}, {2, 3}});
  ASSERT_TRUE(c.node(1).read_index(7).is_ok());
  c.stabilize();
  c.tick(1, 2);
  c.stabilize();
  EXPECT_TRUE(c.take_read_states(1).empty());
  c.heal();
  c.tick(1, 1);
  c.stabilize();
  auto rs = c.take_read_states(1);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].context, 7u);
}

TEST(Joint, LearnersNextStillVoteUntilTheLeave) {
  // Demote 3 and promote 4 in one joint change: until the leave, 3 is an outgoing voter.
  TestCluster c = three_voters_two_learners();
  change(c, 1, ConfChange{ConfChangeTransition::kJointExplicit, {voter(4), learner(3)}});
  const ConfState& conf = c.node(1).conf_state();
  EXPECT_EQ(conf.voters, ids({1, 2, 4}));
  EXPECT_EQ(conf.voters_outgoing, ids({1, 2, 3}));
  EXPECT_EQ(conf.learners_next, ids({3}));
  EXPECT_EQ(conf.learners, ids({5}));
  // Without 2: the outgoing majority is {1 3}, so 3 still counts.
  c.isolate(2);
  ASSERT_TRUE(c.propose(1, "3 counts").is_ok());
  EXPECT_EQ(c.applied_data(1).back(), "3 counts");
  c.heal();
  change(c, 1, ConfChange::leave_joint());
  EXPECT_EQ(c.node(1).conf_state().learners, ids({3, 5}));
  EXPECT_TRUE(c.node(1).conf_state().learners_next.empty());
  // Now 3 is a learner: without 2 and 4 nothing commits.
  c.isolate(2);
  c.isolate(4);
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "3 does not count").is_ok());
  EXPECT_EQ(c.node(1).commit_index(), commit);
}

TEST(Joint, ASnapshotCarriesTheJointConfiguration) {
  TestCluster c = three_voters_two_learners();
  c.crash(5);
  // {1 2 3} -> {1 2 4}: commits without 5.
  change(c, 1, ConfChange{ConfChangeTransition::kJointExplicit, {voter(4), removal(3)}});
  ASSERT_TRUE(c.node(1).conf_state().joint());
  ASSERT_TRUE(c.propose(1, "after joint").is_ok());
  c.snapshot_and_compact(1);
  c.restart(5);
  c.tick_all(3);
  EXPECT_EQ(c.node(5).conf_state(), c.node(1).conf_state());
  EXPECT_TRUE(c.node(5).conf_state().joint());
  EXPECT_EQ(c.applied_data(5).back(), "after joint");
  // 5 restarts from a snapshot of its own: still joint.
  ASSERT_TRUE(c.propose(1, "more").is_ok());
  c.snapshot_and_compact(5);
  c.crash(5);
  c.restart(5);
  EXPECT_TRUE(c.node(5).conf_state().joint());
}

TEST(Joint, ALeaderOnlyInTheOutgoingConfigurationLeadsUntilTheLeave) {
  TestCluster c = three_voters_two_learners();
  // Replace the leader itself: {1 2 3} -> {2 3 4}.
  change(c, 1, ConfChange{ConfChangeTransition::kJointExplicit, {voter(4), removal(1)}});
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  ASSERT_TRUE(c.propose(1, "still leading").is_ok());
  EXPECT_EQ(c.applied_data(4).back(), "still leading");
  change(c, 1, ConfChange::leave_joint());
  // Thesis §4.2.2: once the new configuration is applied, it steps down.
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  c.tick_all(40);
  const uint64_t l = c.leader();
  ASSERT_TRUE(l == 2 || l == 3 || l == 4) << l;
}

// Membership takes effect when applied. A leader that leaves with the joint configuration steps
// down once it applies the leave; followers that missed the commit still campaign with the
// joint configuration, whose outgoing majority needs the old leader's vote, and the old leader
// (holding a longer log) refuses it. Its rejection tells them what is committed, so they apply
// the leave and elect among themselves. Found by raftkv-sim (seed 182, --faults member).
TEST(Joint, FollowersThatMissedTheLeaveLearnItFromTheRemovedLeader) {
  TestCluster c(2);
  ASSERT_TRUE(c.elect(2));
  ASSERT_EQ(c.add_node(), 3u);
  change(c, 2, ConfChange{ConfChangeTransition::kAuto, {learner(3)}});
  change(c, 2, ConfChange{ConfChangeTransition::kJointExplicit, {voter(3), removal(2)}});
  ASSERT_EQ(c.node(1).conf_state().voters_outgoing, ids({1, 2}));
  const Index leave = c.node(2).last_index() + 1;
  // The followers get the leave entry but never learn it committed, nor an entry after it.
  c.deliver_filter = [&](const Message& m) {
    if (m.from != NodeId(2)) return true;
    if ((m.type == MessageType::kApp || m.type == MessageType::kHeartbeat) && m.commit >= leave) {
      return false;
    }
    return m.entries.empty() || m.entries.back().index <= leave;
  };
  ASSERT_TRUE(c.node(2).propose_conf_change(ConfChange::leave_joint()).is_ok());
  ASSERT_TRUE(c.node(2).propose("extra").is_ok());
  c.stabilize();
  ASSERT_FALSE(c.node(2).conf_state().joint());
  ASSERT_NE(c.node(2).role(), Role::kLeader);
  ASSERT_TRUE(c.node(1).conf_state().joint());
  ASSERT_TRUE(c.node(3).conf_state().joint());
  ASSERT_GT(c.node(2).last_index(), c.node(1).last_index());
  c.tick_all(100);
  const uint64_t l = c.leader();
  ASSERT_TRUE(l == 1 || l == 3) << l;
  EXPECT_FALSE(c.node(l).conf_state().joint());
  EXPECT_EQ(c.node(l).conf_state().voters, ids({1, 3}));
}

}  // namespace
}  // namespace raftkv::raft::testing
