// next_membership_change: the leader's re-admission and promotion policy, as a pure function.
#include "raft/membership_policy.h"

#include <gtest/gtest.h>

#include "raft/confchange.h"

namespace raftkv::raft {
namespace {

// Voters 1 2 3 (incarnations 11 21 31), learner 4 (41).
ConfState conf() {
  ConfState c;
  c.voters = {NodeId(1), NodeId(2), NodeId(3)};
  c.learners = {NodeId(4)};
  for (uint64_t id = 1; id <= 4; ++id) {
    c.members[NodeId(id)] = MemberInfo{id * 10 + 1, fmt::format("p{}", id), fmt::format("c{}", id)};
  }
  return c;
}

FollowerStatus status(uint64_t id, uint64_t incarnation, uint64_t match, bool active = true) {
  FollowerStatus f;
  f.id = NodeId(id);
  f.match = Index(match);
  f.next = Index(match + 1);
  f.recent_active = active;
  f.incarnation = incarnation;
  f.learner = id == 4;
  f.voter = id != 4;
  return f;
}

std::vector<FollowerStatus> healthy(uint64_t learner_match) {
  return {status(1, 11, 100), status(2, 21, 100), status(3, 31, 100), status(4, 41, learner_match)};
}

const Index kCommit(100);

TEST(MembershipPolicy, NothingToDoWhenEveryoneIsWhoTheyShouldBe) {
  EXPECT_FALSE(next_membership_change(conf(), NodeId(1), kCommit, healthy(50), {}, {}));
}

TEST(MembershipPolicy, AMemberOfAnotherIncarnationBecomesALearnerOfIt) {
  auto followers = healthy(50);
  followers[2].incarnation = 99;  // node 3 came back with a new disk
  auto cc = next_membership_change(conf(), NodeId(1), kCommit, followers, {}, {});
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(*cc,
            ConfChange::single(ConfChangeType::kAddLearner, NodeId(3), MemberInfo{99, "p3", "c3"}));
  // What the driver observed (e.g. the handshake) must agree with the progress: one handshake
  // alone does not demote a voter whose acknowledgements still come from the recorded one.
  EXPECT_FALSE(
      next_membership_change(conf(), NodeId(1), kCommit, healthy(50), {{NodeId(2), 77}}, {}));
  auto both = healthy(50);
  both[1].incarnation = 77;
  cc = next_membership_change(conf(), NodeId(1), kCommit, both, {{NodeId(2), 77}}, {});
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(cc->changes[0].node, NodeId(2));
  EXPECT_EQ(cc->changes[0].info.incarnation, 77u);
  // A peer that announces no incarnation (0) is no evidence of a new disk.
  auto zero = healthy(50);
  zero[1].incarnation = 0;
  EXPECT_FALSE(next_membership_change(conf(), NodeId(1), kCommit, zero, {{NodeId(2), 0}}, {}));
  // Never itself.
  EXPECT_FALSE(
      next_membership_change(conf(), NodeId(1), kCommit, healthy(50), {{NodeId(1), 5}}, {}));
  // An unbound voter is bound to the incarnation its acknowledgements come from (in place).
  ConfState unbound = conf();
  unbound.members[NodeId(3)].incarnation = 0;
  cc = next_membership_change(unbound, NodeId(1), kCommit, followers, {}, {});
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(*cc,
            ConfChange::single(ConfChangeType::kAddVoter, NodeId(3), MemberInfo{99, "p3", "c3"}));
  // ...but not while silent, nor to 0.
  auto silent = followers;
  silent[2].recent_active = false;
  EXPECT_FALSE(next_membership_change(unbound, NodeId(1), kCommit, silent, {}, {}));
  MembershipPolicyOptions off;
  off.readmit = false;
  EXPECT_FALSE(next_membership_change(conf(), NodeId(1), kCommit, followers, {}, {}, off));
}

TEST(MembershipPolicy, ReadmissionComesBeforePromotion) {
  auto followers = healthy(100);  // 4 caught up
  followers[1].incarnation = 5;   // and 2 came back
  auto cc = next_membership_change(conf(), NodeId(1), kCommit, followers, {}, {});
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(cc->changes[0].type, ConfChangeType::kAddLearner);
  EXPECT_EQ(cc->changes[0].node, NodeId(2));
}

TEST(MembershipPolicy, ACaughtUpLearnerIsPromoted) {
  EXPECT_FALSE(next_membership_change(conf(), NodeId(1), kCommit, healthy(99), {}, {}));
  auto cc = next_membership_change(conf(), NodeId(1), kCommit, healthy(100), {}, {});
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(*cc,
            ConfChange::single(ConfChangeType::kAddVoter, NodeId(4), MemberInfo{41, "p4", "c4"}));
  // Not while silent, nor while acknowledging as another incarnation.
  auto followers = healthy(100);
  followers[3].recent_active = false;
  EXPECT_FALSE(next_membership_change(conf(), NodeId(1), kCommit, followers, {}, {}));
  // A learner added unbound (before it connected) is bound to the incarnation it caught up as.
  ConfState unbound = conf();
  unbound.members[NodeId(4)].incarnation = 0;
  cc = next_membership_change(unbound, NodeId(1), kCommit, healthy(100), {}, {});
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(cc->changes[0].info.incarnation, 41u);
  // Never promoted unbound: a learner acknowledging without an incarnation stays a learner.
  auto anonymous = healthy(100);
  anonymous[3].incarnation = 0;
  EXPECT_FALSE(next_membership_change(unbound, NodeId(1), kCommit, anonymous, {}, {}));
}

TEST(MembershipPolicy, WithoutAutoPromoteOnlyTheNamedLearners) {
  MembershipPolicyOptions manual;
  manual.auto_promote = false;
  EXPECT_FALSE(next_membership_change(conf(), NodeId(1), kCommit, healthy(100), {}, {}, manual));
  EXPECT_TRUE(
      next_membership_change(conf(), NodeId(1), kCommit, healthy(100), {}, {NodeId(4)}, manual));
}

TEST(MembershipPolicy, NothingWhileJoint) {
  auto j = apply_conf_change_to(
      conf(), ConfChange{ConfChangeTransition::kJointExplicit,
                         {ConfChangeSingle{ConfChangeType::kRemoveNode, NodeId(3), {}}}});
  ASSERT_TRUE(j.is_ok());
  auto followers = healthy(100);
  followers[1].incarnation = 5;
  EXPECT_FALSE(next_membership_change(*j, NodeId(1), kCommit, followers, {}, {}));
}

}  // namespace
}  // namespace raftkv::raft
