#include "server/node_backend.h"

#include <cctype>

namespace raftkv::server {

NodeBackend::NodeBackend(node::GroupNode& node, kv::CommandLimits limits,
                         std::chrono::milliseconds membership_timeout,
                         std::chrono::milliseconds transfer_timeout,
                         client::NodeCredentials relay_credentials)
    : node_(node),
      limits_(limits),
      membership_timeout_(membership_timeout),
      transfer_timeout_(transfer_timeout),
      forwarder_(std::make_unique<LeaderForwarder>(std::move(relay_credentials))) {
  for (const char* c : {"get", "set", "del", "exists", "append", "strlen", "incr", "incrby", "decr",
                        "decrby", "mget", "mset", "getdel", "setnx", "scan", "dbsize", "other"}) {
    latency_.emplace(c, std::make_unique<LatencyHistogram>());
  }
}

frontend::Completion NodeBackend::timed(const std::string& command, frontend::Completion done) {
  std::string name;
  for (char ch : command)
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  auto it = latency_.find(name);
  LatencyHistogram* h = (it != latency_.end() ? it : latency_.find("other"))->second.get();
  return
      [h, start = std::chrono::steady_clock::now(), done = std::move(done)](Result<kv::Reply> r) {
        h->record(std::chrono::steady_clock::now() - start);
        done(std::move(r));
      };
}

void NodeBackend::write(std::vector<std::string> args, frontend::ClientSession session,
                        frontend::Completion done) {
  kv::RequestHeader h;
  h.client_id = session.client_id;
  h.sequence = session.sequence;
  h.acked_sequence = session.acked_sequence;
  auto timed_done = timed(args.empty() ? std::string() : args[0], std::move(done));
  if (auto refused = kv::check_write_size(args, limits_)) {
    timed_done(std::move(*refused));
    return;
  }
  node_.write(std::move(args), h, std::move(timed_done));
}

void NodeBackend::read(std::vector<std::string> args, frontend::ReadOptions options,
                       frontend::Completion done) {
  done = timed(args.empty() ? std::string() : args[0], std::move(done));
  if (options.consistency == frontend::ReadConsistency::kLinearizable) {
    if (node_.role() != raft::Role::kLeader) {
      done(Status(ErrorCode::kNotLeader, node_.client_addr(node_.leader())));
      return;
    }
  }
  node_.read(
      std::move(args),
      options.after_own_writes ? node::ReadOrder::kAfterLocalWrites : node::ReadOrder::kReadIndex,
      std::move(done));
}

frontend::BackendStatus NodeBackend::status() const {
  const node::NodeStatus st = node_.status();
  frontend::BackendStatus out;
  out.id = st.id;
  out.role = raft::role_name(st.role);
  out.term = st.term;
  out.leader = st.leader;
  out.leader_client_addr = node_.client_addr(st.leader);
  out.commit_index = st.commit_index;
  out.applied_index = st.applied_index;
  out.last_index = st.last_index;
  out.snapshot_index = st.snapshot_index;
  for (const node::MemberView& m : st.members)
    out.members.push_back({m.id, m.client_addr, m.voter});
  out.keys = st.keys;
  out.expires = st.keys_with_ttl;
  out.extra = {
      {"first_index", std::to_string(st.first_index.value())},
      {"proposals", std::to_string(st.proposals)},
      {"snapshots_taken", std::to_string(st.snapshots_taken)},
      {"leader_changes", std::to_string(st.leader_changes)},
      {"elections_started", std::to_string(st.elections_started)},
      {"elections_won", std::to_string(st.elections_won)},
      {"fsyncs", std::to_string(st.fsyncs)},
      {"inbox_bytes", std::to_string(st.queues.inbox_bytes)},
      {"inbox_dropped", std::to_string(st.queues.inbox_dropped)},
      {"apps_refused", std::to_string(st.queues.apps_refused)},
      {"persist_backlog_bytes", std::to_string(st.queues.persist_backlog_bytes)},
      {"apply_backlog_bytes", std::to_string(st.queues.apply_backlog_bytes)},
      {"pending_reads", std::to_string(st.queues.pending_reads)},
      {"snapshot_bytes", std::to_string(st.snapshot_bytes)},
      {"snapshot_duration_ms", std::to_string(st.snapshot_duration_ms)},
      {"snapshot_transfers_in_flight", std::to_string(st.snapshot_transfers_in_flight)},
      {"snapshot_transfers_completed", std::to_string(st.snapshot_transfers.completed)},
      {"snapshot_transfers_resumed", std::to_string(st.snapshot_transfers.resumed)},
      {"snapshots_received", std::to_string(st.snapshot_transfers.received)},
  };
  // The membership (issue 12): who votes, who learns, whether a joint change is under way.
  auto ids = [](const std::vector<NodeId>& v) {
    std::string list;
    for (NodeId id : v) list += (list.empty() ? "" : ",") + std::to_string(id.value());
    return list;
  };
  out.extra.emplace_back("voters", ids(st.conf.voters));
  out.extra.emplace_back("learners", ids(st.conf.learners));
  out.extra.emplace_back("joint", st.conf.joint() ? "1" : "0");
  if (st.conf.joint()) {
    out.extra.emplace_back("voters_outgoing", ids(st.conf.voters_outgoing));
    out.extra.emplace_back("learners_next", ids(st.conf.learners_next));
  }
  out.extra.emplace_back("initialized", st.initialized ? "1" : "0");
  if (!st.waiting_for.empty()) out.extra.emplace_back("waiting_for", st.waiting_for);
  if (!st.membership_op.empty()) out.extra.emplace_back("membership_change", st.membership_op);
  return out;
}

namespace {

// The RESP command a MemberChange came from (what the leader is sent).
std::vector<std::string> member_command(const frontend::MemberChange& c) {
  const std::string node = std::to_string(c.node.value());
  switch (c.op) {
    case frontend::MemberChange::Op::kAdd:
      return {"RAFTKV.MEMBER", "ADD", node, c.peer_addr, c.client_addr};
    case frontend::MemberChange::Op::kRemove:
      return {"RAFTKV.MEMBER", "REMOVE", node};
    case frontend::MemberChange::Op::kPromote:
      return {"RAFTKV.MEMBER", "PROMOTE", node};
    case frontend::MemberChange::Op::kReplace:
      return {"RAFTKV.MEMBER", "REPLACE",    node, std::to_string(c.new_node.value()),
              c.peer_addr,     c.client_addr};
  }
  return {};
}

node::MembershipRequest::Op node_op(frontend::MemberChange::Op op) {
  switch (op) {
    case frontend::MemberChange::Op::kAdd:
      return node::MembershipRequest::Op::kAdd;
    case frontend::MemberChange::Op::kRemove:
      return node::MembershipRequest::Op::kRemove;
    case frontend::MemberChange::Op::kPromote:
      return node::MembershipRequest::Op::kPromote;
    case frontend::MemberChange::Op::kReplace:
      return node::MembershipRequest::Op::kReplace;
  }
  return node::MembershipRequest::Op::kAdd;
}

// Margin on top of the leader's own bound, so that the leader's answer (an error included)
// arrives before the forwarding gives up.
constexpr std::chrono::milliseconds kForwardMargin{10'000};

}  // namespace

std::string NodeBackend::leader_client_addr() const {
  const NodeId leader = node_.leader();
  return leader.is_none() ? std::string() : node_.client_addr(leader);
}

void NodeBackend::forward(const Status& not_leader, std::vector<std::string> args,
                          std::chrono::milliseconds timeout, frontend::Completion done) {
  if (not_leader.message().empty()) {
    done(not_leader);  // no leader known: -CLUSTERDOWN, retry later
    return;
  }
  forwarder_->forward(not_leader.message(), std::move(args), timeout + kForwardMargin,
                      std::move(done), [this] { return leader_client_addr(); });
}

void NodeBackend::change_membership(frontend::MemberChange change, frontend::Completion done) {
  node::MembershipRequest req{node_op(change.op), change.node, change.new_node, change.peer_addr,
                              change.client_addr};
  node_.change_membership(std::move(req),
                          [this, args = member_command(change), done = std::move(done)](Status s) {
                            if (s.is_ok()) {
                              done(kv::Reply::ok());
                            } else if (s.code() == ErrorCode::kNotLeader) {
                              // A follower, or the leader handed over (REMOVE of itself, REPLACE
                              // interrupted): the leader finishes it.
                              forward(s, args, membership_timeout_, done);
                            } else {
                              done(std::move(s));
                            }
                          });
}

void NodeBackend::transfer_leadership(NodeId to, frontend::Completion done) {
  node_.transfer_leadership(to, [this, to, done = std::move(done)](Status s) {
    if (s.is_ok()) {
      done(kv::Reply::ok());
    } else if (s.code() == ErrorCode::kNotLeader) {
      forward(s, {"RAFTKV.TRANSFER", std::to_string(to.value())}, transfer_timeout_, done);
    } else {
      done(std::move(s));
    }
  });
}

void NodeBackend::list_members(frontend::Completion done) {
  // Only the leader knows how far each member got; a follower asks it.
  if (node_.role() != raft::Role::kLeader) {
    const NodeId leader = node_.leader();
    const std::string addr = leader.is_none() ? std::string() : node_.client_addr(leader);
    if (!addr.empty()) {
      forwarder_->forward(addr, {"RAFTKV.MEMBER", "LIST"}, kForwardMargin, std::move(done),
                          [this] { return leader_client_addr(); });
      return;
    }
  }
  std::vector<frontend::MemberRow> rows;
  for (const node::MemberView& m : node_.members()) {
    rows.push_back({m.id, m.peer_addr, m.client_addr, m.voter, m.state});
  }
  done(frontend::member_list_reply(std::move(rows)));
}

}  // namespace raftkv::server
