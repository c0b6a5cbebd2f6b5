// GroupNodes in one process over real loopback transports, each with its own data dir and
// incarnation (a wiped dir gets a new one), started the way raftkv-server starts them: the
// initial members bootstrap from their addresses (NodeOptions::initial_members), later nodes
// join (NodeOptions::join) and are added by a membership change.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <asio.hpp>

#include "node/node.h"
#include "transport/transport.h"

namespace raftkv::node::testing {

using Strings = std::vector<std::string>;
using namespace std::chrono_literals;

// Waits for `cond` with a deadline (event wait, not a timing assumption).
template <typename F>
bool wait_until(F cond, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

inline bool contains(const std::vector<NodeId>& v, uint64_t id) {
  return std::find(v.begin(), v.end(), NodeId(id)) != v.end();
}

class MemberCluster {
 public:
  struct Member {
    std::string dir;
    uint64_t incarnation = 0;
    uint16_t port = 0;
    std::unique_ptr<transport::Transport> transport;
    std::unique_ptr<GroupNode> node;
  };

  // Nodes 1..initial are the initial members; none is started.
  explicit MemberCluster(uint64_t initial, std::function<void(NodeOptions&)> tweak = {})
      : initial_(initial), tweak_(std::move(tweak)) {
    LogLevel level = LogLevel::kWarn;
    if (const char* env = std::getenv("RAFTKV_LOG")) parse_log_level(env, &level);
    set_log_level(level);
    work_.emplace(io_.get_executor());
    for (int t = 0; t < 2; ++t) threads_.emplace_back([this] { io_.run(); });
    for (uint64_t id = 1; id <= initial; ++id) listen(id);
  }
  ~MemberCluster() {
    for (auto& [id, m] : members_) stop(id);
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    for (auto& [id, m] : members_) std::filesystem::remove_all(m.dir);
  }

  std::string peer_addr(uint64_t id) { return fmt::format("127.0.0.1:{}", members_.at(id).port); }
  static std::string client_addr(uint64_t id) { return fmt::format("127.0.0.1:{}", 17000 + id); }

  // Starts node `id`'s transport (a new node gets a data dir, an incarnation and a port).
  void listen(uint64_t id) {
    Member* mp;
    {
      std::lock_guard lock(mu_);  // the transports' handlers look members up concurrently
      mp = &members_[id];
    }
    Member& m = *mp;
    if (m.dir.empty()) wipe(id);
    transport::TransportOptions o;
    o.self = NodeId(id);
    o.cluster_id = 42;
    o.incarnation = m.incarnation;
    o.listen_addr = fmt::format("127.0.0.1:{}", m.port);
    o.backoff_initial = 10ms;
    o.backoff_max = 200ms;
    transport::TransportHandler h;
    h.on_message = [this, id](GroupId, raft::Message msg) {
      std::lock_guard lock(mu_);
      auto it = members_.find(id);
      if (it != members_.end() && it->second.node) it->second.node->deliver(std::move(msg));
    };
    h.on_unreachable = [this, id](NodeId peer) {
      std::lock_guard lock(mu_);
      auto it = members_.find(id);
      if (it != members_.end() && it->second.node) it->second.node->report_unreachable(peer);
    };
    // A transport stopped from another thread releases its port shortly after: retry.
    Status started;
    ASSERT_TRUE(wait_until([&] {
      m.transport =
          std::make_unique<transport::Transport>(io_, o, h, std::make_unique<SeededRng>(id));
      started = m.transport->start();
      return started.is_ok();
    })) << started.to_string();
    m.port = m.transport->listen_port();
  }

  // Opens and starts node `id`: an initial member bootstraps from the others' addresses; a
  // joiner knows the peers `seeds` (what --join learns from RAFTKV.MEMBER LIST).
  void start(uint64_t id, std::vector<uint64_t> seeds = {},
             std::function<void(NodeOptions&)> extra = {}) {
    Member& m = members_.at(id);
    if (!m.transport) listen(id);
    NodeOptions o;
    o.id = NodeId(id);
    o.incarnation = m.incarnation;
    o.data_dir = m.dir;
    o.peer_addr = peer_addr(id);
    o.client_addr = client_addr(id);
    if (id <= initial_) {
      for (uint64_t p = 1; p <= initial_; ++p) {
        o.initial_members[NodeId(p)] = raft::MemberInfo{0, peer_addr(p), client_addr(p)};
        if (p != id) m.transport->add_peer(NodeId(p), peer_addr(p));
      }
    } else {
      o.join = true;
      for (uint64_t p : seeds) m.transport->add_peer(NodeId(p), peer_addr(p));
    }
    o.tick_interval = 10ms;
    o.snapshot_keep_entries = 10;
    o.request_timeout = 10s;
    o.membership_timeout = 20s;
    if (tweak_) tweak_(o);
    if (extra) extra(o);
    auto node = GroupNode::open(io_, o, m.transport.get());
    ASSERT_TRUE(node.is_ok()) << node.status().to_string();
    if ((*node)->initialized()) m.transport->set_initialized();
    (*node)->start();
    std::lock_guard lock(mu_);
    m.node = std::move(*node);
  }
  void start_all() {
    for (uint64_t id = 1; id <= initial_; ++id) start(id);
  }
  // Stops node `id` and its transport (its data dir stays).
  void stop(uint64_t id) {
    Member& m = members_.at(id);
    std::unique_ptr<GroupNode> node;
    {
      std::lock_guard lock(mu_);
      node = std::move(m.node);
    }
    if (node) node->stop();
    if (m.transport) m.transport->stop();
    m.transport.reset();
  }
  // A new, empty data dir with a new incarnation (the node must be stopped).
  void wipe(uint64_t id) {
    Member& m = members_.at(id);
    if (!m.dir.empty()) std::filesystem::remove_all(m.dir);
    std::string t = "/tmp/raftkv-member-test-XXXXXX";
    m.dir = ::mkdtemp(t.data());
    m.incarnation = std::random_device{}() | 1;
  }

  bool running(uint64_t id) {
    auto it = members_.find(id);
    return it != members_.end() && it->second.node != nullptr;
  }
  GroupNode& node(uint64_t id) { return *members_.at(id).node; }
  uint64_t incarnation(uint64_t id) { return members_.at(id).incarnation; }
  transport::Transport& transport(uint64_t id) { return *members_.at(id).transport; }

  uint64_t leader() {
    for (auto& [id, m] : members_) {
      if (m.node && m.node->status().role == raft::Role::kLeader) return id;
    }
    return 0;
  }
  uint64_t wait_leader() {
    uint64_t l = 0;
    EXPECT_TRUE(wait_until([&] { return (l = leader()) != 0; })) << "no leader elected";
    return l;
  }

  Result<kv::Reply> write(uint64_t id, Strings args) {
    std::promise<Result<kv::Reply>> p;
    auto f = p.get_future();
    node(id).write(std::move(args), {}, [&p](Result<kv::Reply> r) { p.set_value(std::move(r)); });
    return f.get();
  }
  Result<kv::Reply> read(uint64_t id, Strings args) {
    std::promise<Result<kv::Reply>> p;
    auto f = p.get_future();
    node(id).read(std::move(args), ReadOrder::kReadIndex,
                  [&p](Result<kv::Reply> r) { p.set_value(std::move(r)); });
    return f.get();
  }
  // Writes through whichever node leads, retrying across leader changes.
  void must_write(Strings args) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      const uint64_t l = wait_leader();
      auto r = write(l, args);
      if (r.is_ok()) {
        ASSERT_FALSE(r->is_error()) << r->text;
        return;
      }
    }
    FAIL() << "write never succeeded";
  }
  Status change(uint64_t at, MembershipRequest req) {
    std::promise<Status> p;
    auto f = p.get_future();
    node(at).change_membership(std::move(req), [&p](Status s) { p.set_value(std::move(s)); });
    return f.get();
  }
  Status transfer(uint64_t at, uint64_t to) {
    std::promise<Status> p;
    auto f = p.get_future();
    node(at).transfer_leadership(NodeId(to), [&p](Status s) { p.set_value(std::move(s)); });
    return f.get();
  }
  raft::ConfState conf(uint64_t id) { return node(id).status().conf; }
  // Until the leader's membership has exactly `voters` as voters (not joint), each caught up.
  bool wait_voters(std::vector<uint64_t> voters, std::chrono::seconds limit = 30s) {
    std::vector<NodeId> want;
    for (uint64_t v : voters) want.push_back(NodeId(v));
    std::sort(want.begin(), want.end());
    return wait_until(
        [&] {
          const uint64_t l = leader();
          if (l == 0) return false;
          const NodeStatus st = node(l).status();
          if (st.conf.voters != want || st.conf.joint() || !st.conf.learners.empty()) return false;
          for (const MemberView& m : st.members) {
            if (m.state != "caught-up") return false;
          }
          return true;
        },
        limit);
  }

 private:
  const uint64_t initial_;
  std::function<void(NodeOptions&)> tweak_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<uint64_t, Member> members_;
};

}  // namespace raftkv::node::testing
