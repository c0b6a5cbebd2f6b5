// The checker must be able to fail: each test feeds it a fabricated history that breaks one
// guarantee and expects that guarantee to be named; a well-formed history must pass.
#include "sim/checker.h"

#include <gtest/gtest.h>

namespace raftkv::sim {
namespace {

raft::Entry entry(uint64_t index, uint64_t term, std::string data) {
  return raft::Entry{Term(term), Index(index), raft::EntryType::kNormal, std::move(data)};
}

Checker::TermReader log_of(std::vector<raft::Entry> log) {
  return [log = std::move(log)](Index i) -> std::optional<Term> {
    for (const raft::Entry& e : log) {
      if (e.index == i) return e.term;
    }
    return std::nullopt;
  };
}

TEST(Checker, WellFormedHistoryPasses) {
  Checker c;
  c.on_become_leader(NodeId(1), Term(1), Index(1), Index(0), log_of({}));
  const std::vector<raft::Entry> log = {entry(1, 1, ""), entry(2, 1, "a"), entry(3, 1, "b")};
  c.on_append(NodeId(1), Term(0), log);
  c.on_append(NodeId(2), Term(0), {log[0], log[1]});
  c.on_append(NodeId(2), Term(1), {log[2]});
  for (const raft::Entry& e : log) c.on_committed(NodeId(1), Term(1), e);
  c.on_progress(NodeId(1), Index(0), Index(3), Index(3));
  c.on_read_invoked(7);
  for (const raft::Entry& e : log) c.on_apply(NodeId(2), Term(1), e);
  c.on_read_index(NodeId(2), 7, Index(3));
  c.on_read_served(NodeId(2), 7, Index(3));
  c.on_become_leader(NodeId(2), Term(2), Index(1), Index(3), log_of(log));
  c.on_snapshot(NodeId(3), Index(2), Term(1));
  EXPECT_TRUE(c.ok()) << c.violation();
  EXPECT_EQ(c.elections(), 2u);
  EXPECT_EQ(c.max_commit(), Index(3));
}

TEST(Checker, TwoLeadersInOneTermAreCaught) {
  Checker c;
  c.on_leader(NodeId(1), Term(4));
  c.on_leader(NodeId(1), Term(4));
  EXPECT_TRUE(c.ok());
  c.on_leader(NodeId(2), Term(4));
  EXPECT_FALSE(c.ok());
  EXPECT_NE(c.violation().find("election safety"), std::string::npos) << c.violation();
}

TEST(Checker, SameIndexAndTermWithDifferentPayloadIsCaught) {
  Checker c;
  c.on_append(NodeId(1), Term(0), {entry(1, 1, "x")});
  c.on_append(NodeId(2), Term(0), {entry(1, 1, "y")});
  EXPECT_NE(c.violation().find("log matching"), std::string::npos) << c.violation();
}

TEST(Checker, SameIndexAndTermWithDifferentPredecessorIsCaught) {
  Checker c;
  c.on_append(NodeId(1), Term(1), {entry(5, 3, "x")});
  c.on_append(NodeId(2), Term(2), {entry(5, 3, "x")});
  EXPECT_NE(c.violation().find("log matching"), std::string::npos) << c.violation();
}

TEST(Checker, DecreasingTermsInALogAreCaught) {
  Checker c;
  c.on_append(NodeId(1), Term(3), {entry(4, 2, "x")});
  EXPECT_NE(c.violation().find("terms must not decrease"), std::string::npos) << c.violation();
}

TEST(Checker, DisagreementOnACommittedEntryIsCaught) {
  Checker c;
  c.on_committed(NodeId(1), Term(2), entry(1, 1, "x"));
  c.on_committed(NodeId(2), Term(2), entry(1, 2, "y"));
  EXPECT_NE(c.violation().find("state machine safety"), std::string::npos) << c.violation();
}

TEST(Checker, DifferentEntriesAppliedAtOneIndexAreCaught) {
  Checker c;
  c.on_apply(NodeId(1), Term(1), entry(1, 1, "x"));
  c.on_apply(NodeId(2), Term(1), entry(1, 1, "x-corrupted"));
  EXPECT_NE(c.violation().find("state machine safety"), std::string::npos) << c.violation();
}

TEST(Checker, OneValueAppliedAtTwoIndexesIsCaught) {
  Checker c;
  c.on_apply(NodeId(1), Term(1), entry(1, 1, "x"));
  c.on_apply(NodeId(1), Term(1), entry(2, 1, "x"));
  EXPECT_NE(c.violation().find("already applied"), std::string::npos) << c.violation();
}

TEST(Checker, LeaderMissingACommittedEntryIsCaught) {
  Checker c;
  c.on_committed(NodeId(1), Term(1), entry(1, 1, "x"));
  c.on_committed(NodeId(1), Term(1), entry(2, 1, "y"));
  // A leader of a later term whose log stops at index 1.
  c.on_become_leader(NodeId(3), Term(2), Index(1), Index(1), log_of({entry(1, 1, "x")}));
  EXPECT_NE(c.violation().find("leader completeness"), std::string::npos) << c.violation();
}

TEST(Checker, LeaderWithADifferentEntryAtACommittedIndexIsCaught) {
  Checker c;
  c.on_committed(NodeId(1), Term(2), entry(1, 2, "x"));
  c.on_become_leader(NodeId(3), Term(3), Index(1), Index(1), log_of({entry(1, 1, "old")}));
  EXPECT_NE(c.violation().find("leader completeness"), std::string::npos) << c.violation();
}

TEST(Checker, StaleLeaderOfAnEarlierTermIsNotHeldToLaterCommits) {
  Checker c;
  c.on_committed(NodeId(1), Term(5), entry(1, 5, "x"));
  // Becoming leader of term 4 late (its votes were delayed) is not a completeness violation.
  c.on_become_leader(NodeId(3), Term(4), Index(1), Index(0), log_of({}));
  EXPECT_TRUE(c.ok()) << c.violation();
}

TEST(Checker, AppliedBeyondCommitIsCaught) {
  Checker c;
  c.on_progress(NodeId(1), Index(5), Index(4), Index(6));
  EXPECT_NE(c.violation().find("progress order"), std::string::npos) << c.violation();
}

TEST(Checker, CommitBeyondLastIndexIsCaught) {
  Checker c;
  c.on_progress(NodeId(1), Index(1), Index(7), Index(6));
  EXPECT_NE(c.violation().find("progress order"), std::string::npos) << c.violation();
}

TEST(Checker, StaleReadIndexIsCaught) {
  Checker c;
  c.on_progress(NodeId(1), Index(0), Index(9), Index(9));
  c.on_read_invoked(1);
  c.on_read_index(NodeId(2), 1, Index(8));
  EXPECT_NE(c.violation().find("linearizable read"), std::string::npos) << c.violation();
}

TEST(Checker, ReadServedBeforeTheWatermarkIsCaught) {
  Checker c;
  c.on_progress(NodeId(1), Index(0), Index(9), Index(9));
  c.on_read_invoked(1);
  c.on_read_served(NodeId(2), 1, Index(3));
  EXPECT_NE(c.violation().find("linearizable read"), std::string::npos) << c.violation();
}

TEST(Checker, AbandonedReadClaimsNothing) {
  Checker c;
  c.on_progress(NodeId(1), Index(0), Index(9), Index(9));
  c.on_read_invoked(1);
  c.on_read_abandoned(1);
  c.on_read_index(NodeId(2), 1, Index(0));
  EXPECT_TRUE(c.ok()) << c.violation();
}

TEST(Checker, SnapshotDisagreeingWithACommittedEntryIsCaught) {
  Checker c;
  c.on_committed(NodeId(1), Term(2), entry(3, 2, "x"));
  c.on_snapshot(NodeId(2), Index(3), Term(1));
  EXPECT_NE(c.violation().find("snapshot safety"), std::string::npos) << c.violation();
}

TEST(Checker, TwoVotesOfOneIncarnationInOneTermAreCaught) {
  Checker c;
  c.on_vote_granted(NodeId(3), 30, Term(4), NodeId(1), 30);
  c.on_vote_granted(NodeId(3), 30, Term(4), NodeId(1), 30);  // the same vote again: fine
  c.on_vote_granted(NodeId(3), 30, Term(5), NodeId(2), 30);  // another term: fine
  EXPECT_TRUE(c.ok()) << c.violation();
  c.on_vote_granted(NodeId(3), 30, Term(4), NodeId(2), 30);
  EXPECT_NE(c.violation().find("vote safety"), std::string::npos) << c.violation();
}

TEST(Checker, AVoteForAnotherIncarnationIsCaught) {
  Checker c;
  c.on_vote_granted(NodeId(3), 31, Term(4), NodeId(1), 30);
  EXPECT_NE(c.violation().find("asking incarnation"), std::string::npos) << c.violation();
}

TEST(Checker, AWipedNodeVotingAgainUnboundIsCaught) {
  // The bug: node 3's old disk voted for 1 in term 4; its new (wiped) disk grants 2 a
  // request that did not name an incarnation.
  Checker c;
  c.on_vote_granted(NodeId(3), 30, Term(4), NodeId(1), 30);
  c.on_vote_granted(NodeId(3), 31, Term(4), NodeId(2), 0);
  EXPECT_NE(c.violation().find("vote safety"), std::string::npos) << c.violation();
}

TEST(Checker, TwoBoundIncarnationsAreTwoVoters) {
  // Two bound incarnations of node 3 are two voters of two memberships: both may vote in term 4
  // (the new one was re-added after the old one voted; see checker.h).
  Checker c;
  c.on_vote_granted(NodeId(3), 30, Term(4), NodeId(1), 30);
  c.on_vote_granted(NodeId(3), 31, Term(4), NodeId(2), 31);
  EXPECT_TRUE(c.ok()) << c.violation();
}

TEST(Checker, FirstViolationIsKept) {
  Checker c;
  c.fail("first");
  c.fail("second");
  EXPECT_EQ(c.violation(), "first");
}

}  // namespace
}  // namespace raftkv::sim
