// Whole raftkv nodes in one process (server::Server) for issue 12's server wiring: a follower
// relays RAFTKV.MEMBER and RAFTKV.TRANSFER to the leader and answers with its reply; a node
// started with --join is added and promoted; REMOVE of the leader answers +OK once committed.
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "client/connection.h"
#include "node/node.h"
#include "resp/reply.h"
#include "server/server.h"

namespace raftkv::server {
namespace {

using namespace std::chrono_literals;

template <typename F>
bool wait_until(F cond, std::chrono::milliseconds limit = 30s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

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

// Up to kMax servers: 1..3 bootstrap from --peers, later ones join.
class Servers {
 public:
  static constexpr uint64_t kInitial = 3, kMax = 5;

  Servers() {
    LogLevel level = LogLevel::kWarn;
    if (const char* env = std::getenv("RAFTKV_LOG")) parse_log_level(env, &level);
    set_log_level(level);
    const std::vector<uint16_t> ports = free_ports(2 * kMax);
    for (uint64_t id = 1; id <= kMax; ++id) {
      peer_[id] = fmt::format("127.0.0.1:{}", ports[id - 1]);
      client_[id] = fmt::format("127.0.0.1:{}", ports[kMax + id - 1]);
      std::string t = "/tmp/raftkv-member-server-test-XXXXXX";
      dir_[id] = ::mkdtemp(t.data());
    }
  }
  ~Servers() {
    for (auto& [id, s] : servers_) {
      if (s) s->stop();
    }
    for (auto& [id, d] : dir_) std::filesystem::remove_all(d);
  }

  ServerConfig config(uint64_t id) {
    ServerConfig cfg;
    cfg.id = NodeId(id);
    cfg.peer_addr = peer_[id];
    cfg.client_addr = client_[id];
    cfg.data_dir = dir_[id];
    cfg.tick_ms = 10;
    cfg.election_ticks = 20;
    cfg.io_threads = 1;
    return cfg;
  }
  void start_initial() {
    for (uint64_t id = 1; id <= kInitial; ++id) {
      ServerConfig cfg = config(id);
      for (uint64_t p = 1; p <= kInitial; ++p) {
        cfg.peers[NodeId(p)] = peer_[p];
        cfg.clients[NodeId(p)] = client_[p];
      }
      start(id, cfg);
    }
  }
  void start(uint64_t id, const ServerConfig& cfg) {
    auto s = Server::start(cfg);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    servers_[id] = std::move(*s);
  }
  void stop(uint64_t id) {
    servers_.at(id)->stop();
    servers_.erase(id);
  }

  node::GroupNode& node(uint64_t id) { return servers_.at(id)->node(); }
  uint64_t leader() {
    for (auto& [id, s] : servers_) {
      if (s->node().role() == raft::Role::kLeader) return id;
    }
    return 0;
  }
  uint64_t wait_leader() {
    uint64_t l = 0;
    EXPECT_TRUE(wait_until([&] { return (l = leader()) != 0; }));
    return l;
  }
  // One RESP command to node `id`'s client port.
  Result<resp::Reply> call(uint64_t id, std::vector<std::string> args,
                           std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    const uint16_t port = static_cast<uint16_t>(std::stoi(client_[id].substr(10)));
    auto conn = client::Connection::open({"127.0.0.1", port}, deadline);
    if (!conn) return conn.status();
    return (*conn)->call(args, deadline);
  }
  // {id: role} of RAFTKV.MEMBER LIST on node `at`, with every state "caught-up"; empty if not.
  std::map<uint64_t, std::string> caught_up_members(uint64_t at) {
    auto r = call(at, {"RAFTKV.MEMBER", "LIST"}, 5s);
    std::map<uint64_t, std::string> out;
    if (!r || r->type != resp::Reply::Type::kArray) return {};
    for (const resp::Reply& row : r->elements) {
      if (row.elements.size() != 5 || row.elements[4].text != "caught-up") return {};
      out[static_cast<uint64_t>(row.elements[0].integer)] = row.elements[3].text;
    }
    return out;
  }

  std::map<uint64_t, std::string> peer_, client_, dir_;

 private:
  std::map<uint64_t, std::unique_ptr<Server>> servers_;
};

const std::map<uint64_t, std::string> kThreeVoters = {{1, "voter"}, {2, "voter"}, {3, "voter"}};

TEST(MembershipServer, FollowerRelaysListAndTransferToTheLeader) {
  Servers c;
  c.start_initial();
  const uint64_t l = c.wait_leader();
  const uint64_t f = l % 3 + 1;
  // A follower's LIST is the leader's view (states only the leader knows).
  ASSERT_TRUE(wait_until([&] { return c.caught_up_members(f) == kThreeVoters; }));
  auto list = c.call(f, {"RAFTKV.MEMBER", "LIST"});
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->elements.size(), 3u);
  EXPECT_EQ(list->elements[0].elements[1].text, c.peer_[1]);
  EXPECT_EQ(list->elements[0].elements[2].text, c.client_[1]);
  // TRANSFER sent to a follower: +OK once the target leads.
  const uint64_t to = f % 3 + 1 == l ? l % 3 + 1 : f % 3 + 1;
  auto t = c.call(f, {"RAFTKV.TRANSFER", std::to_string(to)});
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(resp::to_debug_string(*t), "OK");
  EXPECT_EQ(c.node(to).role(), raft::Role::kLeader);
  // The leader's refusal comes back through the follower as is.
  const uint64_t follower = to % 3 + 1;
  auto bad = c.call(follower, {"RAFTKV.MEMBER", "PROMOTE", "2"});
  ASSERT_TRUE(bad.is_ok());
  EXPECT_EQ(bad->type, resp::Reply::Type::kError);
  EXPECT_EQ(bad->text, "ERR node 2 is already a voter");
}

TEST(MembershipServer, JoinAddsAndPromotesANewNode) {
  Servers c;
  c.start_initial();
  const uint64_t l = c.wait_leader();
  const uint64_t via = l % 3 + 1;  // a follower: it forwards the ADD
  ServerConfig cfg = c.config(4);
  cfg.join = c.client_[via];
  c.start(4, cfg);
  ASSERT_TRUE(wait_until([&] {
    auto m = c.caught_up_members(c.leader() ? c.leader() : 1);
    return m.size() == 4 && m[4] == "voter";
  })) << "node 4 did not join as a voter";
  EXPECT_TRUE(c.node(4).initialized());
  // It redirects like any member: MOVED names the leader's client address from the membership.
  auto moved = c.call(4, {"SET", "k", "v"});
  ASSERT_TRUE(moved.is_ok());
  const uint64_t now = c.wait_leader();
  if (now != 4) {
    EXPECT_EQ(moved->type, resp::Reply::Type::kError);
    EXPECT_NE(moved->text.find(c.client_[now]), std::string::npos) << moved->text;
  }
  // Restarted, it keeps its data dir and ignores --join.
  c.stop(4);
  c.start(4, cfg);
  ASSERT_TRUE(wait_until([&] { return c.caught_up_members(c.wait_leader()).size() == 4; }));
}

TEST(MembershipServer, RemovingTheLeaderAnswersOkOnceCommitted) {
  Servers c;
  c.start_initial();
  const uint64_t l = c.wait_leader();
  ASSERT_TRUE(wait_until([&] { return c.caught_up_members(l) == kThreeVoters; }));
  auto r = c.call(l, {"RAFTKV.MEMBER", "REMOVE", std::to_string(l)});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(resp::to_debug_string(*r), "OK");
  const uint64_t now = c.wait_leader();
  EXPECT_NE(now, l);
  const raft::ConfState conf = c.node(now).status().conf;
  EXPECT_EQ(conf.voters.size(), 2u);
  EXPECT_EQ(conf.members.count(NodeId(l)), 0u);
}

}  // namespace
}  // namespace raftkv::server
