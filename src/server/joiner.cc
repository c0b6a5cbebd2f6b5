#include "server/joiner.h"

#include <pthread.h>

#include <fmt/format.h>

#include "client/address.h"
#include "client/connection.h"
#include "transport/transport.h"

namespace raftkv::server {

using namespace std::chrono_literals;

Joiner::Joiner(JoinOptions options, transport::Transport& transport,
               std::function<bool()> initialized)
    : options_(std::move(options)),
      transport_(transport),
      initialized_(std::move(initialized)),
      log_("join") {
  log_.set_node(options_.self);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rkv-join");
    run();
  });
}

Joiner::~Joiner() {
  stop();
}

void Joiner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Joiner::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

size_t Joiner::learn_peers(const resp::Reply& list) {
  size_t n = 0;
  if (list.type != resp::Reply::Type::kArray) return 0;
  for (const resp::Reply& row : list.elements) {
    // [id, peer-addr, client-addr, role, state]
    if (row.type != resp::Reply::Type::kArray || row.elements.size() < 3 ||
        row.elements[0].type != resp::Reply::Type::kInteger ||
        row.elements[1].type != resp::Reply::Type::kBulk || row.elements[0].integer <= 0) {
      continue;
    }
    const NodeId id(static_cast<uint64_t>(row.elements[0].integer));
    if (id == options_.self || row.elements[1].text.empty()) continue;
    transport_.add_peer(id, row.elements[1].text);
    ++n;
  }
  return n;
}

void Joiner::discover() {
  const std::vector<std::string> list = {"RAFTKV.MEMBER", "LIST"};
  size_t known = 0;
  for (size_t attempt = 0;; ++attempt) {
    if (initialized_()) return;
    const std::string& addr = options_.seed_addrs[attempt % options_.seed_addrs.size()];
    if (auto target = client::parse_host_port(addr)) {
      auto conn = client::Connection::open(*target, std::chrono::steady_clock::now() + 2s);
      if (conn &&
          client::prove_node(**conn, options_.credentials, std::chrono::steady_clock::now() + 2s)) {
        auto members = (*conn)->call(list, std::chrono::steady_clock::now() + 5s);
        if (members && members->type == resp::Reply::Type::kArray) {
          const size_t n = learn_peers(*members);
          if (n != known) {
            log_.info("no log yet: {} member(s) learned from {} as peers", n, addr);
            known = n;
          }
        }
      }
    }
    if (!wait(2s)) return;
  }
}

void Joiner::run() {
  if (options_.join_addr.empty()) {
    if (!options_.seed_addrs.empty()) discover();
    return;
  }
  auto target = client::parse_host_port(options_.join_addr);
  if (!target) {
    log_.error("--join {}: {}", options_.join_addr, target.status().message());
    return;
  }
  const std::vector<std::string> add = {"RAFTKV.MEMBER", "ADD",
                                        std::to_string(options_.self.value()), options_.peer_addr,
                                        options_.client_addr};
  const std::vector<std::string> list = {"RAFTKV.MEMBER", "LIST"};
  log_.info("joining the cluster of {} as node {} (peer {}, client {})", options_.join_addr,
            options_.self, options_.peer_addr, options_.client_addr);
  std::unique_ptr<client::Connection> conn;
  std::chrono::milliseconds backoff = 500ms;
  for (uint64_t attempt = 1;; ++attempt) {
    if (initialized_()) {
      log_.info("this node holds the cluster's log: joined");
      return;
    }
    std::string problem;
    if (!conn || conn->broken()) {
      conn.reset();
      auto opened = client::Connection::open(*target, std::chrono::steady_clock::now() + 5s);
      if (opened) {
        conn = std::move(opened).value();
        Status proved =
            client::prove_node(*conn, options_.credentials, std::chrono::steady_clock::now() + 5s);
        if (!proved) {
          conn.reset();
          problem = proved.message();
        }
      } else {
        problem = opened.status().message();
      }
    }
    if (conn) {
      auto members = conn->call(list, std::chrono::steady_clock::now() + 15s);
      if (members && members->type == resp::Reply::Type::kArray) learn_peers(*members);
      // The add commits once the leader has a quorum; a timeout is retried, and then answered
      // "already a member" if the first one was made.
      auto reply = conn->call(add, std::chrono::steady_clock::now() + 30s);
      if (!reply) {
        problem = reply.status().message();
      } else if (reply->type == resp::Reply::Type::kError &&
                 reply->text.find("already a member") == std::string::npos) {
        problem = reply->text;
      } else {
        added_ = true;
        log_.info("{}: added as a learner; waiting for the leader to replicate to this node",
                  reply->type == resp::Reply::Type::kError ? reply->text : "RAFTKV.MEMBER ADD OK");
        if (auto again = conn->call(list, std::chrono::steady_clock::now() + 15s); again) {
          log_.info("{} member(s) known as peers", learn_peers(*again));
        }
        return;
      }
    }
    if (attempt == 1 || attempt % 10 == 0) {
      log_.warn("joining via {} (attempt {}): {}; retrying", options_.join_addr, attempt, problem);
    }
    if (!wait(backoff)) return;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
  }
}

}  // namespace raftkv::server
