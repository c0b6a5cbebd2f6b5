// A synchronous, deterministic cluster of real Raft cores for scenario tests.
//
// Each node's "disk" is a MemoryStorage that survives crash(); everything else is volatile.
// stabilize() runs every node's Ready loop (persist → send → apply → advance) and delivers
// messages until nothing moves. Links can be cut (partition, isolate, drop_link) and healed.
// Every step checks each core's invariants and that no two nodes applied different entries at
// the same index.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "raft/memory_storage.h"
#include "raft/raft.h"

namespace raftkv::raft::testing {

class TestCluster {
 public:
  using ConfigTweak = std::function<void(Config&)>;
  // kLegacy: Config::voters (unbound members, incarnations 0). kBound: every node has an
  // incarnation (id * 1000 + generation) and the initial members bootstrap (Raft::bootstrap)
  // a membership that records each one's.
  enum class Bootstrap { kLegacy, kBound };

  explicit TestCluster(size_t n, ConfigTweak tweak = {}, uint64_t seed = 1,
                       Bootstrap bootstrap = Bootstrap::kLegacy);

  size_t size() const { return nodes_.size(); }
  Raft& node(uint64_t id) { return *nodes_.at(id - 1).raft; }
  MemoryStorage& storage(uint64_t id) { return *nodes_.at(id - 1).storage; }

  // Drives node `id` to campaign, then stabilizes. Returns whether it became leader.
  bool elect(uint64_t id);
  // Id of the unique leader with the highest term among live nodes, or 0.
  uint64_t leader() const;

  void tick(uint64_t id, int n = 1);
  void tick_all(int n = 1);
  // Runs Ready loops and delivers messages until quiescent. Returns messages delivered.
  size_t stabilize();
  // Proposes on `id` and stabilizes.
  Status propose(uint64_t id, const std::string& data);

  // Network faults: messages between cut nodes are dropped.
  void isolate(uint64_t id);
  void partition(const std::vector<std::vector<uint64_t>>& groups);
  void drop_link(uint64_t from, uint64_t to);  // one-way
  void heal();
  // Drops every message whose type is in `types` (all links) until cleared.
  void drop_types(std::set<MessageType> types) { dropped_types_ = std::move(types); }

  // Crash loses volatile state and messages in flight to/from it; restart rebuilds the core
  // from its storage (state machine restored from the storage's snapshot).
  void crash(uint64_t id);
  void restart(uint64_t id);
  // Adds a node with the next id and no membership of its own: it learns the configuration
  // from the log once the leader adds it (propose a ConfChange). Returns its id.
  uint64_t add_node();
  // Replaces a crashed node's disk with an empty one (it restarts as a fresh node, of a new
  // incarnation when bound, and without bootstrapping).
  void wipe(uint64_t id);
  uint64_t incarnation(uint64_t id) const { return nodes_.at(id - 1).incarnation; }
  // The record for node `id` as the bound bootstrap writes it (its current incarnation).
  MemberInfo member_info(uint64_t id) const;
  bool alive(uint64_t id) const { return nodes_.at(id - 1).raft != nullptr; }

  // Data of the normal entries node `id` applied (leader no-ops skipped), in order.
  std::vector<std::string> applied_data(uint64_t id) const;
  Index applied_index(uint64_t id) const { return nodes_.at(id - 1).applied; }
  std::vector<ReadState> take_read_states(uint64_t id);

  // Snapshot at the node's applied index and compact the log, keeping `keep` entries.
  void snapshot_and_compact(uint64_t id, uint64_t keep = 0);

  // Sees every message between two nodes that no cut or drop_types removed; returning false
  // drops it. Unset: everything is delivered.
  std::function<bool(const Message&)> deliver_filter;

  // Counts of messages delivered, by type, since the last reset.
  std::map<MessageType, size_t> delivered;
  void reset_counts() { delivered.clear(); }

 private:
  struct Node {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<SeededRng> rng;
    std::unique_ptr<Raft> raft;
    Index applied;
    std::vector<std::string> state;  // state machine: data of applied normal entries
    std::vector<ReadState> read_states;
    uint64_t incarnation = 0;  // kBound: id * 1000 + generation
    bool bootstrapped = false;
  };

  Config make_config(uint64_t id) const;
  void process_ready(Node& n);
  void check(const Node& n);
  bool link_cut(uint64_t from, uint64_t to) const;

  ConfigTweak tweak_;
  uint64_t seed_;
  size_t initial_voters_;
  Bootstrap bootstrap_;
  std::vector<Node> nodes_;
  std::vector<Message> inflight_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::set<MessageType> dropped_types_;
  std::map<Index, Entry> applied_everywhere_;  // first entry applied at each index by anyone
};

}  // namespace raftkv::raft::testing
