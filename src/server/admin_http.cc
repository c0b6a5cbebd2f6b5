#include "server/admin_http.h"

#include "server/node_backend.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace raftkv::server {

AdminHttp::~AdminHttp() {
  stop();
}

Status AdminHttp::start(const std::string& addr) {
  const auto colon = addr.rfind(':');
  const std::string host = addr.substr(0, colon);
  const int port = std::stoi(addr.substr(colon + 1));
  http_ = std::make_unique<httplib::Server>();
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const bool has_leader = !node_.status().leader.is_none();
    res.status = has_leader ? 200 : 503;
    res.set_content(has_leader ? "ok\n" : "no leader\n", "text/plain");
  });
  http_->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(status_json(), "application/json");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  if (!http_->bind_to_port(host, port)) {
    return Status(ErrorCode::kIoError, fmt::format("admin HTTP cannot listen on {}", addr));
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::ok();
}

void AdminHttp::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string AdminHttp::status_json() const {
  const node::NodeStatus st = node_.status();
  nlohmann::json j;
  j["id"] = st.id.value();
  j["role"] = raft::role_name(st.role);
  j["term"] = st.term.value();
  j["leader"] = st.leader.value();
  j["leader_client_addr"] = node_.client_addr(st.leader);
  j["commit_index"] = st.commit_index.value();
  j["applied_index"] = st.applied_index.value();
  j["last_index"] = st.last_index.value();
  j["first_index"] = st.first_index.value();
  j["snapshot_index"] = st.snapshot_index.value();
  j["keys"] = st.keys;
  auto& members = j["members"] = nlohmann::json::array();
  for (NodeId v : st.conf.voters) {
    members.push_back({{"id", v.value()}, {"client_addr", node_.client_addr(v)}, {"voter", true}});
  }
  for (NodeId l : st.conf.learners) {
    members.push_back({{"id", l.value()}, {"client_addr", node_.client_addr(l)}, {"voter", false}});
  }
  auto& followers = j["followers"] = nlohmann::json::array();
  for (const auto& f : st.followers) {
    if (f.id == st.id) continue;
    followers.push_back({{"id", f.id.value()},
                         {"match", f.match.value()},
                         {"next", f.next.value()},
                         {"lag", st.last_index.value() - std::min(st.last_index, f.match).value()},
                         {"state", raft::progress_state_name(f.state)},
                         {"recent_active", f.recent_active}});
  }
  j["counters"] = {{"proposals", st.proposals},
                   {"snapshots_taken", st.snapshots_taken},
                   {"leader_changes", st.leader_changes},
                   {"fsyncs", st.fsyncs}};
  return j.dump(2) + "\n";
}

std::string AdminHttp::metrics_text() const {
  const node::NodeStatus st = node_.status();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("raftkv_term", "gauge", "Current Raft term.", st.term.value());
  metric("raftkv_is_leader", "gauge", "1 if this node leads its group.",
         st.role == raft::Role::kLeader ? 1 : 0);
  metric("raftkv_commit_index", "gauge", "Highest committed log index.", st.commit_index.value());
  metric("raftkv_applied_index", "gauge", "Highest applied log index.", st.applied_index.value());
  metric("raftkv_apply_lag_entries", "gauge", "Committed entries not yet applied.",
         st.commit_index.value() - std::min(st.commit_index, st.applied_index).value());
  metric("raftkv_snapshot_index", "gauge", "Index of the newest durable snapshot.",
         st.snapshot_index.value());
  metric("raftkv_keys", "gauge", "Keys in the state machine.", st.keys);
  metric("raftkv_proposals_total", "counter", "Write commands submitted.", st.proposals);
  metric("raftkv_leader_changes_total", "counter", "Leader changes observed.", st.leader_changes);
  metric("raftkv_fsyncs_total", "counter", "WAL group-commit fdatasync calls.", st.fsyncs);
  metric("raftkv_snapshots_total", "counter", "Snapshots taken.", st.snapshots_taken);
  out +=
      "# HELP raftkv_fsync_duration_seconds WAL group-commit fdatasync latency.\n"
      "# TYPE raftkv_fsync_duration_seconds histogram\n";
  out += node_.fsync_latency().prometheus("raftkv_fsync_duration_seconds", "");
  if (backend_ != nullptr) {
    out +=
        "# HELP raftkv_request_duration_seconds Client command latency, submit to reply.\n"
        "# TYPE raftkv_request_duration_seconds histogram\n";
    for (const auto& [command, h] : backend_->request_latency()) {
      if (h->count() == 0) continue;
      out +=
          h->prometheus("raftkv_request_duration_seconds", fmt::format("command=\"{}\"", command));
    }
  }
  return out;
}

}  // namespace raftkv::server
