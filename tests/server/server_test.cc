// Whole raftkv nodes (server::Server: transport, node, RESP frontend, admin) in one process,
// talking over loopback, with their io_contexts reachable so that a test can block one side.
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include <filesystem>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "client/connection.h"
#include "node/node.h"
#include "resp/reply.h"
#include "server/admin_http.h"
#include "server/server.h"

namespace raftkv::server {
namespace {

using namespace std::chrono_literals;

// Waits for `cond` with a deadline (event wait, not a timing assumption).
template <typename F>
bool wait_until(F cond, std::chrono::milliseconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

// Loopback ports that were free a moment ago (all bound at once, so they are distinct).
std::vector<uint16_t> free_ports(size_t n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

struct TempDir {
  TempDir() {
    std::string t = "/tmp/raftkv-server-test-XXXXXX";
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

// Occupies every thread of an io_context with a handler that waits for release(): nothing
// else queued on that context runs meanwhile. Releases on destruction (so a failed assertion
// never leaves the threads blocked).
class IoBlocker {
 public:
  IoBlocker(asio::io_context& io, uint32_t threads) : threads_(threads) {
    const std::shared_future<void> released = release_.get_future().share();
    for (uint32_t i = 0; i < threads; ++i) {
      asio::post(io, [this, released] {
        ++blocked_;
        released.wait();
      });
    }
  }
  ~IoBlocker() { release(); }
  // True once every thread is inside a blocking handler.
  bool wait_all_blocked() {
    return wait_until([&] { return blocked_.load() == threads_; });
  }
  void release() {
    if (!released_) release_.set_value();
    released_ = true;
  }

 private:
  const uint32_t threads_;
  std::promise<void> release_;
  bool released_ = false;
  std::atomic<uint32_t> blocked_{0};
};

// Three nodes with fast ticks: an election timeout is election_ticks * tick_ms .. twice that.
class LocalCluster {
 public:
  static constexpr uint32_t kTickMs = 10;
  static constexpr uint32_t kElectionTicks = 50;
  static constexpr uint32_t kClientIoThreads = 2;

  LocalCluster() {
    LogLevel level = LogLevel::kWarn;
    if (const char* env = std::getenv("RAFTKV_LOG")) parse_log_level(env, &level);
    set_log_level(level);
    const std::vector<uint16_t> ports = free_ports(2 * kNodes);
    std::map<NodeId, std::string> peers;
    std::map<NodeId, std::string> clients;
    for (uint64_t id = 1; id <= kNodes; ++id) {
      peers[NodeId(id)] = fmt::format("127.0.0.1:{}", ports[id - 1]);
      clients[NodeId(id)] = fmt::format("127.0.0.1:{}", ports[kNodes + id - 1]);
    }
    for (uint64_t id = 1; id <= kNodes; ++id) {
      ServerConfig cfg;
      cfg.id = NodeId(id);
      cfg.peer_addr = peers[cfg.id];
      cfg.client_addr = clients[cfg.id];
      cfg.peers = peers;
      cfg.clients = clients;
      cfg.data_dir = dirs_[id - 1].path;
      cfg.tick_ms = kTickMs;
      cfg.election_ticks = kElectionTicks;
      cfg.heartbeat_ticks = 1;
      cfg.io_threads = kClientIoThreads;
      auto server = Server::start(cfg);
      EXPECT_TRUE(server.is_ok()) << server.status().to_string();
      if (server.is_ok()) servers_[id - 1] = std::move(*server);
    }
  }
  ~LocalCluster() {
    for (auto& s : servers_) {
      if (s) s->stop();
    }
  }

  Server& server(uint64_t id) { return *servers_[id - 1]; }
  node::NodeStatus status(uint64_t id) { return server(id).node().status(); }
  uint64_t wait_leader() {
    uint64_t leader = 0;
    EXPECT_TRUE(wait_until([&] {
      for (uint64_t id = 1; id <= kNodes; ++id) {
        if (servers_[id - 1] && status(id).role == raft::Role::kLeader) leader = id;
      }
      return leader != 0;
    })) << "no leader elected";
    return leader;
  }
  // A write straight into the node (no client connection); nullopt when it has no outcome
  // within `limit`.
  std::optional<Result<kv::Reply>> node_write(uint64_t id, std::vector<std::string> args,
                                              std::chrono::milliseconds limit) {
    auto done = std::make_shared<std::promise<Result<kv::Reply>>>();
    auto outcome = done->get_future();
    server(id).node().write(std::move(args), {},
                            [done](Result<kv::Reply> r) { done->set_value(std::move(r)); });
    if (outcome.wait_for(limit) != std::future_status::ready) return std::nullopt;
    return outcome.get();
  }
  std::unique_ptr<client::Connection> connect(uint64_t id) {
    auto c = client::Connection::open({"127.0.0.1", server(id).client_port()},
                                      std::chrono::steady_clock::now() + 5s);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    return c.is_ok() ? std::move(*c) : nullptr;
  }

  static constexpr size_t kNodes = 3;

 private:
  TempDir dirs_[kNodes];
  std::unique_ptr<Server> servers_[kNodes];
};

// Issue 11: the raft strand, its tick timer and the transport shared one io_context with the
// client connections, so anything that held the client threads (a flood of completions, a slow
// handler) stopped ticks and heartbeats, and the followers deposed a healthy leader.
TEST(ServerIsolation, BlockedClientIoThreadsDelayNeitherTicksNorHeartbeats) {
  LocalCluster c;
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  auto first = c.node_write(leader, {"SET", "before", "1"}, 10s);
  ASSERT_TRUE(first && first->is_ok());
  std::map<uint64_t, node::NodeStatus> before;
  for (uint64_t id = 1; id <= LocalCluster::kNodes; ++id) before[id] = c.status(id);

  // Every client io thread of the leader and of one follower is held: none of their connection
  // handlers can run. (The other follower stays free: were the raft side held too, it would
  // time out and campaign.)
  const uint64_t held_follower = leader % LocalCluster::kNodes + 1;
  std::vector<std::unique_ptr<IoBlocker>> blockers;
  for (uint64_t id : {leader, held_follower}) {
    blockers.push_back(
        std::make_unique<IoBlocker>(c.server(id).client_io(), LocalCluster::kClientIoThreads));
  }
  for (auto& b : blockers) ASSERT_TRUE(b->wait_all_blocked());

  // Held for twice the longest election timeout, while writes keep committing through the
  // leader's node (bounded in count and time).
  const auto hold =
      2 * std::chrono::milliseconds(2 * LocalCluster::kElectionTicks * LocalCluster::kTickMs);
  const auto hold_until = std::chrono::steady_clock::now() + hold;
  int writes = 0;
  std::optional<Result<kv::Reply>> r;
  while (std::chrono::steady_clock::now() < hold_until && writes < 5000) {
    r = c.node_write(leader, {"SET", fmt::format("k{}", writes), "v"}, hold);
    if (!r || !r->is_ok()) break;
    ++writes;
  }
  EXPECT_TRUE(r.has_value()) << "write " << writes << " had no outcome with client io held";
  if (r) {
    EXPECT_TRUE(r->is_ok()) << r->status().to_string();
  }
  for (uint64_t id = 1; id <= LocalCluster::kNodes; ++id) {
    const node::NodeStatus now = c.status(id);
    EXPECT_EQ(now.elections_started, before[id].elections_started) << "node " << id;
    EXPECT_EQ(now.term, before[id].term) << "node " << id;
    EXPECT_EQ(now.leader, NodeId(leader)) << "node " << id;
  }

  // Released, the client side serves again.
  for (auto& b : blockers) b->release();
  auto conn = c.connect(leader);
  ASSERT_NE(conn, nullptr);
  auto reply = conn->call({"GET", "before"}, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(reply.is_ok()) << reply.status().to_string();
  EXPECT_EQ(reply->text, "1");
}

// Issue 11: INFO keyspace and /status took the key count from a copy refreshed once per tick,
// so right after an acknowledged SET they still showed the old count; and expires was always 0.
TEST(ServerStatus, InfoKeyspaceAndStatusShowAnAcknowledgedWriteAtOnce) {
  LocalCluster c;
  const uint64_t leader = c.wait_leader();
  ASSERT_NE(leader, 0u);
  auto conn = c.connect(leader);
  ASSERT_NE(conn, nullptr);
  auto call = [&](std::vector<std::string> args) {
    auto r = conn->call(args, std::chrono::steady_clock::now() + 10s);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : resp::Reply{};
  };
  const auto status_json = [&] { return c.server(leader).admin().status_json(); };
  for (int n = 1; n <= 20; ++n) {
    const bool with_ttl = n % 2 == 0;
    std::vector<std::string> set = {"SET", fmt::format("k{}", n), "v"};
    if (with_ttl) set.insert(set.end(), {"EX", "1000"});
    ASSERT_EQ(call(set).text, "OK");
    const std::string keyspace = call({"INFO", "keyspace"}).text;
    EXPECT_NE(keyspace.find(fmt::format("db0:keys={},expires={},", n, n / 2)), std::string::npos)
        << "after SET " << n << ": " << keyspace;
    const nlohmann::json status = nlohmann::json::parse(status_json());
    EXPECT_EQ(status["keys"], n) << "after SET " << n << ": " << status.dump();
    EXPECT_EQ(status["keys_with_ttl"], n / 2) << "after SET " << n << ": " << status.dump();
  }
  EXPECT_EQ(call({"DBSIZE"}).integer, 20);
}

}  // namespace
}  // namespace raftkv::server
