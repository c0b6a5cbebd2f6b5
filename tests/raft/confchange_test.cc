// apply_conf_change_to (etcd's confchange.Changer rules, thesis §4.1/§4.3) and the ConfChange
// encoding: pure functions, no cluster.
#include "raft/confchange.h"

#include <gtest/gtest.h>

namespace raftkv::raft {
namespace {

std::vector<NodeId> ids(std::initializer_list<uint64_t> v) {
  std::vector<NodeId> out;
  for (uint64_t x : v) out.emplace_back(x);
  return out;
}

ConfChangeSingle add_voter(uint64_t id, uint64_t inc = 0) {
  return {ConfChangeType::kAddVoter, NodeId(id), MemberInfo{inc, fmt::format("p{}", id), ""}};
}
ConfChangeSingle add_learner(uint64_t id, uint64_t inc = 0) {
  return {ConfChangeType::kAddLearner, NodeId(id), MemberInfo{inc, fmt::format("p{}", id), ""}};
}
ConfChangeSingle remove(uint64_t id) {
  return {ConfChangeType::kRemoveNode, NodeId(id), {}};
}
ConfChange simple(ConfChangeSingle c) {
  return ConfChange{ConfChangeTransition::kAuto, {std::move(c)}};
}
ConfChange joint(std::vector<ConfChangeSingle> cs,
                 ConfChangeTransition t = ConfChangeTransition::kAuto) {
  return ConfChange{t, std::move(cs)};
}

// Voters 1 2 3 (bound incarnations 11 21 31), learner 4.
ConfState three_and_a_learner() {
  ConfState c;
  c.voters = ids({1, 2, 3});
  c.learners = ids({4});
  for (uint64_t id = 1; id <= 4; ++id) c.members[NodeId(id)] = MemberInfo{id * 10 + 1, "", ""};
  return c;
}

void expect_invalid(const ConfState& conf, const ConfChange& cc, const std::string& why) {
  auto r = apply_conf_change_to(conf, cc);
  ASSERT_FALSE(r.is_ok()) << describe_change(cc) << " -> " << describe_conf(*r);
  EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
}

TEST(ConfChangeEncoding, LegacyFormatStillDecodes) {
  // Written by earlier builds for every change (and still for unbound single changes).
  const std::string legacy = std::string("\x02\x07\0\0\0\0\0\0\0", 9);
  auto cc = ConfChange::decode(legacy);
  ASSERT_TRUE(cc.has_value());
  EXPECT_EQ(*cc, ConfChange::single(ConfChangeType::kRemoveNode, NodeId(7)));
  EXPECT_EQ(cc->encode(), legacy);
}

TEST(ConfChangeEncoding, VersionedFormatRoundTripsAndRejectsGarbage) {
  const ConfChange cases[] = {
      ConfChange::leave_joint(),
      joint({add_voter(4, 0xfeedface12345678), remove(2)}, ConfChangeTransition::kJointExplicit),
      joint({add_learner(9, 3)}, ConfChangeTransition::kJointImplicit),
      simple(add_voter(5, 1)),
  };
  for (const ConfChange& cc : cases) {
    const std::string bytes = cc.encode();
    auto back = ConfChange::decode(bytes);
    ASSERT_TRUE(back.has_value()) << describe_change(cc);
    EXPECT_EQ(*back, cc);
    // Truncated or extended bytes never decode.
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(ConfChange::decode(bytes.substr(0, n)).has_value()) << n;
    }
    EXPECT_FALSE(ConfChange::decode(bytes + "x").has_value());
  }
  std::string node0 = joint({add_voter(1)}).encode();
  node0[7] = 0;  // the first change's node id (low byte; the id was 1)
  EXPECT_FALSE(ConfChange::decode(node0).has_value());
  std::string bad_type = joint({add_voter(1)}).encode();
  bad_type[6] = 9;
  EXPECT_FALSE(ConfChange::decode(bad_type).has_value());
  EXPECT_FALSE(ConfChange::decode(std::string(9, '\0')).has_value());  // legacy, node 0
}

TEST(ConfChangeRules, SimpleChangesMoveAtMostOneVoter) {
  const ConfState c = three_and_a_learner();
  auto promoted = apply_conf_change_to(c, simple(add_voter(4, 41)));
  ASSERT_TRUE(promoted.is_ok()) << promoted.status().to_string();
  EXPECT_EQ(promoted->voters, ids({1, 2, 3, 4}));
  EXPECT_TRUE(promoted->learners.empty());

  auto removed = apply_conf_change_to(c, simple(remove(2)));
  ASSERT_TRUE(removed.is_ok());
  EXPECT_EQ(removed->voters, ids({1, 3}));
  EXPECT_EQ(removed->members.count(NodeId(2)), 0u);

  // A voter demoted to a learner of a new incarnation: one voter changed.
  auto rebound = apply_conf_change_to(c, simple(add_learner(3, 99)));
  ASSERT_TRUE(rebound.is_ok()) << rebound.status().to_string();
  EXPECT_EQ(rebound->voters, ids({1, 2}));
  EXPECT_EQ(rebound->learners, ids({3, 4}));
  EXPECT_EQ(recorded_incarnation(*rebound, NodeId(3)), 99u);

  // Re-adding a voter with its own record is a no-op (bootstrap entries replayed).
  auto same = apply_conf_change_to(c, simple(add_voter(1, 11)));
  ASSERT_TRUE(same.is_ok());
  EXPECT_EQ(same->voters, c.voters);

  ConfState one;
  one.voters = ids({1});
  expect_invalid(one, simple(remove(1)), "no voters");
  // More than one change under kAuto enters a joint configuration (never a simple change).
  auto two = apply_conf_change_to(c, joint({add_voter(4, 41), remove(1)}));
  ASSERT_TRUE(two.is_ok());
  EXPECT_TRUE(two->joint());
}

TEST(ConfChangeRules, AVoterKeepsItsIncarnation) {
  const ConfState c = three_and_a_learner();
  expect_invalid(c, simple(add_voter(2, 77)), "stays a voter but its incarnation would change");
  // Joint: an outgoing voter made a learner of a new incarnation would still vote (outgoing).
  expect_invalid(c, joint({add_learner(2, 77), add_voter(4, 41)}), "stays a voter");
  // Addresses may change.
  ConfChangeSingle moved = add_voter(2, 21);
  moved.info.peer_addr = "elsewhere:1";
  auto r = apply_conf_change_to(c, simple(moved));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->members.at(NodeId(2)).peer_addr, "elsewhere:1");
}

TEST(ConfChangeRules, AnUnboundVoterMayBeBoundButABoundMemberIsNeverUnbound) {
  ConfState c = three_and_a_learner();
  c.members[NodeId(2)].incarnation = 0;  // data from before incarnations
  auto bound = apply_conf_change_to(c, simple(add_voter(2, 77)));
  ASSERT_TRUE(bound.is_ok()) << bound.status().to_string();
  EXPECT_EQ(bound->members.at(NodeId(2)).incarnation, 77u);
  // Unbinding, of a voter or a learner, is refused.
  expect_invalid(three_and_a_learner(), simple(add_voter(3, 0)), "may not unbind");
  expect_invalid(three_and_a_learner(), simple(add_learner(4, 0)), "may not unbind");
  // An add that names no record at all (PROMOTE by id) keeps the member's record.
  auto promoted = apply_conf_change_to(
      three_and_a_learner(), simple(ConfChangeSingle{ConfChangeType::kAddVoter, NodeId(4), {}}));
  ASSERT_TRUE(promoted.is_ok()) << promoted.status().to_string();
  EXPECT_EQ(promoted->members.at(NodeId(4)), (MemberInfo{41, "", ""}));
}

TEST(ConfChangeRules, JointEnterAndLeave) {
  const ConfState c = three_and_a_learner();
  // Replace 3 by 4 (a learner promoted) in one joint change, 3 staying on as a learner.
  auto j = apply_conf_change_to(c, joint({add_voter(4, 41), add_learner(3, 31)}));
  ASSERT_TRUE(j.is_ok()) << j.status().to_string();
  EXPECT_TRUE(j->joint());
  EXPECT_TRUE(j->auto_leave);
  EXPECT_EQ(j->voters, ids({1, 2, 4}));
  EXPECT_EQ(j->voters_outgoing, ids({1, 2, 3}));
  EXPECT_EQ(j->learners_next, ids({3}));  // still an outgoing voter until the leave
  EXPECT_TRUE(j->learners.empty());
  EXPECT_TRUE(validate_conf_state(*j).is_ok());

  expect_invalid(*j, simple(add_voter(5)), "joint configuration is in effect");
  expect_invalid(*j, joint({add_voter(5)}, ConfChangeTransition::kJointImplicit),
                 "joint configuration is in effect");
  expect_invalid(c, ConfChange::leave_joint(), "not in a joint configuration");

  auto left = apply_conf_change_to(*j, ConfChange::leave_joint());
  ASSERT_TRUE(left.is_ok());
  EXPECT_FALSE(left->joint());
  EXPECT_FALSE(left->auto_leave);
  EXPECT_EQ(left->voters, ids({1, 2, 4}));
  EXPECT_EQ(left->learners, ids({3}));
  EXPECT_TRUE(left->learners_next.empty());

  // Explicit: no auto-leave. A removed outgoing voter loses its record only at the leave.
  auto e = apply_conf_change_to(c, joint({remove(1)}, ConfChangeTransition::kJointExplicit));
  ASSERT_TRUE(e.is_ok());
  EXPECT_FALSE(e->auto_leave);
  EXPECT_EQ(e->voters, ids({2, 3}));
  EXPECT_EQ(e->voters_outgoing, ids({1, 2, 3}));
  EXPECT_EQ(e->members.count(NodeId(1)), 1u);
  auto e_left = apply_conf_change_to(*e, ConfChange::leave_joint());
  ASSERT_TRUE(e_left.is_ok());
  EXPECT_EQ(e_left->members.count(NodeId(1)), 0u);

  // Changes apply in order: removing and re-adding a voter in one change leaves it a voter.
  auto readd = apply_conf_change_to(c, joint({remove(1), add_voter(1, 11)}));
  ASSERT_TRUE(readd.is_ok());
  EXPECT_EQ(readd->voters, ids({1, 2, 3}));
  ConfState single;
  single.voters = ids({1});
  expect_invalid(single, joint({remove(1)}, ConfChangeTransition::kJointImplicit), "no voters");
}

TEST(ConfChangeRules, InitialConfigurationFromEmpty) {
  auto r = apply_conf_change_to(
      ConfState{}, joint({add_voter(1, 5), add_voter(2, 6), add_voter(3, 7), add_learner(4, 8)}));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_FALSE(r->joint());
  EXPECT_EQ(r->voters, ids({1, 2, 3}));
  EXPECT_EQ(r->learners, ids({4}));
  EXPECT_EQ(recorded_incarnation(*r, NodeId(3)), 7u);
  expect_invalid(ConfState{}, joint({add_learner(4)}), "no voters");
  expect_invalid(ConfState{}, simple(remove(4)), "not a member");
}

TEST(ConfChangeRules, MalformedMembershipsAreNamed) {
  ConfState c = three_and_a_learner();
  c.learners.push_back(NodeId(2));
  EXPECT_FALSE(validate_conf_state(c).is_ok());
  c = three_and_a_learner();
  c.learners_next = ids({3});
  EXPECT_NE(validate_conf_state(c).message().find("next learner"), std::string::npos);
  c = three_and_a_learner();
  c.members[NodeId(9)] = MemberInfo{};
  EXPECT_NE(validate_conf_state(c).message().find("not a member"), std::string::npos);
  c = three_and_a_learner();
  c.members.erase(NodeId(1));  // a member without a record is unbound, not malformed
  EXPECT_TRUE(validate_conf_state(c).is_ok());
  EXPECT_TRUE(incarnation_counts(c, NodeId(1), 12345));
  EXPECT_FALSE(incarnation_counts(c, NodeId(2), 12345));
  EXPECT_TRUE(incarnation_counts(c, NodeId(2), 21));
}

}  // namespace
}  // namespace raftkv::raft
