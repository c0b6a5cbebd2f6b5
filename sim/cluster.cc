#include "sim/cluster.h"

#include <algorithm>

#include <fmt/format.h>

#include "raft/confchange.h"

namespace raftkv::sim {

std::string_view fault_mode_name(FaultMode mode) {
  switch (mode) {
    case FaultMode::kNone:
      return "none";
    case FaultMode::kNet:
      return "net";
    case FaultMode::kCrash:
      return "crash";
    case FaultMode::kMember:
      return "member";
    case FaultMode::kAll:
      return "all";
  }
  return "?";
}

std::optional<FaultMode> parse_fault_mode(std::string_view text) {
  for (FaultMode m : {FaultMode::kNone, FaultMode::kNet, FaultMode::kCrash, FaultMode::kMember,
                      FaultMode::kAll}) {
    if (fault_mode_name(m) == text) return m;
  }
  return std::nullopt;
}

SimResult run_simulation(const SimOptions& options) {
  Cluster cluster(options);
  return cluster.run();
}

namespace {
// Nodes beyond the initial members, added (and removed, and re-added) by membership faults.
int spare_nodes(const SimOptions& options) {
  return has_membership_faults(options.faults) ? 2 : 0;
}
}  // namespace

Cluster::Cluster(const SimOptions& options)
    : options_(options),
      rng_(options.seed),
      trace_(options.trace_all, options.trace_lines, options.trace_to_stdout),
      network_(options.nodes + spare_nodes(options), &rng_),
      nodes_(static_cast<size_t>(options.nodes + spare_nodes(options))),
      spares_(spare_nodes(options)) {
  RAFTKV_ASSERT(options.nodes >= 1 && options.nodes <= 9, "nodes must be in 1..9");
  // Per-run knobs: each seed explores a different configuration as well as a different
  // schedule. Safety must hold for all of them; the healed phase's liveness bounds too.
  election_ticks_ = static_cast<uint32_t>(rng_.range(6, 15));
  heartbeat_ticks_ = static_cast<uint32_t>(rng_.range(1, 3));
  max_msg_bytes_ = rng_.chance(0.5) ? rng_.range(20, 200) : (1 << 20);
  max_inflight_msgs_ = rng_.chance(0.5) ? static_cast<uint32_t>(rng_.range(1, 4)) : 256;
  max_uncommitted_bytes_ = rng_.chance(0.3) ? rng_.range(60, 400) : 0;
  pre_vote_ = rng_.chance(0.85);
  check_quorum_ = rng_.chance(0.85);
  snapshot_every_ = rng_.range(5, 60);
  snapshot_keep_ = rng_.range(0, 10);
  max_disk_latency_us_ = rng_.range(200, 8000);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    SimNode& n = nodes_[i];
    n.id = NodeId(static_cast<uint64_t>(i + 1));
    n.tick_interval_us = kBaseTickUs - 300 + rng_.uniform(601);
    n.disk_incarnation = rng_.next_u64() | 1;  // never 0 (unbound)
    n.initial_member = i < static_cast<size_t>(options.nodes);
  }
  // Every initial member bootstraps the same membership, naming each one's incarnation.
  for (const SimNode& n : nodes_) {
    if (!n.initial_member) continue;
    initial_conf_.voters.push_back(n.id);
    initial_conf_.members[n.id] = member_info(n);
  }
  auto_promote_ = rng_.chance(0.7);
  // Lease reads are safe only under bounded clock drift (config.h); node clocks here drift by
  // at most ~6%, well inside election_ticks / (election_ticks - lease_margin_ticks).
  lease_reads_ = check_quorum_ && rng_.chance(0.25);
  clients_.resize(rng_.range(1, 6));
  for (size_t i = 0; i < clients_.size(); ++i) clients_[i].id = static_cast<int>(i + 1);
}

Cluster::~Cluster() = default;

raft::Config Cluster::make_config(const SimNode& n) const {
  raft::Config c;
  c.id = n.id;
  c.incarnation = n.disk_incarnation;  // the membership comes from Raft::bootstrap or the log
  c.election_ticks = election_ticks_;
  c.heartbeat_ticks = heartbeat_ticks_;
  c.max_msg_bytes = max_msg_bytes_;
  c.max_inflight_msgs = max_inflight_msgs_;
  c.max_uncommitted_bytes = max_uncommitted_bytes_;
  c.pre_vote = pre_vote_;
  c.check_quorum = check_quorum_;
  c.read_mode = lease_reads_ ? raft::ReadMode::kLease : raft::ReadMode::kReadIndex;
  return c;
}

void Cluster::schedule(SimTime at, Event ev) {
  events_.emplace(std::make_pair(at, next_event_seq_++), std::move(ev));
}

SimResult Cluster::run() {
  trace_.log(now_,
             "seed={} nodes={} faults={} election_ticks={} heartbeat_ticks={} max_msg_bytes={} "
             "max_inflight_msgs={} max_uncommitted_bytes={} pre_vote={} check_quorum={} "
             "lease_reads={} snapshot_every={} keep={} clients={} spares={} auto_promote={}",
             options_.seed, options_.nodes, fault_mode_name(options_.faults), election_ticks_,
             heartbeat_ticks_, max_msg_bytes_, max_inflight_msgs_, max_uncommitted_bytes_,
             pre_vote_, check_quorum_, lease_reads_, snapshot_every_, snapshot_keep_,
             clients_.size(), spares_, auto_promote_);
  for (SimNode& n : nodes_) {
    if (n.initial_member) start_node(n);
  }
  for (Client& c : clients_) {
    schedule(rng_.range(1, 30 * kBaseTickUs),
             Event{.kind = EventKind::kClientWake, .id = static_cast<uint64_t>(c.id)});
  }
  if (options_.faults != FaultMode::kNone) {
    if (has_net_faults(options_.faults)) network_.randomize_link_quality(0.2, 0.1, 0.03);
    schedule(rng_.range(10 * kBaseTickUs, 60 * kBaseTickUs), Event{.kind = EventKind::kFault});
  }

  SimTime healed_end = 0;
  while (checker_.ok() && !unrecoverable_ && !events_.empty()) {
    if (!healed_ && fault_steps_done_ >= options_.steps) {
      heal();
      healed_end = heal_time_ +
                   (kLeaderDeadlineTicks + kHealedClientTicks + kHealedDrainTicks) * kBaseTickUs;
    }
    auto handle = events_.extract(events_.begin());
    if (healed_ && handle.key().first > healed_end) break;
    now_ = handle.key().first;
    ++stats_.steps;
    if (!healed_) ++fault_steps_done_;
    dispatch(handle.mapped());
    if (healed_) check_healed_progress();
  }
  if (checker_.ok() && !unrecoverable_) final_checks();
  if (unrecoverable_) ++stats_.unrecoverable;

  SimResult result;
  result.ok = checker_.ok();
  result.violation = checker_.violation();
  if (!result.ok) trace_.log(now_, "VIOLATION: {}", result.violation);
  stats_.commits = checker_.max_commit().value();
  stats_.elections = checker_.elections();
  stats_.ticks = now_ / kBaseTickUs;
  result.stats = stats_;
  result.trace = trace_.take_lines();
  return result;
}

void Cluster::dispatch(Event& ev) {
  switch (ev.kind) {
    case EventKind::kTick: {
      SimNode& n = node(NodeId(static_cast<uint64_t>(ev.node)));
      if (n.up && n.incarnation == ev.incarnation) on_tick(n);
      return;
    }
    case EventKind::kDeliver:
      on_deliver(ev);
      return;
    case EventKind::kDiskDone: {
      SimNode& n = node(NodeId(static_cast<uint64_t>(ev.node)));
      if (n.up && n.incarnation == ev.incarnation) on_disk_done(n, ev.id);
      return;
    }
    case EventKind::kSnapshotStatus:
    case EventKind::kUnreachable: {
      SimNode& n = node(NodeId(static_cast<uint64_t>(ev.node)));
      if (!n.up || n.incarnation != ev.incarnation) return;
      if (ev.kind == EventKind::kSnapshotStatus) {
        trace_.log(now_, "n{} report_snapshot(n{}, {})", n.id, ev.id,
                   ev.aux ? "delivered" : "failed");
        n.core->report_snapshot(NodeId(ev.id), ev.aux != 0);
      } else {
        trace_.log(now_, "n{} report_unreachable(n{})", n.id, ev.id);
        n.core->report_unreachable(NodeId(ev.id));
      }
      observe(n);
      process_ready(n);
      return;
    }
    case EventKind::kClientWake:
      on_client_wake(clients_[ev.id - 1]);
      return;
    case EventKind::kClientTimeout:
      on_client_timeout(clients_[ev.id - 1], ev.aux);
      return;
    case EventKind::kFault:
      inject_fault();
      return;
    case EventKind::kCrash: {
      SimNode& n = node(NodeId(static_cast<uint64_t>(ev.node)));
      if (n.up && n.incarnation == ev.incarnation && faults_active()) {
        crash_node(n);
        schedule_restart(n);
      }
      return;
    }
    case EventKind::kIsolate: {
      SimNode& n = node(NodeId(static_cast<uint64_t>(ev.node)));
      if (n.up && n.incarnation == ev.incarnation && faults_active()) {
        network_.partition({n.id});
        trace_.log(now_, "FAULT isolate n{} (role {}, term {})", n.id, raft::role_name(n.role),
                   n.term);
      }
      return;
    }
    case EventKind::kRestart: {
      SimNode& n = node(NodeId(static_cast<uint64_t>(ev.node)));
      if (!n.up && n.incarnation == ev.incarnation) start_node(n);
      return;
    }
  }
}

void Cluster::inject_fault() {
  if (!faults_active()) return;
  const bool net = has_net_faults(options_.faults);
  const bool crash = has_crash_faults(options_.faults);
  const bool member = has_membership_faults(options_.faults);
  const uint64_t pick = rng_.uniform(100);
  // Shares of the fault kinds in use (leadership disruptions always take 85..99).
  const bool do_member = member && (!net && !crash ? pick < 85 : pick >= 65 && pick < 85);
  const bool do_net = !do_member && net && (!crash || pick < 40);
  if (do_member) {
    inject_membership_fault();
  } else if (pick >= 85) {
    // Leadership disruptions: a transfer from the current leader, or a forced campaign.
    std::vector<SimNode*> up;
    for (SimNode& n : nodes_) {
      if (n.up) up.push_back(&n);
    }
    if (!up.empty()) {
      SimNode& target = *up[rng_.uniform(up.size())];
      SimNode* leader = nullptr;
      for (SimNode* n : up) {
        if (n->role == raft::Role::kLeader) leader = n;
      }
      if (leader != nullptr && rng_.chance(0.7)) {
        const Status st = leader->core->transfer_leadership(target.id);
        trace_.log(now_, "FAULT n{} transfer_leadership(n{}): {}", leader->id, target.id,
                   st.to_string());
        observe(*leader);
        process_ready(*leader);
      } else {
        const Status st = target.core->campaign();
        trace_.log(now_, "FAULT n{} campaign(): {}", target.id, st.to_string());
        observe(target);
        process_ready(target);
      }
    }
  } else if (do_net) {
    const uint64_t kind = rng_.uniform(100);
    if (kind < 30) {
      // Symmetric partition: a random non-empty proper subset on one side.
      std::vector<NodeId> side;
      const uint64_t size = rng_.range(1, nodes_.size() - 1);
      std::vector<NodeId> all;
      for (const SimNode& n : nodes_) all.push_back(n.id);
      for (uint64_t k = 0; k < size; ++k) {
        const uint64_t j = rng_.uniform(all.size());
        side.push_back(all[j]);
        all.erase(all.begin() + static_cast<std::ptrdiff_t>(j));
      }
      network_.reconnect_all();
      network_.partition(side);
    } else if (kind < 50) {
      const uint64_t cuts = rng_.range(1, 3);
      for (uint64_t k = 0; k < cuts; ++k) {
        const NodeId a(rng_.range(1, nodes_.size()));
        const NodeId b(rng_.range(1, nodes_.size()));
        if (a != b) network_.cut_one_way(a, b);
      }
    } else if (kind < 75) {
      network_.reconnect_all();
    } else if (kind < 90) {
      network_.randomize_link_quality(rng_.chance(0.3) ? 0.5 : 0.15, 0.15, 0.05);
    } else {
      network_.heal();
    }
    trace_.log(now_, "FAULT network:{}", network_.describe());
  } else if (crash) {
    std::vector<SimNode*> up;
    for (SimNode& n : nodes_) {
      if (n.up) up.push_back(&n);
    }
    if (!up.empty() && rng_.chance(0.8)) {
      SimNode& victim = *up[rng_.uniform(up.size())];
      crash_node(victim);
      schedule_restart(victim);
    } else {
      for (SimNode& n : nodes_) {
        if (!n.up && n.started_once) {
          start_node(n);
          break;
        }
      }
    }
  }
  schedule(now_ + rng_.range(3 * kBaseTickUs, 60 * kBaseTickUs), Event{.kind = EventKind::kFault});
}

void Cluster::schedule_restart(SimNode& n) {
  // Mostly short outages; sometimes long enough to fall behind a snapshot.
  const uint64_t down_ticks = rng_.chance(0.7) ? rng_.range(1, 40) : rng_.range(40, 300);
  schedule(now_ + down_ticks * kBaseTickUs + rng_.uniform(kBaseTickUs),
           Event{.kind = EventKind::kRestart,
                 .node = static_cast<int>(n.id.value()),
                 .incarnation = n.incarnation});
}

void Cluster::heal() {
  healed_ = true;
  heal_time_ = now_;
  network_.heal();
  trace_.log(now_, "HEAL: perfect network, restarting every down member");
  follow_membership();
}

void Cluster::check_healed_progress() {
  const uint64_t ticks_since_heal = (now_ - heal_time_) / kBaseTickUs;
  follow_membership();
  if (!leader_after_heal_) {
    // A leader that every member of its membership follows.
    for (const SimNode& n : nodes_) {
      if (!n.up || n.role != raft::Role::kLeader) continue;
      const raft::ConfState& conf = n.core->conf_state();
      bool all_follow = true;
      for (const SimNode& m : nodes_) {
        if (!raft::is_member_of(conf, m.id)) continue;
        all_follow = all_follow && m.up && m.leader == n.id;
      }
      if (all_follow) {
        leader_after_heal_ = true;
        trace_.log(now_, "healed: n{} leads term {} followed by all, {} ticks after heal", n.id,
                   n.term, ticks_since_heal);
      }
    }
    if (!leader_after_heal_ && ticks_since_heal > kLeaderDeadlineTicks) {
      if (const raft::ConfState* conf = reference_conf(); !conf || unrecoverable(*conf)) {
        trace_.log(now_,
                   "healed: the membership {} lost a majority to wiped disks; only "
                   "safety is checked",
                   conf ? raft::describe_conf(*conf) : std::string("(none)"));
        unrecoverable_ = true;
        return;
      }
      checker_.fail(
          fmt::format("liveness: no leader followed by every node within {} ticks "
                      "after the faults healed",
                      kLeaderDeadlineTicks));
    }
  }
  if (!clients_stopped_ && ticks_since_heal > kLeaderDeadlineTicks + kHealedClientTicks) {
    clients_stopped_ = true;
    trace_.log(now_, "healed: clients stop; draining");
  }
}

void Cluster::final_checks() {
  // Liveness is owed only by a membership that can still commit (see unrecoverable()).
  if (const raft::ConfState* conf = reference_conf(); conf == nullptr || unrecoverable(*conf)) {
    trace_.log(now_,
               "end: the membership {} lost a majority to wiped disks; only safety is "
               "checked",
               conf ? raft::describe_conf(*conf) : std::string("(none)"));
    unrecoverable_ = true;
    return;
  }
  if (!leader_after_heal_) {
    checker_.fail("liveness: no leader followed by every node after the faults healed");
    return;
  }
  if (healed_acks_ == 0) {
    checker_.fail(
        fmt::format("liveness: no write was acknowledged in the {} ticks after the faults healed",
                    kLeaderDeadlineTicks + kHealedClientTicks));
    return;
  }
  // Durability of acknowledged writes: each is applied on every member (of its recorded
  // incarnation: a wiped one may still be catching up as a learner of its new one).
  const raft::ConfState* conf = reference_conf();
  for (const SimNode& n : nodes_) {
    if (conf == nullptr || !raft::is_member_of(*conf, n.id) || !n.up ||
        !raft::incarnation_counts(*conf, n.id, n.disk_incarnation)) {
      continue;
    }
    std::vector<std::string> have = n.sm.values;
    std::sort(have.begin(), have.end());
    for (const std::string& v : acked_values_) {
      if (!std::binary_search(have.begin(), have.end(), v)) {
        const std::optional<Index> at = checker_.index_of_value(v);
        checker_.fail(fmt::format(
            "liveness/durability: acknowledged write \"{}\" (committed at index {}) is not "
            "applied on n{} (applied {}, commit {}) at the end of the healed phase",
            v, at ? at->value() : 0, n.id, n.sm.applied,
            n.core ? n.core->commit_index().value() : 0));
        return;
      }
    }
  }
}

}  // namespace raftkv::sim
