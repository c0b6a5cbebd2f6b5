// The membership half of the raft strand (issue 12): bootstrap of a fresh cluster, the peers and
// client addresses that follow the applied membership, operator changes (change_membership,
// transfer_leadership), the leader's automatic driver (re-admission, promotion) and
// --force-new-cluster. docs/node.md ("Membership") describes the behaviour.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "node/node_impl.h"
#include "raft/confchange.h"
#include "raft/membership_policy.h"
#include "transport/transport.h"

namespace raftkv::node {

using raft::ConfChange;
using raft::ConfChangeSingle;
using raft::ConfChangeTransition;
using raft::ConfChangeType;
using raft::ConfState;

namespace {

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool is_voter(const ConfState& c, NodeId id) {
  return contains(c.voters, id) || contains(c.voters_outgoing, id);
}

bool is_member(const ConfState& c, NodeId id) {
  return is_voter(c, id) || contains(c.learners, id) || contains(c.learners_next, id);
}

std::vector<NodeId> all_members(const ConfState& c) {
  std::vector<NodeId> out = c.voters;
  for (const auto* list : {&c.voters_outgoing, &c.learners, &c.learners_next}) {
    out.insert(out.end(), list->begin(), list->end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status invalid(std::string message) {
  return Status(ErrorCode::kInvalidArgument, std::move(message));
}

const char* op_name(MembershipRequest::Op op) {
  switch (op) {
    case MembershipRequest::Op::kAdd:
      return "ADD";
    case MembershipRequest::Op::kRemove:
      return "REMOVE";
    case MembershipRequest::Op::kPromote:
      return "PROMOTE";
    case MembershipRequest::Op::kReplace:
      return "REPLACE";
  }
  return "?";
}

std::string describe(const MembershipRequest& r) {
  if (r.op == MembershipRequest::Op::kReplace) {
    return fmt::format("REPLACE {} with {}", r.node, r.new_node);
  }
  return fmt::format("{} {}", op_name(r.op), r.node);
}

std::string describe(const ConfChange& cc) {
  return raft::describe_change(cc);
}

}  // namespace

// ---- Initialization and bootstrap. ----

bool NodeImpl::storage_initialized() const {
  auto snap = wal_->snapshot();
  return wal_->last_index() > Index() || !wal_->initial_state().hard_state.is_empty() ||
         (snap.is_ok() && !(*snap)->is_empty());
}

void NodeImpl::become_initialized() {
  if (initialized_.exchange(true)) return;
  waiting_for_.clear();
  log_.info("this node now holds the cluster's log (initialized)");
  if (transport_ != nullptr) transport_->set_initialized();
}

void NodeImpl::maybe_bootstrap() {
  if (initialized_.load()) return;
  std::string waiting;
  if (opts_.join || opts_.initial_members.empty()) {
    waiting = "a leader to add this node and replicate to it (--join)";
  } else if (!opts_.initial_members.count(opts_.id)) {
    waiting = "a leader to replicate to this node (it is not one of the initial members)";
  } else if (const NodeId lowest = opts_.initial_members.begin()->first; lowest != opts_.id) {
    waiting = fmt::format(
        "node {} (the lowest initial id) to bootstrap the cluster, or its leader to replicate to "
        "this node",
        lowest);
  } else {
    // Thesis §4.1: a cluster is created once. Only when every initial member is reachable and
    // has nothing (not even a hard state) is there no cluster yet: a member that holds a log
    // means this node lost its disk and must be re-admitted by the leader, not start anew.
    std::vector<std::string> missing, initialized;
    ConfState conf;
    for (const auto& [id, info] : opts_.initial_members) {
      conf.voters.push_back(id);
      raft::MemberInfo m = info;
      if (id == opts_.id) {
        m.incarnation = opts_.incarnation;
      } else {
        const transport::PeerInfo peer =
            transport_ != nullptr ? transport_->peer_info(id) : transport::PeerInfo{};
        if (!peer.connected) {
          missing.push_back(fmt::format("{}", id));
        } else if (peer.initialized) {
          initialized.push_back(fmt::format("{}", id));
        }
        m.incarnation = peer.incarnation;
      }
      conf.members[id] = m;
    }
    if (!initialized.empty()) {
      waiting = fmt::format(
          "a leader to replicate to this node: initial member(s) {} already hold a log, so the "
          "cluster exists (this data dir is new or was wiped; the leader re-admits it)",
          fmt::join(initialized, ", "));
    } else if (!missing.empty()) {
      waiting = fmt::format(
          "every initial member to be reachable before bootstrapping a new cluster; not "
          "connected: {}",
          fmt::join(missing, ", "));
    } else {
      log_.warn(
          "bootstrapping a new cluster: voters {} (every initial member is connected and "
          "has no log)",
          fmt::join(conf.voters, ", "));
      if (Status s = raft_->bootstrap(conf); !s) {
        log_.error("bootstrap failed: {}", s.to_string());
        return;
      }
      handle_ready();
      return;
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (waiting != waiting_for_ || now >= next_waiting_log_) {
    log_.info("uninitialized: waiting for {}", waiting);
    next_waiting_log_ = now + std::chrono::seconds(5);
  }
  if (waiting != waiting_for_) {
    std::lock_guard lock(status_mu_);
    waiting_for_ = waiting;
  }
}

// ---- Peers and addresses follow the applied membership. ----

void NodeImpl::prune_transport_peers() {
  const std::vector<NodeId> members = all_members(known_conf_);
  kept_non_member_leader_ = false;
  for (const auto& [id, addr] : transport_->peers()) {
    if (contains(members, id)) continue;
    if (id == soft_.leader) {
      kept_non_member_leader_ = true;
      log_.info(
          "leader {} is not in the applied membership (an older one, from a snapshot?): "
          "kept as a peer while it leads",
          id);
      continue;
    }
    log_.info("node {} is no longer a member: removed from the transport's peers", id);
    transport_->remove_peer(id);
  }
}

void NodeImpl::on_membership_changed() {
  const ConfState& conf = raft_->conf_state();
  if (conf == known_conf_) return;
  known_conf_ = conf;
  const std::vector<NodeId> members = all_members(conf);
  std::map<NodeId, std::string> clients;
  for (NodeId id : members) {
    auto it = conf.members.find(id);
    const raft::MemberInfo info = it == conf.members.end() ? raft::MemberInfo{} : it->second;
    if (!info.client_addr.empty()) {
      clients[id] = info.client_addr;
    } else if (auto f = opts_.client_addrs.find(id); f != opts_.client_addrs.end()) {
      clients[id] = f->second;  // a record without addresses (written before they existed)
    }
    if (id != opts_.id && transport_ != nullptr && !info.peer_addr.empty()) {
      transport_->add_peer(id, info.peer_addr);
    }
  }
  // Until the node holds the cluster's log and has applied a membership, the peers are the
  // seeds (the flags' initial members, or what --join learned): kept.
  if (transport_ != nullptr && initialized_.load() && !conf.voters.empty()) {
    prune_transport_peers();
  }
  {
    std::lock_guard lock(addr_mu_);
    member_client_addrs_ = std::move(clients);
  }
  log_.info(
      "membership: voters {}{}, learners {}{}", fmt::join(conf.voters, ", "),
      conf.joint() ? fmt::format(" (joint with outgoing {})", fmt::join(conf.voters_outgoing, ", "))
                   : "",
      fmt::join(conf.learners, ", "),
      conf.learners_next.empty() ? ""
                                 : fmt::format(" (next {})", fmt::join(conf.learners_next, ", ")));
}

std::string NodeImpl::client_addr_of(NodeId id) const {
  {
    std::lock_guard lock(addr_mu_);
    auto it = member_client_addrs_.find(id);
    if (it != member_client_addrs_.end()) return it->second;
  }
  auto it = opts_.client_addrs.find(id);
  return it == opts_.client_addrs.end() ? std::string() : it->second;
}

// ---- What the leader knows about each member. ----

uint64_t NodeImpl::observed_incarnation(NodeId id) const {
  if (id == opts_.id) return opts_.incarnation;
  if (transport_ == nullptr) return 0;
  return transport_->peer_info(id).incarnation;  // 0 when not connected
}

namespace {

// The catch-up rule (docs/node.md): recently active, acknowledging as the recorded incarnation
// (or unbound), and match at least the leader's commit index of the previous tick. The policy
// (raft::next_membership_change) promotes by the same rule, given that commit index.
bool follower_caught_up(const ConfState& conf, const raft::FollowerStatus& f, Index commit) {
  return f.recent_active && commit != Index() && f.match >= commit &&
         raft::incarnation_counts(conf, f.id, f.incarnation);
}

}  // namespace

bool NodeImpl::caught_up(NodeId id) const {
  if (id == opts_.id) return true;
  for (const raft::FollowerStatus& f : raft_->follower_status()) {
    if (f.id == id) return follower_caught_up(raft_->conf_state(), f, commit_at_last_tick_);
  }
  return false;
}

std::vector<MemberView> NodeImpl::compute_members() const {
  const ConfState& conf = raft_->conf_state();
  const bool leader = raft_->role() == raft::Role::kLeader;
  std::map<NodeId, raft::FollowerStatus> followers;
  for (const raft::FollowerStatus& f : raft_->follower_status()) followers[f.id] = f;
  std::vector<MemberView> out;
  for (NodeId id : all_members(conf)) {
    MemberView v;
    v.id = id;
    auto rec = conf.members.find(id);
    if (rec != conf.members.end()) {
      v.peer_addr = rec->second.peer_addr;
      v.client_addr = rec->second.client_addr;
    }
    if (v.client_addr.empty()) v.client_addr = client_addr_of(id);
    v.voter = is_voter(conf, id);
    const uint64_t recorded = rec == conf.members.end() ? 0 : rec->second.incarnation;
    if (!leader) {
      v.state = "unknown";
    } else if (id == opts_.id) {
      v.state = "caught-up";
    } else {
      const uint64_t seen = observed_incarnation(id);
      auto f = followers.find(id);
      if (seen != 0 && recorded != 0 && seen != recorded) {
        v.state = "stale-incarnation";
      } else if (f == followers.end() || !f->second.recent_active || seen == 0) {
        v.state = "unreachable";
      } else if (follower_caught_up(conf, f->second, commit_at_last_tick_)) {
        v.state = "caught-up";
      } else {
        v.state = "catching-up";
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

// ---- Applying committed membership changes. ----

void NodeImpl::on_conf_applied(const ConfChange& cc, Index index, Term term) {
  auto applied = raft_->apply_conf_change(cc);
  if (!applied) {
    // Every node validates a committed change the same way; a refusal here is a bug, not input.
    log_.error("committed membership change at {} ({}) does not apply: {}", index, describe(cc),
               applied.status().to_string());
  }
  on_membership_changed();
  refresh_status();  // a change's completion is never seen before the membership it made
  if (member_op_ && member_op_->index == index) {
    if (member_op_->term != term) {
      finish_membership_op(Status(ErrorCode::kProposalDropped,
                                  "the membership change was overwritten by a newer leader; "
                                  "nothing was changed"));
    } else {
      member_op_->index = Index();
      advance_membership_op(/*committed=*/true);
    }
  } else if (member_op_) {
    advance_membership_op(false);
  }
  // Called from handle_ready()'s loop, which goes on to what this made ready.
}

// ---- Operator changes. ----

Status NodeImpl::propose_membership(const ConfChange& cc) {
  const Status s = raft_->propose_conf_change(cc);
  if (!s) {
    if (s.code() != ErrorCode::kProposalDropped) return s;
    if (raft_->role() != raft::Role::kLeader) return invalid("this node lost leadership; retry");
    // The core holds back a change while an earlier one is unapplied: the driver's automatic
    // change, the leave of a joint configuration, or (for a new leader) whatever its log may
    // hold. Those apply within a few round trips; asked again every tick until retry_until.
    if (member_op_) {
      member_op_->to_propose = cc;
      member_op_->retry_until =
          std::chrono::steady_clock::now() +
          std::max<std::chrono::milliseconds>(std::chrono::seconds(1), transfer_timeout());
      return Status::ok();
    }
    return invalid("another membership change is in progress");
  }
  log_.info("membership: proposed {} at index {}", describe(cc), raft_->last_index());
  if (member_op_) {
    member_op_->to_propose.reset();
    member_op_->index = raft_->last_index();
    member_op_->term = raft_->term();
  }
  handle_ready();
  return Status::ok();
}

void NodeImpl::change_membership_on_strand(MembershipRequest req,
                                           std::function<void(Status)> done) {
  if (raft_->role() != raft::Role::kLeader) {
    done(not_leader());
    return;
  }
  if (member_op_) {
    done(invalid(fmt::format("another membership change is in progress ({})",
                             describe(member_op_->request))));
    return;
  }
  const ConfState& conf = raft_->conf_state();
  const NodeId node = req.node;
  const auto now = std::chrono::steady_clock::now();
  member_op_ = MembershipOp{req, std::move(done), now + opts_.membership_timeout};
  MembershipOp& op = *member_op_;
  auto refuse = [&](Status s) { finish_membership_op(std::move(s)); };
  if (conf.joint() && req.op != MembershipRequest::Op::kReplace) {
    return refuse(
        invalid("another membership change is in progress (the configuration is "
                "joint until it is left)"));
  }
  switch (req.op) {
    case MembershipRequest::Op::kAdd: {
      if (is_member(conf, node))
        return refuse(invalid(fmt::format("node {} is already a member", node)));
      ConfChange cc{ConfChangeTransition::kAuto,
                    {ConfChangeSingle{ConfChangeType::kAddLearner, node,
                                      raft::MemberInfo{observed_incarnation(node), req.peer_addr,
                                                       req.client_addr}}}};
      op.stage = MembershipOp::Stage::kCommit;
      if (Status s = propose_membership(cc); !s) return refuse(s);
      return;
    }
    case MembershipRequest::Op::kPromote: {
      if (!is_member(conf, node)) return refuse(invalid(fmt::format("unknown node {}", node)));
      if (is_voter(conf, node))
        return refuse(invalid(fmt::format("node {} is already a voter", node)));
      if (!caught_up(node)) return refuse(invalid(fmt::format("node {} is not caught up", node)));
      op.stage = MembershipOp::Stage::kCommit;
      if (Status s = propose_membership(promotion(node)); !s) return refuse(s);
      return;
    }
    case MembershipRequest::Op::kRemove:
      return start_removal(node);
    case MembershipRequest::Op::kReplace: {
      const NodeId add = req.new_node;
      if (add == node) return refuse(invalid("REPLACE needs two different nodes"));
      // Re-sent after a leader change: continue where the previous leader stopped.
      if (!is_member(conf, node) && contains(conf.voters, add) && !conf.joint()) {
        return refuse(Status::ok());  // already done
      }
      if (conf.joint()) {
        if (contains(conf.voters, add) && contains(conf.voters_outgoing, node) &&
            !contains(conf.voters, node)) {
          op.stage = MembershipOp::Stage::kLeaving;
          return;
        }
        return refuse(
            invalid("another membership change is in progress (the configuration is "
                    "joint until it is left)"));
      }
      if (!is_member(conf, node)) return refuse(invalid(fmt::format("unknown node {}", node)));
      if (!is_voter(conf, node)) {
        return refuse(
            invalid(fmt::format("node {} is not a voter: REMOVE it and ADD node {}", node, add)));
      }
      if (is_voter(conf, add)) {
        // The new node is a voter already (started with --join before the REPLACE, added and
        // promoted by the leader): what is left of the replacement is the removal.
        log_.info("membership: REPLACE {} {}: node {} is a voter already; removing node {}", node,
                  add, add, node);
        return start_removal(node);
      }
      if (contains(conf.learners, add)) {
        op.stage = MembershipOp::Stage::kCatchingUp;
        advance_membership_op(false);
        return;
      }
      op.stage = MembershipOp::Stage::kAddingLearner;
      ConfChange cc{ConfChangeTransition::kAuto,
                    {ConfChangeSingle{ConfChangeType::kAddLearner, add,
                                      raft::MemberInfo{observed_incarnation(add), req.peer_addr,
                                                       req.client_addr}}}};
      if (Status s = propose_membership(cc); !s) return refuse(s);
      return;
    }
  }
}

void NodeImpl::start_removal(NodeId node) {
  const ConfState& conf = raft_->conf_state();
  MembershipOp& op = *member_op_;
  auto refuse = [&](Status s) { finish_membership_op(std::move(s)); };
  if (!is_member(conf, node)) return refuse(invalid(fmt::format("unknown node {}", node)));
  if (is_voter(conf, node)) {
    if (Status s = check_quorum_without(node); !s) return refuse(s);
  }
  if (node == opts_.id) {
    // Hand leadership over first (thesis §3.10); the new leader removes this node.
    const NodeId to = best_transfer_target(node);
    if (to.is_none()) {
      return refuse(invalid(fmt::format(
          "node {} is the leader and no other voter is caught up to take over; retry once one is",
          node)));
    }
    log_.info("membership: REMOVE {} (the leader): handing leadership to {} first", node, to);
    op.stage = MembershipOp::Stage::kTransferring;
    op.transfer_deadline = std::chrono::steady_clock::now() + transfer_timeout();
    (void)raft_->transfer_leadership(to);
    handle_ready();
    return;
  }
  op.stage = MembershipOp::Stage::kCommit;
  ConfChange cc{ConfChangeTransition::kAuto,
                {ConfChangeSingle{ConfChangeType::kRemoveNode, node, {}}}};
  if (Status s = propose_membership(cc); !s) return refuse(s);
}

ConfChange NodeImpl::promotion(NodeId id) const {
  raft::MemberInfo info;
  if (auto it = raft_->conf_state().members.find(id); it != raft_->conf_state().members.end()) {
    info = it->second;
  }
  // A voter is bound to the incarnation that caught up, so that if it loses its disk its
  // votes never count again (an unbound record counts any incarnation).
  uint64_t seen = observed_incarnation(id);
  if (seen == 0) {
    // The connection dropped just now: the incarnation its acknowledgements came from.
    for (const raft::FollowerStatus& f : raft_->follower_status()) {
      if (f.id == id) seen = f.incarnation;
    }
  }
  if (seen != 0) info.incarnation = seen;
  return ConfChange{ConfChangeTransition::kAuto,
                    {ConfChangeSingle{ConfChangeType::kAddVoter, id, info}}};
}

Status NodeImpl::check_quorum_without(NodeId node) const {
  const ConfState& conf = raft_->conf_state();
  std::vector<NodeId> remaining;
  for (NodeId v : conf.voters) {
    if (v != node) remaining.push_back(v);
  }
  if (remaining.empty()) {
    return invalid(fmt::format("removing node {} would leave no voters", node));
  }
  size_t reachable = 0;
  for (NodeId v : remaining) {
    if (v == opts_.id) {
      ++reachable;
      continue;
    }
    for (const raft::FollowerStatus& f : raft_->follower_status()) {
      if (f.id == v && f.recent_active && observed_incarnation(v) != 0) ++reachable;
    }
  }
  const size_t quorum = remaining.size() / 2 + 1;
  if (reachable < quorum) {
    return invalid(fmt::format(
        "removing node {} would lose quorum: only {} of the {} remaining voters are reachable "
        "({} needed)",
        node, reachable, remaining.size(), quorum));
  }
  return Status::ok();
}

NodeId NodeImpl::best_transfer_target(NodeId except) const {
  NodeId best;
  Index best_match;
  for (const raft::FollowerStatus& f : raft_->follower_status()) {
    if (f.id == opts_.id || f.id == except || !contains(raft_->conf_state().voters, f.id) ||
        !f.recent_active || !caught_up(f.id)) {
      continue;
    }
    if (best.is_none() || f.match > best_match) {
      best = f.id;
      best_match = f.match;
    }
  }
  return best;
}

std::chrono::milliseconds NodeImpl::transfer_timeout() const {
  // The core gives one attempt an election timeout (the target must catch up first); several
  // attempts, and never less than 2 s (a busy machine delays a fast-ticking test cluster).
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(2),
                                             5 * opts_.raft.election_ticks * opts_.tick_interval);
}

void NodeImpl::advance_membership_op(bool committed) {
  if (!member_op_) return;
  MembershipOp& op = *member_op_;
  const ConfState& conf = raft_->conf_state();
  const auto now = std::chrono::steady_clock::now();
  if (op.to_propose) {
    if (raft_->role() != raft::Role::kLeader) return;  // membership_tick() fails or forwards it
    if (now >= op.retry_until) {
      finish_membership_op(invalid("another membership change is in progress"));
      return;
    }
    const ConfChange cc = *op.to_propose;
    if (Status s = propose_membership(cc); !s) finish_membership_op(s);
    return;
  }
  switch (op.stage) {
    case MembershipOp::Stage::kCommit:
      if (committed) finish_membership_op(Status::ok());
      return;
    case MembershipOp::Stage::kTransferring:
      if (raft_->role() != raft::Role::kLeader) {
        if (!raft_->leader().is_none()) finish_membership_op(not_leader());
        return;
      }
      if (now < op.transfer_deadline) {
        // The core gives a transfer one election timeout; ask again until our own deadline
        // (a no-op while one is in progress).
        if (const NodeId to = best_transfer_target(op.request.node); !to.is_none()) {
          (void)raft_->transfer_leadership(to);
        }
      } else {
        finish_membership_op(Status(ErrorCode::kTimeout,
                                    fmt::format("handing leadership over before removing node {} "
                                                "did not complete; nothing was changed, retry",
                                                op.request.node)));
      }
      return;
    case MembershipOp::Stage::kAddingLearner:
      if (!committed) return;
      op.stage = MembershipOp::Stage::kCatchingUp;
      [[fallthrough]];
    case MembershipOp::Stage::kCatchingUp:
      if (raft_->role() != raft::Role::kLeader || op.index != Index()) return;
      if (!caught_up(op.request.new_node)) return;
      {
        // One joint change (thesis §4.3): the new node becomes a voter and the old one leaves
        // in the same step; auto-leave makes the leader leave the joint configuration.
        ConfChange cc = promotion(op.request.new_node);
        cc.transition = ConfChangeTransition::kJointImplicit;
        cc.changes.push_back(
            ConfChangeSingle{ConfChangeType::kRemoveNode, op.request.node, raft::MemberInfo{}});
        op.stage = MembershipOp::Stage::kJoint;
        if (Status s = propose_membership(cc); !s) finish_membership_op(s);
      }
      return;
    case MembershipOp::Stage::kJoint:
      if (!committed) return;
      op.stage = MembershipOp::Stage::kLeaving;
      [[fallthrough]];
    case MembershipOp::Stage::kLeaving:
      if (!conf.joint() && contains(conf.voters, op.request.new_node) &&
          !is_member(conf, op.request.node)) {
        finish_membership_op(Status::ok());
      }
      return;
  }
}

void NodeImpl::finish_membership_op(Status s) {
  if (!member_op_) return;
  MembershipOp op = std::move(*member_op_);
  member_op_.reset();
  if (s.is_ok()) {
    log_.info("membership: {} done", describe(op.request));
  } else if (s.code() != ErrorCode::kNotLeader) {
    log_.info("membership: {} failed: {}", describe(op.request), s.to_string());
  }
  op.done(std::move(s));
}

void NodeImpl::membership_tick() {
  maybe_bootstrap();
  const auto now = std::chrono::steady_clock::now();
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (raft_->leader() == it->to) {
      it->done(Status::ok());
    } else if (now < it->deadline) {
      // Still leading: the core's attempt (one election timeout) may have ended; ask again.
      if (raft_->role() == raft::Role::kLeader) (void)raft_->transfer_leadership(it->to);
      ++it;
      continue;
    } else {
      it->done(
          Status(ErrorCode::kTimeout, fmt::format("leadership did not move to node {} within {} ms",
                                                  it->to, transfer_timeout().count())));
    }
    it = transfers_.erase(it);
  }
  if (member_op_) {
    if (now >= member_op_->deadline) {
      finish_membership_op(Status(
          ErrorCode::kTimeout,
          fmt::format("{} did not complete within {} ms{}", describe(member_op_->request),
                      opts_.membership_timeout.count(),
                      member_op_->stage == MembershipOp::Stage::kCatchingUp
                          ? fmt::format(": node {} did not catch up (is it running? it joins "
                                        "with --join); the learner stays, REMOVE it if unwanted",
                                        member_op_->request.new_node)
                          : "")));
    } else if (raft_->role() != raft::Role::kLeader &&
               member_op_->stage != MembershipOp::Stage::kTransferring) {
      // Lost leadership mid-way. A REPLACE continues at the new leader (the request is sent
      // again there); a simple change may or may not have been made.
      if (member_op_->request.op == MembershipRequest::Op::kReplace) {
        if (!raft_->leader().is_none()) finish_membership_op(not_leader());
      } else {
        finish_membership_op(Status(ErrorCode::kProposalDropped,
                                    "leadership changed; the membership change may or may not "
                                    "have been made (see RAFTKV.MEMBER LIST)"));
      }
    } else {
      advance_membership_op(false);
    }
  }
  if (raft_->role() == raft::Role::kLeader && !member_op_) run_membership_policy();
}

void NodeImpl::run_membership_policy() {
  const ConfState& conf = raft_->conf_state();
  // Re-admitted members are promoted again even with --no-auto-promote (they were voters).
  for (auto it = readmitted_.begin(); it != readmitted_.end();) {
    it = contains(conf.learners, *it) ? std::next(it) : readmitted_.erase(it);
  }
  std::map<NodeId, uint64_t> observed;
  for (NodeId id : all_members(conf)) {
    if (const uint64_t seen = observed_incarnation(id); seen != 0) observed[id] = seen;
  }
  raft::MembershipPolicyOptions options;
  options.auto_promote = opts_.auto_promote;
  std::optional<ConfChange> cc =
      raft::next_membership_change(conf, opts_.id, commit_at_last_tick_, raft_->follower_status(),
                                   observed, readmitted_, options);
  if (!cc) return;
  const Status s = raft_->propose_conf_change(*cc);
  if (s) {
    const ConfChangeSingle& c = cc->changes.front();
    if (c.type == ConfChangeType::kAddLearner) {
      log_.warn(
          "membership: node {} is back as incarnation {:016x} (recorded {:016x}: it lost "
          "its disk); re-admitting it as a learner at index {}",
          c.node, c.info.incarnation, raft::recorded_incarnation(conf, c.node),
          raft_->last_index());
      readmitted_.insert(c.node);
    } else {
      log_.info("membership: learner {} caught up; promoting it to voter at index {}", c.node,
                raft_->last_index());
    }
    handle_ready();
  } else if (s.code() != ErrorCode::kProposalDropped) {
    log_.warn("membership (automatic): {} refused: {}", describe(*cc), s.to_string());
  }
}

void NodeImpl::transfer_on_strand(NodeId to, std::function<void(Status)> done) {
  if (raft_->role() != raft::Role::kLeader) {
    done(not_leader());
    return;
  }
  if (to == opts_.id) {
    done(Status::ok());
    return;
  }
  if (!contains(raft_->conf_state().voters, to)) {
    done(invalid(is_member(raft_->conf_state(), to) ? fmt::format("node {} is not a voter", to)
                                                    : fmt::format("unknown node {}", to)));
    return;
  }
  if (Status s = raft_->transfer_leadership(to); !s) {
    done(s.code() == ErrorCode::kNotLeader ? not_leader() : s);
    return;
  }
  transfers_.push_back(
      TransferWaiter{to, std::move(done), std::chrono::steady_clock::now() + transfer_timeout()});
  handle_ready();
}

}  // namespace raftkv::node
