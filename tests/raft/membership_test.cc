// Single-server membership changes (thesis §4.1): one at a time, applied when committed.
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

ConfChange add_voter(uint64_t id) {
  return ConfChange{ConfChangeType::kAddVoter, NodeId(id)};
}
ConfChange remove(uint64_t id) {
  return ConfChange{ConfChangeType::kRemoveNode, NodeId(id)};
}

TEST(Membership, ConfChangeEncodingRoundTripsAndRejectsGarbage) {
  ConfChange cc{ConfChangeType::kAddLearner, NodeId(0x0102030405060708)};
  auto back = ConfChange::decode(cc.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, cc.type);
  EXPECT_EQ(back->node, cc.node);
  EXPECT_FALSE(ConfChange::decode("short").has_value());
  EXPECT_FALSE(ConfChange::decode(std::string(9, '\x07')).has_value());
}

TEST(Membership, AddedVoterCatchesUpAndCountsTowardsQuorum) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "before").is_ok());
  const uint64_t n4 = c.add_node();
  ASSERT_TRUE(c.node(1).propose_conf_change(add_voter(n4)).is_ok());
  c.stabilize();
  c.tick_all(2);
  EXPECT_EQ(c.node(1).conf_state().voters.size(), 4u);
  EXPECT_EQ(c.node(n4).conf_state().voters.size(), 4u);
  EXPECT_EQ(c.applied_data(n4), std::vector<std::string>{"before"});
  // With 4 voters a quorum is 3: the leader plus one follower can no longer commit.
  c.partition({{1, 2}, {3, n4}});
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "needs three").is_ok());
  EXPECT_EQ(c.node(1).commit_index(), commit);
  c.heal();
  c.tick_all(2);
  EXPECT_EQ(c.applied_data(n4).back(), "needs three");
}

TEST(Membership, RemovedNodeNoLongerNeeded) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.node(1).propose_conf_change(remove(3)).is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(1).conf_state().voters, (std::vector<NodeId>{NodeId(1), NodeId(2)}));
  c.crash(3);
  ASSERT_TRUE(c.propose(1, "two of two").is_ok());
  EXPECT_EQ(c.applied_data(2).back(), "two of two");
}

TEST(Membership, OneChangeAtATime) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const uint64_t n4 = c.add_node();
  c.isolate(2);
  c.isolate(3);  // the first change cannot commit
  ASSERT_TRUE(c.node(1).propose_conf_change(add_voter(n4)).is_ok());
  const Status second = c.node(1).propose_conf_change(remove(2));
  EXPECT_EQ(second.code(), ErrorCode::kProposalDropped);
  EXPECT_NE(second.message().find("membership change is already in progress"), std::string::npos);
  c.heal();
  c.tick_all(2);
  EXPECT_TRUE(c.node(1).propose_conf_change(remove(2)).is_ok());
}

TEST(Membership, RemovedLeaderStepsDownAndOthersElect) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.node(1).propose_conf_change(remove(1)).is_ok());
  c.stabilize();
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_TRUE(l == 2 || l == 3) << "leader " << l;
  ASSERT_TRUE(c.propose(l, "after removal").is_ok());
  EXPECT_EQ(c.applied_data(l == 2 ? 3 : 2).back(), "after removal");
}

TEST(Membership, MalformedConfChangeRejected) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  Message m{.type = MessageType::kPropose};
  m.entries.push_back(Entry{Term(), Index(), EntryType::kConfChange, "garbage"});
  EXPECT_EQ(c.node(1).step(m).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace raftkv::raft::testing
