#include "server/node_backend.h"

#include <cctype>

namespace raftkv::server {

NodeBackend::NodeBackend(node::GroupNode& node, kv::CommandLimits limits)
    : node_(node), limits_(limits) {
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
  for (NodeId v : st.conf.voters) out.members.push_back({v, node_.client_addr(v), true});
  for (NodeId l : st.conf.learners) out.members.push_back({l, node_.client_addr(l), false});
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
  return out;
}

void NodeBackend::change_membership(frontend::MemberChange, frontend::Completion done) {
  done(Status(ErrorCode::kInvalidArgument, "membership changes are not supported by this build"));
}

void NodeBackend::transfer_leadership(NodeId, frontend::Completion done) {
  done(Status(ErrorCode::kInvalidArgument, "RAFTKV.TRANSFER is not supported by this build"));
}

void NodeBackend::list_members(frontend::Completion done) {
  done(Status(ErrorCode::kInvalidArgument, "RAFTKV.MEMBER LIST is not supported by this build"));
}

}  // namespace raftkv::server
