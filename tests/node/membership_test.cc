// Membership on real GroupNodes over loopback (issue 12): bootstrap only among fresh nodes, a
// wiped node re-admitted by the leader on its own, operator changes (add, promote, remove,
// replace, transfer) with their refusals, and --force-new-cluster.
#include "member_cluster.h"

namespace raftkv::node {
namespace {

using namespace testing;
using Op = MembershipRequest::Op;

MembershipRequest add(uint64_t id, MemberCluster& c) {
  return MembershipRequest{Op::kAdd, NodeId(id), NodeId(), c.peer_addr(id),
                           MemberCluster::client_addr(id)};
}
MembershipRequest simple(Op op, uint64_t id) {
  return MembershipRequest{op, NodeId(id), NodeId(), "", ""};
}

// Bootstrap: the lowest initial id creates the cluster only once every other initial member is
// connected and has no log; until then every node waits, uninitialized, and says why.
TEST(Membership, BootstrapWaitsForEveryInitialMember) {
  MemberCluster c(3);
  c.start(1);
  c.start(2);
  ASSERT_TRUE(wait_until([&] {
    return c.node(1).status().waiting_for.find("not connected: 3") != std::string::npos;
  })) << c.node(1).status().waiting_for;
  EXPECT_FALSE(c.node(1).initialized());
  EXPECT_FALSE(c.node(2).initialized());
  EXPECT_NE(c.node(2).status().waiting_for.find("node 1 (the lowest initial id)"),
            std::string::npos)
      << c.node(2).status().waiting_for;
  EXPECT_EQ(c.leader(), 0u);
  c.start(3);
  const uint64_t l = c.wait_leader();
  c.must_write({"SET", "k", "v"});
  // Every member is recorded with the incarnation of its data dir and its addresses.
  const raft::ConfState conf = c.conf(l);
  ASSERT_EQ(conf.voters, (std::vector<NodeId>{NodeId(1), NodeId(2), NodeId(3)}));
  for (uint64_t id = 1; id <= 3; ++id) {
    const raft::MemberInfo& m = conf.members.at(NodeId(id));
    EXPECT_EQ(m.incarnation, c.incarnation(id));
    EXPECT_EQ(m.peer_addr, c.peer_addr(id));
    EXPECT_EQ(m.client_addr, MemberCluster::client_addr(id));
    EXPECT_TRUE(wait_until([&] { return c.node(id).initialized(); }));
  }
  EXPECT_TRUE(c.wait_voters({1, 2, 3}));
}

// Issue 12: the lowest node loses its disk. Its peers hold the log, so it does not bootstrap a
// second cluster: it waits, the leader sees a new incarnation and re-admits it (learner, caught
// up, voter bound to the new incarnation), and it ends up with every acknowledged write.
TEST(Membership, WipedNodeIsReadmittedAndNeverBootstrapsAgain) {
  MemberCluster c(3);
  c.start_all();
  for (int k = 0; k < 50; ++k) c.must_write({"SET", fmt::format("k{}", k), "v"});
  if (c.wait_leader() == 1) {
    ASSERT_TRUE(c.transfer(1, 2).is_ok());
  }
  const uint64_t old_incarnation = c.incarnation(1);
  c.stop(1);
  c.wipe(1);
  ASSERT_NE(c.incarnation(1), old_incarnation);
  c.start(1);
  ASSERT_TRUE(wait_until([&] {
    const uint64_t l = c.leader();
    return l != 0 && c.conf(l).members.at(NodeId(1)).incarnation == c.incarnation(1);
  })) << "the wiped node was not re-admitted";
  ASSERT_TRUE(c.wait_voters({1, 2, 3}));
  const uint64_t l = c.wait_leader();
  EXPECT_EQ(c.conf(l).members.at(NodeId(1)).incarnation, c.incarnation(1));
  EXPECT_TRUE(c.node(1).initialized());
  c.must_write({"SET", "after", "v"});
  ASSERT_TRUE(wait_until([&] { return c.node(1).status().keys == 51; }));
  // Its log came from the cluster: index 1 is the original bootstrap entry (no second one).
  EXPECT_EQ(c.node(1).status().conf.voters, c.conf(l).voters);
}

TEST(Membership, AddPromoteAndRemoveWithTheirRefusals) {
  MemberCluster c(3, [](NodeOptions& o) { o.auto_promote = false; });
  c.start_all();
  const uint64_t l = c.wait_leader();
  const uint64_t f = l == 1 ? 2 : 1;
  c.must_write({"SET", "k", "v"});
  auto refused = [&](Status s, const std::string& message) {
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.to_string();
    EXPECT_EQ(s.message(), message);
  };
  refused(c.change(l, add(2, c)), "node 2 is already a member");
  refused(c.change(l, simple(Op::kRemove, 9)), "unknown node 9");
  refused(c.change(l, simple(Op::kPromote, 2)), "node 2 is already a voter");
  c.listen(4);
  // A follower names the leader (its client address) instead.
  const Status on_follower = c.change(f, add(4, c));
  EXPECT_EQ(on_follower.code(), ErrorCode::kNotLeader);
  EXPECT_EQ(on_follower.message(), MemberCluster::client_addr(l));

  // Node 4 joins: a learner, not promoted (auto-promote off) until PROMOTE.
  c.start(4, {1, 2, 3});
  ASSERT_TRUE(c.change(l, add(4, c)).is_ok());
  EXPECT_TRUE(contains(c.conf(l).learners, 4));
  refused(c.change(l, add(4, c)), "node 4 is already a member");
  ASSERT_TRUE(wait_until([&] {
    for (const MemberView& m : c.node(l).members())
      if (m.id == NodeId(4)) return m.state == "caught-up" && !m.voter;
    return false;
  }));
  ASSERT_TRUE(c.change(l, simple(Op::kPromote, 4)).is_ok());
  EXPECT_TRUE(contains(c.conf(l).voters, 4));
  EXPECT_EQ(c.conf(l).members.at(NodeId(4)).incarnation, c.incarnation(4)) << "bound";
  EXPECT_TRUE(c.wait_voters({1, 2, 3, 4}));

  ASSERT_TRUE(c.change(l, simple(Op::kRemove, 4)).is_ok());
  EXPECT_FALSE(contains(c.conf(l).voters, 4));
  EXPECT_TRUE(c.wait_voters({1, 2, 3}));
  // The removed node is no longer a peer of the others.
  ASSERT_TRUE(wait_until([&] { return !c.transport(l).peers().count(NodeId(4)); }));
  c.must_write({"SET", "after", "v"});
}

TEST(Membership, AddedLearnerIsPromotedAutomatically) {
  MemberCluster c(3);
  c.start_all();
  const uint64_t l = c.wait_leader();
  for (int k = 0; k < 100; ++k) c.must_write({"SET", fmt::format("k{}", k), "v"});
  c.listen(4);
  c.start(4, {1, 2, 3});
  ASSERT_TRUE(c.change(l, add(4, c)).is_ok());
  ASSERT_TRUE(c.wait_voters({1, 2, 3, 4}));
  ASSERT_TRUE(wait_until([&] { return c.node(4).status().keys == 100; }));
}

// Removing a voter is refused when the voters left that are reachable are not a quorum.
TEST(Membership, RemovalThatWouldLoseQuorumIsRefused) {
  MemberCluster c(3);
  c.start_all();
  uint64_t l = c.wait_leader();
  const uint64_t down = l == 3 ? 2 : 3;
  const uint64_t other = 6 - l - down;
  c.stop(down);
  ASSERT_TRUE(wait_until([&] {
    for (const MemberView& m : c.node(l).members())
      if (m.id == NodeId(down)) return m.state == "unreachable";
    return false;
  }));
  const Status s = c.change(l, simple(Op::kRemove, other));
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find(fmt::format("removing node {} would lose quorum", other)),
            std::string::npos)
      << s.to_string();
  EXPECT_TRUE(contains(c.conf(l).voters, other));
  // Removing the unreachable one leaves two reachable voters of two: fine.
  ASSERT_TRUE(c.change(l, simple(Op::kRemove, down)).is_ok());
  EXPECT_EQ(c.conf(l).voters.size(), 2u);
  c.must_write({"SET", "k", "v"});
}

// REMOVE of the leader hands leadership over first; the old leader answers kNotLeader with
// the new leader's address, where the same request removes it.
TEST(Membership, RemovingTheLeaderTransfersLeadershipFirst) {
  MemberCluster c(3);
  c.start_all();
  const uint64_t old = c.wait_leader();
  c.must_write({"SET", "k", "v"});
  const Status first = c.change(old, simple(Op::kRemove, old));
  ASSERT_EQ(first.code(), ErrorCode::kNotLeader) << first.to_string();
  const uint64_t now = c.wait_leader();
  ASSERT_NE(now, old);
  EXPECT_EQ(first.message(), MemberCluster::client_addr(now));
  ASSERT_TRUE(c.change(now, simple(Op::kRemove, old)).is_ok());
  std::vector<uint64_t> rest;
  for (uint64_t id = 1; id <= 3; ++id)
    if (id != old) rest.push_back(id);
  EXPECT_TRUE(c.wait_voters(rest));
  c.must_write({"SET", "after", "v"});
}

// REPLACE: the new node catches up as a learner, then one joint change promotes it and removes
// the dead one; +OK once the joint configuration is left.
TEST(Membership, ReplaceADeadNode) {
  MemberCluster c(3);
  c.start_all();
  uint64_t l = c.wait_leader();
  for (int k = 0; k < 100; ++k) c.must_write({"SET", fmt::format("k{}", k), "v"});
  l = c.wait_leader();
  const uint64_t dead = l == 3 ? 2 : 3;
  c.stop(dead);
  c.listen(4);
  c.start(4, {1, 2, 3});
  const Status s = c.change(l, MembershipRequest{Op::kReplace, NodeId(dead), NodeId(4),
                                                 c.peer_addr(4), MemberCluster::client_addr(4)});
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  const raft::ConfState conf = c.conf(l);
  EXPECT_FALSE(conf.joint());
  EXPECT_TRUE(contains(conf.voters, 4));
  EXPECT_FALSE(contains(conf.voters, dead));
  EXPECT_EQ(conf.members.at(NodeId(4)).incarnation, c.incarnation(4));
  EXPECT_EQ(conf.members.count(NodeId(dead)), 0u);
  std::vector<uint64_t> alive{4};
  for (uint64_t id = 1; id <= 3; ++id)
    if (id != dead) alive.push_back(id);
  EXPECT_TRUE(c.wait_voters(alive));
  ASSERT_TRUE(wait_until([&] { return c.node(4).status().keys == 100; }));
}

// A wiped node re-admitted by a leader that joined after the leader's newest snapshot restores
// that snapshot first: its membership there does not have the leader. The node must keep the
// leader as a peer (not drop it as "no longer a member") to receive the entries that follow.
TEST(Membership, SnapshotOlderThanTheLeadersOwnAdmissionDoesNotCutTheLeaderOff) {
  MemberCluster c(3, [](NodeOptions& o) {
    o.snapshot_entries = 200;
    o.snapshot_keep_entries = 10;
  });
  c.start_all();
  for (int k = 0; k < 250; ++k) c.must_write({"SET", fmt::format("k{}", k), "v"});
  uint64_t l = c.wait_leader();
  ASSERT_TRUE(wait_until([&] { return c.node(l).status().snapshot_index.value() >= 200; }));
  const Index snapshot_before_4 = c.node(l).status().snapshot_index;
  c.listen(4);
  c.start(4, {1, 2, 3});
  ASSERT_TRUE(c.change(l, add(4, c)).is_ok());
  ASSERT_TRUE(c.wait_voters({1, 2, 3, 4}));
  ASSERT_TRUE(c.transfer(c.wait_leader(), 4).is_ok());
  ASSERT_EQ(c.wait_leader(), 4u);
  // Node 4 received (and keeps) the snapshot taken before it was a member.
  ASSERT_EQ(c.node(4).status().snapshot_index, snapshot_before_4);
  const uint64_t wiped = 3;
  c.stop(wiped);
  c.wipe(wiped);
  // Restarted with peers that include the leader (the lower id dials; with its initial peers
  // only, it would never hear from leader 4).
  c.listen(wiped);
  c.transport(wiped).add_peer(NodeId(4), c.peer_addr(4));
  c.start(wiped);
  ASSERT_TRUE(wait_until([&] {
    return c.leader() != 0 &&
           c.conf(c.leader()).members.at(NodeId(wiped)).incarnation == c.incarnation(wiped);
  })) << "the wiped node was not re-admitted";
  ASSERT_TRUE(c.wait_voters({1, 2, 3, 4}));
  EXPECT_GE(c.node(wiped).status().snapshot_transfers.received, 1u);
  c.must_write({"SET", "after", "v"});
  ASSERT_TRUE(wait_until([&] { return c.node(wiped).status().keys == 251; }));
  EXPECT_TRUE(c.transport(wiped).peers().count(NodeId(4)));
}

// The new node started first (--join added it and the leader promoted it): REPLACE finishes
// the job by removing the old node.
TEST(Membership, ReplaceByANodeThatIsAVoterAlreadyRemovesTheOldOne) {
  MemberCluster c(3);
  c.start_all();
  c.must_write({"SET", "k", "v"});
  c.listen(4);
  c.start(4, {1, 2, 3});
  ASSERT_TRUE(c.change(c.wait_leader(), add(4, c)).is_ok());
  ASSERT_TRUE(c.wait_voters({1, 2, 3, 4}));
  const uint64_t l = c.wait_leader();
  const uint64_t dead = l == 3 ? 2 : 3;
  c.stop(dead);
  const Status s = c.change(l, MembershipRequest{Op::kReplace, NodeId(dead), NodeId(4),
                                                 c.peer_addr(4), MemberCluster::client_addr(4)});
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(c.conf(l).members.count(NodeId(dead)), 0u);
  std::vector<uint64_t> alive{4};
  for (uint64_t id = 1; id <= 3; ++id)
    if (id != dead) alive.push_back(id);
  EXPECT_TRUE(c.wait_voters(alive));
  // Sent again (a client retry): already done.
  EXPECT_TRUE(c.change(l, MembershipRequest{Op::kReplace, NodeId(dead), NodeId(4), c.peer_addr(4),
                                            MemberCluster::client_addr(4)})
                  .is_ok());
}

TEST(Membership, TransferLeadership) {
  MemberCluster c(3);
  c.start_all();
  const uint64_t l = c.wait_leader();
  const uint64_t to = l == 3 ? 1 : l + 1;
  ASSERT_TRUE(c.transfer(l, to).is_ok());
  EXPECT_EQ(c.node(to).status().role, raft::Role::kLeader);
  const Status follower = c.transfer(l, to);
  EXPECT_EQ(follower.code(), ErrorCode::kNotLeader);
  EXPECT_EQ(follower.message(), MemberCluster::client_addr(to));
  const Status unknown = c.transfer(to, 9);
  EXPECT_EQ(unknown.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(unknown.message(), "unknown node 9");
  EXPECT_TRUE(c.transfer(to, to).is_ok());
}

// --force-new-cluster: after losing 2 of 3 for good, the survivor rewrites the membership to
// itself alone and serves everything it had; a later start (with or without the flag) keeps
// it that way.
TEST(Membership, ForceNewClusterOnASurvivor) {
  MemberCluster c(3);
  c.start_all();
  for (int k = 0; k < 30; ++k) c.must_write({"SET", fmt::format("k{}", k), "v"});
  const uint64_t l = c.wait_leader();
  const uint64_t survivor = l == 1 ? 2 : 1;
  const Index commit = c.node(l).status().commit_index;
  ASSERT_TRUE(wait_until([&] { return c.node(survivor).status().applied_index >= commit; }));
  for (uint64_t id = 1; id <= 3; ++id) c.stop(id);
  c.start(survivor, {}, [](NodeOptions& o) { o.force_new_cluster = true; });
  ASSERT_TRUE(wait_until([&] { return c.leader() == survivor; }));
  EXPECT_EQ(c.conf(survivor).voters, std::vector<NodeId>{NodeId(survivor)});
  EXPECT_TRUE(c.conf(survivor).learners.empty());
  EXPECT_EQ(c.conf(survivor).members.size(), 1u);
  auto r = c.read(survivor, {"GET", "k29"});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->text, "v");
  ASSERT_TRUE(c.write(survivor, {"SET", "alone", "1"}).is_ok());
  c.stop(survivor);
  c.start(survivor, {}, [](NodeOptions& o) { o.force_new_cluster = true; });  // a no-op now
  ASSERT_TRUE(wait_until([&] { return c.leader() == survivor; }));
  EXPECT_EQ(c.conf(survivor).voters, std::vector<NodeId>{NodeId(survivor)});
  ASSERT_TRUE(wait_until([&] { return c.node(survivor).status().keys == 31; }));
}

// It refuses on a node without a log, saying why.
TEST(Membership, ForceNewClusterNeedsALog) {
  asio::io_context io;
  std::string t = "/tmp/raftkv-member-test-XXXXXX";
  const std::string dir = ::mkdtemp(t.data());
  NodeOptions o;
  o.id = NodeId(1);
  o.incarnation = 7;
  o.data_dir = dir;
  o.force_new_cluster = true;
  o.initial_members[NodeId(1)] = raft::MemberInfo{};
  auto r = GroupNode::open(io, o, nullptr);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("holds no log"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace raftkv::node
