// One simulated node's driver: the Ready loop (persist -> send -> apply -> advance) with
// asynchronous persistence, crash and restart, the state machine and its snapshots.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "raft/confchange.h"
#include "sim/cluster.h"

namespace raftkv::sim {

namespace {

std::string describe(const raft::Message& m) {
  using raft::MessageType;
  std::string s =
      fmt::format("{} {}->{} t{}", raft::message_type_name(m.type), m.from, m.to, m.term);
  switch (m.type) {
    case MessageType::kApp:
      s += fmt::format(" prev=({},t{}) commit={}", m.index, m.log_term, m.commit);
      if (!m.entries.empty()) {
        s += fmt::format(" entries=[{}..{}]t{}", m.entries.front().index, m.entries.back().index,
                         m.entries.back().term);
      }
      break;
    case MessageType::kAppResp:
      s += fmt::format(
          " index={}{}", m.index,
          m.reject ? fmt::format(" REJECT hint=({},t{})", m.reject_hint, m.log_term) : "");
      break;
    case MessageType::kVote:
    case MessageType::kPreVote:
      s += fmt::format(" last=({},t{}){}", m.index, m.log_term, m.transfer ? " transfer" : "");
      break;
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
      s += m.reject ? " REJECT" : " GRANT";
      break;
    case MessageType::kHeartbeat:
      s += fmt::format(" commit={} ctx={}", m.commit, m.context);
      break;
    case MessageType::kHeartbeatResp:
      s += fmt::format(" ctx={}", m.context);
      break;
    case MessageType::kSnap:
      if (m.snapshot) {
        s += fmt::format(" snapshot=({},t{})", m.snapshot->meta.index, m.snapshot->meta.term);
      }
      break;
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResp:
      s += fmt::format(" ctx={} index={}", m.context, m.index);
      break;
    case MessageType::kStorageAppendDone:
      s += fmt::format(" durable=({},t{})", m.index, m.log_term);
      break;
    default:
      break;
  }
  return s;
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string StateMachine::encode() const {
  std::string out = fmt::format("{} {}\n", applied, applied_term);
  for (const std::string& v : values) {
    out += v;
    out += '\n';
  }
  return out;
}

bool StateMachine::decode(const std::string& data, StateMachine* out) {
  const size_t eol = data.find('\n');
  if (eol == std::string::npos) return false;
  const std::string_view header(data.data(), eol);
  const size_t space = header.find(' ');
  if (space == std::string_view::npos) return false;
  const auto index = parse_u64(header.substr(0, space));
  const auto term = parse_u64(header.substr(space + 1));
  if (!index || !term) return false;
  StateMachine sm;
  sm.applied = Index(*index);
  sm.applied_term = Term(*term);
  size_t pos = eol + 1;
  while (pos < data.size()) {
    const size_t next = data.find('\n', pos);
    if (next == std::string::npos) return false;
    sm.values.emplace_back(data, pos, next - pos);
    pos = next + 1;
  }
  *out = std::move(sm);
  return true;
}

void Cluster::start_node(SimNode& n) {
  StateMachine sm;
  auto snap = n.disk.durable().snapshot();
  if (snap.is_ok() && !(*snap)->is_empty() && !StateMachine::decode((*snap)->data, &sm)) {
    checker_.fail(fmt::format("n{}: durable snapshot data does not decode", n.id));
    return;
  }
  raft::Config cfg = make_config(n);
  cfg.applied = sm.applied;
  n.rng = std::make_unique<SeededRng>(rng_.next_u64());
  auto created = raft::Raft::create(cfg, &n.disk.durable(), n.rng.get());
  if (!created.is_ok()) {
    checker_.fail(
        fmt::format("n{}: Raft::create failed on restart: {}", n.id, created.status().to_string()));
    return;
  }
  n.up = true;
  n.started_once = true;
  n.core = std::move(created).value();
  const raft::MemoryStorage& durable = n.disk.durable();
  if (n.initial_member && !n.wiped && durable.last_index() == Index() &&
      durable.initial_state().hard_state.is_empty()) {
    // First start (or a crash before the bootstrap was durable): the initial membership.
    if (Status s = n.core->bootstrap(initial_conf_); !s.is_ok()) {
      checker_.fail(fmt::format("n{}: bootstrap failed: {}", n.id, s.to_string()));
      return;
    }
  }
  n.sm = std::move(sm);
  n.read_waiters.clear();
  n.role = n.core->role();
  n.term = n.core->term();
  n.leader = n.core->leader();
  n.commit_checked = n.sm.applied;
  if (!n.core->conf_state().voters.empty()) note_conf(n);
  trace_.log(now_, "START n{} (incarnation {}): term {} commit {} log [{}..{}] snapshot {}", n.id,
             n.incarnation, n.term, n.core->commit_index(), n.core->first_index(),
             n.core->last_index(), n.sm.applied);
  schedule(now_ + 1 + rng_.uniform(n.tick_interval_us),
           Event{.kind = EventKind::kTick,
                 .node = static_cast<int>(n.id.value()),
                 .incarnation = n.incarnation});
  observe(n);
  process_ready(n);
}

void Cluster::crash_node(SimNode& n) {
  trace_.log(now_, "CRASH n{} (role {}, term {}): {} disk writes in flight lost", n.id,
             raft::role_name(n.role), n.term, n.disk.pending());
  ++stats_.crashes;
  n.up = false;
  ++n.incarnation;
  n.core.reset();
  n.rng.reset();
  n.disk.crash();
  n.sm = StateMachine{};
  n.read_waiters.clear();
  n.role = raft::Role::kFollower;
  n.leader = NodeId();
}

void Cluster::on_tick(SimNode& n) {
  n.core->tick();
  observe(n);
  if (n.role == raft::Role::kLeader) run_membership_policy(n);
  process_ready(n);
  if (n.up) {
    schedule(now_ + n.tick_interval_us, Event{.kind = EventKind::kTick,
                                              .node = static_cast<int>(n.id.value()),
                                              .incarnation = n.incarnation});
  }
}

void Cluster::maybe_disrupt_new_leader(SimNode& n) {
  // A leader that dies or is cut off while it is still replicating its first entries is where
  // the subtle cases live (Raft §5.4.2, Figure 8): aim some faults at that window.
  const bool crash = has_crash_faults(options_.faults);
  const bool net = has_net_faults(options_.faults);
  if (!faults_active() || (!crash && !net) || !rng_.chance(0.25)) return;
  const EventKind kind =
      crash && (!net || rng_.chance(0.5)) ? EventKind::kCrash : EventKind::kIsolate;
  schedule(
      now_ + rng_.uniform(3 * kBaseTickUs),
      Event{.kind = kind, .node = static_cast<int>(n.id.value()), .incarnation = n.incarnation});
}

void Cluster::observe(SimNode& n) {
  if (!n.up) return;
  const raft::Raft& c = *n.core;
  const raft::Role role = c.role();
  const Term term = c.term();
  const NodeId leader = c.leader();
  if (term < n.term) {
    checker_.fail(fmt::format("n{}: term went back from {} to {}", n.id, n.term, term));
  }
  if (role != n.role || term != n.term) {
    trace_.log(now_, "n{} {} term {} -> {} term {}", n.id, raft::role_name(n.role), n.term,
               raft::role_name(role), term);
    if (role == raft::Role::kLeader) {
      maybe_disrupt_new_leader(n);
      checker_.on_become_leader(n.id, term, c.first_index(), c.last_index(),
                                [&c](Index i) -> std::optional<Term> {
                                  auto t = c.term_at(i);
                                  if (!t.is_ok()) return std::nullopt;
                                  return *t;
                                });
    }
  }
  if (leader != n.leader) trace_.log(now_, "n{} now follows leader n{}", n.id, leader);
  n.role = role;
  n.term = term;
  n.leader = leader;

  const Index commit = c.commit_index();
  if (commit > n.commit_checked) {
    const Index lo = std::max(n.commit_checked + 1, c.first_index());
    if (lo <= commit) {
      auto ents = c.entries(lo, commit + 1);
      if (!ents.is_ok()) {
        checker_.fail(fmt::format("n{}: entries({}, {}) within [first {}, commit {}] failed: {}",
                                  n.id, lo, commit + 1, c.first_index(), commit,
                                  ents.status().to_string()));
      } else {
        for (const raft::Entry& e : *ents) checker_.on_committed(n.id, term, e);
      }
    }
    trace_.log(now_, "n{} commit {} -> {}", n.id, n.commit_checked, commit);
    n.commit_checked = commit;
  }
  checker_.on_progress(n.id, c.applied_index(), commit, c.last_index());
  if (n.sm.applied > c.applied_index()) {
    checker_.fail(fmt::format("n{}: state machine applied {} beyond the core's applied {}", n.id,
                              n.sm.applied, c.applied_index()));
  }
  const Status s = c.check_invariants();
  if (!s.is_ok()) checker_.fail(fmt::format("core invariant on n{}: {}", n.id, s.to_string()));
}

void Cluster::process_ready(SimNode& n) {
  while (n.up && checker_.ok() && n.core->has_ready()) {
    raft::Ready rd = n.core->ready();
    if (rd.snapshot) restore_snapshot(n, *rd.snapshot);
    if (!rd.entries.empty()) {
      const Index first = rd.entries.front().index;
      std::optional<Term> prev;
      if (first == Index(1)) {
        prev = Term(0);
      } else if (auto t = n.core->term_at(first - 1); t.is_ok()) {
        prev = *t;
      }
      checker_.on_append(n.id, prev, rd.entries);
      trace_.log(now_, "n{} appends [{}..{}] (t{}..t{}) after t{}", n.id, first,
                 rd.entries.back().index, rd.entries.front().term, rd.entries.back().term,
                 prev ? prev->value() : 0);
    }
    if (rd.must_persist() || !rd.messages_after_persist.empty()) {
      DiskWrite w;
      w.snapshot = rd.snapshot;
      w.entries = rd.entries;
      w.hard_state = rd.hard_state;
      w.after_persist = rd.messages_after_persist;
      const uint64_t id = n.disk.submit(std::move(w), now_, rng_.range(50, max_disk_latency_us_));
      schedule(n.disk.last_done_at(), Event{.kind = EventKind::kDiskDone,
                                            .node = static_cast<int>(n.id.value()),
                                            .incarnation = n.incarnation,
                                            .id = id});
      // Random crashes rarely land inside the short persist window; aim some there.
      if (faults_active() && has_crash_faults(options_.faults) && rng_.chance(0.002)) {
        schedule(now_ + rng_.uniform(n.disk.last_done_at() - now_),
                 Event{.kind = EventKind::kCrash,
                       .node = static_cast<int>(n.id.value()),
                       .incarnation = n.incarnation});
      }
    }
    for (const raft::Message& m : rd.messages) {
      if (m.to == n.id) {
        step_local(n, m);
      } else {
        send(n, m);
      }
    }
    apply(n, rd.committed_entries);
    for (const raft::ReadState& rs : rd.read_states) on_read_state(n, rs);
    n.core->advance(rd);
    observe(n);
    serve_reads(n);
    maybe_snapshot(n);
  }
}

void Cluster::step_local(SimNode& n, raft::Message m) {
  trace_.log(now_, "n{} steps own {}", n.id, describe(m));
  if (m.type == raft::MessageType::kVoteResp && !m.reject) {
    // Its own vote, now durable; it counts as far as its membership records it.
    checker_.on_vote_granted(n.id, n.disk_incarnation, m.term, n.id,
                             raft::recorded_incarnation(n.core->conf_state(), n.id));
  }
  const Status s = n.core->step(std::move(m));
  if (!s.is_ok()) trace_.log(now_, "  -> {}", s.to_string());
  observe(n);
}

void Cluster::send(SimNode& from, raft::Message m) {
  ++stats_.messages;
  if (m.type == raft::MessageType::kVoteResp && !m.reject) {
    auto asked = vote_asks_.find({from.id.value(), m.to.value(), m.term.value()});
    checker_.on_vote_granted(from.id, from.disk_incarnation, m.term, m.to,
                             asked == vote_asks_.end() ? 0 : asked->second);
  }
  if (m.type == raft::MessageType::kSnap) ++stats_.snapshots_sent;
  if (m.to.value() < 1 || m.to.value() > nodes_.size() || m.to == from.id || m.from != from.id ||
      raft::is_local_message(m.type)) {
    checker_.fail(fmt::format("n{} sent an invalid message: {}", from.id, describe(m)));
    return;
  }
  const std::vector<SimTime> delays = network_.plan_delivery(from.id, m.to);
  if (delays.empty()) {
    trace_.log(now_, "drop {}", describe(m));
    const int sender = static_cast<int>(from.id.value());
    if (m.type == raft::MessageType::kSnap) {
      schedule(now_ + 1, Event{.kind = EventKind::kSnapshotStatus,
                               .node = sender,
                               .incarnation = from.incarnation,
                               .id = m.to.value(),
                               .aux = 0});
    } else if (!network_.link_up(from.id, m.to) && rng_.chance(0.3)) {
      schedule(now_ + 1, Event{.kind = EventKind::kUnreachable,
                               .node = sender,
                               .incarnation = from.incarnation,
                               .id = m.to.value()});
    }
    return;
  }
  if (delays.size() > 1) trace_.log(now_, "duplicate {}", describe(m));
  for (size_t k = 0; k < delays.size(); ++k) {
    Event ev{.kind = EventKind::kDeliver,
             .node = static_cast<int>(m.to.value()),
             .aux = from.incarnation};
    ev.msg = k + 1 < delays.size() ? m : std::move(m);
    schedule(now_ + delays[k], std::move(ev));
  }
}

void Cluster::on_deliver(Event& ev) {
  SimNode& to = node(ev.msg.to);
  SimNode& from = node(ev.msg.from);
  const bool is_snap = ev.msg.type == raft::MessageType::kSnap;
  const bool sender_alive = from.up && from.incarnation == ev.aux;
  if (!to.up || !network_.link_up(from.id, to.id)) {
    trace_.log(now_, "lost {} ({})", describe(ev.msg), to.up ? "link cut" : "node down");
    if (is_snap && sender_alive) {
      schedule(now_, Event{.kind = EventKind::kSnapshotStatus,
                           .node = static_cast<int>(from.id.value()),
                           .incarnation = from.incarnation,
                           .id = to.id.value(),
                           .aux = 0});
    }
    return;
  }
  trace_.log(now_, "deliver {}", describe(ev.msg));
  if (ev.msg.type == raft::MessageType::kVote) {
    vote_asks_[{to.id.value(), from.id.value(), ev.msg.term.value()}] = ev.msg.to_incarnation;
  }
  const Status s = to.core->step(std::move(ev.msg));
  if (!s.is_ok()) trace_.log(now_, "  -> {}", s.to_string());
  observe(to);
  process_ready(to);
  if (is_snap && sender_alive) {
    schedule(now_, Event{.kind = EventKind::kSnapshotStatus,
                         .node = static_cast<int>(from.id.value()),
                         .incarnation = from.incarnation,
                         .id = to.id.value(),
                         .aux = 1});
  }
}

void Cluster::on_disk_done(SimNode& n, uint64_t write_id) {
  if (!n.disk.next_is(write_id)) {
    checker_.fail(fmt::format("sim: disk write {} of n{} completed out of order", write_id, n.id));
    return;
  }
  DiskWrite w;
  const Status s = n.disk.complete_next(&w);
  if (!s.is_ok()) {
    checker_.fail(
        fmt::format("driver contract: persisting a Ready on n{} failed: {}", n.id, s.to_string()));
    return;
  }
  trace_.log(
      now_, "n{} durable:{}{}{}{}", n.id,
      w.snapshot ? fmt::format(" snapshot {}", w.snapshot->meta.index) : "",
      w.entries.empty()
          ? ""
          : fmt::format(" entries [{}..{}]", w.entries.front().index, w.entries.back().index),
      w.hard_state ? fmt::format(" hard state (t{}, vote n{}, commit {})", w.hard_state->term,
                                 w.hard_state->vote, w.hard_state->commit)
                   : "",
      w.snapshot || !w.entries.empty() || w.hard_state ? "" : " (no state; releases messages)");
  if (w.snapshot) checker_.on_snapshot(n.id, w.snapshot->meta.index, w.snapshot->meta.term);
  for (raft::Message& m : w.after_persist) {
    if (m.to == n.id) {
      step_local(n, std::move(m));
    } else {
      send(n, std::move(m));
    }
    if (!n.up) return;
  }
  if (!w.entries.empty()) {
    n.core->on_persisted(w.entries.back().index, w.entries.back().term);
  } else if (w.snapshot) {
    n.core->on_persisted(w.snapshot->meta.index, w.snapshot->meta.term);
  }
  observe(n);
  process_ready(n);
}

void Cluster::apply(SimNode& n, const std::vector<raft::Entry>& entries) {
  const raft::MemoryStorage& durable = n.disk.durable();
  for (const raft::Entry& e : entries) {
    if (e.index != n.sm.applied + 1) {
      checker_.fail(
          fmt::format("driver contract: n{} was handed committed entry {} after "
                      "applying {}",
                      n.id, e.index, n.sm.applied));
      return;
    }
    if (e.index > durable.snapshot().value()->meta.index) {
      auto t = durable.term(e.index);
      if (!t.is_ok() || *t != e.term) {
        checker_.fail(fmt::format(
            "driver contract: n{} was handed committed entry ({}, t{}) that is not durable "
            "locally (durable log [{}..{}])",
            n.id, e.index, e.term, durable.first_index(), durable.last_index()));
        return;
      }
    }
    raft::Entry applied = e;
    if (options_.bug == InjectedBug::kCorruptApply && !bug_planted_ && n.id == NodeId(1) &&
        !e.data.empty()) {
      applied.data = applied.data.str() + "-corrupted";
      bug_planted_ = true;
    }
    checker_.on_apply(n.id, n.core->term(), applied);
    n.sm.applied = e.index;
    n.sm.applied_term = e.term;
    if (e.type == raft::EntryType::kConfChange) {
      const std::optional<raft::ConfChange> cc = raft::ConfChange::decode(e.data);
      if (!cc) {
        checker_.fail(
            fmt::format("n{}: committed conf change at {} does not decode", n.id, e.index));
        return;
      }
      const Result<raft::ConfState> conf = n.core->apply_conf_change(*cc);
      note_conf(n);
      trace_.log(now_, "n{} applies conf change at {} ({}): {}", n.id, e.index,
                 raft::describe_change(*cc),
                 conf.is_ok() ? raft::describe_conf(*conf) : conf.status().to_string());
      if (e.index > last_conf_counted_ && e.index > Index(1)) {
        last_conf_counted_ = e.index;
        ++stats_.conf_changes;
      }
      for (const raft::ConfChangeSingle& ch : cc->changes) {
        if (ch.type != raft::ConfChangeType::kAddLearner) readmitted_.erase(ch.node);
      }
    } else if (!applied.data.empty()) {
      n.sm.values.push_back(applied.data.str());
      on_write_applied(n, applied.data.str());
    }
  }
}

void Cluster::restore_snapshot(SimNode& n, const raft::Snapshot& snap) {
  StateMachine sm;
  if (!StateMachine::decode(snap.data, &sm) || sm.applied != snap.meta.index ||
      sm.applied_term != snap.meta.term) {
    checker_.fail(fmt::format("n{} was handed a snapshot ({}, t{}) whose data does not match it",
                              n.id, snap.meta.index, snap.meta.term));
    return;
  }
  if (snap.meta.index < n.sm.applied) {
    checker_.fail(fmt::format("n{} was handed a snapshot at {} behind its applied index {}", n.id,
                              snap.meta.index, n.sm.applied));
    return;
  }
  checker_.on_snapshot(n.id, snap.meta.index, snap.meta.term);
  // The snapshot's values must be exactly the committed payloads up to its index.
  std::vector<std::string> expected;
  bool complete = true;
  for (uint64_t i = 1; i <= snap.meta.index.value() && complete; ++i) {
    const raft::Entry* e = checker_.committed_entry(Index(i));
    if (e == nullptr) {
      complete = false;
    } else if (e->type == raft::EntryType::kNormal && !e->data.empty()) {
      expected.push_back(e->data.str());
    }
  }
  if (complete && expected != sm.values) {
    checker_.fail(
        fmt::format("state machine safety: snapshot ({}, t{}) installed on n{} holds "
                    "{} values that differ from the {} committed ones",
                    snap.meta.index, snap.meta.term, n.id, sm.values.size(), expected.size()));
    return;
  }
  trace_.log(now_, "n{} restores snapshot ({}, t{}) with {} values", n.id, snap.meta.index,
             snap.meta.term, sm.values.size());
  n.sm = std::move(sm);
  note_conf(n);
}

void Cluster::serve_reads(SimNode& n) {
  auto ready = [&](const ReadWaiter& w) { return w.read_index <= n.sm.applied; };
  std::vector<ReadWaiter> due;
  for (const ReadWaiter& w : n.read_waiters) {
    if (ready(w)) due.push_back(w);
  }
  std::erase_if(n.read_waiters, ready);
  for (const ReadWaiter& w : due) {
    Client& c = clients_[w.client - 1];
    if (c.state != Client::State::kReading || c.read_context != w.context) continue;
    checker_.on_read_served(n.id, w.context, n.sm.applied);
    trace_.log(now_, "client {} read {} served by n{} at applied {} ({} values)", c.id, w.context,
               n.id, n.sm.applied, n.sm.values.size());
    ++stats_.reads;
    finish_client_op(c, rng_.range(0, 3 * kBaseTickUs));
  }
}

void Cluster::maybe_snapshot(SimNode& n) {
  raft::MemoryStorage& durable = n.disk.durable();
  const Index snap_index = durable.snapshot().value()->meta.index;
  if (n.sm.applied < snap_index + snapshot_every_ || n.disk.snapshot_in_flight()) return;
  auto t = durable.term(n.sm.applied);
  if (!t.is_ok() || *t != n.sm.applied_term) {
    checker_.fail(fmt::format("n{}: applied entry ({}, t{}) is not in the durable log", n.id,
                              n.sm.applied, n.sm.applied_term));
    return;
  }
  Status s = durable.create_snapshot(n.sm.applied, n.core->conf_state(), n.sm.encode());
  if (!s.is_ok()) {
    checker_.fail(
        fmt::format("n{}: create_snapshot({}) failed: {}", n.id, n.sm.applied, s.to_string()));
    return;
  }
  const Index log_offset = durable.first_index() - 1;
  const Index compact_to =
      n.sm.applied - std::min<uint64_t>(snapshot_keep_, n.sm.applied - Index());
  if (compact_to > log_offset) {
    s = durable.compact(compact_to);
    if (!s.is_ok()) {
      checker_.fail(fmt::format("n{}: compact({}) failed: {}", n.id, compact_to, s.to_string()));
      return;
    }
  }
  trace_.log(now_, "n{} snapshots at ({}, t{}), log now [{}..{}]", n.id, n.sm.applied,
             n.sm.applied_term, durable.first_index(), durable.last_index());
}

}  // namespace raftkv::sim
