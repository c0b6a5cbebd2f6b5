// Construction, the Ready/advance cycle, membership changes, invariants, and the public facade.
#include "raft/raft.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"
#include "raft/confchange.h"
#include "raft/quorum.h"
#include "raft/raft_impl.h"

namespace raftkv::raft {
RaftImpl::RaftImpl(const Config& config, const LogStorage* storage, Rng* rng)
    : cfg_(config),
      storage_(storage),
      rng_(rng),
      logger_("raft"),
      id_(config.id),
      log_(storage, Index()) {
  logger_.set_node(id_);
}

Status RaftImpl::init() {
  const InitialState is = storage_->initial_state();
  const HardState& hs = is.hard_state;
  conf_ = is.conf_state;
  // Legacy bootstrap (Config::voters): unbound voters, as its AddVoter entries establish.
  if (conf_.voters.empty() && conf_.learners.empty()) conf_.voters = cfg_.voters;
  normalize_conf_state(conf_);
  if (Status s = validate_conf_state(conf_); !s) {
    return Status(ErrorCode::kCorruption,
                  fmt::format("stored membership is malformed: {}", s.message()));
  }

  if (!hs.is_empty()) {
    if (hs.commit > log_.last_index()) {
      return Status(ErrorCode::kCorruption,
                    fmt::format("hard state commit {} is beyond the last log index {}; the log "
                                "lost entries that were committed",
                                hs.commit, log_.last_index()));
    }
    log_.commit_to(hs.commit);
    term_ = hs.term;
    vote_ = hs.vote;
  }
  // The persisted commit index may lag (a commit-only change is written without fsync), but a
  // snapshot's index and whatever the state machine already applied are committed by definition.
  Index known_committed = cfg_.applied;
  if (auto snap = storage_->snapshot(); snap.is_ok()) {
    known_committed = std::max(known_committed, (*snap)->meta.index);
  }
  if (known_committed > log_.last_index()) {
    return Status(ErrorCode::kCorruption,
                  fmt::format("applied index {} is beyond the last log index {}: the log lost "
                              "entries the state machine applied",
                              known_committed, log_.last_index()));
  }
  log_.commit_to(known_committed);
  if (cfg_.applied > log_.applied()) {
    // The state machine already holds everything up to cfg_.applied.
    log_.skip_applied_to(cfg_.applied);
  }
  const bool fresh = hs.is_empty() && log_.last_index() == Index() &&
                     is.conf_state.voters.empty() && is.conf_state.learners.empty();
  if (fresh && !conf_.voters.empty()) bootstrap_legacy();
  logger_.set_term(term_);
  become_follower(term_, NodeId());
  if (cfg_.read_mode == ReadMode::kLease) vote_guard_ticks_ = cfg_.election_ticks;
  // What is on disk, so that anything init() changed (the bootstrap's term) is persisted by the
  // first Ready. Found by raftkv-sim: a node restarted with term 0 and a term-1 log.
  prev_hard_ = hs;
  prev_soft_ = soft_state();
  logger_.info("started: term {} commit {} applied {} last {} voters {}", term_, log_.committed(),
               log_.applied(), log_.last_index(), conf_.voters.size());
  return Status::ok();
}

void RaftImpl::bootstrap_legacy() {
  // Like etcd's bootstrap: every initial member writes the same entries, one AddVoter per voter
  // at term 1, already committed. A node that joins later learns the membership by replaying
  // the log from index 1 (or from a snapshot, which carries it).
  std::vector<Entry> ents;
  for (NodeId v : conf_.voters) {
    ents.push_back(Entry{Term(1), Index(ents.size() + 1), EntryType::kConfChange,
                         ConfChange::single(ConfChangeType::kAddVoter, v).encode()});
  }
  term_ = Term(1);
  log_.append(std::move(ents));
  log_.commit_to(log_.last_index());
}

Status RaftImpl::bootstrap(const ConfState& conf) {
  auto bad = [](std::string what) {
    return Status(ErrorCode::kInvalidArgument, "bootstrap: " + std::move(what));
  };
  if (log_.last_index() != Index() || !hard_state().is_empty() || !conf_.voters.empty() ||
      !conf_.learners.empty()) {
    return bad("the core is not empty (it has a log, a hard state or a membership)");
  }
  if (Status s = validate_conf_state(conf); !s) return bad(s.message());
  if (conf.joint()) return bad("the initial membership cannot be joint");
  if (conf.voters.empty()) return bad("the initial membership has no voters");
  // One entry whose change, applied to the empty membership, gives `conf` (the empty membership
  // takes any set of additions as the initial one: apply_conf_change_to).
  ConfChange cc{ConfChangeTransition::kAuto, {}};
  for (NodeId v : conf.voters) {
    cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddVoter, v, member_info(conf, v)});
  }
  for (NodeId l : conf.learners) {
    cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddLearner, l, member_info(conf, l)});
  }
  term_ = Term(1);
  logger_.set_term(term_);
  log_.append({Entry{Term(1), Index(1), EntryType::kConfChange, cc.encode()}});
  log_.commit_to(Index(1));
  logger_.info("bootstrapped: {}", describe_conf(conf));
  return Status::ok();
}

bool RaftImpl::has_ready() const {
  return soft_state() != prev_soft_ || hard_state() != prev_hard_ || !msgs_.empty() ||
         !msgs_after_persist_.empty() || !read_states_.empty() || log_.has_unstable_to_hand_out() ||
         log_.has_committed_to_hand_out();
}

Ready RaftImpl::ready() {
  Ready rd;
  if (SoftState ss = soft_state(); ss != prev_soft_) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  if (HardState hs = hard_state(); hs != prev_hard_) {
    rd.must_sync = hs.term != prev_hard_.term || hs.vote != prev_hard_.vote;
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  rd.snapshot = log_.take_unstable_snapshot();
  rd.entries = log_.take_unstable_entries();
  rd.committed_entries = log_.take_committed_entries(cfg_.max_committed_bytes_per_ready);
  if (role_ == Role::kLeader) {
    for (const Entry& e : rd.committed_entries) {
      uncommitted_bytes_ -= std::min(uncommitted_bytes_, e.size_bytes());
    }
  }
  if (rd.snapshot || !rd.entries.empty()) {
    rd.must_sync = true;
    // Tells this core, once durable, what became stable (see the Ready contract in types.h).
    Message done{.type = MessageType::kStorageAppendDone, .from = id_, .to = id_};
    if (!rd.entries.empty()) {
      done.index = rd.entries.back().index;
      done.log_term = rd.entries.back().term;
    } else {
      done.index = rd.snapshot->meta.index;
      done.log_term = rd.snapshot->meta.term;
    }
    msgs_after_persist_.push_back(std::move(done));
  }
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.messages_after_persist = std::move(msgs_after_persist_);
  msgs_after_persist_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  return rd;
}

void RaftImpl::advance(const Ready& rd) {
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
  if (rd.snapshot) log_.applied_to(rd.snapshot->meta.index);
  maybe_auto_leave();
}

Result<ConfState> RaftImpl::apply_conf_change(const ConfChange& cc) {
  Result<ConfState> next = apply_conf_change_to(conf_, cc);
  if (!next.is_ok()) {
    logger_.warn("membership change ({}) not applied: {}", describe_change(cc),
                 next.status().message());
    return next;
  }
  if (*next == conf_) return conf_;  // e.g. the bootstrap entries, re-applied after restart
  conf_ = std::move(next).value();
  // A lease was earned from the old configuration's acknowledgements: the new one's voters
  // made no promise not to elect another leader (thesis §6.4.1 holds per configuration).
  lease_until_tick_ = 0;
  ++conf_version_;
  rebuild_progress();
  logger_.info("membership now {}", describe_conf(conf_));
  if (role_ == Role::kLeader) {
    if (!promotable()) {
      // Thesis §4.2.2: a leader that is not part of the (now applied) configuration steps down
      // (while joint it is still a voter of the outgoing one and leads until the leave).
      logger_.info("no longer a voter of the configuration; stepping down");
      become_follower(term_, NodeId());
    } else {
      auto t = prs_.find(lead_transferee_);
      if (t == prs_.end() || t->second.learner) abort_leader_transfer();
      // The quorum changed: entries may now be committed; new members hear from us now.
      if (maybe_commit()) bcast_commit();
      bcast_append();
    }
  } else if (role_ != Role::kFollower && !promotable()) {
    logger_.info("no longer a voter of the configuration; abandoning the campaign");
    become_follower(term_, NodeId());
  }
  return conf_;
}

std::vector<FollowerStatus> RaftImpl::follower_status() const {
  std::vector<FollowerStatus> out;
  if (role_ != Role::kLeader) return out;
  for (const auto& [id, pr] : prs_) {
    out.push_back(FollowerStatus{id, pr.match, pr.next, pr.state, pr.recent_active, pr.learner,
                                 pr.incarnation, is_voter_of(conf_, id)});
  }
  return out;
}

Status RaftImpl::check_invariants() const {
  auto broken = [&](std::string what) {
    return Status(ErrorCode::kInternal, fmt::format("node {} term {}: {}", id_, term_, what));
  };
  if (Status s = log_.check_invariants(); !s) return broken(s.message());
  if (log_.last_term() > term_) {
    return broken(fmt::format("last log term {} <= current term", log_.last_term()));
  }
  if ((role_ == Role::kLeader) != (lead_ == id_)) {
    return broken(fmt::format("role {} consistent with leader {}", role_name(role_), lead_));
  }
  if (role_ == Role::kCandidate && vote_ != id_) {
    return broken(fmt::format("candidate voted for itself (vote {})", vote_));
  }
  if (conf_checked_version_ != conf_version_) {
    if (Status s = validate_conf_state(conf_); !s) {
      return broken(fmt::format("membership well formed ({})", s.message()));
    }
    conf_checked_version_ = conf_version_;
  }
  // Progress is tracked for exactly the members, learners flagged as such.
  {
    size_t members = conf_.voters.size() + conf_.learners.size();
    for (NodeId id : conf_.voters_outgoing) members += is_incoming_voter(conf_, id) ? 0 : 1;
    if (members != prs_.size()) {
      return broken(
          fmt::format("progress for each of the {} members ({} tracked)", members, prs_.size()));
    }
    for (const auto& [id, pr] : prs_) {
      const bool learner = is_learner_of(conf_, id);
      if (!learner && !is_voter(id)) return broken(fmt::format("progress of {}, a member", id));
      if (pr.learner != learner) {
        return broken(fmt::format("progress of {} is a learner's iff {} is a learner", id, id));
      }
    }
  }
  // Thesis §4.2.2 / issue 12: only a voter of its own membership, of the recorded incarnation,
  // campaigns or leads.
  if (role_ != Role::kFollower && !promotable()) {
    return broken(fmt::format("{} is a voter of the recorded incarnation", role_name(role_)));
  }
  if (role_ == Role::kLeader) {
    if (pending_conf_index_ > log_.last_index()) {
      return broken(fmt::format("pending conf index {} <= last index {}", pending_conf_index_,
                                log_.last_index()));
    }
    for (const auto& [id, pr] : prs_) {
      if (pr.match >= pr.next) {
        return broken(fmt::format("progress of {}: match {} < next {}", id, pr.match, pr.next));
      }
      if (pr.next > log_.last_index() + 1) {
        return broken(fmt::format("progress of {}: next {} <= last+1 {}", id, pr.next,
                                  log_.last_index() + 1));
      }
      if (pr.state == ProgressState::kSnapshot && pr.pending_snapshot == Index()) {
        return broken(fmt::format("progress of {}: snapshot state has a pending snapshot", id));
      }
      if (pr.inflights.count() > cfg_.max_inflight_msgs) {
        return broken(fmt::format("progress of {}: inflights within window", id));
      }
      if (pr.inflights.count() > 1 && pr.inflights.bytes() > cfg_.max_inflight_bytes) {
        return broken(fmt::format("progress of {}: {} inflight bytes within max_inflight_bytes", id,
                                  pr.inflights.bytes()));
      }
    }
    if (auto self = prs_.find(id_); self != prs_.end() && self->second.match > log_.stable_last()) {
      return broken(fmt::format("leader's own match {} <= its durable index {}", self->second.match,
                                log_.stable_last()));
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Facade.

Raft::Raft(std::unique_ptr<RaftImpl> impl) : impl_(std::move(impl)) {}
Raft::~Raft() = default;

Result<std::unique_ptr<Raft>> Raft::create(const Config& config, const LogStorage* storage,
                                           Rng* rng) {
  if (Status s = config.validate(); !s) return s;
  if (storage == nullptr || rng == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "storage and rng are required");
  }
  auto impl = std::make_unique<RaftImpl>(config, storage, rng);
  if (Status s = impl->init(); !s) return s;
  return std::unique_ptr<Raft>(new Raft(std::move(impl)));
}

void Raft::tick() {
  impl_->tick();
}
Status Raft::step(Message m) {
  return impl_->step(std::move(m));
}

Status Raft::propose(std::string data) {
  Message m{.type = MessageType::kPropose};
  m.entries.push_back(Entry{Term(), Index(), EntryType::kNormal, std::move(data)});
  return step(std::move(m));
}

Status Raft::propose_conf_change(const ConfChange& cc) {
  Message m{.type = MessageType::kPropose};
  m.entries.push_back(Entry{Term(), Index(), EntryType::kConfChange, cc.encode()});
  return step(std::move(m));
}

Status Raft::campaign() {
  return step(Message{.type = MessageType::kHup});
}

Status Raft::read_index(uint64_t context) {
  return step(Message{.type = MessageType::kReadIndex, .context = context});
}

Status Raft::transfer_leadership(NodeId to) {
  return step(Message{.type = MessageType::kTransferLeader, .from = to});
}

void Raft::report_unreachable(NodeId peer) {
  (void)step(Message{.type = MessageType::kUnreachable, .from = peer});
}

void Raft::report_snapshot(NodeId peer, bool succeeded) {
  (void)step(Message{.type = MessageType::kSnapshotStatus, .from = peer, .reject = !succeeded});
}

void Raft::on_persisted(Index index, Term term) {
  (void)step(Message{.type = MessageType::kStorageAppendDone, .log_term = term, .index = index});
}

Result<ConfState> Raft::apply_conf_change(const ConfChange& cc) {
  return impl_->apply_conf_change(cc);
}

Status Raft::bootstrap(const ConfState& conf) {
  return impl_->bootstrap(conf);
}

bool Raft::has_ready() const {
  return impl_->has_ready();
}
Ready Raft::ready() {
  return impl_->ready();
}
void Raft::advance(const Ready& ready) {
  impl_->advance(ready);
}

NodeId Raft::id() const {
  return impl_->id_;
}
Role Raft::role() const {
  return impl_->role_;
}
Term Raft::term() const {
  return impl_->term_;
}
NodeId Raft::leader() const {
  return impl_->lead_;
}
NodeId Raft::voted_for() const {
  return impl_->vote_;
}
Index Raft::commit_index() const {
  return impl_->log_.committed();
}
Index Raft::applied_index() const {
  return impl_->log_.applied();
}
Index Raft::first_index() const {
  return impl_->log_.first_index();
}
Index Raft::last_index() const {
  return impl_->log_.last_index();
}
Result<Term> Raft::term_at(Index i) const {
  return impl_->log_.term(i);
}
Result<std::vector<Entry>> Raft::entries(Index lo, Index hi) const {
  return impl_->log_.slice(lo, hi, UINT64_MAX);
}
HardState Raft::hard_state() const {
  return impl_->hard_state();
}
const ConfState& Raft::conf_state() const {
  return impl_->conf_;
}
std::vector<FollowerStatus> Raft::follower_status() const {
  return impl_->follower_status();
}
bool Raft::lease_valid() const {
  return impl_->lease_valid();
}
const Logger& Raft::logger() const {
  return impl_->logger_;
}
Status Raft::check_invariants() const {
  return impl_->check_invariants();
}

}  // namespace raftkv::raft
