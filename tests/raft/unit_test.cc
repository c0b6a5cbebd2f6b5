// Unit tests of the core's small parts: quorum math (against a brute-force model), progress,
// the log view, malformed input.
#include <gtest/gtest.h>

#include "raft/memory_storage.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/raft_log.h"
#include "test_cluster.h"

namespace raftkv::raft {
namespace {

TEST(Quorum, MajorityAckedIndexMatchesBruteForce) {
  SeededRng rng(5);
  for (int iter = 0; iter < 2000; ++iter) {
    const size_t n = rng.range(1, 7);
    std::vector<NodeId> voters;
    std::map<NodeId, Index> match;
    for (size_t i = 1; i <= n; ++i) {
      voters.push_back(NodeId(i));
      match[NodeId(i)] = Index(rng.range(0, 20));
    }
    const Index got = majority_acked_index(voters, [&](NodeId v) { return match[v]; });
    // Model: the largest i such that more than half of the voters have match >= i.
    Index want;
    for (uint64_t i = 0; i <= 20; ++i) {
      size_t count = 0;
      for (auto& [v, m] : match) count += m >= Index(i) ? 1 : 0;
      if (count * 2 > n) want = Index(i);
    }
    ASSERT_EQ(got, want) << "n=" << n;
  }
}

TEST(Quorum, TallyVotes) {
  const std::vector<NodeId> v{NodeId(1), NodeId(2), NodeId(3)};
  EXPECT_EQ(tally_votes(v, {{NodeId(1), true}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{NodeId(1), true}, {NodeId(2), true}}), VoteResult::kWon);
  EXPECT_EQ(tally_votes(v, {{NodeId(1), true}, {NodeId(2), false}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{NodeId(2), false}, {NodeId(3), false}}), VoteResult::kLost);
  EXPECT_EQ(tally_votes(v, {{NodeId(9), true}, {NodeId(1), true}}), VoteResult::kPending);
}

TEST(Progress, ProbeSendsOneAtATime) {
  Progress pr(Index(10), 4, 1 << 20, false);
  EXPECT_FALSE(pr.is_paused());
  pr.probe_sent = true;
  EXPECT_TRUE(pr.is_paused());
  EXPECT_TRUE(pr.maybe_update(Index(9)));
  EXPECT_FALSE(pr.is_paused());
}

TEST(Progress, RejectionsAreStaleOrUseHint) {
  Progress pr(Index(10), 4, 1 << 20, false);
  EXPECT_FALSE(pr.maybe_decr_to(Index(5), Index(2))) << "not the latest probe";
  EXPECT_TRUE(pr.maybe_decr_to(Index(9), Index(3)));
  EXPECT_EQ(pr.next, Index(4));
}

TEST(Progress, InflightsBoundByCountAndBytes) {
  Inflights in(3, 100);
  in.add({Index(1), 10, 0, 0});
  in.add({Index(2), 10, 0, 0});
  EXPECT_FALSE(in.full());
  EXPECT_EQ(in.available_bytes(), 80u);
  in.add({Index(5), 80, 0, 0});
  EXPECT_TRUE(in.full());
  EXPECT_EQ(in.available_bytes(), 0u);
  in.free_le(Index(2));
  EXPECT_EQ(in.count(), 1u);
  EXPECT_FALSE(in.full() && in.bytes() < 100);
  in.free_le(Index(5));
  EXPECT_FALSE(in.full());
}

TEST(RaftLog, AppendTruncatesConflictingUnstableSuffix) {
  MemoryStorage s;
  RaftLog log(&s, Index());
  log.append({Entry{Term(1), Index(1)}, Entry{Term(1), Index(2)}, Entry{Term(1), Index(3)}});
  auto taken = log.take_unstable_entries();
  ASSERT_EQ(taken.size(), 3u);
  log.append({Entry{Term(2), Index(2)}});
  EXPECT_EQ(log.last_index(), Index(2));
  EXPECT_EQ(log.term(Index(2)).value(), Term(2));
  // The old (1, 3) write finishing must not mark the new entry 2 stable.
  ASSERT_TRUE(s.append(taken).is_ok());
  EXPECT_FALSE(log.stable_to(Index(3), Term(1)));
  EXPECT_TRUE(log.has_unstable_to_hand_out());
  auto again = log.take_unstable_entries();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].term, Term(2));
  EXPECT_TRUE(log.check_invariants().is_ok());
}

TEST(RaftLog, FindConflictByTerm) {
  MemoryStorage s;
  ASSERT_TRUE(
      s.append({Entry{Term(1), Index(1)}, Entry{Term(1), Index(2)}, Entry{Term(3), Index(3)},
                Entry{Term(3), Index(4)}, Entry{Term(5), Index(5)}})
          .is_ok());
  RaftLog log(&s, Index());
  EXPECT_EQ(log.find_conflict_by_term(Index(5), Term(4)), Index(4));
  EXPECT_EQ(log.find_conflict_by_term(Index(5), Term(2)), Index(2));
  EXPECT_EQ(log.find_conflict_by_term(Index(5), Term(9)), Index(5));
  EXPECT_EQ(log.find_conflict_by_term(Index(3), Term(0)), Index(0));
}

TEST(Malformed, BadPeerMessagesAreRejectedNotFatal) {
  testing::TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  Raft& n = c.node(2);
  const Term t = n.term();
  // Non-contiguous entries.
  Message m{.type = MessageType::kApp,
            .from = NodeId(1),
            .to = NodeId(2),
            .term = t,
            .log_term = t,
            .index = n.last_index()};
  m.entries = {Entry{t, n.last_index() + 2}};
  EXPECT_EQ(n.step(m).code(), ErrorCode::kInvalidArgument);
  // Entry term above the message term.
  m.entries = {Entry{t + 5, n.last_index() + 1}};
  EXPECT_EQ(n.step(m).code(), ErrorCode::kInvalidArgument);
  // Wrong recipient, no sender, empty snapshot.
  EXPECT_EQ(
      n.step(
           Message{.type = MessageType::kHeartbeat, .from = NodeId(1), .to = NodeId(3), .term = t})
          .code(),
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(n.step(Message{.type = MessageType::kHeartbeat, .to = NodeId(2), .term = t}).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      n.step(Message{.type = MessageType::kSnap, .from = NodeId(1), .to = NodeId(2), .term = t})
          .code(),
      ErrorCode::kInvalidArgument);
  EXPECT_TRUE(n.check_invariants().is_ok());
  EXPECT_TRUE(c.propose(1, "still fine").is_ok());
}

TEST(Config, Validation) {
  Config c;
  EXPECT_FALSE(c.validate().is_ok());  // id 0
  c.id = NodeId(1);
  EXPECT_TRUE(c.validate().is_ok());
  c.election_ticks = 1;
  EXPECT_NE(c.validate().message().find("election_ticks"), std::string::npos);
  c.election_ticks = 10;
  c.read_mode = ReadMode::kLease;
  c.check_quorum = false;
  EXPECT_NE(c.validate().message().find("check_quorum"), std::string::npos);
}

TEST(Create, SnapshotAndAppliedIndexCountAsCommittedWhenHardStateLags) {
  // The hard state's commit is written lazily; after a crash it may be older than the snapshot
  // the state machine restarts from. Found by raftkv-sim (seed 5, 5 nodes, --faults all).
  MemoryStorage s;
  ASSERT_TRUE(
      s.append({Entry{Term(1), Index(1)}, Entry{Term(1), Index(2)}, Entry{Term(1), Index(3)}})
          .is_ok());
  ASSERT_TRUE(s.create_snapshot(Index(3), ConfState{{NodeId(1), NodeId(2)}, {}}, "sm").is_ok());
  s.set_hard_state(HardState{Term(1), NodeId(), Index(2)});
  Config c;
  c.id = NodeId(1);
  c.voters = {NodeId(1), NodeId(2)};
  c.applied = Index(3);
  SeededRng rng(1);
  auto r = Raft::create(c, &s, &rng);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)->commit_index(), Index(3));
  EXPECT_TRUE((*r)->check_invariants().is_ok());
}

TEST(Create, BootstrapTermIsPersistedWithTheBootstrapEntries) {
  // Found by raftkv-sim: the bootstrap's term never reached a Ready's hard state, so a node
  // restarted with term 0 and a term-1 log.
  MemoryStorage s;
  Config c;
  c.id = NodeId(1);
  c.voters = {NodeId(1), NodeId(2), NodeId(3)};
  SeededRng rng(1);
  auto r = Raft::create(c, &s, &rng);
  ASSERT_TRUE(r.is_ok());
  Ready rd = (*r)->ready();
  ASSERT_EQ(rd.entries.size(), 3u);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, Term(1));
  EXPECT_TRUE(rd.must_sync);
}

TEST(Create, RejectsAppliedBeyondLog) {
  MemoryStorage s;
  Config c;
  c.id = NodeId(1);
  c.voters = {NodeId(1)};
  c.applied = Index(9);
  SeededRng rng(1);
  auto r = Raft::create(c, &s, &rng);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.code(), ErrorCode::kCorruption);
}

TEST(Create, RejectsCommitBeyondLog) {
  MemoryStorage s;
  s.set_hard_state(HardState{Term(1), NodeId(), Index(5)});
  Config c;
  c.id = NodeId(1);
  c.voters = {NodeId(1)};
  SeededRng rng(1);
  auto r = Raft::create(c, &s, &rng);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.code(), ErrorCode::kCorruption);
}

// A single voter restarted with a lagging hard-state commit must not serve a read at it: its
// commit index is current only once an entry of its new term commits (thesis §6.4). Found by
// raftkv-sim (--nodes 1 --faults all, seed 9).
TEST(Create, ASingleVoterHoldsReadsUntilItsTermCommits) {
  MemoryStorage s;
  // Entries 1..3 committed before the crash (1 is the bootstrap's); the hard state says 2.
  ASSERT_TRUE(s.append({Entry{Term(1), Index(1), EntryType::kConfChange,
                              ConfChange::single(ConfChangeType::kAddVoter, NodeId(1)).encode()},
                        Entry{Term(2), Index(2), EntryType::kNormal, "a"},
                        Entry{Term(2), Index(3), EntryType::kNormal, "b"}})
                  .is_ok());
  s.set_hard_state(HardState{Term(2), NodeId(1), Index(2)});
  Config c;
  c.id = NodeId(1);
  c.voters = {NodeId(1)};
  c.applied = Index(2);
  SeededRng rng(1);
  auto r = Raft::create(c, &s, &rng);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  Raft& raft = **r;
  ASSERT_TRUE(raft.campaign().is_ok());
  Ready rd = raft.ready();
  for (const Message& m : rd.messages_after_persist) ASSERT_TRUE(raft.step(m).is_ok());
  raft.advance(rd);
  ASSERT_EQ(raft.role(), Role::kLeader);
  ASSERT_TRUE(raft.read_index(7).is_ok());
  rd = raft.ready();
  EXPECT_TRUE(rd.read_states.empty()) << "served at " << rd.read_states[0].index;
  ASSERT_TRUE(s.append(rd.entries).is_ok());  // the new term's no-op
  for (const Message& m : rd.messages_after_persist) ASSERT_TRUE(raft.step(m).is_ok());
  raft.advance(rd);
  rd = raft.ready();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_GE(rd.read_states[0].index, Index(4));
}

}  // namespace
}  // namespace raftkv::raft
