#include "server/forwarder.h"

#include <pthread.h>

#include <fmt/format.h>

#include "base/log.h"
#include "client/address.h"
#include "client/connection.h"

namespace raftkv::server {

LeaderForwarder::LeaderForwarder(client::NodeCredentials credentials)
    : credentials_(std::move(credentials)) {
  for (size_t i = 0; i < kWorkers; ++i) {
    workers_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "rkv-forward");
      worker_loop();
    });
  }
}

LeaderForwarder::~LeaderForwarder() {
  std::deque<Request> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  stop_cv_.notify_all();
  for (Request& r : left) r.done(Status(ErrorCode::kShutdown, "node is shutting down"));
  for (std::thread& t : workers_) t.join();
}

void LeaderForwarder::forward(std::string leader_addr, std::vector<std::string> args,
                              std::chrono::milliseconds timeout, Done done,
                              LeaderAddr current_leader) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < kMaxQueued) {
      queue_.push_back(Request{std::move(leader_addr), std::move(args),
                               std::chrono::steady_clock::now() + timeout, std::move(done),
                               std::move(current_leader)});
      cv_.notify_one();
      return;
    }
  }
  done(Status(ErrorCode::kTooLarge,
              fmt::format("{} commands are being forwarded to the leader already; retry shortly",
                          kMaxQueued)));
}

kv::Reply LeaderForwarder::to_kv_reply(const resp::Reply& r) {
  switch (r.type) {
    case resp::Reply::Type::kSimpleString:
      return kv::Reply::status(r.text);
    case resp::Reply::Type::kError:
      return kv::Reply::error(r.text);
    case resp::Reply::Type::kInteger:
      return kv::Reply::integer_reply(r.integer);
    case resp::Reply::Type::kBulk:
      return kv::Reply::bulk(r.text);
    case resp::Reply::Type::kArray: {
      std::vector<kv::Reply> elements;
      elements.reserve(r.elements.size());
      for (const resp::Reply& e : r.elements) elements.push_back(to_kv_reply(e));
      return kv::Reply::array(std::move(elements));
    }
    case resp::Reply::Type::kNullBulk:
    case resp::Reply::Type::kNullArray:
      break;
  }
  return kv::Reply::null();
}

bool LeaderForwarder::wait_for_stop(std::chrono::milliseconds wait,
                                    std::chrono::steady_clock::time_point deadline) {
  const auto until = std::min(std::chrono::steady_clock::now() + wait, deadline);
  std::unique_lock lock(mu_);
  stop_cv_.wait_until(lock, until, [&] { return stopping_; });
  return !stopping_ && std::chrono::steady_clock::now() < deadline;
}

void LeaderForwarder::worker_loop() {
  Logger log("forward");
  std::unique_ptr<client::Connection> conn;  // reused while its target stays the same
  for (;;) {
    Request req;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      req = std::move(queue_.front());
      queue_.pop_front();
    }
    Result<kv::Reply> outcome = Status(ErrorCode::kUnavailable, "no leader to forward to");
    std::string addr = req.addr;
    for (int hop = 0; hop <= kMaxHops && !addr.empty(); ++hop) {
      auto target = client::parse_host_port(addr);
      if (!target) {
        outcome = Status(ErrorCode::kUnavailable,
                         fmt::format("leader address '{}': {}", addr, target.status().message()));
        break;
      }
      if (conn && (!(conn->peer() == *target) || conn->closed_while_idle())) conn.reset();
      if (!conn) {
        auto opened = client::Connection::open(*target, req.deadline);
        if (!opened) {
          outcome = Status(
              opened.code() == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
              fmt::format("cannot reach the leader at {} to forward {}: {}", addr,
                          req.args.empty() ? "" : req.args[0], opened.status().message()));
          // Nothing was sent: wait for this node to learn of another leader and try there.
          if (!req.current_leader || !wait_for_stop(kReconnectWait, req.deadline)) break;
          const std::string next = req.current_leader();
          if (next.empty()) break;
          if (next != addr) log.info("forwarding {}: the leader is now at {}", req.args[0], next);
          addr = next;
          --hop;  // a reconnection is not a hop
          continue;
        }
        conn = std::move(opened).value();
        if (Status proved = client::prove_node(*conn, credentials_, req.deadline); !proved) {
          conn.reset();
          outcome = Status(proved.code(), fmt::format("the leader at {} refused this node: {}",
                                                      addr, proved.message()));
          break;
        }
      }
      auto reply = conn->call(req.args, req.deadline);
      if (!reply) {
        conn.reset();
        outcome = Status(
            reply.code() == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
            fmt::format("forwarding {} to the leader at {} failed: {}",
                        req.args.empty() ? "" : req.args[0], addr, reply.status().message()));
        break;
      }
      // "-MOVED <slot> <addr>": the target lost leadership meanwhile; follow it.
      if (reply->type == resp::Reply::Type::kError && reply->text.starts_with("MOVED ")) {
        const size_t space = reply->text.rfind(' ');
        const std::string next = reply->text.substr(space + 1);
        log.info("forwarding {}: {} is no longer the leader, trying {}", req.args[0], addr, next);
        outcome = to_kv_reply(*reply);
        if (next == addr) break;
        addr = next;
        continue;
      }
      if (reply->type == resp::Reply::Type::kError && reply->text.starts_with("NOAUTH")) {
        // Our client authenticated here; the leader wants this node to prove itself.
        outcome = kv::Reply::error(fmt::format(
            "ERR the leader at {} needs clients to authenticate and this node cannot relay {} "
            "there: give every node the same --cluster-secret-file (RAFTKV.NODEAUTH), or send "
            "the command to the leader",
            addr, req.args.empty() ? "" : req.args[0]));
        break;
      }
      outcome = to_kv_reply(*reply);
      break;
    }
    req.done(std::move(outcome));
  }
}

}  // namespace raftkv::server
