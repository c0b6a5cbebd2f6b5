// The simulated cluster: N real Raft cores driven by a discrete-event loop over a simulated
// network, disks and clocks, with clients, fault injection and the safety checker.
//
// Everything is drawn from one SeededRng and one event queue ordered by (time, sequence
// number), so a seed replays a run exactly. A run has two phases:
//   fault phase   `steps` events under the chosen faults (loss, duplication, delay spikes,
//                 partitions, crashes with loss of unfinished writes);
//   healed phase  a perfect network, every node restarted; a leader must emerge within
//                 kLeaderDeadlineTicks, a write must be acknowledged, and by the end every
//                 acknowledged write must be applied on every node.
// After every event the cluster checks the affected core (check_invariants) and reports what
// happened to the Checker (see checker.h for the checks).
//
// Membership: the initial members bootstrap (Raft::bootstrap) a membership that records each
// one's incarnation. With membership faults, spare nodes (ids above `nodes`) start empty and
// are added; members are promoted, removed, replaced in joint changes and re-added, and disks
// are wiped (the node restarts empty, a new incarnation, without bootstrapping): whoever leads
// runs the leader's policy (raft/membership_policy.h) every tick, as the node driver does, and
// re-admits it. In the healed phase nodes follow the applied membership: members are running,
// non-members are stopped.
//
// The implementation is split by concern: cluster.cc (event loop, faults, phases),
// driver.cc (one node's Ready handling, disk, apply, snapshots), workload.cc (clients),
// membership.cc (membership faults, wipes, the leader's policy, the healed membership).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "raft/config.h"
#include "raft/raft.h"
#include "sim/checker.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/options.h"
#include "sim/trace.h"

namespace raftkv::sim {

// A node's state machine: the values of the applied non-empty entries, in log order.
// Snapshot data is its encoding: "<index> <term>\n" then one value per line.
struct StateMachine {
  Index applied;      // Invariant: applied <= the core's applied_index()
  Term applied_term;  // term of the entry at `applied`
  std::vector<std::string> values;

  std::string encode() const;
  static bool decode(const std::string& data, StateMachine* out);
};

struct ReadWaiter {
  uint64_t context = 0;
  Index read_index;
  int client = 0;
};

// One simulated server: durable disk plus everything that dies in a crash.
struct SimNode {
  NodeId id;
  bool up = false;
  // Bumped by every crash: events addressed to an older incarnation are void.
  uint64_t incarnation = 0;
  SimTime tick_interval_us = 0;  // this node's clock rate (nodes drift slightly)
  SimDisk disk;                  // survives crashes (not wipes)
  // The data directory's incarnation (raft::Config::incarnation): drawn anew by every wipe.
  uint64_t disk_incarnation = 0;
  bool initial_member = false;  // bootstraps the initial membership while its disk is empty...
  bool wiped = false;           // ...unless the disk was ever wiped (then it is re-admitted)
  bool started_once = false;    // spares are not started until a membership fault adds them
  // The membership the node last applied (kept while it is down; reset by a wipe), and the
  // index it had applied then.
  raft::ConfState conf;
  Index conf_applied;

  // Volatile state (reset by a crash).
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<raft::Raft> core;
  StateMachine sm;
  std::vector<ReadWaiter> read_waiters;
  // Last observed core state, to report changes.
  raft::Role role = raft::Role::kFollower;
  Term term;
  NodeId leader;
  Index commit_checked;  // entries up to here were reported to the checker as committed
};

struct Client {
  enum class State : uint8_t { kIdle, kWriting, kReading };
  int id = 0;
  State state = State::kIdle;
  uint64_t op = 0;  // bumps per operation; a timeout for an older op is void
  NodeId leader_guess;
  NodeId node;  // node the pending operation was sent to
  uint64_t node_incarnation = 0;
  std::string value;          // pending write
  uint64_t read_context = 0;  // pending read
  uint64_t next_value_seq = 0;
};

class Cluster {
 public:
  explicit Cluster(const SimOptions& options);
  ~Cluster();
  SimResult run();

  static constexpr SimTime kBaseTickUs = 10000;
  static constexpr uint64_t kLeaderDeadlineTicks = 150;
  static constexpr uint64_t kHealedClientTicks = 150;
  static constexpr uint64_t kHealedDrainTicks = 60;

 private:
  enum class EventKind : uint8_t {
    kTick,
    kDeliver,
    kDiskDone,
    kSnapshotStatus,  // report a kSnap's fate to its sender
    kUnreachable,     // report an undeliverable message to its sender
    kClientWake,
    kClientTimeout,
    kFault,
    kCrash,    // crash a node (aimed at windows: writes in flight, a fresh leader)
    kIsolate,  // cut a node off from every peer (aimed at a fresh leader)
    kRestart,
  };
  struct Event {
    EventKind kind = EventKind::kTick;
    int node = 0;  // 1-based
    uint64_t incarnation = 0;
    uint64_t id = 0;   // disk write id, client id, peer id
    uint64_t aux = 0;  // client op, sender incarnation, snapshot delivered flag
    raft::Message msg;
  };

  // cluster.cc
  void schedule(SimTime at, Event ev);
  void dispatch(Event& ev);
  void inject_fault();
  void schedule_restart(SimNode& n);
  void heal();
  void check_healed_progress();
  void final_checks();
  bool faults_active() const { return !healed_ && options_.faults != FaultMode::kNone; }
  raft::Config make_config(const SimNode& n) const;

  // membership.cc
  void inject_membership_fault();
  // Crashes `n` and gives it an empty disk of a new incarnation; it restarts later.
  void wipe_node(SimNode& n);
  bool wipe_allowed(const SimNode& n) const;
  // Leader: runs the membership policy and proposes what it returns.
  void run_membership_policy(SimNode& n);
  // The membership of the node that applied the most (the committed one, as far as anyone
  // applied it; nodes that are down count with what they had applied), or null if none did.
  const raft::ConfState* reference_conf() const;
  // Records the membership `n`'s core applied (after start, a conf entry, a snapshot).
  void note_conf(SimNode& n);
  // Every member is recorded with the incarnation its disk has (or unbound).
  bool incarnations_match(const raft::ConfState& conf) const;
  // Some configuration of `conf` lost a majority to wiped disks: nothing can be committed
  // (nor re-admitted) without unsafe recovery.
  bool unrecoverable(const raft::ConfState& conf) const;
  // Healed phase: members run, non-members are stopped (decommissioned).
  void follow_membership();
  SimNode* current_leader();
  raft::MemberInfo member_info(const SimNode& n) const;
  bool is_member(NodeId id) const;

  // driver.cc
  SimNode& node(NodeId id) { return nodes_[id.value() - 1]; }
  void start_node(SimNode& n);
  void crash_node(SimNode& n);
  void on_tick(SimNode& n);
  void on_deliver(Event& ev);
  void on_disk_done(SimNode& n, uint64_t write_id);
  // Runs the Ready loop of `n` until the core has nothing more to hand out.
  void process_ready(SimNode& n);
  // Reports state changes of `n`'s core to the checker and runs check_invariants().
  void observe(SimNode& n);
  void maybe_disrupt_new_leader(SimNode& n);
  void send(SimNode& from, raft::Message m);
  void step_local(SimNode& n, raft::Message m);
  void apply(SimNode& n, const std::vector<raft::Entry>& entries);
  void restore_snapshot(SimNode& n, const raft::Snapshot& snap);
  void serve_reads(SimNode& n);
  void maybe_snapshot(SimNode& n);

  // workload.cc
  void on_client_wake(Client& c);
  void on_client_timeout(Client& c, uint64_t op);
  void on_write_applied(SimNode& n, const std::string& value);
  void on_read_state(SimNode& n, const raft::ReadState& rs);
  void finish_client_op(Client& c, SimTime think_us);
  NodeId pick_node(Client& c);

  SimOptions options_;
  SeededRng rng_;
  Trace trace_;
  Checker checker_;
  Network network_;
  std::vector<SimNode> nodes_;
  std::vector<Client> clients_;
  SimStats stats_;

  // Per-run knobs drawn from the seed.
  uint32_t election_ticks_ = 10;
  uint32_t heartbeat_ticks_ = 1;
  uint64_t max_msg_bytes_ = 0;
  uint32_t max_inflight_msgs_ = 0;
  uint64_t max_uncommitted_bytes_ = 0;
  bool pre_vote_ = true;
  bool check_quorum_ = true;
  bool lease_reads_ = false;
  bool auto_promote_ = true;  // membership policy: promote every caught-up learner
  int spares_ = 0;            // node ids above options_.nodes, not members at first
  raft::ConfState initial_conf_;
  // Nodes a leader's policy re-admitted as learners (promoted even without auto_promote_).
  std::set<NodeId> readmitted_;
  bool unrecoverable_ = false;  // the healed phase found the membership unrecoverable
  Index last_conf_counted_;     // conf entries up to here are counted in stats_
  // (voter, candidate, term) -> the incarnation the vote request delivered to the voter named.
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, uint64_t> vote_asks_;
  uint64_t snapshot_every_ = 0;  // entries applied beyond the snapshot before taking another
  uint64_t snapshot_keep_ = 0;   // entries kept in the log behind a new snapshot
  SimTime max_disk_latency_us_ = 0;

  std::map<std::pair<SimTime, uint64_t>, Event> events_;
  uint64_t next_event_seq_ = 0;
  SimTime now_ = 0;
  uint64_t fault_steps_done_ = 0;

  bool healed_ = false;
  SimTime heal_time_ = 0;
  bool leader_after_heal_ = false;
  bool clients_stopped_ = false;
  uint64_t healed_acks_ = 0;

  uint64_t next_read_context_ = 1;
  // Pending write value -> client id.
  std::unordered_map<std::string, int> pending_values_;
  std::vector<std::string> acked_values_;
  bool bug_planted_ = false;
};

}  // namespace raftkv::sim
