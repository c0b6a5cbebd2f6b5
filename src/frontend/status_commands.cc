// Commands answered from Backend::status(): INFO, CLUSTER, ROLE.
//
// Cluster view: one Raft group owns all 16384 slots. Its leader is the master, every other
// member a replica of it. Redis Cluster node names are the node ids as 40 hex digits.
#include <unistd.h>

#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "frontend/key_slot.h"
#include "resp/reply.h"

#ifndef RAFTKV_VERSION
#define RAFTKV_VERSION "unknown"
#endif

namespace raftkv::frontend::handlers {
namespace {

// Backend::status() as the connection should see it: on a TLS connection the members' client
// addresses are their TLS addresses (DispatcherOptions::tls_client_addrs).
BackendStatus status_for(const CommandCall& call) {
  BackendStatus status = call.dispatcher.backend().status();
  const auto& tls_addrs = call.dispatcher.options().tls_client_addrs;
  if (!call.conn.tls || tls_addrs.empty()) return status;
  auto translate = [&](std::string& addr) {
    if (auto it = tls_addrs.find(addr); it != tls_addrs.end()) addr = it->second;
  };
  translate(status.leader_client_addr);
  for (MemberInfo& member : status.members) translate(member.client_addr);
  return status;
}

constexpr std::string_view kNoLeader = "CLUSTERDOWN no leader elected yet, retry later";

bool leader_known(const BackendStatus& status) {
  return !status.leader.is_none() && !status.leader_client_addr.empty();
}

std::string members_field(const BackendStatus& status) {
  std::string out;
  for (const auto& member : status.members) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}{}", member.id.value(), member.client_addr,
                       member.voter ? "" : "(learner)");
  }
  return out;
}

// --- INFO ---

using Lines = std::vector<std::pair<std::string, std::string>>;

Lines server_section(const CommandDispatcher& dispatcher) {
  const uint64_t uptime = dispatcher.uptime_seconds();
  return {{"redis_version", dispatcher.options().redis_version},
          {"raftkv_version", RAFTKV_VERSION},
          {"redis_mode", "cluster"},
          {"arch_bits", std::to_string(sizeof(void*) * 8)},
          {"process_id", std::to_string(::getpid())},
          {"tcp_port", std::to_string(dispatcher.stats().tcp_port.load())},
          {"uptime_in_seconds", std::to_string(uptime)},
          {"uptime_in_days", std::to_string(uptime / 86400)}};
}

Lines clients_section(const CommandDispatcher& dispatcher) {
  return {{"connected_clients", std::to_string(dispatcher.stats().connected_clients.load())},
          {"maxclients", std::to_string(dispatcher.options().max_clients)},
          {"blocked_clients", "0"}};
}

Lines stats_section(const CommandDispatcher& dispatcher) {
  const FrontendStats& stats = dispatcher.stats();
  return {{"total_connections_received", std::to_string(stats.total_connections_received.load())},
          {"total_commands_processed", std::to_string(stats.total_commands_processed.load())},
          {"rejected_connections", std::to_string(stats.rejected_connections.load())},
          {"acl_access_denied_auth", std::to_string(stats.auth_failures.load())},
          {"acl_access_denied_cmd", std::to_string(stats.acl_denied_commands.load())},
          {"acl_access_denied_key", std::to_string(stats.acl_denied_keys.load())},
          {"client_output_buffer_limit_disconnections",
           std::to_string(stats.client_output_buffer_limit_disconnections.load())}};
}

Lines raft_section(const BackendStatus& status) {
  Lines lines = {{"node_id", std::to_string(status.id.value())},
                 {"role", status.role},
                 {"term", std::to_string(status.term.value())},
                 {"leader_id", std::to_string(status.leader.value())},
                 {"leader_addr", status.leader_client_addr},
                 {"commit_index", std::to_string(status.commit_index.value())},
                 {"applied_index", std::to_string(status.applied_index.value())},
                 {"last_index", std::to_string(status.last_index.value())},
                 {"snapshot_index", std::to_string(status.snapshot_index.value())},
                 {"members", members_field(status)}};
  lines.insert(lines.end(), status.extra.begin(), status.extra.end());
  return lines;
}

Lines cluster_section() {
  return {{"cluster_enabled", "1"}};
}

Lines keyspace_section(const BackendStatus& status) {
  // avg_ttl stays 0: Redis's is a sampled estimate, which a client may not rely on.
  return {{"db0", fmt::format("keys={},expires={},avg_ttl=0", status.keys, status.expires)}};
}

constexpr std::string_view kSectionNames[] = {"server", "clients", "stats",
                                              "raft",   "cluster", "keyspace"};

void append_section(std::string& text, std::string_view name, const Lines& lines) {
  if (!text.empty()) text += "\r\n";
  text += fmt::format("# {}{}\r\n", static_cast<char>(name[0] - 'a' + 'A'), name.substr(1));
  for (const auto& [field, value] : lines) text += fmt::format("{}:{}\r\n", field, value);
}

// --- CLUSTER ---

void append_slots_node(std::string& out, const std::string& addr, uint64_t id) {
  const auto [host, port] = split_host_port(addr);
  resp::append_array_header(out, 3);
  resp::append_bulk(out, host);
  resp::append_integer(out, port);
  resp::append_bulk(out, cluster_node_name(id));
}

std::vector<const MemberInfo*> replicas_of(const BackendStatus& status) {
  std::vector<const MemberInfo*> replicas;
  for (const auto& member : status.members) {
    if (member.id != status.leader) replicas.push_back(&member);
  }
  return replicas;
}

void cluster_slots(CommandCall& call, const BackendStatus& status) {
  const auto replicas = replicas_of(status);
  std::string out;
  resp::append_array_header(out, 1);
  resp::append_array_header(out, 3 + replicas.size());
  resp::append_integer(out, 0);
  resp::append_integer(out, kClusterSlots - 1);
  append_slots_node(out, status.leader_client_addr, status.leader.value());
  for (const MemberInfo* replica : replicas) {
    append_slots_node(out, replica->client_addr, replica->id.value());
  }
  call.reply(std::move(out));
}

void append_shard_node(std::string& out, const std::string& addr, uint64_t id, bool master,
                       const BackendStatus& status) {
  const auto [host, port] = split_host_port(addr);
  resp::append_array_header(out, 14);
  resp::append_bulk(out, "id");
  resp::append_bulk(out, cluster_node_name(id));
  resp::append_bulk(out, "port");
  resp::append_integer(out, port);
  resp::append_bulk(out, "ip");
  resp::append_bulk(out, host);
  resp::append_bulk(out, "endpoint");
  resp::append_bulk(out, host);
  resp::append_bulk(out, "role");
  resp::append_bulk(out, master ? "master" : "replica");
  resp::append_bulk(out, "replication-offset");
  resp::append_integer(out, static_cast<int64_t>(status.commit_index.value()));
  resp::append_bulk(out, "health");
  resp::append_bulk(out, "online");
}

void cluster_shards(CommandCall& call, const BackendStatus& status) {
  const auto replicas = replicas_of(status);
  std::string out;
  resp::append_array_header(out, 1);
  resp::append_array_header(out, 4);
  resp::append_bulk(out, "slots");
  resp::append_array_header(out, 2);
  resp::append_integer(out, 0);
  resp::append_integer(out, kClusterSlots - 1);
  resp::append_bulk(out, "nodes");
  resp::append_array_header(out, 1 + replicas.size());
  append_shard_node(out, status.leader_client_addr, status.leader.value(), true, status);
  for (const MemberInfo* replica : replicas) {
    append_shard_node(out, replica->client_addr, replica->id.value(), false, status);
  }
  call.reply(std::move(out));
}

// CLUSTER NODES: "<id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <epoch>
// <link-state> [<slots>]". There is no cluster bus: cport is 0.
std::string cluster_nodes_text(const BackendStatus& status) {
  std::string text;
  const bool has_leader = leader_known(status);
  for (const auto& member : status.members) {
    const bool master = has_leader && member.id == status.leader;
    std::string flags = member.id == status.id ? "myself," : "";
    flags += master || !has_leader ? "master" : "slave";
    const std::string master_name =
        master || !has_leader ? "-" : cluster_node_name(status.leader.value());
    text += fmt::format("{} {}@0 {} {} 0 0 {} connected{}\n", cluster_node_name(member.id.value()),
                        member.client_addr.empty() ? ":0" : member.client_addr, flags, master_name,
                        status.term.value(), master ? fmt::format(" 0-{}", kClusterSlots - 1) : "");
  }
  return text;
}

std::string cluster_info_text(const BackendStatus& status) {
  const bool ok = leader_known(status);
  const uint64_t assigned = ok ? kClusterSlots : 0;
  return fmt::format(
      "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\n"
      "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\n"
      "cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
      ok ? "ok" : "fail", assigned, assigned, status.members.size(), ok ? 1 : 0,
      status.term.value(), status.term.value());
}

}  // namespace

// INFO [section ...]: no argument, "all", "everything" or "default" give every section; an
// unknown section gives nothing (as in Redis).
void info(CommandCall& call) {
  std::vector<std::string_view> wanted;
  bool all = call.args.size() == 1;
  for (size_t i = 1; i < call.args.size(); ++i) {
    const std::string name = lowercase(call.args[i]);
    if (name == "all" || name == "everything" || name == "default") all = true;
    for (const auto section : kSectionNames) {
      if (section == name) wanted.push_back(section);
    }
  }
  if (all) wanted.assign(std::begin(kSectionNames), std::end(kSectionNames));
  const CommandDispatcher& dispatcher = call.dispatcher;
  const BackendStatus status = status_for(call);
  std::string text;
  for (const auto section : kSectionNames) {
    if (std::find(wanted.begin(), wanted.end(), section) == wanted.end()) continue;
    if (section == "server") append_section(text, section, server_section(dispatcher));
    if (section == "clients") append_section(text, section, clients_section(dispatcher));
    if (section == "stats") append_section(text, section, stats_section(dispatcher));
    if (section == "raft") append_section(text, section, raft_section(status));
    if (section == "cluster") append_section(text, section, cluster_section());
    if (section == "keyspace") append_section(text, section, keyspace_section(status));
  }
  std::string out;
  resp::append_bulk(out, text);
  call.reply(std::move(out));
}

// CLUSTER SLOTS | SHARDS | NODES | INFO | MYID | KEYSLOT key | HELP.
void cluster(CommandCall& call) {
  const std::string sub = lowercase(call.args[1]);
  const size_t argc = call.args.size();
  const size_t wanted_argc = sub == "keyslot" ? 3 : 2;
  const bool known = sub == "slots" || sub == "shards" || sub == "nodes" || sub == "info" ||
                     sub == "myid" || sub == "keyslot" || sub == "help";
  if (!known) {
    call.reply_error(unknown_subcommand_error("CLUSTER", call.args[1]));
    return;
  }
  if (argc != wanted_argc) {
    call.reply_error(wrong_arity_error("cluster|" + sub));
    return;
  }
  std::string out;
  if (sub == "keyslot") {
    resp::append_integer(out, key_slot(call.args[2]));
    call.reply(std::move(out));
    return;
  }
  if (sub == "help") {
    const std::string_view lines[] = {"CLUSTER SLOTS", "CLUSTER SHARDS", "CLUSTER NODES",
                                      "CLUSTER INFO",  "CLUSTER MYID",   "CLUSTER KEYSLOT <key>"};
    resp::append_array_header(out, std::size(lines));
    for (const auto line : lines) resp::append_simple_string(out, line);
    call.reply(std::move(out));
    return;
  }
  const BackendStatus status = status_for(call);
  if (sub == "myid") {
    resp::append_bulk(out, cluster_node_name(status.id.value()));
  } else if (sub == "info") {
    resp::append_bulk(out, cluster_info_text(status));
  } else if (sub == "nodes") {
    resp::append_bulk(out, cluster_nodes_text(status));
  } else if (!leader_known(status)) {
    call.reply_error(kNoLeader);
    return;
  } else if (sub == "slots") {
    cluster_slots(call, status);
    return;
  } else {
    cluster_shards(call, status);
    return;
  }
  call.reply(std::move(out));
}

// ROLE: ["master", offset, [[ip, port, offset]...]] on the leader; ["slave", leader ip, leader
// port, "connected" | "connect", offset] elsewhere. The offset is the applied log index.
void role(CommandCall& call) {
  const BackendStatus status = status_for(call);
  const auto offset = static_cast<int64_t>(status.applied_index.value());
  std::string out;
  if (status.role == "leader") {
    const auto replicas = replicas_of(status);
    resp::append_array_header(out, 3);
    resp::append_bulk(out, "master");
    resp::append_integer(out, offset);
    resp::append_array_header(out, replicas.size());
    for (const MemberInfo* replica : replicas) {
      const auto [host, port] = split_host_port(replica->client_addr);
      resp::append_array_header(out, 3);
      resp::append_bulk(out, host);
      resp::append_bulk(out, std::to_string(port));
      resp::append_bulk(out, std::to_string(status.commit_index.value()));
    }
  } else {
    const bool connected = leader_known(status);
    const auto [host, port] = split_host_port(status.leader_client_addr);
    resp::append_array_header(out, 5);
    resp::append_bulk(out, "slave");
    resp::append_bulk(out, host);
    resp::append_integer(out, port);
    resp::append_bulk(out, connected ? "connected" : "connect");
    resp::append_integer(out, offset);
  }
  call.reply(std::move(out));
}

}  // namespace raftkv::frontend::handlers
