// Single-server membership changes (thesis §4.1): one at a time, applied when committed.
#include <gtest/gtest.h>

#include "raft/confchange.h"
#include "raft/memory_storage.h"
#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

ConfChange add_voter(uint64_t id) {
  return ConfChange::single(ConfChangeType::kAddVoter, NodeId(id));
}
ConfChange remove(uint64_t id) {
  return ConfChange::single(ConfChangeType::kRemoveNode, NodeId(id));
}

TEST(Membership, ConfChangeEncodingRoundTripsAndRejectsGarbage) {
  ConfChange cc = ConfChange::single(ConfChangeType::kAddLearner, NodeId(0x0102030405060708));
  EXPECT_EQ(cc.encode().size(), 9u);  // the legacy format
  auto back = ConfChange::decode(cc.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, cc);
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

// Raft::bootstrap (etcd's RawNode.Bootstrap): one committed entry at index 1, term 1, that
// establishes the membership, member records included, once applied.
TEST(Membership, BootstrapWritesOneCommittedEntryThatEstablishesTheMembership) {
  ConfState conf;
  conf.voters = {NodeId(1), NodeId(2), NodeId(3)};
  conf.learners = {NodeId(4)};
  for (uint64_t id = 1; id <= 4; ++id) {
    conf.members[NodeId(id)] = MemberInfo{100 + id, fmt::format("n{}:7000", id), ""};
  }
  MemoryStorage storage;
  SeededRng rng(1);
  Config cfg;
  cfg.id = NodeId(2);
  cfg.incarnation = 102;
  auto raft = Raft::create(cfg, &storage, &rng);
  ASSERT_TRUE(raft.is_ok());
  Raft& r = **raft;
  ConfState joint = conf;
  joint.voters_outgoing = {NodeId(1)};
  EXPECT_EQ(r.bootstrap(joint).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(r.bootstrap(conf).is_ok());
  EXPECT_EQ(r.bootstrap(conf).code(), ErrorCode::kInvalidArgument);  // no longer empty

  Ready rd = r.ready();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].index, Index(1));
  EXPECT_EQ(rd.entries[0].term, Term(1));
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, Term(1));
  EXPECT_EQ(rd.hard_state->commit, Index(1));
  ASSERT_TRUE(storage.append(rd.entries).is_ok());
  storage.set_hard_state(*rd.hard_state);
  r.advance(rd);
  EXPECT_TRUE(r.conf_state().voters.empty());  // established when applied, like every entry
  r.on_persisted(Index(1), Term(1));
  rd = r.ready();  // committed entries are handed out once durable
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  auto cc = ConfChange::decode(rd.committed_entries[0].data);
  ASSERT_TRUE(cc.has_value());
  auto applied = r.apply_conf_change(*cc);
  ASSERT_TRUE(applied.is_ok()) << applied.status().to_string();
  EXPECT_EQ(*applied, conf);
  EXPECT_EQ(r.conf_state(), conf);
  r.advance(rd);
  // Replayed after a restart (empty membership again until applied): the same result.
  EXPECT_EQ(*apply_conf_change_to(ConfState{}, *cc), conf);
}

TEST(Membership, InvalidChangesAreRefusedWithTheReason) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const Status leave = c.node(1).propose_conf_change(ConfChange::leave_joint());
  EXPECT_EQ(leave.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(leave.message().find("not in a joint configuration"), std::string::npos);
  const Status all = c.node(1).propose_conf_change(
      ConfChange{ConfChangeTransition::kJointImplicit,
                 {ConfChangeSingle{ConfChangeType::kRemoveNode, NodeId(1), {}},
                  ConfChangeSingle{ConfChangeType::kRemoveNode, NodeId(2), {}},
                  ConfChangeSingle{ConfChangeType::kRemoveNode, NodeId(3), {}}}});
  EXPECT_EQ(all.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(all.message().find("no voters"), std::string::npos);
  // Nothing was appended: a valid change goes through at once.
  EXPECT_TRUE(c.node(1).propose_conf_change(remove(3)).is_ok());
}

ConfChange add_learner(uint64_t id) {
  return ConfChange::single(ConfChangeType::kAddLearner, NodeId(id));
}

// Voters 1 2 3 led by 1, and learner 4 caught up.
TestCluster with_learner() {
  TestCluster c(3);
  EXPECT_TRUE(c.elect(1));
  EXPECT_EQ(c.add_node(), 4u);
  EXPECT_TRUE(c.node(1).propose_conf_change(add_learner(4)).is_ok());
  c.stabilize();
  EXPECT_TRUE(c.propose(1, "x").is_ok());
  EXPECT_EQ(c.applied_data(4), std::vector<std::string>{"x"});
  return c;
}

TEST(Learner, NeverCampaigns) {
  TestCluster c = with_learner();
  c.isolate(4);
  c.tick(4, 200);
  c.stabilize();
  EXPECT_EQ(c.node(4).role(), Role::kFollower);
  EXPECT_EQ(c.node(4).term(), c.node(1).term());
  EXPECT_TRUE(c.node(4).campaign().is_ok());  // asked to: nothing happens
  c.stabilize();
  EXPECT_EQ(c.node(4).role(), Role::kFollower);
}

TEST(Learner, TimeoutNowDoesNothing) {
  TestCluster c = with_learner();
  const Term term = c.node(4).term();
  Message m{.type = MessageType::kTimeoutNow, .from = NodeId(1), .to = NodeId(4), .term = term};
  m.transfer = true;
  ASSERT_TRUE(c.node(4).step(m).is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(4).role(), Role::kFollower);
  EXPECT_EQ(c.node(4).term(), term);
  EXPECT_EQ(c.leader(), 1u);
  // Nor does the leader hand leadership to a learner.
  ASSERT_TRUE(c.node(1).transfer_leadership(NodeId(4)).is_ok());
  c.stabilize();
  c.tick_all(15);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.delivered[MessageType::kTimeoutNow], 0u);
}

TEST(Learner, AcknowledgementsDoNotCount) {
  TestCluster c = with_learner();
  c.isolate(2);
  c.isolate(3);
  const Index commit = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "needs a voter").is_ok());
  EXPECT_EQ(c.node(1).commit_index(), commit);
  EXPECT_EQ(c.node(4).last_index(), c.node(1).last_index());  // replicated, not counted
  // Nor toward check-quorum: the leader steps down with only the learner heard.
  c.tick(1, 25);
  c.stabilize();
  EXPECT_NE(c.node(1).role(), Role::kLeader);
}

TEST(Learner, VotesDoNotCount) {
  TestCluster c = with_learner();
  c.crash(1);
  c.partition({{2, 4}, {3}});
  // 2 has 2 and the learner 4: not a majority of {1 2 3}.
  c.tick_all(60);
  EXPECT_NE(c.node(2).role(), Role::kLeader);
  EXPECT_NE(c.node(3).role(), Role::kLeader);
  c.heal();
  c.tick_all(40);
  EXPECT_TRUE(c.leader() == 2 || c.leader() == 3) << c.leader();
}

TEST(Learner, PromotedOnceAppliedCountsTowardQuorum) {
  TestCluster c = with_learner();
  ASSERT_TRUE(c.node(1).propose_conf_change(add_voter(4)).is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(1).conf_state().voters.size(), 4u);
  // {1 4} of {1 2 3 4} is not a majority, {1 3 4} is.
  c.isolate(2);
  ASSERT_TRUE(c.propose(1, "three of four").is_ok());
  EXPECT_EQ(c.applied_data(4).back(), "three of four");
}

// Thesis §4.2.3: a server removed while partitioned never learns it, times out and campaigns;
// PreVote and CheckQuorum keep it from deposing the leader.
TEST(Membership, RemovedServerDoesNotDisruptTheLeader) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  ASSERT_TRUE(c.node(1).propose_conf_change(remove(3)).is_ok());
  c.stabilize();
  ASSERT_EQ(c.node(1).conf_state().voters, (std::vector<NodeId>{NodeId(1), NodeId(2)}));
  EXPECT_EQ(c.node(3).conf_state().voters.size(), 3u);  // it does not know
  const Term term = c.node(1).term();
  c.tick(3, 100);  // it campaigns (pre-votes) on its own
  c.stabilize();
  c.heal();
  for (int i = 0; i < 100; ++i) c.tick_all(1);
  EXPECT_EQ(c.leader(), 1u);
  EXPECT_EQ(c.node(1).term(), term);
  EXPECT_EQ(c.node(2).term(), term);
  ASSERT_TRUE(c.propose(1, "undisturbed").is_ok());
  EXPECT_EQ(c.applied_data(2).back(), "undisturbed");
}

TEST(Membership, ARemovedServerThatKnowsNeverCampaigns) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.node(1).propose_conf_change(remove(3)).is_ok());
  c.stabilize();
  c.tick_all(1);  // 3 learns the commit and applies its removal
  EXPECT_TRUE(c.node(3).conf_state().voters.size() == 2u);
  c.isolate(3);
  const Term term = c.node(3).term();
  c.tick(3, 200);
  c.stabilize();
  EXPECT_EQ(c.node(3).term(), term);
  EXPECT_EQ(c.node(3).role(), Role::kFollower);
}

// A change proposed on the minority side of a partition never commits and is discarded; the
// majority side changes the membership meanwhile and the minority follows once healed.
TEST(Membership, AChangeDuringAPartition) {
  TestCluster c(5);
  ASSERT_TRUE(c.elect(1));
  c.partition({{1, 2}, {3, 4, 5}});
  ASSERT_TRUE(c.node(1).propose_conf_change(remove(5)).is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(1).conf_state().voters.size(), 5u);  // not committed, not applied
  EXPECT_EQ(c.node(1).propose_conf_change(remove(4)).code(), ErrorCode::kProposalDropped);
  c.tick_all(40);
  const uint64_t l = c.leader() == 1 ? 0 : c.leader();
  uint64_t majority_leader = 0;
  for (uint64_t id : {3, 4, 5}) {
    if (c.node(id).role() == Role::kLeader) majority_leader = id;
  }
  ASSERT_NE(majority_leader, 0u) << l;
  ASSERT_TRUE(c.node(majority_leader).propose_conf_change(remove(2)).is_ok());
  c.stabilize();
  EXPECT_EQ(c.node(majority_leader).conf_state().voters.size(), 4u);
  c.heal();
  c.tick_all(30);
  for (uint64_t id : {1, 3, 4, 5}) {
    EXPECT_EQ(c.node(id).conf_state().voters,
              (std::vector<NodeId>{NodeId(1), NodeId(3), NodeId(4), NodeId(5)}))
        << "node " << id;
  }
  const uint64_t now = c.leader();
  ASSERT_NE(now, 0u);
  ASSERT_TRUE(c.propose(now, "healed").is_ok());
  EXPECT_EQ(c.applied_data(1).back(), "healed");
}

TEST(Membership, ANewLeaderWaitsForItsLogToApplyBeforeAChange) {
  // A new leader cannot tell whether its log holds an unapplied change from an earlier term:
  // it refuses one until everything up to its election is applied (etcd's pendingConfIndex).
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.drop_types({MessageType::kAppResp});
  ASSERT_TRUE(c.propose(1, "uncommitted").is_ok());
  c.crash(1);
  c.tick_all(40);
  const uint64_t l = c.leader();
  ASSERT_TRUE(l == 2 || l == 3) << l;
  const Status early = c.node(l).propose_conf_change(remove(1));
  EXPECT_EQ(early.code(), ErrorCode::kProposalDropped) << early.to_string();
  c.heal();
  c.tick_all(2);
  EXPECT_EQ(c.applied_data(l).back(), "uncommitted");
  EXPECT_TRUE(c.node(l).propose_conf_change(remove(1)).is_ok());
}

}  // namespace
}  // namespace raftkv::raft::testing
