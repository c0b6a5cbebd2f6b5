#include "test_cluster.h"

#include <algorithm>
#include <cstdlib>

namespace raftkv::raft::testing {

namespace {
// State machine snapshot encoding: entries joined with '\n' (test data never contains '\n').
std::string encode_state(const std::vector<std::string>& state) {
  std::string out;
  for (const auto& s : state) out += s + "\n";
  return out;
}
std::vector<std::string> decode_state(const std::string& data) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    out.push_back(data.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}
}  // namespace

TestCluster::TestCluster(size_t n, ConfigTweak tweak, uint64_t seed, Bootstrap bootstrap)
    : tweak_(std::move(tweak)), seed_(seed), initial_voters_(n), bootstrap_(bootstrap), nodes_(n) {
  // Quiet by default; RAFTKV_LOG=debug (or info, trace) shows the cores' log lines.
  LogLevel level = LogLevel::kWarn;
  if (const char* env = std::getenv("RAFTKV_LOG")) parse_log_level(env, &level);
  set_log_level(level);
  for (uint64_t id = 1; id <= n; ++id) {
    Node& node = nodes_[id - 1];
    node.storage = std::make_unique<MemoryStorage>();
    if (bootstrap_ == Bootstrap::kBound) node.incarnation = id * 1000 + 1;
  }
  for (uint64_t id = 1; id <= n; ++id) restart(id);
}

MemberInfo TestCluster::member_info(uint64_t id) const {
  return MemberInfo{incarnation(id), fmt::format("n{}:7000", id), fmt::format("n{}:6379", id)};
}

void TestCluster::wipe(uint64_t id) {
  Node& n = nodes_.at(id - 1);
  n.storage = std::make_unique<MemoryStorage>();
  if (bootstrap_ == Bootstrap::kBound) ++n.incarnation;
  n.bootstrapped = true;  // a wiped node never bootstraps again: it is re-admitted
}

Config TestCluster::make_config(uint64_t id) const {
  Config c;
  c.id = NodeId(id);
  c.incarnation = nodes_.at(id - 1).incarnation;
  if (id <= initial_voters_ && bootstrap_ == Bootstrap::kLegacy) {
    for (uint64_t v = 1; v <= initial_voters_; ++v) c.voters.push_back(NodeId(v));
  }
  c.election_ticks = 10;
  c.heartbeat_ticks = 1;
  if (tweak_) tweak_(c);
  return c;
}

void TestCluster::restart(uint64_t id) {
  Node& n = nodes_.at(id - 1);
  auto snap = n.storage->snapshot();
  n.state = decode_state((*snap)->data);
  n.applied = (*snap)->meta.index;
  Config c = make_config(id);
  c.applied = n.applied;
  n.rng = std::make_unique<SeededRng>(seed_ * 1000 + id);
  auto r = Raft::create(c, n.storage.get(), n.rng.get());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  n.raft = std::move(*r);
  n.read_states.clear();
  if (bootstrap_ == Bootstrap::kBound && id <= initial_voters_ && !n.bootstrapped) {
    ConfState conf;
    for (uint64_t v = 1; v <= initial_voters_; ++v) {
      conf.voters.push_back(NodeId(v));
      conf.members[NodeId(v)] = member_info(v);
    }
    ASSERT_TRUE(n.raft->bootstrap(conf).is_ok());
  }
  n.bootstrapped = true;
}

uint64_t TestCluster::add_node() {
  nodes_.emplace_back();
  nodes_.back().storage = std::make_unique<MemoryStorage>();
  const uint64_t id = nodes_.size();
  if (bootstrap_ == Bootstrap::kBound) nodes_.back().incarnation = id * 1000 + 1;
  restart(id);
  return id;
}

void TestCluster::crash(uint64_t id) {
  nodes_.at(id - 1).raft.reset();
  std::erase_if(inflight_,
                [&](const Message& m) { return m.to.value() == id || m.from.value() == id; });
}

bool TestCluster::elect(uint64_t id) {
  stabilize();  // apply anything committed (e.g. the bootstrap membership) first
  EXPECT_TRUE(node(id).campaign().is_ok());
  stabilize();
  return node(id).role() == Role::kLeader;
}

uint64_t TestCluster::leader() const {
  uint64_t best = 0;
  Term best_term;
  for (uint64_t id = 1; id <= nodes_.size(); ++id) {
    const auto& r = nodes_[id - 1].raft;
    if (r && r->role() == Role::kLeader && r->term() >= best_term) {
      best = id;
      best_term = r->term();
    }
  }
  return best;
}

void TestCluster::tick(uint64_t id, int n) {
  for (int i = 0; i < n; ++i) {
    if (alive(id)) node(id).tick();
  }
}

void TestCluster::tick_all(int n) {
  for (int i = 0; i < n; ++i) {
    for (uint64_t id = 1; id <= nodes_.size(); ++id) tick(id);
    stabilize();
  }
}

bool TestCluster::link_cut(uint64_t from, uint64_t to) const {
  return cut_.count({from, to}) > 0;
}

void TestCluster::process_ready(Node& n) {
  Ready rd = n.raft->ready();
  // 1. persist
  if (rd.snapshot) {
    ASSERT_TRUE(n.storage->apply_snapshot(rd.snapshot).is_ok());
    n.state = decode_state(rd.snapshot->data);
    n.applied = rd.snapshot->meta.index;
  }
  ASSERT_TRUE(n.storage->append(rd.entries).is_ok());
  if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
  // 2. send (after-persist messages to self are stepped back in)
  for (auto& m : rd.messages) inflight_.push_back(std::move(m));
  for (auto& m : rd.messages_after_persist) inflight_.push_back(std::move(m));
  // 3. apply
  for (const Entry& e : rd.committed_entries) {
    ASSERT_EQ(e.index, n.applied + 1) << "applied out of order";
    n.applied = e.index;
    auto [it, inserted] = applied_everywhere_.emplace(e.index, e);
    ASSERT_TRUE(inserted || it->second == e)
        << "two nodes applied different entries at index " << e.index;
    if (e.type == EntryType::kNormal && !e.data.empty()) n.state.push_back(e.data.str());
    if (e.type == EntryType::kConfChange)
      (void)n.raft->apply_conf_change(*ConfChange::decode(e.data));
  }
  for (auto& rs : rd.read_states) n.read_states.push_back(rs);
  n.raft->advance(rd);
}

void TestCluster::check(const Node& n) {
  Status s = n.raft->check_invariants();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
}

size_t TestCluster::stabilize() {
  size_t delivered_total = 0;
  for (int round = 0; round < 10000; ++round) {
    bool moved = false;
    for (auto& n : nodes_) {
      if (n.raft && n.raft->has_ready()) {
        process_ready(n);
        check(n);
        moved = true;
      }
    }
    std::vector<Message> batch;
    batch.swap(inflight_);
    for (auto& m : batch) {
      const uint64_t from = m.from.value(), to = m.to.value();
      if (!alive(to)) continue;
      if (from != to && (link_cut(from, to) || dropped_types_.count(m.type))) continue;
      if (from != to && deliver_filter && !deliver_filter(m)) continue;
      if (from != to) ++delivered[m.type];
      ++delivered_total;
      (void)node(to).step(std::move(m));
      check(nodes_[to - 1]);
      moved = true;
    }
    if (!moved) return delivered_total;
  }
  ADD_FAILURE() << "cluster did not stabilize";
  return delivered_total;
}

Status TestCluster::propose(uint64_t id, const std::string& data) {
  Status s = node(id).propose(data);
  stabilize();
  return s;
}

void TestCluster::isolate(uint64_t id) {
  for (uint64_t other = 1; other <= nodes_.size(); ++other) {
    if (other == id) continue;
    cut_.insert({id, other});
    cut_.insert({other, id});
  }
}

void TestCluster::partition(const std::vector<std::vector<uint64_t>>& groups) {
  for (size_t a = 0; a < groups.size(); ++a) {
    for (size_t b = 0; b < groups.size(); ++b) {
      if (a == b) continue;
      for (uint64_t x : groups[a]) {
        for (uint64_t y : groups[b]) cut_.insert({x, y});
      }
    }
  }
}

void TestCluster::drop_link(uint64_t from, uint64_t to) {
  cut_.insert({from, to});
}

void TestCluster::heal() {
  cut_.clear();
  dropped_types_.clear();
}

std::vector<std::string> TestCluster::applied_data(uint64_t id) const {
  return nodes_.at(id - 1).state;
}

std::vector<ReadState> TestCluster::take_read_states(uint64_t id) {
  std::vector<ReadState> out;
  out.swap(nodes_.at(id - 1).read_states);
  return out;
}

void TestCluster::snapshot_and_compact(uint64_t id, uint64_t keep) {
  Node& n = nodes_.at(id - 1);
  ASSERT_TRUE(
      n.storage->create_snapshot(n.applied, n.raft->conf_state(), encode_state(n.state)).is_ok());
  if (n.applied.value() > keep) {
    ASSERT_TRUE(n.storage->compact(n.applied - keep).is_ok());
  }
}

}  // namespace raftkv::raft::testing
