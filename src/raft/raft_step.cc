// Term rules, elections and the follower/candidate side of the protocol.
#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"
#include "raft/confchange.h"
#include "raft/quorum.h"
#include "raft/raft_impl.h"

namespace raftkv::raft {

Status RaftImpl::validate(const Message& m) const {
  auto bad = [&](std::string what) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} from {}: {}", message_type_name(m.type), m.from, what));
  };
  if (m.type == MessageType::kPropose && m.entries.empty()) return bad("no entries");
  if (is_snapshot_transfer_message(m.type)) return bad("snapshot transfer is the driver's job");
  if (is_local_message(m.type) || m.type == MessageType::kPropose ||
      m.type == MessageType::kReadIndex || m.type == MessageType::kTransferLeader) {
    return Status::ok();
  }
  if (m.from.is_none()) return bad("no sender");
  if (m.to != id_) return bad(fmt::format("addressed to {}", m.to));
  if (m.term == Term()) return bad("term 0");
  if (m.type == MessageType::kApp) {
    Term prev = m.log_term;
    for (size_t k = 0; k < m.entries.size(); ++k) {
      const Entry& e = m.entries[k];
      if (e.index != m.index + 1 + k) return bad("entries not contiguous after index");
      if (e.term < prev || e.term > m.term) return bad("entry terms out of order");
      prev = e.term;
    }
  }
  if (m.type == MessageType::kSnap) {
    if (!m.snapshot || m.snapshot->is_empty()) return bad("missing snapshot");
    ConfState conf = m.snapshot->meta.conf;
    normalize_conf_state(conf);
    if (Status s = validate_conf_state(conf); !s) return bad("snapshot membership: " + s.message());
    if (conf.voters.empty()) return bad("snapshot membership has no voters");
  }
  return Status::ok();
}

void RaftImpl::send(Message m) {
  // Forwarded requests keep their origin (a forwarded TransferLeader names its target in from).
  if (m.from.is_none()) m.from = id_;
  switch (m.type) {
    case MessageType::kVote:
    case MessageType::kVoteResp:
    case MessageType::kPreVote:
    case MessageType::kPreVoteResp:
      RAFTKV_ASSERT(m.term > Term(), "{} must carry an explicit term", message_type_name(m.type));
      break;
    case MessageType::kReadIndex:
    case MessageType::kTransferLeader:
      break;  // forwarded local requests carry no term
    default:
      m.term = term_;
  }
  // Who sends, and which incarnation of the recipient our membership expects (issue 12): a
  // voter grants only requests meant for its own incarnation.
  m.from_incarnation = cfg_.incarnation;
  m.to_incarnation = recorded_incarnation(conf_, m.to);
  // Responses that promise durable state (appended entries, a vote) wait for persistence
  // (thesis §10.2.1: everything else may go while our own write is in flight).
  const bool after_persist = m.type == MessageType::kAppResp || m.type == MessageType::kVoteResp ||
                             m.type == MessageType::kPreVoteResp;
  (after_persist ? msgs_after_persist_ : msgs_).push_back(std::move(m));
}

bool RaftImpl::is_voter(NodeId id) const {
  return is_voter_of(conf_, id);
}

bool RaftImpl::promotable() const {
  // Learners never campaign; neither does a node whose recorded incarnation is another one (it
  // lost the disk that made its promises: issue 12).
  return is_voter(id_) && incarnation_counts(conf_, id_, cfg_.incarnation);
}

void RaftImpl::reset_randomized_election_timeout() {
  randomized_election_timeout_ =
      cfg_.election_ticks + static_cast<uint32_t>(rng_->uniform(cfg_.election_ticks));
}

void RaftImpl::rebuild_progress() {
  std::map<NodeId, Progress> prs;
  auto add = [&](NodeId id, bool learner) {
    auto it = prs_.find(id);
    if (it != prs_.end()) {
      it->second.learner = learner;
      prs.emplace(id, std::move(it->second));
    } else {
      Progress pr(log_.last_index() + 1, cfg_.max_inflight_msgs, cfg_.max_inflight_bytes, learner);
      pr.recent_active = true;  // a new member gets a full check-quorum period
      pr.incarnation = id == id_ ? cfg_.incarnation : recorded_incarnation(conf_, id);
      prs.emplace(id, std::move(pr));
    }
  };
  // Every member: voters of both configurations (an outgoing voter made a learner, in
  // learners_next, still votes until the leave) and learners.
  for (NodeId v : all_voters(conf_)) add(v, false);
  for (NodeId l : conf_.learners) add(l, true);
  prs_ = std::move(prs);
}

void RaftImpl::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = NodeId();
    logger_.set_term(term_);
  }
  lead_ = NodeId();
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  abort_leader_transfer();
  votes_.clear();
  prs_.clear();
  rebuild_progress();
  pending_conf_index_ = Index();
  uncommitted_bytes_ = 0;
  lease_until_tick_ = 0;
  read_only_.reset();
  pending_reads_.clear();
}

void RaftImpl::become_follower(Term term, NodeId lead) {
  reset(term);
  lead_ = lead;
  if (role_ != Role::kFollower) logger_.info("became follower (leader {})", lead);
  role_ = Role::kFollower;
}

void RaftImpl::become_pre_candidate() {
  RAFTKV_ASSERT(role_ != Role::kLeader, "leader cannot become pre-candidate");
  // Thesis §9.6: no term change, no vote change; only the role and the tally.
  votes_.clear();
  lead_ = NodeId();
  role_ = Role::kPreCandidate;
  logger_.info("became pre-candidate");
}

void RaftImpl::become_candidate() {
  RAFTKV_ASSERT(role_ != Role::kLeader, "leader cannot become candidate");
  reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
  logger_.info("became candidate");
}

void RaftImpl::become_leader() {
  RAFTKV_ASSERT(role_ == Role::kCandidate, "only a candidate becomes leader");
  reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  for (auto& [id, pr] : prs_) {
    pr.next = log_.last_index() + 1;
    pr.match = Index();
  }
  if (auto it = prs_.find(id_); it != prs_.end()) {
    // The leader's own match is what is durable; the rest arrives via kStorageAppendDone.
    it->second.become_replicate();
    it->second.match = log_.stable_last();
    it->second.next = log_.last_index() + 1;
  }
  // Conservatively assume an unapplied conf change may exist in the log.
  pending_conf_index_ = log_.last_index();
  // Raft §8 / thesis §6.4: a no-op of the new term commits everything before it and lets
  // ReadIndex serve reads. Exempt from the uncommitted-bytes cap.
  log_.append({Entry{term_, log_.last_index() + 1, EntryType::kNormal, {}}});
  logger_.info("became leader at last index {}", log_.last_index());
}

bool RaftImpl::has_unapplied_conf_change() const {
  if (log_.committed() <= log_.applied()) return false;
  auto ents = log_.slice(log_.applied() + 1, log_.committed() + 1, UINT64_MAX);
  if (!ents.is_ok()) return true;  // cannot tell: be conservative
  return std::any_of(ents->begin(), ents->end(),
                     [](const Entry& e) { return e.type == EntryType::kConfChange; });
}

void RaftImpl::hup(bool transfer) {
  if (role_ == Role::kLeader) return;
  if (!promotable()) {
    logger_.debug("not a voter; ignoring campaign");
    return;
  }
  if (has_unapplied_conf_change()) {
    logger_.info("membership change committed but not applied; not campaigning");
    return;
  }
  campaign(cfg_.pre_vote && !transfer, transfer);
}

void RaftImpl::campaign(bool pre_vote, bool transfer) {
  Term vote_term;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;  // the term we would campaign in; ours does not change yet
    votes_[id_] = true;
  } else {
    become_candidate();
    vote_term = term_;
    // Our own vote counts only once it is durable: it comes back after persistence.
    Message self{.type = MessageType::kVoteResp, .to = id_, .term = term_};
    send(std::move(self));
  }
  if (tally_joint_votes(conf_, votes_) == VoteResult::kWon) {
    // Single voter pre-vote: go straight to the real election.
    campaign(false, transfer);
    return;
  }
  // Thesis §4.3: while joint, a candidate needs a majority of each configuration.
  for (NodeId v : all_voters(conf_)) {
    if (v == id_) continue;
    Message m{.type = pre_vote ? MessageType::kPreVote : MessageType::kVote,
              .to = v,
              .term = vote_term,
              .log_term = log_.last_term(),
              .index = log_.last_index(),
              .transfer = transfer};
    send(std::move(m));
  }
}

void RaftImpl::handle_vote_request(const Message& m) {
  // Raft §5.2/§5.4.1; PreVote grants for a higher term without recording a vote (§9.6).
  const bool can_vote = vote_ == m.from || (vote_.is_none() && lead_.is_none()) ||
                        (m.type == MessageType::kPreVote && m.term > term_);
  const MessageType resp =
      m.type == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
  // Issue 12: the candidate asks a particular incarnation of us. Another one's promises (its
  // votes, its log) may have been lost with its disk: only the incarnation asked for answers.
  const bool asked_us = m.to_incarnation == 0 || m.to_incarnation == cfg_.incarnation;
  if (!asked_us) {
    logger_.info("{} from {} is for incarnation {:x}, we are {:x}: rejected",
                 message_type_name(m.type), m.from, m.to_incarnation, cfg_.incarnation);
  }
  if (asked_us && can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    send(Message{.type = resp, .to = m.from, .term = m.term});
    if (m.type == MessageType::kVote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else if (term_ == Term()) {
    // A fresh (e.g. wiped) node rejecting a pre-vote has no term to answer with; the candidate
    // times out instead.
  } else {
    // The rejection carries what we know is committed (see learn_commit).
    send(Message{.type = resp,
                 .to = m.from,
                 .term = term_,
                 .log_term = log_.term_or_zero(log_.committed()),
                 .commit = log_.committed(),
                 .reject = true});
  }
}

void RaftImpl::handle_storage_append_done(const Message& m) {
  log_.stable_to(m.index, m.log_term);
  if (role_ != Role::kLeader) return;
  auto it = prs_.find(id_);
  if (it == prs_.end()) return;
  // Count ourselves only for entries that are durable and still ours.
  if (m.index <= log_.stable_last() && log_.term_or_zero(m.index) == m.log_term &&
      it->second.maybe_update(m.index)) {
    if (maybe_commit()) bcast_commit();
  }
}

void RaftImpl::learn_commit(Index commit, Term term) {
  // Whoever knows that (commit, term) is committed, our log holding that entry holds the same
  // prefix (log matching, Raft §5.3), so it is committed here too. Membership is applied, not
  // appended, so a voter that missed the commit of a change may campaign with the old
  // configuration and need the vote of a node that applied the new one and stepped down (e.g. a
  // leader that removed itself and holds a longer log): such a node's rejection tells it.
  if (commit <= log_.committed() || commit > log_.last_index() || term == Term()) return;
  if (!log_.match_term(commit, term)) return;
  logger_.info("learned from a vote rejection that {} is committed", commit);
  log_.commit_to(commit);
}

Status RaftImpl::step(Message m) {
  if (Status s = validate(m); !s) {
    logger_.warn("dropping malformed message: {}", s.message());
    return s;
  }
  if ((m.type == MessageType::kVoteResp || m.type == MessageType::kPreVoteResp) && m.reject) {
    learn_commit(m.commit, m.log_term);
  }
  if (m.term == Term()) {
    // Local message.
  } else if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Thesis §4.2.3: while we hear from a leader, ignore disruptive candidates (unless the
      // leader itself asked for the election via TimeoutNow).
      const bool in_lease =
          cfg_.check_quorum &&
          ((!lead_.is_none() && election_elapsed_ < cfg_.election_ticks) || vote_guard_ticks_ > 0);
      if (!m.transfer && in_lease) {
        logger_.debug("ignoring {} from {} at term {}: in leader lease", message_type_name(m.type),
                      m.from, m.term);
        return Status::ok();
      }
    }
    if (m.type == MessageType::kPreVote) {
      // Never changes our term.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // Carries the term we offered; we change term only when the pre-vote is won.
    } else {
      const bool from_leader = m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
                               m.type == MessageType::kSnap;
      const uint32_t elapsed = election_elapsed_;
      become_follower(m.term, from_leader ? m.from : NodeId());
      // Raft Figure 2: only the current leader's AppendEntries or a granted vote reset the
      // election timer. Merely learning a higher term (e.g. from a candidate whose stale log we
      // reject) must not, or that candidate keeps every timer from firing and no one else can
      // be elected (found by raftkv-sim, seed 21548 with PreVote off).
      if (!from_leader) election_elapsed_ = elapsed;
    }
  } else if (m.term < term_) {
    if (m.type == MessageType::kHeartbeat || m.type == MessageType::kApp) {
      // A stale leader (e.g. back from a partition) learns our term and steps down (Raft
      // Figure 2: reply false if term < currentTerm). Without this, PreVote could leave it and
      // us unable to elect anyone; and even without PreVote and CheckQuorum (where etcd relies
      // on us campaigning at our higher term), a voter of the leader's configuration that is
      // not one in its own, older one never campaigns: leader and voter would wait for each
      // other forever (raftkv-sim --nodes 5 --faults member, seed 4929).
      send(Message{.type = MessageType::kAppResp, .to = m.from});
    } else if (m.type == MessageType::kPreVote) {
      send(Message{.type = MessageType::kPreVoteResp, .to = m.from, .term = term_, .reject = true});
    } else if (m.type == MessageType::kVote) {
      // Raft Figure 2: reply false, with our term, so that the candidate moves up to it (and
      // learns what we know is committed). Ignored, a candidate that needs our vote climbs one
      // term per election timeout until it passes ours (raftkv-sim --faults member, seed 61185:
      // a removed leader at term 16 was the vote two candidates at term 12 needed).
      send(Message{.type = MessageType::kVoteResp,
                   .to = m.from,
                   .term = term_,
                   .log_term = log_.term_or_zero(log_.committed()),
                   .commit = log_.committed(),
                   .reject = true});
    }
    return Status::ok();
  }

  switch (m.type) {
    case MessageType::kHup:
      hup(m.transfer);
      return Status::ok();
    case MessageType::kStorageAppendDone:
      handle_storage_append_done(m);
      return Status::ok();
    case MessageType::kVote:
    case MessageType::kPreVote:
      handle_vote_request(m);
      return Status::ok();
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      return step_leader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return step_candidate(m);
    case Role::kFollower:
      return step_follower(m);
  }
  return Status::ok();
}

Status RaftImpl::step_follower(Message& m) {
  switch (m.type) {
    case MessageType::kPropose:
      return Status(ErrorCode::kNotLeader, fmt::format("not leader (leader is {})", lead_));
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::kTransferLeader:
    case MessageType::kReadIndex:
      if (m.type == MessageType::kReadIndex && !m.from.is_none() && m.from != id_) {
        // A read another node forwarded to us while we led; we no longer do. Forwarding it on
        // would misattribute it (peers only accept messages from their sender), so drop it:
        // its origin fails it on the leader change and the client retries.
        return Status::ok();
      }
      if (lead_.is_none()) return Status(ErrorCode::kNotLeader, "no leader known");
      // A forwarded TransferLeader names its target in `from`; send() fills in our id only for
      // our own reads.
      m.to = lead_;
      send(std::move(m));
      break;
    case MessageType::kTimeoutNow:
      // Thesis §3.10: the leader asks us to campaign now, skipping PreVote.
      logger_.info("received TimeoutNow from {}; campaigning", m.from);
      hup(true);
      break;
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{m.index, m.context});
      break;
    default:
      break;  // stale responses and leader-only events
  }
  return Status::ok();
}

Status RaftImpl::step_candidate(Message& m) {
  const MessageType my_resp =
      role_ == Role::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kPropose:
      return Status(ErrorCode::kProposalDropped, "no leader: election in progress");
    case MessageType::kReadIndex:
    case MessageType::kTransferLeader:
      return Status(ErrorCode::kNotLeader, "no leader: election in progress");
    case MessageType::kApp:
      become_follower(m.term, m.from);  // a leader of our term exists (Raft §5.2)
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      break;
    case MessageType::kSnap:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      break;
    default:
      if (m.type != my_resp) break;
      // Issue 12: a vote counts only from the voter's recorded incarnation, so a node that lost
      // its disk (and its vote) cannot vote again in this term.
      if (!incarnation_counts(conf_, m.from, m.from_incarnation)) {
        logger_.info("{} from {} incarnation {:x} (recorded {:x}) does not count",
                     message_type_name(m.type), m.from, m.from_incarnation,
                     recorded_incarnation(conf_, m.from));
        break;
      }
      votes_.emplace(m.from, !m.reject);  // the first answer from each voter counts
      switch (tally_joint_votes(conf_, votes_)) {
        case VoteResult::kWon:
          if (!promotable()) {
            // The membership changed during the campaign and no longer makes us a voter.
            become_follower(term_, NodeId());
          } else if (role_ == Role::kPreCandidate) {
            campaign(false, m.transfer);
          } else {
            become_leader();
            bcast_append();
          }
          break;
        case VoteResult::kLost:
          become_follower(term_, NodeId());
          break;
        case VoteResult::kPending:
          break;
      }
  }
  return Status::ok();
}

void RaftImpl::handle_append(Message& m) {
  if (m.index < log_.committed()) {
    send(Message{.type = MessageType::kAppResp, .to = m.from, .index = log_.committed()});
    return;
  }
  if (auto last = log_.maybe_append(m.index, m.log_term, m.commit, std::move(m.entries))) {
    send(Message{.type = MessageType::kAppResp, .to = m.from, .index = *last});
    return;
  }
  // Reject with a hint: the last index at or before the probe whose term is <= the leader's
  // term there, so the leader can skip a whole conflicting term at once.
  Index hint = std::min(m.index, log_.last_index());
  hint = log_.find_conflict_by_term(hint, m.log_term);
  send(Message{.type = MessageType::kAppResp,
               .to = m.from,
               .log_term = log_.term_or_zero(hint),
               .index = m.index,
               .reject = true,
               .reject_hint = hint});
}

void RaftImpl::handle_heartbeat(const Message& m) {
  // The leader sends min(our match, its commit), so this never exceeds what we hold.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  // Our last index lets the leader notice a log we lost (e.g. a wiped data directory).
  send(Message{.type = MessageType::kHeartbeatResp,
               .to = m.from,
               .index = log_.last_index(),
               .context = m.context});
}

void RaftImpl::handle_snapshot(const Message& m) {
  const auto& meta = m.snapshot->meta;
  if (restore(m.snapshot)) {
    logger_.info("restored snapshot at index {} term {}", meta.index, meta.term);
    send(Message{.type = MessageType::kAppResp, .to = m.from, .index = log_.last_index()});
  } else {
    send(Message{.type = MessageType::kAppResp, .to = m.from, .index = log_.committed()});
  }
}

bool RaftImpl::restore(const std::shared_ptr<const Snapshot>& snap) {
  const auto& meta = snap->meta;
  if (meta.index <= log_.committed()) return false;
  if (log_.match_term(meta.index, meta.term)) {
    // We already hold the snapshot's last entry: just fast-forward the commit.
    log_.commit_to(meta.index);
    return false;
  }
  log_.restore(snap);
  conf_ = meta.conf;  // thesis §4 / §5: the membership as of the snapshot (joint included)
  ++conf_version_;
  normalize_conf_state(conf_);
  rebuild_progress();
  return true;
}

void RaftImpl::tick() {
  ++now_;
  if (vote_guard_ticks_ > 0) --vote_guard_ticks_;
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void RaftImpl::tick_election() {
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    (void)step(Message{.type = MessageType::kHup});
  }
}

void RaftImpl::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum) (void)step(Message{.type = MessageType::kCheckQuorum});
    // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
    if (role_ == Role::kLeader && !lead_transferee_.is_none()) {
      logger_.info("leadership transfer to {} timed out", lead_transferee_);
      abort_leader_transfer();
    }
  }
  if (role_ != Role::kLeader) return;
  maybe_auto_leave();
  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    (void)step(Message{.type = MessageType::kBeat});
  }
}

}  // namespace raftkv::raft
