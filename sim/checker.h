// The simulator's safety checker: Raft's guarantees (Raft Figure 3) as checks over the history
// the cluster reports, one event at a time.
//
// The checker knows nothing about Raft objects: the cluster harness feeds it facts (who became
// leader of which term, what was appended, committed, applied, read), so unit tests can feed
// it fabricated histories and prove that each check can fail.
//
// Checks:
//   election safety      at most one leader per term (Raft §5.2), across configurations;
//   vote safety          no incarnation of a node grants its vote to two candidates in one term;
//                        a grant answers only a request addressed to the granter's incarnation
//                        (issue 12); and no node id grants two candidates in one term across
//                        incarnations unless both grants were bound to their incarnation. Two
//                        bound incarnations of one id are two different voters: a removed (or
//                        wiped) node re-added with a new disk may vote in a term its old disk
//                        voted in, and must be able to (nothing it can know bounds the terms its
//                        old disk voted in); its vote counts only for candidates whose membership
//                        records the new incarnation, which the old one's never did;
//   log matching         an entry named by (index, term) has one payload and one predecessor
//                        term in every log that holds it, so equal (index, term) implies equal
//                        prefixes (Raft §5.3), and terms never decrease along a log;
//   commit agreement     every node that considers index i committed holds the same entry there;
//   leader completeness  a leader of term T holds every entry committed in a term < T (§5.4.1);
//   state machine safety no two nodes apply different entries at one index, no value is
//                        applied at two indexes (§5.4.3);
//   progress order       applied <= committed <= last index on every node;
//   linearizable reads   a ReadIndex read point is >= the highest commit index any node knew
//                        when the read was invoked, and the read is served only at or beyond it.
// The first violation is kept (later ones are usually consequences); ok() turns false.
//
// Thread-safety: none; one per simulated run.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/ids.h"
#include "raft/types.h"

namespace raftkv::sim {

class Checker {
 public:
  // Reads an entry's term from one node's log; nullopt when it is not available there.
  using TermReader = std::function<std::optional<Term>(Index)>;

  // `node` is leader of `term` (reported whenever it is seen leading).
  void on_leader(NodeId node, Term term);
  // `voter` (of incarnation `incarnation`) granted its vote in `term` to `candidate`: the grant
  // was durable and sent (or stepped back, for a candidate's own vote). `asked` is the
  // incarnation the request named (the candidate's record of the voter; 0 if unbound).
  void on_vote_granted(NodeId voter, uint64_t incarnation, Term term, NodeId candidate,
                       uint64_t asked);
  // `node` just became leader of `term`; its log spans [first_index, last_index] (entries
  // before first_index are compacted into its snapshot).
  void on_become_leader(NodeId node, Term term, Index first_index, Index last_index,
                        const TermReader& term_of);
  // `entries` (contiguous, ascending) now follow, in `node`'s log, an entry of term
  // `prev_term` (nullopt when the predecessor is compacted or is index 0).
  void on_append(NodeId node, std::optional<Term> prev_term,
                 const std::vector<raft::Entry>& entries);
  // `node`, in term `node_term`, holds `entry` at an index <= its commit index.
  void on_committed(NodeId node, Term node_term, const raft::Entry& entry);
  // `node` holds (or installed) a snapshot whose last entry is (index, term).
  void on_snapshot(NodeId node, Index index, Term term);
  // `node`, in term `node_term`, applied `entry` to its state machine.
  void on_apply(NodeId node, Term node_term, const raft::Entry& entry);
  void on_progress(NodeId node, Index applied, Index commit, Index last);

  // A read with `context` is being invoked now.
  void on_read_invoked(uint64_t context);
  // `node` received the read point for `context`.
  void on_read_index(NodeId node, uint64_t context, Index read_index);
  // `node` served the read for `context` with its state machine at `applied`.
  void on_read_served(NodeId node, uint64_t context, Index applied);
  // The read for `context` was abandoned (timeout, crash); forget its watermark.
  void on_read_abandoned(uint64_t context);

  // Records a violation found by the harness itself (driver contract, liveness, ...).
  void fail(std::string what);

  bool ok() const { return violation_.empty(); }
  const std::string& violation() const { return violation_; }

  // Highest index known committed by any node so far.
  Index max_commit() const { return max_commit_; }
  // The committed entry at `index`, if the checker has seen it.
  const raft::Entry* committed_entry(Index index) const;
  // Index at which a value was committed, if seen.
  std::optional<Index> index_of_value(const std::string& value) const;
  uint64_t elections() const { return leaders_.size(); }

 private:
  struct Committed {
    bool known = false;
    raft::Entry entry;
    Term commit_term;  // upper bound on the term in which the entry was committed
  };
  struct LogEntryFact {
    std::string data;
    std::optional<Term> prev_term;
  };
  // Records the committed entry at entry.index, or checks it against the recorded one.
  void record_committed(NodeId node, Term node_term, const raft::Entry& entry, const char* how);

  std::string violation_;
  // term -> leader. Invariant (election safety): one leader per term.
  std::map<Term, NodeId> leaders_;
  struct Grant {
    NodeId candidate;
    uint64_t incarnation = 0;
    uint64_t asked = 0;
  };
  // (voter, term) -> its grants. Invariant (vote safety): see the file comment.
  std::map<std::pair<NodeId, Term>, std::vector<Grant>> grants_;
  // (index, term) -> payload and predecessor term, as first seen in any log.
  std::map<std::pair<Index, Term>, LogEntryFact> log_facts_;
  // committed_[i]: the committed entry at index i (slot 0 unused). Grows as commits are seen.
  std::vector<Committed> committed_ = std::vector<Committed>(1);
  // Highest commit index any node has reported. Invariant: never decreases.
  Index max_commit_;
  // Non-empty payload -> the index where it was applied. Invariant: one index per value.
  std::unordered_map<std::string, Index> value_index_;
  // Open reads: context -> highest commit index known when the read was invoked.
  std::map<uint64_t, Index> read_watermarks_;
};

}  // namespace raftkv::sim
