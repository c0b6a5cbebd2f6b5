// Internal state of the Raft core; see raft.h for the public contract. Split across
// raft.cc (construction, Ready, invariants), raft_step.cc (term rules, elections, follower side)
// and raft_leader.cc (replication, commit, reads, transfer).
#pragma once

#include <map>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "raft/config.h"
#include "raft/progress.h"
#include "raft/raft.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"

namespace raftkv::raft {

class RaftImpl {
 public:
  RaftImpl(const Config& config, const LogStorage* storage, Rng* rng);
  Status init();  // reads the initial state; fails on inconsistent storage
  void bootstrap_legacy();
  Status bootstrap(const ConfState& conf);

  // --- public operations (raft.h) ---
  void tick();
  Status step(Message m);
  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);
  Result<ConfState> apply_conf_change(const ConfChange& cc);
  Status check_invariants() const;
  std::vector<FollowerStatus> follower_status() const;
  bool lease_valid() const;  // leader in kLease mode holds a lease now
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  SoftState soft_state() const { return SoftState{lead_, role_}; }

  // --- state (read by the Raft facade) ---
  Config cfg_;
  const LogStorage* storage_;
  Rng* rng_;
  Logger logger_;
  NodeId id_;

  // Persistent (Raft Figure 2). Invariant: log_.last_term() <= term_.
  Term term_;
  NodeId vote_;  // Invariant: role_ == kCandidate implies vote_ == id_.
  RaftLog log_;
  ConfState conf_;

  // Volatile. Invariant: role_ == kLeader iff lead_ == id_.
  Role role_ = Role::kFollower;
  NodeId lead_;
  std::map<NodeId, Progress> prs_;  // every voter and learner (ordered: deterministic iteration)
  std::map<NodeId, bool> votes_;    // (pre-)candidate: responses received in this campaign

  uint32_t election_elapsed_ = 0;  // ticks since last heard from a leader (or, leader: since
                                   // the last check-quorum)
  uint32_t heartbeat_elapsed_ = 0;
  uint32_t randomized_election_timeout_ = 0;  // in [election_ticks, 2*election_ticks)
  uint64_t now_ = 0;                          // ticks since creation (leases, read rounds)
  // Lease mode only: after a (re)start this node grants no votes for an election timeout,
  // because it may have acknowledged a leader's lease just before crashing.
  uint32_t vote_guard_ticks_ = 0;

  NodeId lead_transferee_;          // leader: transfer target, none if no transfer in progress
  Index pending_conf_index_;        // leader: a conf change at or below this may still be unapplied
  uint64_t uncommitted_bytes_ = 0;  // leader: bytes proposed in this term, not yet handed out
  uint64_t lease_until_tick_ = 0;   // leader, lease mode: lease valid while now_ < this
  ReadOnly read_only_;
  std::vector<Message> pending_reads_;  // leader: reads held until an entry of this term commits

  std::vector<Message> msgs_;
  std::vector<Message> msgs_after_persist_;
  std::vector<ReadState> read_states_;
  SoftState prev_soft_;
  HardState prev_hard_;

 private:
  // raft_step.cc
  Status validate(const Message& m) const;
  void send(Message m);
  void reset(Term term);
  void become_follower(Term term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void hup(bool transfer);
  void campaign(bool pre_vote, bool transfer);
  void handle_vote_request(const Message& m);
  // A vote rejection's (commit, term at commit): commits our matching prefix.
  void learn_commit(Index commit, Term term);
  void handle_storage_append_done(const Message& m);
  Status step_follower(Message& m);
  Status step_candidate(Message& m);
  void handle_append(Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  bool restore(const std::shared_ptr<const Snapshot>& snap);
  void tick_election();
  void tick_heartbeat();
  void reset_randomized_election_timeout();
  bool promotable() const;
  bool is_voter(NodeId id) const;
  bool has_unapplied_conf_change() const;
  void rebuild_progress();

  // raft_leader.cc
  Status step_leader(Message& m);
  Status handle_propose(Message& m);
  Status handle_read_index(Message& m);
  void handle_append_response(const Message& m, Progress& pr);
  void handle_heartbeat_response(const Message& m, Progress& pr);
  // Resumes replication to a paused follower whose heartbeat response shows an App was lost.
  // True when heartbeats cannot overtake an App of `bytes` (Config::ordered_app_bytes).
  bool is_ordered_app(uint64_t bytes) const;
  // Ticks without an answer after which an App of `bytes` is taken as lost.
  uint64_t silence_ticks(uint64_t bytes) const;
  void maybe_resume_after_heartbeat(const Message& m, Progress& pr);
  // Asks a follower that holds the entries up to `held` to acknowledge them again.
  void request_ack(NodeId to, Progress& pr, Index held);
  void handle_transfer_leader(const Message& m);
  void bcast_append();
  // After the commit index advanced (see raft_leader.cc).
  void bcast_commit();
  void bcast_heartbeat(uint64_t context);
  bool maybe_send_append(NodeId to, bool send_if_empty);
  bool maybe_commit();
  void on_commit_in_term();
  bool quorum_active() const;
  // The leader alone is a majority of every configuration (a single voter).
  bool self_is_quorum() const;
  // Acknowledgements behind `pr` come from `id`'s recorded incarnation (or it is unbound).
  bool acks_count(NodeId id, const Progress& pr) const;
  // A response from another incarnation than `pr`'s resets it (issue 12).
  void track_incarnation(const Message& m, Progress& pr);
  // Leader: proposes leaving an auto-leave joint configuration once it is applied.
  void maybe_auto_leave();
  bool committed_entry_in_current_term() const;
  uint64_t start_read_round();
  void respond_to_read(const PendingRead& read, Index index);
  void send_timeout_now(NodeId to);
  void abort_leader_transfer() { lead_transferee_ = NodeId(); }
};

}  // namespace raftkv::raft
