// Log replication: Raft §5.3, §5.4, Figure 8, fast backtracking, flow control, persistence.
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

using Strings = std::vector<std::string>;

TEST(Replication, BasicAgreement) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.propose(1, "v" + std::to_string(i)).is_ok());
  const Strings want{"v0", "v1", "v2", "v3", "v4"};
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(c.applied_data(id), want) << "node " << id;
}

TEST(Replication, FollowerRejectsProposals) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  EXPECT_EQ(c.node(2).propose("x").code(), ErrorCode::kNotLeader);
}

TEST(Replication, AgreementWithFollowerDown) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.crash(3);
  ASSERT_TRUE(c.propose(1, "a").is_ok());
  ASSERT_TRUE(c.propose(1, "b").is_ok());
  EXPECT_EQ(c.applied_data(2), (Strings{"a", "b"}));
  c.restart(3);
  c.tick_all(3);
  EXPECT_EQ(c.applied_data(3), (Strings{"a", "b"}));
}

TEST(Replication, NoCommitWithoutMajority) {
  // §5.3: an entry is committed only once replicated on a majority.
  TestCluster c(5);
  ASSERT_TRUE(c.elect(1));
  c.partition({{1, 2}, {3, 4, 5}});
  const Index before = c.node(1).commit_index();
  ASSERT_TRUE(c.propose(1, "lonely").is_ok());
  c.tick(1, 3);
  c.stabilize();
  EXPECT_EQ(c.node(1).commit_index(), before);
  EXPECT_TRUE(c.applied_data(1).empty());
  c.heal();
  c.tick_all(3);
  EXPECT_EQ(c.applied_data(5), Strings{"lonely"});
}

TEST(Replication, ConcurrentProposalsAllCommitInOneOrder) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.node(1).propose("p" + std::to_string(i)).is_ok());
  c.stabilize();
  ASSERT_EQ(c.applied_data(1).size(), 100u);
  EXPECT_EQ(c.applied_data(2), c.applied_data(1));
  EXPECT_EQ(c.applied_data(3), c.applied_data(1));
}

TEST(Replication, PartitionedOldLeaderRejoinsAndIsOverwritten) {
  // §5.3: the new leader forces followers' logs to match its own; uncommitted entries of the
  // old leader are discarded.
  TestCluster c(5);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "committed").is_ok());
  c.partition({{1}, {2, 3, 4, 5}});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.node(1).propose("stale" + std::to_string(i)).is_ok());
  c.stabilize();
  // The majority side elects a leader once its lease on the old leader expires.
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_GE(l, 2u);
  ASSERT_TRUE(c.propose(l, "new").is_ok());
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.leader(), l);
  EXPECT_EQ(c.applied_data(1), (Strings{"committed", "new"}));
  EXPECT_EQ(c.node(1).last_index(), c.node(l).last_index());
}

TEST(Replication, FastBackupOfLongDivergentLogs) {
  // A follower with a long conflicting tail is repaired with few round trips, thanks to the
  // conflict-term hint (one rejection per divergent term, not per entry).
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "base").is_ok());
  c.partition({{1}, {2, 3}});
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(c.node(1).propose("old" + std::to_string(i)).is_ok());
  c.stabilize();
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_GE(l, 2u);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(c.node(l).propose("new" + std::to_string(i)).is_ok());
  c.stabilize();
  c.heal();
  c.reset_counts();
  c.tick_all(3);
  ASSERT_EQ(c.applied_data(1).size(), 201u);
  EXPECT_EQ(c.applied_data(1).back(), "new199");
  // Without hints this would take ~200 rejected probes.
  EXPECT_LE(c.delivered[MessageType::kApp], 12u);
}

TEST(Replication, SteadyStateMessageCounts) {
  // One proposal costs one App and one AppResp per follower, plus one App per follower to
  // spread the new commit index; one heartbeat round costs one message each way per follower.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.reset_counts();
  ASSERT_TRUE(c.propose(1, "x").is_ok());
  EXPECT_EQ(c.delivered[MessageType::kApp], 4u);
  EXPECT_EQ(c.delivered[MessageType::kAppResp], 4u);
  EXPECT_EQ(c.delivered.size(), 2u);
  c.reset_counts();
  c.tick(1);
  c.stabilize();
  EXPECT_EQ(c.delivered[MessageType::kHeartbeat], 2u);
  EXPECT_EQ(c.delivered[MessageType::kHeartbeatResp], 2u);
  EXPECT_EQ(c.delivered.size(), 2u);
}

TEST(Replication, PipelinedProposalsCarryTheCommitIndexOnTheirAppsNotExtraOnes) {
  // Ten proposals in flight at once: each is one App per follower. The commit index advances
  // with each acknowledgement, but a follower with Apps still in flight learns it from the App
  // that follows its last acknowledgement, not from an extra App per commit (which would cost up
  // to 2 * 10 more). Followers still end with the leader's commit index, without any tick.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.stabilize();
  c.reset_counts();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.node(1).propose(fmt::format("p{}", i)).is_ok());
  c.stabilize();
  EXPECT_LE(c.delivered[MessageType::kApp], 2u * 10 + 2);
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.applied_data(id).size(), 10u) << "node " << id;
    EXPECT_EQ(c.node(id).commit_index(), c.node(1).commit_index()) << "node " << id;
  }
}

TEST(Replication, PersistenceAcrossCrashOfAllNodes) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ASSERT_TRUE(c.propose(1, "a").is_ok());
  ASSERT_TRUE(c.propose(1, "b").is_ok());
  const Term t = c.node(1).term();
  for (uint64_t id = 1; id <= 3; ++id) c.crash(id);
  for (uint64_t id = 1; id <= 3; ++id) c.restart(id);
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.node(id).term(), t);
    EXPECT_EQ(c.applied_data(id), (Strings{}));  // nothing applied until commit is re-learned
  }
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  ASSERT_TRUE(c.propose(l, "c").is_ok());
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(c.applied_data(id), (Strings{"a", "b", "c"}));
}

TEST(Replication, Figure8LeaderDoesNotCommitOldTermEntriesByCounting) {
  // Raft §5.4.2, Figure 8: an entry from an earlier term stored on a majority is not committed
  // by counting replicas; it commits only together with an entry of the leader's own term.
  MemoryStorage storage;
  ASSERT_TRUE(storage
                  .append({Entry{Term(1), Index(1), EntryType::kNormal, "a"},
                           Entry{Term(2), Index(2), EntryType::kNormal, "b"}})
                  .is_ok());
  storage.set_hard_state(HardState{Term(3), NodeId(), Index(1)});
  Config cfg;
  cfg.id = NodeId(1);
  cfg.voters = {NodeId(1), NodeId(2), NodeId(3)};
  cfg.pre_vote = false;
  SeededRng rng(1);
  auto r = Raft::create(cfg, &storage, &rng);
  ASSERT_TRUE(r.is_ok());
  Raft& n = **r;
  ASSERT_TRUE(n.campaign().is_ok());
  const Term t = n.term();  // 4
  Ready vote = n.ready();
  n.advance(vote);
  for (Message& m : vote.messages_after_persist) {
    if (m.to == NodeId(1)) {
      ASSERT_TRUE(n.step(m).is_ok());  // our own vote, once durable
    }
  }
  ASSERT_TRUE(
      n.step(Message{.type = MessageType::kVoteResp, .from = NodeId(2), .to = NodeId(1), .term = t})
          .is_ok());
  ASSERT_EQ(n.role(), Role::kLeader);
  Ready rd = n.ready();
  n.advance(rd);
  ASSERT_EQ(rd.entries.size(), 1u);  // the no-op at index 3, not yet durable
  // Node 2 acknowledges index 2 (the term-2 entry): {1, 2} hold it, a majority.
  ASSERT_TRUE(n.step(Message{.type = MessageType::kAppResp,
                             .from = NodeId(2),
                             .to = NodeId(1),
                             .term = t,
                             .index = Index(2)})
                  .is_ok());
  EXPECT_EQ(n.commit_index(), Index(1)) << "term-2 entry committed by counting replicas";
  // Once the term-4 no-op is on a majority, it and everything before it commit.
  ASSERT_TRUE(storage.append(rd.entries).is_ok());
  n.on_persisted(Index(3), t);
  EXPECT_EQ(n.commit_index(), Index(1));
  ASSERT_TRUE(n.step(Message{.type = MessageType::kAppResp,
                             .from = NodeId(2),
                             .to = NodeId(1),
                             .term = t,
                             .index = Index(3)})
                  .is_ok());
  EXPECT_EQ(n.commit_index(), Index(3));
  EXPECT_TRUE(n.check_invariants().is_ok());
}

TEST(Replication, LeaderCountsItselfOnlyOnceDurable) {
  // Thesis §10.2.1: the leader replicates while its own write is in flight, but its own
  // acknowledgement counts only once the entry is durable.
  MemoryStorage storage;
  Config cfg;
  cfg.id = NodeId(1);
  cfg.voters = {NodeId(1), NodeId(2), NodeId(3)};
  cfg.pre_vote = false;
  SeededRng rng(1);
  auto r = Raft::create(cfg, &storage, &rng);
  ASSERT_TRUE(r.is_ok());
  Raft& n = **r;
  // A fresh node first persists and applies its bootstrap membership (indexes 1..3).
  Ready boot = n.ready();
  ASSERT_EQ(boot.entries.size(), 3u);
  ASSERT_TRUE(storage.append(boot.entries).is_ok());
  n.on_persisted(Index(3), Term(1));
  Ready boot_apply = n.ready();
  n.advance(boot);
  n.advance(boot_apply);
  ASSERT_EQ(n.applied_index(), Index(3));
  ASSERT_TRUE(n.campaign().is_ok());
  Ready rd = n.ready();
  n.advance(rd);
  storage.set_hard_state(*rd.hard_state);
  for (Message& m : rd.messages_after_persist) {
    if (m.to == NodeId(1)) {
      ASSERT_TRUE(n.step(m).is_ok());  // our own durable vote
    }
  }
  ASSERT_TRUE(
      n
          .step(Message{
              .type = MessageType::kVoteResp, .from = NodeId(3), .to = NodeId(1), .term = n.term()})
          .is_ok());
  ASSERT_EQ(n.role(), Role::kLeader);
  rd = n.ready();
  n.advance(rd);
  ASSERT_EQ(rd.entries.size(), 1u);
  bool sent_app = false;
  for (const Message& m : rd.messages) sent_app |= m.type == MessageType::kApp;
  EXPECT_TRUE(sent_app) << "App must go out before the leader's own write is durable";
  // Nodes 2 and 3 are down; only our own durability remains: no majority.
  ASSERT_TRUE(storage.append(rd.entries).is_ok());
  n.on_persisted(Index(4), n.term());
  EXPECT_EQ(n.commit_index(), Index(3));
  ASSERT_TRUE(n.step(Message{.type = MessageType::kAppResp,
                             .from = NodeId(2),
                             .to = NodeId(1),
                             .term = n.term(),
                             .index = Index(4)})
                  .is_ok());
  EXPECT_EQ(n.commit_index(), Index(4));
}

TEST(Replication, UncommittedBytesCapRejectsProposals) {
  TestCluster c(3, [](Config& cfg) { cfg.max_uncommitted_bytes = 1000; });
  ASSERT_TRUE(c.elect(1));
  c.isolate(1);  // nothing commits
  const std::string big(300, 'x');
  int accepted = 0;
  Status last;
  for (int i = 0; i < 10; ++i) {
    last = c.node(1).propose(big);
    if (last.is_ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(last.code(), ErrorCode::kTooLarge);
  EXPECT_NE(last.message().find("max_uncommitted_bytes"), std::string::npos);
  c.heal();
  c.tick_all(3);
  EXPECT_TRUE(c.node(1).propose(big).is_ok()) << "cap frees up once entries commit";
}

TEST(Replication, InflightWindowBoundsUnackedMessages) {
  TestCluster c(3, [](Config& cfg) { cfg.max_inflight_msgs = 4; });
  ASSERT_TRUE(c.elect(1));
  c.drop_types({MessageType::kAppResp});
  c.reset_counts();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.node(1).propose("e" + std::to_string(i)).is_ok());
  c.stabilize();
  EXPECT_LE(c.delivered[MessageType::kApp], 2u * 4u);
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.applied_data(3).size(), 20u);
}

TEST(Replication, MessageByteCapSplitsBatches) {
  TestCluster c(3, [](Config& cfg) { cfg.max_msg_bytes = 1000; });
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.node(1).propose(std::string(200, 'a' + i)).is_ok());
  c.stabilize();
  c.heal();
  c.reset_counts();
  c.tick_all(3);
  EXPECT_EQ(c.applied_data(3).size(), 20u);
  EXPECT_GE(c.delivered[MessageType::kApp], 5u);  // 20 * 216 bytes / 1000 per message
}

}  // namespace
}  // namespace raftkv::raft::testing
