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

}  // namespace
}  // namespace raftkv::raft::testing
