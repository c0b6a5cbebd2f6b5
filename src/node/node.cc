// The raft strand: the core, proposals, reads, ticks and the Ready loop; and the facade.
#include <pthread.h>

#include <random>

#include <fmt/format.h>

#include "base/assert.h"
#include "node/node_impl.h"
#include "transport/transport.h"

namespace raftkv::node {

NodeImpl::NodeImpl(asio::io_context& io, NodeOptions options, transport::Transport* transport)
    : io_(io),
      strand_(asio::make_strand(io)),
      tick_timer_(strand_),
      opts_(std::move(options)),
      transport_(transport),
      log_("node") {
  log_.set_node(opts_.id);
  log_.set_group(opts_.group);
}

Status NodeImpl::init() {
  auto wal = storage::Wal::open(fs_, opts_.data_dir, opts_.wal);
  if (!wal.is_ok()) return wal.status();
  wal_ = std::move(*wal);

  sm_ = std::make_unique<kv::StateMachine>(kv::make_skiplist_engine(), opts_.kv);
  auto snap = wal_->snapshot();
  if (!snap.is_ok()) return snap.status();
  if (!(*snap)->is_empty()) {
    if (Status s = restore_from_durable_snapshot(); !s) {
      return Status(ErrorCode::kCorruption,
                    fmt::format("snapshot at index {} in {} does not restore: {}",
                                (*snap)->meta.index, opts_.data_dir, s.message()));
    }
    applied_conf_ = (*snap)->meta.conf;
    last_snapshot_index_ = (*snap)->meta.index;
    snapshot_index_ = last_snapshot_index_.value();
  }
  // The legacy bootstrap (unbound AddVoter entries written alike on every node) only when no
  // other way to start was given (node tests that predate Raft::bootstrap).
  const bool legacy = opts_.initial_members.empty() && !opts_.join;
  if (!legacy) opts_.voters.clear();
  if (applied_conf_.voters.empty() && applied_conf_.learners.empty()) {
    applied_conf_.voters = opts_.voters;
    std::sort(applied_conf_.voters.begin(), applied_conf_.voters.end());
  }
  if (opts_.force_new_cluster) {
    if (Status s = force_new_cluster(); !s) return s;
  }
  initialized_ = storage_initialized() || !opts_.voters.empty();

  raft::Config cfg = opts_.raft;
  cfg.id = opts_.id;
  cfg.incarnation = opts_.incarnation;
  cfg.voters = opts_.voters;
  cfg.applied = sm_->applied_index();
  rng_ = std::make_unique<SeededRng>(std::random_device{}() ^ opts_.id.value());
  auto r = raft::Raft::create(cfg, wal_.get(), rng_.get());
  if (!r.is_ok()) return r.status();
  raft_ = std::move(*r);
  soft_ = raft::SoftState{raft_->leader(), raft_->role()};
  snapshot_sender_ =
      std::make_unique<SnapshotSender>(opts_.id, *wal_, opts_.snapshot_transfer, log_);
  snapshot_receiver_ =
      std::make_unique<SnapshotReceiver>(opts_.id, fs_, wal_->snapshot_store(), log_);
  on_membership_changed();
  refresh_status();
  log_.info("opened {}: applied {} snapshot {} last {}{}", opts_.data_dir, cfg.applied,
            last_snapshot_index_, raft_->last_index(),
            initialized_.load() ? "" : " (uninitialized: no log yet)");
  return Status::ok();
}

void NodeImpl::start() {
  persister_ = std::thread([self = shared_from_this()] {
    pthread_setname_np(pthread_self(), "rkv-persist");  // for profilers and top -H
    self->persist_loop();
  });
  applier_ = std::thread([self = shared_from_this()] {
    pthread_setname_np(pthread_self(), "rkv-apply");
    self->apply_loop();
  });
  post([this] {
    handle_ready();  // a fresh node persists its bootstrap entries; a restarted one replays
    on_tick();
  });
}

void NodeImpl::stop(std::chrono::milliseconds grace) {
  if (stopped_.load()) return;
  if (grace.count() > 0) {
    // Hand leadership to the most caught-up follower so clients see no election timeout.
    NodeStatus st;
    {
      std::lock_guard lock(status_mu_);
      st = status_;
    }
    if (st.role == raft::Role::kLeader) {
      NodeId best;
      Index best_match;
      for (const auto& f : st.followers) {
        if (f.id != opts_.id && !f.learner && f.match >= best_match) {
          best = f.id;
          best_match = f.match;
        }
      }
      if (!best.is_none()) {
        post([this, best] {
          (void)raft_->transfer_leadership(best);
          handle_ready();
        });
        std::unique_lock lock(status_mu_);
        status_cv_.wait_for(lock, grace, [&] { return status_.role != raft::Role::kLeader; });
      }
    }
  }
  // Stop the strand's work, then the threads (which drain what they hold).
  std::promise<void> done;
  auto fut = done.get_future();
  asio::post(strand_, [this, &done] {
    stopped_ = true;
    tick_timer_.cancel();
    fail_all_proposals(ErrorCode::kShutdown, "node is shutting down");
    fail_all_reads(ErrorCode::kShutdown, "node is shutting down");
    finish_membership_op(Status(ErrorCode::kShutdown, "node is shutting down"));
    for (TransferWaiter& t : transfers_)
      t.done(Status(ErrorCode::kShutdown, "node is shutting down"));
    transfers_.clear();
    done.set_value();
  });
  if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // The io_context is not running (e.g. already stopped): nothing else can touch the strand.
    stopped_ = true;
  }
  threads_stop_ = true;
  persist_cv_.notify_all();
  apply_cv_.notify_all();
  if (persister_.joinable()) persister_.join();
  if (applier_.joinable()) applier_.join();
  if (verifier_.joinable()) verifier_.join();
  stop_snapshotter();  // the state machine must outlive its snapshot view
  log_.info("stopped");
}

uint64_t queued_message_bytes(const raft::Message& m) {
  uint64_t bytes = sizeof(raft::Message);
  for (const raft::Entry& e : m.entries) bytes += sizeof(raft::Entry) + e.data.size();
  if (m.snapshot) bytes += m.snapshot->data.size();
  return bytes;
}

bool NodeImpl::backlog_full() const {
  return persist_backlog_bytes_.load() >= opts_.max_persist_backlog_bytes ||
         apply_backlog_bytes_.load() >= opts_.max_apply_backlog_bytes;
}

Status NodeImpl::check_write_backpressure() const {
  auto full = [](const char* what, uint64_t n, uint64_t bound, const char* unit) {
    return Status(ErrorCode::kTooLarge,
                  fmt::format("{} is full ({} of {} {}); retry shortly", what, n, bound, unit));
  };
  if (apply_backlog_.load() >= opts_.max_apply_backlog) {
    return full("apply backlog", apply_backlog_.load(), opts_.max_apply_backlog, "entries");
  }
  if (apply_backlog_bytes_.load() >= opts_.max_apply_backlog_bytes) {
    return full("apply backlog", apply_backlog_bytes_.load(), opts_.max_apply_backlog_bytes,
                "bytes");
  }
  if (persist_backlog_bytes_.load() >= opts_.max_persist_backlog_bytes) {
    return full("persist backlog", persist_backlog_bytes_.load(), opts_.max_persist_backlog_bytes,
                "bytes");
  }
  if (batch_.size() >= opts_.max_batch_proposals) {
    return full("proposal batch", batch_.size(), opts_.max_batch_proposals, "proposals");
  }
  if (batch_bytes_ >= opts_.max_batch_bytes) {
    return full("proposal batch", batch_bytes_, opts_.max_batch_bytes, "bytes");
  }
  return Status::ok();
}

Status NodeImpl::not_leader() const {
  const NodeId lead = raft_->leader();
  return Status(ErrorCode::kNotLeader, lead.is_none() ? std::string() : client_addr_of(lead));
}

void NodeImpl::on_tick() {
  commit_at_last_tick_ = raft_->commit_index();
  raft_->tick();
  membership_tick();
  const auto now = std::chrono::steady_clock::now();
  for (NodeId failed :
       snapshot_sender_->tick(now, [this](raft::Message m) { send_to_peer(std::move(m)); })) {
    raft_->report_snapshot(failed, false);
  }
  publish_transfer_state();
  expire_waiters(std::chrono::steady_clock::now());
  handle_ready();
  refresh_status();
  tick_timer_.expires_after(opts_.tick_interval);
  tick_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec && !self->stopped_.load()) self->on_tick();
  });
}

void NodeImpl::propose_on_strand(std::string payload, Completion done) {
  if (raft_->role() != raft::Role::kLeader) {
    done(not_leader());
    return;
  }
  if (Status s = check_write_backpressure(); !s) {
    done(s);
    return;
  }
  batch_bytes_ += payload.size();
  batch_.emplace_back(std::move(payload), std::move(done));
  if (!flush_scheduled_) {
    // Everything proposed before the strand runs this becomes one kPropose (one log append,
    // one fsync, one AppendEntries per follower).
    flush_scheduled_ = true;
    post([this] { flush_proposals(); });
  }
}

void NodeImpl::flush_proposals() {
  flush_scheduled_ = false;
  if (batch_.empty()) return;
  std::vector<std::pair<std::string, Completion>> batch;
  batch.swap(batch_);
  batch_bytes_ = 0;
  raft::Message m{.type = raft::MessageType::kPropose};
  m.entries.reserve(batch.size());
  for (auto& [payload, done] : batch) {
    m.entries.push_back(raft::Entry{Term(), Index(), raft::EntryType::kNormal, std::move(payload)});
  }
  const Status s = raft_->step(std::move(m));
  if (!s.is_ok()) {
    const Status err = s.code() == ErrorCode::kNotLeader ? not_leader() : s;
    for (auto& [payload, done] : batch) done(err);
    return;
  }
  // The core appended them as the last batch.size() entries of its log, in order.
  const Index first = raft_->last_index() - (batch.size() - 1);
  const SteadyTime deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
  for (size_t i = 0; i < batch.size(); ++i) {
    proposals_.emplace(first + i,
                       ProposalWaiter{raft_->term(), std::move(batch[i].second), deadline});
  }
  handle_ready();
}

void NodeImpl::read_on_strand(std::vector<std::string> args, ReadOrder order, Completion done) {
  if (pending_reads_.load() >= opts_.max_pending_reads ||
      pending_read_bytes_.load() >= opts_.max_pending_read_bytes) {
    done(Status(ErrorCode::kTooLarge,
                fmt::format("too many reads in flight ({} reads, {} bytes; bounds {}, {}); retry "
                            "shortly",
                            pending_reads_.load(), pending_read_bytes_.load(),
                            opts_.max_pending_reads, opts_.max_pending_read_bytes)));
    return;
  }
  uint64_t read_bytes = sizeof(ReadWaiter);
  for (const std::string& a : args) read_bytes += a.size() + sizeof(std::string);
  Index floor;
  if (order == ReadOrder::kAfterLocalWrites && raft_->role() == raft::Role::kLeader) {
    // The caller's earlier writes reached this strand before the read: they are in batch_ or
    // already in the log. Give them indexes now, so that the read waits for exactly those.
    flush_proposals();
    floor = raft_->last_index();
  }
  const uint64_t ctx = next_read_context_++;
  const Status s = raft_->read_index(ctx);
  if (!s.is_ok()) {
    done(s.code() == ErrorCode::kNotLeader ? not_leader() : s);
    return;
  }
  ++pending_reads_;
  pending_read_bytes_ += read_bytes;
  reads_.emplace(ctx,
                 ReadWaiter{floor, std::move(args), std::move(done),
                            std::chrono::steady_clock::now() + opts_.request_timeout, read_bytes});
  handle_ready();
}

void NodeImpl::drain_inbox() {
  std::vector<raft::Message> messages;
  {
    std::lock_guard lock(inbox_mu_);
    messages.swap(inbox_);
    inbox_bytes_ = 0;
    inbox_messages_ = 0;
    inbox_bytes_mirror_ = 0;
  }
  for (raft::Message& m : messages) step_message(std::move(m));
  handle_ready();
}

void NodeImpl::step_message(raft::Message m) {
  switch (m.type) {
    case raft::MessageType::kSnapChunk:
      on_snapshot_chunk(m);
      break;
    case raft::MessageType::kSnapChunkResp:
      on_snapshot_chunk_resp(m);
      break;
    case raft::MessageType::kSnap:
      // Snapshot bytes arrive only as a verified stream of chunks (snapshot_transfer.h).
      log_.warn("dropping an inline snapshot from {}: peers must stream snapshots", m.from);
      return;
    default:
      (void)raft_->step(std::move(m));  // malformed peer input is logged and dropped by the core
  }
}

void NodeImpl::send_to_peer(raft::Message m) {
  if (transport_ != nullptr) transport_->send(opts_.group, std::move(m));
}

void NodeImpl::on_snapshot_chunk(const raft::Message& m) {
  if (m.term < raft_->term()) return;  // a deposed leader's transfer
  on_receiver_outcome(snapshot_receiver_->on_chunk(m));
}

void NodeImpl::on_receiver_outcome(SnapshotReceiver::Outcome out) {
  if (out.install) {
    const raft::SnapshotMeta& meta = out.install->snapshot->meta;
    received_[{meta.index, meta.term}] = std::move(out.file);
    (void)raft_->step(std::move(*out.install));
  }
  if (out.reply) send_to_peer(std::move(*out.reply));
  if (out.verify) {
    // fsync + a checksum pass over the whole file: off the strand, which keeps answering
    // heartbeats meanwhile. One verification at a time (a newer one waits for the older).
    if (verifier_.joinable()) verifier_.join();
    verifier_ = std::thread([self = shared_from_this(), v = std::move(*out.verify)] {
      pthread_setname_np(pthread_self(), "rkv-snapverify");
      SnapshotReceiver::Verified result = SnapshotReceiver::verify(self->fs_, v);
      self->post([self, v, result = std::move(result)]() mutable {
        self->on_receiver_outcome(self->snapshot_receiver_->on_verified(v, std::move(result)));
        self->handle_ready();
      });
    });
  }
  publish_transfer_state();
}

void NodeImpl::on_snapshot_chunk_resp(const raft::Message& m) {
  if (raft_->role() != raft::Role::kLeader || m.term != raft_->term()) return;
  const bool done = snapshot_sender_->on_response(
      m, std::chrono::steady_clock::now(), [this](raft::Message c) { send_to_peer(std::move(c)); });
  if (done) raft_->report_snapshot(m.from, true);
  publish_transfer_state();
}

void NodeImpl::publish_transfer_state() {
  min_transfer_index_ = snapshot_sender_->min_in_flight_index().value();
  transfers_in_flight_ = snapshot_sender_->in_flight() + (snapshot_receiver_->in_flight() ? 1 : 0);
  SnapshotTransferStats st = snapshot_sender_->stats();
  const SnapshotTransferStats& in = snapshot_receiver_->stats();
  st.received = in.received;
  st.bytes_received = in.bytes_received;
  st.resumed += in.resumed;
  std::lock_guard lock(transfer_stats_mu_);
  transfer_stats_ = st;
}

void NodeImpl::handle_ready() {
  if (in_handle_ready_) return;
  in_handle_ready_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{in_handle_ready_};
  bool conf_may_have_changed = false;
  while (!stopped_.load() && raft_->has_ready()) {
    raft::Ready rd = raft_->ready();
    // Membership changes take effect in the core as they are handed out, before advance()
    // marks them applied (etcd applies a conf change before Advance): the core's applied index
    // never runs ahead of its membership, which its one-change-at-a-time rule, its campaign
    // guard and auto-leave rely on (thesis §4.1: a server uses the latest configuration in its
    // log; the core adopts it at commit). The applier records it for snapshots only.
    for (const raft::Entry& e : rd.committed_entries) {
      if (e.type != raft::EntryType::kConfChange) continue;
      if (auto cc = raft::ConfChange::decode(e.data)) on_conf_applied(*cc, e.index, e.term);
    }
    // Acknowledge first: advance() reads the batch, which is taken apart below.
    raft_->advance(rd);
    count_elections();
    if (!initialized_.load() && rd.must_persist()) become_initialized();
    // A bootstrap or an installed snapshot changes the membership without a conf entry.
    conf_may_have_changed |=
        rd.snapshot != nullptr || (!rd.entries.empty() && rd.entries.front().index == Index(1));
    if (rd.soft_state) on_soft_state(*rd.soft_state);
    if (rd.must_persist() || !rd.messages_after_persist.empty()) {
      uint64_t bytes = 0;
      for (const raft::Entry& e : rd.entries) bytes += e.size_bytes();
      PersistJob job{rd.snapshot,
                     std::move(rd.entries),
                     rd.hard_state,
                     rd.must_sync,
                     std::move(rd.messages_after_persist),
                     bytes};
      persist_backlog_bytes_ += bytes;
      {
        std::lock_guard lock(persist_mu_);
        persist_queue_.push_back(std::move(job));
      }
      persist_cv_.notify_one();
    }
    // Sent now, even while our own write is in flight (thesis §10.2.1). A snapshot is streamed
    // from its file by the sender; the core hears of the outcome via report_snapshot.
    std::vector<NodeId> snapshots_failed;
    bool snapshot_asked = false;
    for (raft::Message& m : rd.messages) {
      if (m.type == raft::MessageType::kSnap) {
        snapshot_asked = true;
        if (!snapshot_sender_->start(m.to, m.term, m.snapshot->meta,
                                     std::chrono::steady_clock::now(),
                                     [this](raft::Message c) { send_to_peer(std::move(c)); })) {
          snapshots_failed.push_back(m.to);
        }
        continue;
      }
      send_to_peer(std::move(m));
    }
    // Only when a transfer may have started: this loop is the write path.
    if (snapshot_asked) publish_transfer_state();
    ApplyJob job;
    job.restore = rd.snapshot;
    if (rd.snapshot) {
      auto file = received_.find({rd.snapshot->meta.index, rd.snapshot->meta.term});
      RAFTKV_ASSERT(file != received_.end(), "the core installs snapshot {} that was not received",
                    rd.snapshot->meta.index);
      job.restore_file = std::move(file->second);
      received_.clear();  // older offers are superseded
      // Proposals the snapshot covers may or may not be in it: their outcome is unknown.
      while (!proposals_.empty() && proposals_.begin()->first <= rd.snapshot->meta.index) {
        proposals_.begin()->second.done(Status(
            ErrorCode::kProposalDropped, "superseded by a snapshot; the write may have applied"));
        proposals_.erase(proposals_.begin());
      }
    }
    if (!rd.committed_entries.empty()) {
      const Index last = rd.committed_entries.back().index;
      while (!proposals_.empty() && proposals_.begin()->first <= last) {
        job.waiters.insert(proposals_.extract(proposals_.begin()));
      }
      for (const raft::Entry& e : rd.committed_entries) job.bytes += e.size_bytes();
      apply_backlog_ += rd.committed_entries.size();
      apply_backlog_bytes_ += job.bytes;
      job.entries = std::move(rd.committed_entries);
    }
    const Index committed = raft_->commit_index();
    for (const raft::ReadState& rs : rd.read_states) {
      auto it = reads_.find(rs.context);
      if (it == reads_.end()) continue;  // timed out meanwhile
      const Index at = std::max(rs.index, it->second.floor);
      if (at > committed) {
        floored_reads_.emplace(at, std::move(it->second));
      } else {
        job.reads.emplace_back(at, std::move(it->second));
      }
      reads_.erase(it);
    }
    // Every entry up to the commit index reaches the applier (in this Ready or the next ones).
    while (!floored_reads_.empty() && floored_reads_.begin()->first <= committed) {
      auto node = floored_reads_.extract(floored_reads_.begin());
      job.reads.emplace_back(node.key(), std::move(node.mapped()));
    }
    if (!job.empty()) {
      {
        std::lock_guard lock(apply_mu_);
        apply_queue_.push_back(std::move(job));
      }
      apply_cv_.notify_one();
    }
    for (NodeId to : snapshots_failed) raft_->report_snapshot(to, false);
    if (conf_may_have_changed && !raft_->has_ready()) {
      conf_may_have_changed = false;
      on_membership_changed();  // may make more ready: the loop goes on
    }
  }
  if (conf_may_have_changed) on_membership_changed();
}

void NodeImpl::on_persisted(std::vector<PersistJob> jobs) {
  for (PersistJob& job : jobs) {
    for (raft::Message& m : job.after_persist) {
      if (m.to == opts_.id) {
        (void)raft_->step(std::move(m));
      } else if (transport_ != nullptr) {
        transport_->send(opts_.group, std::move(m));
      }
    }
  }
  handle_ready();
}

void NodeImpl::count_elections() {
  // A candidate campaigns once per term (a split vote campaigns again in a higher term, with no
  // soft-state change); pre-votes change no term and are not counted.
  if (raft_->role() == raft::Role::kCandidate && raft_->term() > last_candidate_term_) {
    last_candidate_term_ = raft_->term();
    ++elections_started_;
  }
}

void NodeImpl::on_soft_state(const raft::SoftState& ss) {
  if (ss.role == raft::Role::kLeader && soft_.role != raft::Role::kLeader) ++elections_won_;
  const bool lost_leadership = soft_.role == raft::Role::kLeader && ss.role != raft::Role::kLeader;
  const bool leader_changed = soft_.leader != ss.leader;
  if (leader_changed) {
    log_.info("leader is now {} (role {})", ss.leader, raft::role_name(ss.role));
    std::lock_guard lock(status_mu_);
    ++status_.leader_changes;
  }
  soft_ = ss;
  if (lost_leadership) {
    snapshot_sender_->clear();
    publish_transfer_state();
    // Entries we appended may still commit under the next leader: the outcome is unknown.
    fail_all_proposals(ErrorCode::kProposalDropped,
                       "leadership changed; the write may or may not have applied");
  }
  if (leader_changed) {
    // The core forgets read requests when leadership changes; they are safe to retry.
    fail_all_reads(ErrorCode::kProposalDropped, "leadership changed; retry the read");
    // Only once another leader is known: with none (a higher term heard, a pre-vote), the
    // kept one may still be the only node that can bring our membership up to date.
    if (kept_non_member_leader_ && transport_ != nullptr && !ss.leader.is_none()) {
      prune_transport_peers();
    }
  }
  refresh_status();
  status_cv_.notify_all();
}

namespace {

// Completes and removes every waiter whose deadline has passed, calling on_removed(waiter).
template <typename Waiters, typename OnRemoved>
void expire(Waiters& waiters, SteadyTime now, const char* why, OnRemoved on_removed) {
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    it->second.done(Status(ErrorCode::kTimeout, why));
    on_removed(it->second);
    it = waiters.erase(it);
  }
}

}  // namespace

void NodeImpl::expire_waiters(SteadyTime now) {
  expire(proposals_, now, "no outcome within the request timeout", [](const ProposalWaiter&) {});
  const auto release = [this](const ReadWaiter& w) {
    --pending_reads_;
    pending_read_bytes_ -= w.bytes;
  };
  expire(reads_, now, "read not confirmed within the request timeout", release);
  expire(floored_reads_, now, "the writes before this read did not commit in time", release);
}

void NodeImpl::fail_all_proposals(ErrorCode code, const std::string& why) {
  for (auto& [index, w] : proposals_) w.done(Status(code, why));
  proposals_.clear();
  for (auto& [payload, done] : batch_) done(Status(code, why));
  batch_.clear();
  batch_bytes_ = 0;
}

void NodeImpl::fail_all_reads(ErrorCode code, const std::string& why) {
  for (auto& [ctx, w] : reads_) {
    w.done(Status(code, why));
    pending_read_bytes_ -= w.bytes;
  }
  pending_reads_ -= reads_.size();
  reads_.clear();
  for (auto& [index, w] : floored_reads_) {
    w.done(Status(code, why));
    pending_read_bytes_ -= w.bytes;
  }
  pending_reads_ -= floored_reads_.size();
  floored_reads_.clear();
}

void NodeImpl::refresh_status() {
  NodeStatus st;
  st.id = opts_.id;
  st.role = raft_->role();
  st.term = raft_->term();
  st.leader = raft_->leader();
  st.commit_index = raft_->commit_index();
  st.applied_index = sm_->applied_index();
  st.last_index = raft_->last_index();
  st.first_index = raft_->first_index();
  st.snapshot_index = Index(snapshot_index_.load());
  st.conf = raft_->conf_state();
  st.followers = raft_->follower_status();
  st.members = compute_members();
  st.initialized = initialized_.load();
  st.waiting_for = waiting_for_;
  if (member_op_) {
    const MembershipRequest& r = member_op_->request;
    st.membership_op = r.op == MembershipRequest::Op::kReplace
                           ? fmt::format("replace {} with {}", r.node, r.new_node)
                           : fmt::format("{} {}",
                                         r.op == MembershipRequest::Op::kAdd      ? "add"
                                         : r.op == MembershipRequest::Op::kRemove ? "remove"
                                                                                  : "promote",
                                         r.node);
  }
  st.snapshots_taken = snapshots_taken_.load();
  st.snapshot_bytes = last_snapshot_bytes_.load();
  st.snapshot_duration_ms = last_snapshot_ms_.load();
  st.snapshot_transfers_in_flight = transfers_in_flight_.load();
  {
    std::lock_guard lock(transfer_stats_mu_);
    st.snapshot_transfers = transfer_stats_;
  }
  st.fsyncs = fsyncs_.load();
  st.elections_started = elections_started_.load();
  st.elections_won = elections_won_.load();
  st.queues = QueueStats{
      inbox_messages_.load(),      inbox_bytes_mirror_.load(),    inbox_dropped_.load(),
      apps_refused_.load(),        persist_backlog_bytes_.load(), apply_backlog_.load(),
      apply_backlog_bytes_.load(), pending_reads_.load(),         pending_read_bytes_.load()};
  role_.store(st.role, std::memory_order_relaxed);
  leader_.store(st.leader.value(), std::memory_order_relaxed);
  std::lock_guard lock(status_mu_);
  st.leader_changes = status_.leader_changes;
  status_ = std::move(st);
}

// ---------------------------------------------------------------------------------------------
// Facade.

GroupNode::GroupNode(std::shared_ptr<NodeImpl> impl) : impl_(std::move(impl)) {}
GroupNode::~GroupNode() {
  stop();
}

Result<std::unique_ptr<GroupNode>> GroupNode::open(asio::io_context& io, NodeOptions options,
                                                   transport::Transport* transport) {
  auto impl = std::make_shared<NodeImpl>(io, std::move(options), transport);
  if (Status s = impl->init(); !s) return s;
  return std::unique_ptr<GroupNode>(new GroupNode(std::move(impl)));
}

void GroupNode::start() {
  impl_->start();
}
void GroupNode::stop(std::chrono::milliseconds grace) {
  impl_->stop(grace);
}

void GroupNode::write(std::vector<std::string> args, kv::RequestHeader header, Completion done) {
  header.timestamp_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::string payload = kv::encode_request(header, args);
  impl_->proposals_total_.fetch_add(1, std::memory_order_relaxed);
  impl_->post([impl = impl_.get(), payload = std::move(payload), done = std::move(done)]() mutable {
    impl->propose_on_strand(std::move(payload), std::move(done));
  });
}

void GroupNode::read(std::vector<std::string> args, ReadOrder order, Completion done) {
  impl_->post(
      [impl = impl_.get(), args = std::move(args), order, done = std::move(done)]() mutable {
        impl->read_on_strand(std::move(args), order, std::move(done));
      });
}

void GroupNode::deliver(raft::Message message) {
  NodeImpl& n = *impl_;
  // A follower whose persister or applier is behind takes no more entries: the leader sees
  // them missing in the next heartbeat answer and re-sends them (raft_leader.cc).
  if (message.type == raft::MessageType::kApp && !message.entries.empty() && n.backlog_full()) {
    n.apps_refused_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t bytes = queued_message_bytes(message);
  bool first;
  {
    std::lock_guard lock(n.inbox_mu_);
    first = n.inbox_.empty();
    if (!first && (n.inbox_.size() >= n.opts_.max_inbox_messages ||
                   n.inbox_bytes_ + bytes > n.opts_.max_inbox_bytes)) {
      if (n.inbox_dropped_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
        n.log_.warn("inbox full ({} messages, {} bytes); dropping {} from {}", n.inbox_.size(),
                    n.inbox_bytes_, raft::message_type_name(message.type), message.from);
      }
      return;
    }
    n.inbox_.push_back(std::move(message));
    n.inbox_bytes_ += bytes;
    n.inbox_messages_ = n.inbox_.size();
    n.inbox_bytes_mirror_ = n.inbox_bytes_;
  }
  if (first) impl_->post([impl = impl_.get()] { impl->drain_inbox(); });
}

void GroupNode::report_unreachable(NodeId peer) {
  impl_->post([impl = impl_.get(), peer] { impl->raft_->report_unreachable(peer); });
}

void GroupNode::transfer_leadership(NodeId to, std::function<void(Status)> done) {
  impl_->post([impl = impl_.get(), to, done = std::move(done)]() mutable {
    impl->transfer_on_strand(to, std::move(done));
  });
}

void GroupNode::change_membership(MembershipRequest request, std::function<void(Status)> done) {
  impl_->post([impl = impl_.get(), request = std::move(request), done = std::move(done)]() mutable {
    impl->change_membership_on_strand(std::move(request), std::move(done));
  });
}

std::vector<MemberView> GroupNode::members() const {
  std::lock_guard lock(impl_->status_mu_);
  return impl_->status_.members;
}

bool GroupNode::initialized() const {
  return impl_->initialized_.load();
}

NodeStatus GroupNode::status() const {
  NodeStatus st;
  {
    std::lock_guard lock(impl_->status_mu_);
    st = impl_->status_;
  }
  st.proposals = impl_->proposals_total_.load(std::memory_order_relaxed);
  // Live: the state machine counts an entry's keys before its write completes.
  st.keys = impl_->sm_->key_count();  // the skiplist engine has concurrent reads
  st.keys_with_ttl = impl_->sm_->keys_with_ttl();
  return st;
}

raft::Role GroupNode::role() const {
  return impl_->role_.load(std::memory_order_relaxed);
}
NodeId GroupNode::leader() const {
  return NodeId(impl_->leader_.load(std::memory_order_relaxed));
}

const LatencyHistogram& GroupNode::fsync_latency() const {
  return impl_->fsync_latency_;
}
const LatencyHistogram& GroupNode::snapshot_duration() const {
  return impl_->snapshot_duration_;
}
const SizeHistogram& GroupNode::snapshot_size() const {
  return impl_->snapshot_size_;
}

std::string GroupNode::client_addr(NodeId id) const {
  return impl_->client_addr_of(id);
}

}  // namespace raftkv::node
