// Clients: each runs one operation at a time, a write of a globally unique value or a
// ReadIndex read, against the node it believes leads (writes) or any node (reads; followers
// forward them). A write is acknowledged when the node it was proposed to applies it; an
// operation that takes too long is abandoned (its outcome is then unknown, and claims
// nothing). Acknowledged writes must survive every fault (checked at the end of the run).
#include <fmt/format.h>

#include "sim/cluster.h"

namespace raftkv::sim {

namespace {
constexpr uint64_t kOpTimeoutTicks = 40;
}  // namespace

NodeId Cluster::pick_node(Client& c) {
  if (!c.leader_guess.is_none() && rng_.chance(0.9)) return c.leader_guess;
  return NodeId(rng_.range(1, nodes_.size()));
}

void Cluster::finish_client_op(Client& c, SimTime think_us) {
  c.state = Client::State::kIdle;
  ++c.op;
  schedule(now_ + 1 + think_us,
           Event{.kind = EventKind::kClientWake, .id = static_cast<uint64_t>(c.id)});
}

void Cluster::on_client_wake(Client& c) {
  if (c.state != Client::State::kIdle || clients_stopped_) return;
  const NodeId target = pick_node(c);
  SimNode& n = node(target);
  const SimTime retry_us = rng_.range(kBaseTickUs / 4, 2 * kBaseTickUs);
  if (!n.up) {
    c.leader_guess = NodeId();
    schedule(now_ + retry_us,
             Event{.kind = EventKind::kClientWake, .id = static_cast<uint64_t>(c.id)});
    return;
  }
  ++c.op;
  c.node = n.id;
  c.node_incarnation = n.incarnation;
  Status s;
  const bool write = rng_.chance(0.7);
  if (write) {
    c.value = fmt::format("c{}.{}", c.id, ++c.next_value_seq);
    s = n.core->propose(c.value);
    trace_.log(now_, "client {} propose \"{}\" at n{}: {}", c.id, c.value, n.id, s.to_string());
  } else {
    c.read_context = next_read_context_++;
    checker_.on_read_invoked(c.read_context);
    s = n.core->read_index(c.read_context);
    trace_.log(now_, "client {} read {} at n{} (commit watermark {}): {}", c.id, c.read_context,
               n.id, checker_.max_commit(), s.to_string());
    if (!s.is_ok()) checker_.on_read_abandoned(c.read_context);
  }
  observe(n);
  if (!s.is_ok()) {
    // Not the leader (or a backlog cap): follow its hint, or try another node.
    const NodeId hint = n.core ? n.core->leader() : NodeId();
    c.leader_guess = hint != n.id ? hint : NodeId();
    schedule(now_ + retry_us,
             Event{.kind = EventKind::kClientWake, .id = static_cast<uint64_t>(c.id)});
    process_ready(n);
    return;
  }
  if (write) {
    c.state = Client::State::kWriting;
    pending_values_[c.value] = c.id;
    c.leader_guess = n.id;
  } else {
    c.state = Client::State::kReading;
  }
  schedule(
      now_ + kOpTimeoutTicks * kBaseTickUs,
      Event{.kind = EventKind::kClientTimeout, .id = static_cast<uint64_t>(c.id), .aux = c.op});
  process_ready(n);
}

void Cluster::on_client_timeout(Client& c, uint64_t op) {
  if (c.op != op || c.state == Client::State::kIdle) return;
  if (c.state == Client::State::kWriting) {
    trace_.log(now_, "client {} gives up on write \"{}\" (outcome unknown)", c.id, c.value);
    pending_values_.erase(c.value);
  } else {
    trace_.log(now_, "client {} gives up on read {}", c.id, c.read_context);
    checker_.on_read_abandoned(c.read_context);
  }
  c.leader_guess = NodeId();
  finish_client_op(c, 0);
}

void Cluster::on_write_applied(SimNode& n, const std::string& value) {
  auto it = pending_values_.find(value);
  if (it == pending_values_.end()) return;
  Client& c = clients_[it->second - 1];
  if (c.state != Client::State::kWriting || c.value != value || c.node != n.id ||
      c.node_incarnation != n.incarnation) {
    return;  // applied elsewhere first; the ack comes from the node it was proposed to
  }
  pending_values_.erase(it);
  ++stats_.acked_writes;
  if (healed_) ++healed_acks_;
  acked_values_.push_back(value);
  trace_.log(now_, "client {} write \"{}\" acknowledged by n{} at index {}", c.id, value, n.id,
             n.sm.applied);
  finish_client_op(c, rng_.range(0, 3 * kBaseTickUs));
}

void Cluster::on_read_state(SimNode& n, const raft::ReadState& rs) {
  Index index = rs.index;
  if (options_.bug == InjectedBug::kStaleRead) index = Index(0);
  checker_.on_read_index(n.id, rs.context, index);
  trace_.log(now_, "n{} read state ctx={} index={}", n.id, rs.context, rs.index);
  for (Client& c : clients_) {
    if (c.state != Client::State::kReading || c.read_context != rs.context) continue;
    if (c.node != n.id) {
      checker_.fail(fmt::format("read {} was requested at n{} but its read state came back at n{}",
                                rs.context, c.node, n.id));
      return;
    }
    n.read_waiters.push_back(ReadWaiter{rs.context, index, c.id});
  }
}

}  // namespace raftkv::sim
