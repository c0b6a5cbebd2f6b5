// Membership in the simulation: membership faults (add a learner, promote, remove or demote a
// voter, replace one in a joint change, leave an explicit joint configuration, re-add a removed
// node), wiped-disk restarts, the leader's policy (raft/membership_policy.h) run by whoever
// leads, as the node driver runs it, and the healed phase's membership (members run,
// non-members are stopped).
//
// Wipes are aimed so that the cluster stays recoverable: a voter is wiped only while every
// member is recorded with its disk's incarnation (no re-admission pending), the membership is
// not joint, has at least three voters and the leader has no membership change in flight. A
// run that still ends with a configuration whose majority lost its disks (a race the rule
// misses) is counted as unrecoverable: safety is checked, liveness cannot be.
#include <algorithm>

#include <fmt/format.h>

#include "raft/confchange.h"
#include "raft/membership_policy.h"
#include "raft/quorum.h"
#include "sim/cluster.h"

namespace raftkv::sim {

raft::MemberInfo Cluster::member_info(const SimNode& n) const {
  return raft::MemberInfo{n.disk_incarnation, fmt::format("sim-n{}:7000", n.id),
                          fmt::format("sim-n{}:6379", n.id)};
}

SimNode* Cluster::current_leader() {
  SimNode* best = nullptr;
  for (SimNode& n : nodes_) {
    if (n.up && n.role == raft::Role::kLeader && (best == nullptr || n.term > best->term)) {
      best = &n;
    }
  }
  return best;
}

const raft::ConfState* Cluster::reference_conf() const {
  const SimNode* best = nullptr;
  for (const SimNode& n : nodes_) {
    if (n.conf.voters.empty()) continue;
    if (best == nullptr || n.conf_applied > best->conf_applied) best = &n;
  }
  return best == nullptr ? nullptr : &best->conf;
}

void Cluster::note_conf(SimNode& n) {
  n.conf = n.core->conf_state();
  n.conf_applied = n.sm.applied;
  membership_dirty_ = true;
}

bool Cluster::is_member(NodeId id) const {
  const raft::ConfState* conf = reference_conf();
  return conf != nullptr && raft::is_member_of(*conf, id);
}

bool Cluster::incarnations_match(const raft::ConfState& conf) const {
  for (const auto& [id, info] : conf.members) {
    if (info.incarnation != 0 && info.incarnation != nodes_[id.value() - 1].disk_incarnation) {
      return false;
    }
  }
  return true;
}

bool Cluster::unrecoverable(const raft::ConfState& conf) const {
  for (const std::vector<NodeId>* half : {&conf.voters, &conf.voters_outgoing}) {
    if (half->empty()) continue;
    size_t counting = 0;
    for (NodeId v : *half) {
      counting += raft::incarnation_counts(conf, v, nodes_[v.value() - 1].disk_incarnation) ? 1 : 0;
    }
    if (counting < raft::majority(half->size())) return true;
  }
  return false;
}

bool Cluster::wipe_allowed(const SimNode& n) const {
  // No wipe while a membership change is in flight anywhere: it could make the wiped node a
  // voter of its old incarnation (a voter added directly, in a joint change, before it caught
  // up), or leave too few voters next to it.
  for (const SimNode& m : nodes_) {
    if (!m.up) continue;
    auto ents = m.core->entries(m.core->applied_index() + 1, m.core->last_index() + 1);
    if (!ents.is_ok()) return false;
    for (const raft::Entry& e : *ents) {
      if (e.type == raft::EntryType::kConfChange) return false;
    }
  }
  // Every membership some node applied that counts `n` as a voter must spare it: not joint,
  // three voters or more, none of them awaiting re-admission. (A node that has not yet applied
  // a change removing `n` may still need its vote.) A node that is down counts with what it
  // last applied, and while one is down no voter is wiped at all.
  bool voter = false;
  for (const SimNode& m : nodes_) voter = voter || raft::is_voter_of(m.conf, n.id);
  if (!voter) return true;
  for (const SimNode& m : nodes_) {
    if (m.started_once && !m.up) return false;
  }
  for (const SimNode& m : nodes_) {
    const raft::ConfState& conf = m.conf;
    if (!raft::is_voter_of(conf, n.id)) continue;
    if (conf.joint() || conf.voters.size() < 3 || !incarnations_match(conf)) return false;
  }
  return true;
}

void Cluster::wipe_node(SimNode& n) {
  const bool was_up = n.up;
  if (was_up) crash_node(n);
  n.disk = SimDisk();
  n.disk_incarnation = rng_.next_u64() | 1;
  n.wiped = true;
  n.term = Term();
  n.commit_checked = Index();
  n.conf = raft::ConfState{};
  n.conf_applied = Index();
  ++stats_.wipes;
  trace_.log(now_, "FAULT wipe n{}: empty disk, new incarnation {:x}", n.id, n.disk_incarnation);
  // A node that was down restarts when its pending restart fires, on the new disk.
  if (was_up) schedule_restart(n);
}

void Cluster::run_membership_policy(SimNode& n) {
  raft::MembershipPolicyOptions opts;
  opts.auto_promote = auto_promote_;
  const std::optional<raft::ConfChange> cc =
      raft::next_membership_change(n.core->conf_state(), n.id, n.core->commit_index(),
                                   n.core->follower_status(), {}, readmitted_, opts);
  if (!cc) return;
  const Status s = n.core->propose_conf_change(*cc);
  if (!s.is_ok()) return;  // another change is pending: asked again next tick
  trace_.log(now_, "n{} policy proposes {}", n.id, raft::describe_change(*cc));
  const raft::ConfChangeSingle& ch = cc->changes.front();
  if (ch.type == raft::ConfChangeType::kAddLearner) {
    readmitted_.insert(ch.node);
    ++stats_.readmissions;
  }
}

void Cluster::follow_membership() {
  if (!membership_dirty_) return;  // nothing it depends on changed
  membership_dirty_ = false;
  const raft::ConfState* ref = reference_conf();
  if (ref == nullptr) {
    for (SimNode& n : nodes_) {
      if (!n.up && n.started_once) start_node(n);
    }
    return;
  }
  // A node runs while the most advanced membership names it, or the membership of another
  // node that runs does (that node may need its vote to apply the change that removes it);
  // otherwise it is stopped, as an operator decommissions a removed server. The memberships are
  // the last applied ones, so this is stable until some node applies a change.
  std::vector<NodeId> wanted;
  for (const SimNode& n : nodes_) {
    if (raft::is_member_of(*ref, n.id)) wanted.push_back(n.id);
  }
  for (size_t k = 0; k < wanted.size(); ++k) {
    const SimNode& w = nodes_[wanted[k].value() - 1];
    for (const auto& [id, info] : w.conf.members) {
      if (std::find(wanted.begin(), wanted.end(), id) == wanted.end()) wanted.push_back(id);
    }
    for (NodeId id : raft::all_voters(w.conf)) {
      if (std::find(wanted.begin(), wanted.end(), id) == wanted.end()) wanted.push_back(id);
    }
    for (NodeId id : w.conf.learners) {
      if (std::find(wanted.begin(), wanted.end(), id) == wanted.end()) wanted.push_back(id);
    }
  }
  for (SimNode& n : nodes_) {
    const bool member = std::find(wanted.begin(), wanted.end(), n.id) != wanted.end();
    if (member && !n.up) {
      start_node(n);
    } else if (!member && n.up) {
      trace_.log(now_, "HEAL: n{} is a member of no running node's membership: stopped", n.id);
      crash_node(n);
    }
  }
}

void Cluster::inject_membership_fault() {
  const uint64_t kind = rng_.uniform(100);
  if (kind < 20) {
    std::vector<SimNode*> started;
    for (SimNode& n : nodes_) {
      if (n.started_once) started.push_back(&n);
    }
    SimNode& victim = *started[rng_.uniform(started.size())];
    if (wipe_allowed(victim)) {
      wipe_node(victim);
    } else {
      trace_.log(now_, "FAULT wipe n{} skipped: it would risk a majority", victim.id);
    }
    return;
  }
  SimNode* leader = current_leader();
  if (leader == nullptr) return;
  const raft::ConfState conf = leader->core->conf_state();
  std::vector<NodeId> voters = conf.voters;
  std::vector<NodeId> learners = conf.learners;
  std::vector<SimNode*> others;  // not members: spares, removed nodes
  for (SimNode& n : nodes_) {
    if (!raft::is_member_of(conf, n.id)) others.push_back(&n);
  }
  auto pick = [&](const auto& v) { return v[rng_.uniform(v.size())]; };
  // A node about to be added: running, on a fresh disk (or, re-added, sometimes its old one).
  auto prepare = [&](SimNode& n) {
    if (n.started_once && rng_.chance(0.7)) wipe_node(n);
    if (!n.up) start_node(n);
  };
  auto record = [&](const SimNode& n) {
    raft::MemberInfo info = member_info(n);
    if (rng_.chance(0.2)) info.incarnation = 0;  // added before it connected: bound later
    return info;
  };
  // A learner is promoted (PROMOTE, or by a REPLACE) only while it answers as an incarnation
  // its record counts, and bound to that incarnation (node/membership.cc promotion()).
  auto bind_to_answering = [&](NodeId id, raft::MemberInfo& info) {
    for (const raft::FollowerStatus& f : leader->core->follower_status()) {
      if (f.id != id || f.incarnation == 0 || !f.recent_active ||
          !raft::incarnation_counts(conf, id, f.incarnation)) {
        continue;
      }
      info.incarnation = f.incarnation;
      return true;
    }
    return false;
  };
  // Shrinking (or re-shaping) the voters only while no re-admission is pending.
  const bool reshape = !conf.joint() && incarnations_match(conf);
  const size_t min_voters = options_.nodes == 1 ? 1 : 2;
  raft::ConfChange cc;
  using raft::ConfChangeSingle;
  using raft::ConfChangeType;
  if (conf.joint()) {
    if (conf.auto_leave) return;
    cc = raft::ConfChange::leave_joint();
  } else if (kind < 40 && !others.empty()) {
    SimNode& n = *pick(others);
    prepare(n);
    cc = raft::ConfChange::single(ConfChangeType::kAddLearner, n.id, record(n));
  } else if (kind < 55 && !learners.empty()) {
    // An operator's PROMOTE: refused (by the node) unless the learner answers as the recorded
    // incarnation; it may still lag (it catches up as a voter).
    const NodeId id = pick(learners);
    raft::MemberInfo info = raft::member_info(conf, id);
    if (!bind_to_answering(id, info)) return;
    cc = raft::ConfChange::single(ConfChangeType::kAddVoter, id, info);
  } else if (kind < 70 && reshape && voters.size() > min_voters) {
    const NodeId id = pick(voters);
    cc = rng_.chance(0.7) ? raft::ConfChange::single(ConfChangeType::kRemoveNode, id)
                          : raft::ConfChange::single(ConfChangeType::kAddLearner, id,
                                                     raft::member_info(conf, id));
  } else if (kind < 90 && reshape && !(learners.empty() && others.empty())) {
    // Replace a voter by a learner or a new node in one joint change (thesis §4.3).
    const NodeId old_id = pick(voters);
    NodeId new_id;
    raft::MemberInfo info;
    if (!learners.empty() && (others.empty() || rng_.chance(0.6))) {
      // As the node's REPLACE does (node/membership.cc): the learner is promoted bound to the
      // incarnation that answers, and only once it answers; an unbound voter would count the
      // votes of any later incarnation of it (seed 21445 of --nodes 5 --faults member).
      new_id = pick(learners);
      info = raft::member_info(conf, new_id);
      if (!bind_to_answering(new_id, info)) return;
    } else {
      SimNode& n = *pick(others);
      prepare(n);
      new_id = n.id;
      info = member_info(n);
    }
    const raft::ConfChangeTransition transitions[] = {raft::ConfChangeTransition::kAuto,
                                                      raft::ConfChangeTransition::kJointImplicit,
                                                      raft::ConfChangeTransition::kJointExplicit};
    cc.transition = transitions[rng_.uniform(3)];
    cc.changes.push_back(ConfChangeSingle{ConfChangeType::kAddVoter, new_id, info});
    if (rng_.chance(0.7)) {
      cc.changes.push_back(ConfChangeSingle{ConfChangeType::kRemoveNode, old_id, {}});
    } else {
      cc.changes.push_back(
          ConfChangeSingle{ConfChangeType::kAddLearner, old_id, raft::member_info(conf, old_id)});
    }
  } else if (!learners.empty()) {
    cc = raft::ConfChange::single(ConfChangeType::kRemoveNode, pick(learners));
  } else {
    return;
  }
  const Status s = leader->core->propose_conf_change(cc);
  trace_.log(now_, "FAULT n{} proposes {}: {}", leader->id, raft::describe_change(cc),
             s.to_string());
  observe(*leader);
  process_ready(*leader);
}

}  // namespace raftkv::sim
