// The leader side: proposals, replication with flow control, commit, ReadIndex/lease reads,
// check-quorum and leadership transfer.
#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"
#include "raft/confchange.h"
#include "raft/quorum.h"
#include "raft/raft_impl.h"

namespace raftkv::raft {
namespace {
// Reads held until the leader's first commit in its term; beyond this they are refused.
constexpr size_t kMaxPendingReads = 4096;
}  // namespace

Status RaftImpl::step_leader(Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      bcast_heartbeat(read_only_.start_round(log_.committed(), now_, id_));
      return Status::ok();
    case MessageType::kCheckQuorum:
      // Thesis §6.2: a leader that cannot reach a quorum within an election timeout steps down,
      // so clients stop waiting on it and its lease provably lapses.
      if (!quorum_active()) {
        logger_.warn("no quorum heard within an election timeout; stepping down");
        become_follower(term_, NodeId());
        return Status::ok();
      }
      for (auto& [id, pr] : prs_) pr.recent_active = id == id_;
      return Status::ok();
    case MessageType::kPropose:
      return handle_propose(m);
    case MessageType::kReadIndex:
      return handle_read_index(m);
    case MessageType::kTransferLeader:
      handle_transfer_leader(m);
      return Status::ok();
    default:
      break;
  }
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return Status::ok();  // not a member (any more)
  Progress& pr = it->second;
  if (!is_local_message(m.type)) track_incarnation(m, pr);
  switch (m.type) {
    case MessageType::kAppResp:
      handle_append_response(m, pr);
      break;
    case MessageType::kHeartbeatResp:
      handle_heartbeat_response(m, pr);
      break;
    case MessageType::kSnapshotStatus:
      if (pr.state != ProgressState::kSnapshot) break;
      if (m.reject) pr.pending_snapshot = Index();
      pr.become_probe();
      // Wait for a heartbeat response before probing: the follower may still be restoring.
      pr.probe_sent = true;
      pr.probe_resume_on_heartbeat = true;
      break;
    case MessageType::kUnreachable:
      // Messages to the follower were lost (queue overflow, dial failure, connection lost).
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      // A probe in flight may have been among them: resend once the follower answers again.
      if (pr.state == ProgressState::kProbe && pr.probe_sent) pr.probe_resume_on_heartbeat = true;
      break;
    default:
      break;
  }
  return Status::ok();
}

Status RaftImpl::handle_propose(Message& m) {
  if (prs_.find(id_) == prs_.end()) {
    return Status(ErrorCode::kProposalDropped, "this node was removed from the cluster");
  }
  if (!lead_transferee_.is_none()) {
    return Status(ErrorCode::kProposalDropped,
                  fmt::format("leadership transfer to {} in progress", lead_transferee_));
  }
  uint64_t bytes = 0;
  for (const Entry& e : m.entries) bytes += e.size_bytes();
  if (cfg_.max_uncommitted_bytes > 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + bytes > cfg_.max_uncommitted_bytes) {
    return Status(ErrorCode::kTooLarge,
                  fmt::format("uncommitted log would exceed max_uncommitted_bytes ({} + {} > {})",
                              uncommitted_bytes_, bytes, cfg_.max_uncommitted_bytes));
  }
  Index next = log_.last_index() + 1;
  Index conf_index;  // the proposal's membership change, if any (at most one)
  for (Entry& e : m.entries) {
    if (e.type == EntryType::kConfChange) {
      // One change at a time (thesis §4.1; joint: §4.3), each validated against the membership
      // it will be applied to: no change is pending, so that is conf_.
      if (pending_conf_index_ > log_.applied() || conf_index != Index()) {
        return Status(ErrorCode::kProposalDropped,
                      "a membership change is already in progress; retry after it is applied");
      }
      const std::optional<ConfChange> cc = ConfChange::decode(e.data);
      if (!cc) return Status(ErrorCode::kInvalidArgument, "malformed membership change");
      if (Result<ConfState> after = apply_conf_change_to(conf_, *cc); !after.is_ok()) {
        return after.status();
      }
      conf_index = next;
    }
    e.term = term_;
    e.index = next;
    ++next;
  }
  if (conf_index != Index()) pending_conf_index_ = conf_index;
  uncommitted_bytes_ += bytes;
  log_.append(std::move(m.entries));
  bcast_append();
  return Status::ok();
}

Status RaftImpl::handle_read_index(Message& m) {
  const NodeId requester = m.from.is_none() ? id_ : m.from;
  if (!committed_entry_in_current_term()) {
    // Thesis §6.4 step 1: until an entry of this term commits, our commit index may be stale
    // (also for a single voter: after a restart it may not know what it had committed; found by
    // raftkv-sim with --nodes 1).
    if (pending_reads_.size() >= kMaxPendingReads) {
      return Status(ErrorCode::kTooLarge, "too many reads waiting for the leader's first commit");
    }
    m.from = requester;
    pending_reads_.push_back(std::move(m));
    return Status::ok();
  }
  if (self_is_quorum()) {
    respond_to_read(PendingRead{requester, m.context}, log_.committed());
    return Status::ok();
  }
  if (cfg_.read_mode == ReadMode::kLease && lease_valid()) {
    respond_to_read(PendingRead{requester, m.context}, log_.committed());
    return Status::ok();
  }
  read_only_.add_waiting(PendingRead{requester, m.context});
  if (!read_only_.read_round_in_flight()) start_read_round();
  return Status::ok();
}

uint64_t RaftImpl::start_read_round() {
  const uint64_t id = read_only_.start_round(log_.committed(), now_, id_);
  bcast_heartbeat(id);
  return id;
}

void RaftImpl::respond_to_read(const PendingRead& read, Index index) {
  if (read.from == id_) {
    read_states_.push_back(ReadState{index, read.context});
  } else {
    send(Message{.type = MessageType::kReadIndexResp,
                 .to = read.from,
                 .index = index,
                 .context = read.context});
  }
}

bool RaftImpl::committed_entry_in_current_term() const {
  return log_.term_or_zero(log_.committed()) == term_;
}

bool RaftImpl::lease_valid() const {
  if (role_ != Role::kLeader || cfg_.read_mode != ReadMode::kLease) return false;
  if (!lead_transferee_.is_none()) return false;  // a transfer may elect someone any moment
  if (self_is_quorum()) return true;
  return now_ < lease_until_tick_;
}

void RaftImpl::on_commit_in_term() {
  // The first commit of this term makes our commit index current: serve the held reads.
  std::vector<Message> held;
  held.swap(pending_reads_);
  for (Message& m : held) (void)handle_read_index(m);
}

bool RaftImpl::maybe_commit() {
  if (conf_.voters.empty()) return false;
  // Thesis §4.3: while joint, an entry commits once both majorities hold it. Only
  // acknowledgements from a voter's recorded incarnation count (issue 12).
  const Index acked = joint_acked_index(conf_, [&](NodeId v) {
    auto it = prs_.find(v);
    return it == prs_.end() || !acks_count(v, it->second) ? Index() : it->second.match;
  });
  // Raft §5.4.2 (Figure 8): only entries of the current term commit by counting replicas.
  if (acked <= log_.committed() || log_.term_or_zero(acked) != term_) return false;
  const bool first_in_term = !committed_entry_in_current_term();
  log_.commit_to(acked);
  if (first_in_term) on_commit_in_term();
  return true;
}

bool RaftImpl::quorum_active() const {
  return joint_agrees(conf_, [&](NodeId v) {
    if (v == id_) return true;
    auto it = prs_.find(v);
    return it != prs_.end() && it->second.recent_active && acks_count(v, it->second);
  });
}

bool RaftImpl::self_is_quorum() const {
  return joint_agrees(conf_, [&](NodeId v) { return v == id_; });
}

bool RaftImpl::acks_count(NodeId id, const Progress& pr) const {
  return incarnation_counts(conf_, id, pr.incarnation);
}

void RaftImpl::track_incarnation(const Message& m, Progress& pr) {
  if (m.from_incarnation == pr.incarnation) return;
  // Another incarnation of the follower answers: the one whose acknowledgements `pr` holds may
  // have lost its disk, so start over (match 0, probing from our last index; a wiped follower's
  // rejection hint brings us down to its real log at once). Lowering match never un-commits.
  logger_.warn("follower {} answers as incarnation {:x}, its progress was of {:x}; re-probing",
               m.from, m.from_incarnation, pr.incarnation);
  Progress fresh(log_.last_index() + 1, cfg_.max_inflight_msgs, cfg_.max_inflight_bytes,
                 pr.learner);
  fresh.recent_active = true;
  fresh.incarnation = m.from_incarnation;
  pr = std::move(fresh);
}

void RaftImpl::maybe_auto_leave() {
  // Thesis §4.3 / etcd: once the joint configuration is applied, the leader proposes leaving it
  // (an empty change). Retried from tick_heartbeat while it cannot be appended (e.g. during a
  // leadership transfer).
  if (role_ != Role::kLeader || !conf_.joint() || !conf_.auto_leave) return;
  if (pending_conf_index_ > log_.applied()) return;
  Message m{.type = MessageType::kPropose};
  m.entries.push_back(
      Entry{Term(), Index(), EntryType::kConfChange, ConfChange::leave_joint().encode()});
  const Status s = handle_propose(m);
  if (s.is_ok()) {
    logger_.info("leaving the joint configuration {}", describe_conf(conf_));
  } else {
    logger_.debug("not leaving the joint configuration yet: {}", s.to_string());
  }
}

void RaftImpl::bcast_append() {
  for (auto& [id, pr] : prs_) {
    if (id != id_) maybe_send_append(id, true);
  }
}

void RaftImpl::bcast_commit() {
  // Every App carries the leader's commit index (Raft §5.3, leaderCommit). A follower with Apps
  // in flight learns the new one from the App sent when they are acknowledged
  // (handle_append_response), so under load the commit rides on the next entries instead of an
  // App of its own to every follower after every commit; an idle follower is told now.
  for (auto& [id, pr] : prs_) {
    if (id == id_) continue;
    if (pr.state == ProgressState::kReplicate && pr.inflights.count() > 0) continue;
    maybe_send_append(id, true);
  }
}

void RaftImpl::bcast_heartbeat(uint64_t context) {
  for (auto& [id, pr] : prs_) {
    if (id == id_) continue;
    // Never tell a follower to commit past what it is known to hold.
    send(Message{.type = MessageType::kHeartbeat,
                 .to = id,
                 .commit = std::min(pr.match, log_.committed()),
                 .context = context});
  }
}

bool RaftImpl::maybe_send_append(NodeId to, bool send_if_empty) {
  Progress& pr = prs_.at(to);
  if (pr.is_paused()) return false;
  const Index prev_index = pr.next - 1;
  auto prev_term = log_.term(prev_index);
  // In kReplicate an App carries at most what is left of the inflight byte window, so the
  // bytes in flight to one follower never exceed max_inflight_bytes (one larger entry goes
  // alone when nothing else is in flight). A probe is a single App of up to max_msg_bytes.
  const bool replicating = pr.state == ProgressState::kReplicate;
  const uint64_t budget = replicating ? std::min(cfg_.max_msg_bytes, pr.inflights.available_bytes())
                                      : cfg_.max_msg_bytes;
  Result<std::vector<Entry>> ents =
      prev_term.is_ok() ? log_.slice(pr.next, log_.last_index() + 1, std::max<uint64_t>(budget, 1))
                        : Result<std::vector<Entry>>(prev_term.status());
  if (prev_term.is_ok() && ents.is_ok()) {
    if (ents->empty() && !send_if_empty) return false;
    if (!ents->empty()) {
      uint64_t bytes = 0;
      for (const Entry& e : *ents) bytes += e.size_bytes();
      if (replicating) {
        // slice() returns at least one entry: one that does not fit waits for acknowledgements.
        if (bytes > budget && pr.inflights.count() > 0) return false;
        const Index last = ents->back().index;
        pr.optimistic_update(last);
        pr.inflights.add(Inflights::Item{last, bytes, read_only_.last_started(), now_});
      } else {
        pr.sent_probe(ents->back().index, bytes, read_only_.last_started(), now_);
      }
    } else if (pr.state == ProgressState::kProbe) {
      pr.sent_probe(prev_index, 0, read_only_.last_started(), now_);
    }
    pr.sent_commit = std::max(pr.sent_commit, log_.committed());
    send(Message{.type = MessageType::kApp,
                 .to = to,
                 .log_term = *prev_term,
                 .index = prev_index,
                 .entries = std::move(*ents),
                 .commit = log_.committed()});
    return true;
  }
  // The entries the follower needs were compacted: send a snapshot (Raft §7).
  if (!pr.recent_active) return false;  // do not start a transfer to a peer that is down
  auto snap = storage_->snapshot();
  if (!snap.is_ok()) {
    logger_.debug("snapshot for {} not ready: {}", to, snap.status().to_string());
    return false;
  }
  RAFTKV_ASSERT(!(*snap)->is_empty(), "log compacted below {} but storage has no snapshot",
                pr.next);
  logger_.info("sending snapshot at {} to {} (next {})", (*snap)->meta.index, to, pr.next);
  pr.become_snapshot((*snap)->meta.index);
  send(Message{.type = MessageType::kSnap, .to = to, .snapshot = *snap});
  return true;
}

void RaftImpl::handle_append_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject) {
    Index hint = m.reject_hint;
    if (m.log_term > Term()) hint = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    if (pr.maybe_decr_to(m.index, hint)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      maybe_send_append(m.from, true);
    }
    return;
  }
  const bool was_paused = pr.is_paused();
  if (!pr.maybe_update(m.index)) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.become_replicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match >= pr.pending_snapshot) {
        pr.become_probe();
        pr.become_replicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.free_le(m.index);
      break;
  }
  if (maybe_commit()) {
    bcast_commit();
  } else if (was_paused) {
    maybe_send_append(m.from, true);
  }
  while (maybe_send_append(m.from, false)) {
  }
  // Nothing left in flight to carry a commit index this follower has not been sent.
  if (pr.state == ProgressState::kReplicate && pr.inflights.count() == 0 &&
      pr.sent_commit < log_.committed()) {
    maybe_send_append(m.from, true);
  }
  if (m.from == lead_transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
}

void RaftImpl::handle_heartbeat_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.index < pr.match) {
    // The follower no longer holds entries it acknowledged: its disk was replaced or wiped.
    // Find its log again from scratch (a snapshot if ours no longer reaches back). Lowering
    // match never un-commits anything: the commit index only moves forward. A reordered, stale
    // response costs one redundant probe.
    logger_.warn("follower {} reports last index {} below its acknowledged {}; re-probing", m.from,
                 m.index, pr.match);
    pr.match = m.index;
    pr.become_probe();
  }
  maybe_resume_after_heartbeat(m, pr);
  // New entries, or a probe; an empty App only to probe (lost acknowledgements are asked for
  // by maybe_resume_after_heartbeat, commit indexes ride on Apps: see bcast_commit).
  if (pr.match < log_.last_index()) {
    maybe_send_append(m.from, pr.state == ProgressState::kProbe);
  }

  if (m.context == 0 || !acks_count(m.from, pr)) return;
  const auto* acks = read_only_.ack(m.context, m.from);
  if (acks == nullptr) return;
  // Thesis §6.4 with §4.3: a majority of each configuration confirms the leadership.
  if (!joint_agrees(conf_, [&](NodeId v) { return acks->count(v) > 0; })) return;
  for (ReadRound& round : read_only_.release_through(m.context)) {
    if (cfg_.read_mode == ReadMode::kLease && round.id == m.context) {
      // Followers that acknowledged this round reset their election timers no earlier than
      // round.started_tick, so no other leader can be elected before then + election_ticks
      // (minus a margin for clock-rate differences; see ReadMode::kLease).
      lease_until_tick_ = std::max(
          lease_until_tick_, round.started_tick + cfg_.election_ticks - cfg_.lease_margin_ticks);
    }
    for (const PendingRead& read : round.reads) respond_to_read(read, round.index);
  }
  if (read_only_.has_waiting() && !read_only_.read_round_in_flight()) start_read_round();
}

// Heartbeats travel on the same ordered stream as Apps of up to ordered_app_bytes, and the
// follower steps messages in order, so its answer to a heartbeat round started after such an
// App was sent shows its log as it was after that App: a last index below the App's last entry
// means the App was lost (or rejected; the rejection has its own answer). An App that got
// through is merely waiting for the follower's fsync and is not sent again. A larger App may be
// overtaken by heartbeats (the transport sends it in parts), so heartbeats prove nothing about
// it. Without evidence of loss, a follower paused for an election timeout (plus one tick per
// ordered_app_bytes of the App) is resumed anyway (its answer may have been lost).
//
// Issue 11 #3: every heartbeat response used to un-pause a probe. Under a read-heavy load the
// leader starts a heartbeat round per ReadIndex batch, many per tick, so a follower catching
// up after a restart was sent its whole lag (up to max_msg_bytes) once per read round —
// hundreds of MiB queued for it within a second, and a raft strand too busy copying them to
// heartbeat the other followers, which elected a new leader. Likewise a full inflight window
// freed one slot per heartbeat response, sending one more App beyond the window each time.
bool RaftImpl::is_ordered_app(uint64_t bytes) const {
  return cfg_.ordered_app_bytes == 0 || bytes <= cfg_.ordered_app_bytes;
}

uint64_t RaftImpl::silence_ticks(uint64_t bytes) const {
  const uint64_t transfer =
      cfg_.ordered_app_bytes == 0 ? 0 : bytes / std::max<uint64_t>(cfg_.ordered_app_bytes, 1);
  return cfg_.election_ticks + transfer;
}

void RaftImpl::maybe_resume_after_heartbeat(const Message& m, Progress& pr) {
  switch (pr.state) {
    case ProgressState::kProbe: {
      if (!pr.probe_sent) return;
      const bool lost = is_ordered_app(pr.probe_bytes) && m.context > pr.probe_round &&
                        m.index < pr.probe_last &&
                        now_ > pr.probe_sent_tick;  // at most one resend per tick
      const bool silent = now_ >= pr.probe_sent_tick + silence_ticks(pr.probe_bytes);
      if (pr.probe_resume_on_heartbeat || lost || silent) {
        pr.probe_sent = false;
        pr.probe_resume_on_heartbeat = false;
      } else if (m.context > pr.probe_round && m.index >= pr.probe_last) {
        request_ack(m.from, pr, pr.probe_last);  // its answer may have been lost
      }
      return;
    }
    case ProgressState::kReplicate: {
      const Inflights::Item* oldest = pr.inflights.oldest();
      if (oldest == nullptr) return;
      // The newest App sent before the answered round: the follower must hold its entries.
      const Inflights::Item* before = pr.inflights.newest_before_round(m.context);
      // Apps keep their order among themselves, so one overtaken App delays the ones after it.
      const bool lost = before != nullptr &&
                        is_ordered_app(pr.inflights.largest_through(before->last)) &&
                        m.index < before->last && now_ > before->sent_tick;
      const bool silent = now_ >= oldest->sent_tick + silence_ticks(pr.inflights.bytes());
      if (lost || silent) {
        logger_.info("App to {} ending at {} was {} (follower last index {}); probing from {}",
                     m.from, lost ? before->last : oldest->last,
                     lost ? "lost" : "not acknowledged in time", m.index, pr.match + 1);
        pr.become_probe();
      } else if (m.context > pr.inflights.newest()->round && m.index >= pr.next - 1) {
        request_ack(m.from, pr, pr.next - 1);  // every App got through; answers may be lost
      }
      return;
    }
    case ProgressState::kSnapshot:
      return;
  }
}

void RaftImpl::request_ack(NodeId to, Progress& pr, Index held) {
  // An App without entries at `held` is answered with an acknowledgement of `held` (Raft §5.3:
  // AppendEntries is idempotent), so a lost answer costs a small message, once per tick while
  // it stays lost, instead of the whole window again (or a window that never reopens).
  if (now_ <= pr.ack_request_tick) return;
  auto held_term = log_.term(held);
  if (!held_term.is_ok()) return;
  pr.ack_request_tick = now_;
  send(Message{.type = MessageType::kApp,
               .to = to,
               .log_term = *held_term,
               .index = held,
               .commit = log_.committed()});
}

void RaftImpl::handle_transfer_leader(const Message& m) {
  const NodeId target = m.from;
  auto it = prs_.find(target);
  if (it == prs_.end() || it->second.learner) {
    logger_.warn("cannot transfer leadership to {}: not a voter", target);
    return;
  }
  if (target == id_ || target == lead_transferee_) return;
  // Thesis §3.10: stop accepting proposals, bring the target up to date, then TimeoutNow.
  lead_transferee_ = target;
  election_elapsed_ = 0;  // the transfer must finish within one election timeout
  lease_until_tick_ = 0;
  logger_.info("transferring leadership to {}", target);
  if (it->second.match == log_.last_index()) {
    send_timeout_now(target);
  } else {
    maybe_send_append(target, true);
  }
}

void RaftImpl::send_timeout_now(NodeId to) {
  send(Message{.type = MessageType::kTimeoutNow, .to = to, .transfer = true});
}

}  // namespace raftkv::raft
