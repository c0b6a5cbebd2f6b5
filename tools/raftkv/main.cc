// raftkv: command-line client, benchmark and local-cluster launcher for raftkv.
//
//   raftkv get KEY | set KEY VALUE | del KEY... | incr KEY     [--addrs host:port,...]
//   raftkv bench [--clients N --duration S --value-size B --keys K --write-ratio R --json ...]
//   raftkv cluster start|stop|status [--nodes 3|5] [--dir DIR] [--base-port P]
//   raftkv cluster add [--id N] [--join HOST:PORT]   one more node for a running local cluster
//   raftkv member add ID PEER CLIENT | remove ID | promote ID | replace OLD NEW PEER CLIENT | list
//   raftkv transfer ID                                leadership transfer
//
// Exit codes: 0 success, 1 the operation failed (server error, unreachable cluster), 2 usage.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench.h"
#include "client/client.h"
#include "cluster.h"
#include "member.h"

namespace {

using raftkv::Result;
using raftkv::Status;
namespace client = raftkv::client;
namespace cli = raftkv::cli;

constexpr const char* kDefaultAddrs = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

struct CommonOptions {
  std::string addrs = kDefaultAddrs;
  bool no_sessions = false;
  int timeout_ms = 5000;
};

void add_common(CLI::App* command, CommonOptions& common) {
  command->add_option("--addrs", common.addrs, "cluster members, host:port,...")
      ->capture_default_str();
  command->add_flag("--no-sessions", common.no_sessions,
                    "send writes as plain commands (e.g. against redis-server)");
  command->add_option("--timeout-ms", common.timeout_ms, "deadline per call, retries included")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600 * 1000));
}

std::optional<client::Client> make_client(const CommonOptions& common) {
  auto seeds = client::parse_address_list(common.addrs);
  if (!seeds) {
    fmt::print(stderr, "error: --addrs: {}\n", seeds.status().message());
    return std::nullopt;
  }
  client::ClientOptions options;
  options.seeds = std::move(seeds).value();
  options.sessions = !common.no_sessions;
  options.call_timeout = std::chrono::milliseconds(common.timeout_ms);
  return std::optional<client::Client>(std::in_place, std::move(options));
}

// Prints a reply the way redis-cli does and returns the exit code.
int print_reply(const Result<raftkv::resp::Reply>& reply) {
  if (!reply) {
    fmt::print(stderr, "error: {}\n", reply.status().to_string());
    return 1;
  }
  fmt::print("{}\n", raftkv::resp::to_debug_string(*reply));
  return reply->type == raftkv::resp::Reply::Type::kError ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raftkv: client, benchmark and local cluster for the raftkv database"};
  app.require_subcommand(1);

  CommonOptions common;
  std::vector<std::string> keys;
  std::string key;
  std::string value;

  auto* get = app.add_subcommand("get", "GET a key (linearizable read)");
  get->add_option("KEY", key)->required();
  add_common(get, common);
  auto* set = app.add_subcommand("set", "SET a key to a value");
  set->add_option("KEY", key)->required();
  set->add_option("VALUE", value)->required();
  add_common(set, common);
  auto* del = app.add_subcommand("del", "DEL one or more keys");
  del->add_option("KEY", keys)->required();
  add_common(del, common);
  auto* incr = app.add_subcommand("incr", "INCR a key (exactly once with sessions)");
  incr->add_option("KEY", key)->required();
  add_common(incr, common);

  auto* bench = app.add_subcommand("bench", "closed-loop GET/SET benchmark");
  add_common(bench, common);
  cli::BenchOptions bench_options;
  bool bench_json = false;
  bench->add_option("--clients", bench_options.clients, "client threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  bench->add_option("--duration", bench_options.duration_s, "seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  bench->add_option("--value-size", bench_options.value_size, "bytes per SET value")
      ->capture_default_str();
  bench->add_option("--keys", bench_options.keys, "key space size")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  bench->add_option("--write-ratio", bench_options.write_ratio, "fraction of SETs, 0..1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  bench->add_option("--max-ops", bench_options.max_ops, "stop after this many ops (0: no limit)")
      ->capture_default_str();
  bench->add_option("--seed", bench_options.seed, "seed of key/operation choices")
      ->capture_default_str();
  bench->add_flag("--json", bench_json, "print one JSON object at the end (progress on stderr)");

  // Membership (docs/membership.md): RAFTKV.MEMBER / RAFTKV.TRANSFER to any node.
  CommonOptions admin_common;
  admin_common.timeout_ms = 30000;  // a change waits for its commit (and a new node's catch-up)
  auto* member = app.add_subcommand("member", "list or change the cluster's membership");
  member->require_subcommand(1);
  std::string member_id, member_new_id, member_peer, member_client;
  auto* member_add =
      member->add_subcommand("add", "add a node as a learner (promoted once caught up)");
  member_add->add_option("ID", member_id, "node id")->required();
  member_add->add_option("PEER", member_peer, "its peer address host:port")->required();
  member_add->add_option("CLIENT", member_client, "its client address host:port")->required();
  auto* member_remove = member->add_subcommand("remove", "remove a node (voter or learner)");
  member_remove->add_option("ID", member_id, "node id")->required();
  auto* member_promote = member->add_subcommand("promote", "make a caught-up learner a voter");
  member_promote->add_option("ID", member_id, "node id")->required();
  auto* member_replace = member->add_subcommand(
      "replace", "replace node OLD by a new node NEW (learner catch-up, then one joint change)");
  member_replace->add_option("OLD", member_id, "the node to remove")->required();
  member_replace->add_option("NEW", member_new_id, "the new node's id")->required();
  member_replace->add_option("PEER", member_peer, "the new node's peer address")->required();
  member_replace->add_option("CLIENT", member_client, "the new node's client address")->required();
  auto* member_list = member->add_subcommand("list", "the members, their roles and states");
  for (auto* command : {member_add, member_remove, member_promote, member_replace, member_list}) {
    add_common(command, admin_common);
  }
  auto* transfer = app.add_subcommand("transfer", "make node ID the leader");
  transfer->add_option("ID", member_id, "node id")->required();
  add_common(transfer, admin_common);

  auto* cluster = app.add_subcommand("cluster", "local cluster of raftkv-server processes");
  cluster->require_subcommand(1);
  cli::ClusterLayout layout;
  std::string dir = layout.dir.string();
  cli::ClusterStartOptions start_options;
  int stop_timeout_ms = 15000;
  int ready_timeout_ms = 10000;
  auto add_layout = [&](CLI::App* command) {
    command->add_option("--nodes", layout.nodes, "number of nodes")
        ->capture_default_str()
        ->check(CLI::Range(1, 9));
    command->add_option("--dir", dir, "data, logs and pid files")->capture_default_str();
    command
        ->add_option("--base-port", layout.base_port,
                     "client ports base+i, peer base+100+i, admin base+200+i")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535 - 209));
  };
  auto* start = cluster->add_subcommand("start", "start N nodes on loopback");
  add_layout(start);
  start->add_option("--server-bin", start_options.server_bin,
                    "raftkv-server binary (default: found in the build tree)");
  start->add_option("--ready-timeout-ms", ready_timeout_ms, "wait this long for nodes to serve")
      ->capture_default_str();
  start->add_option("--server-arg", start_options.extra_server_args,
                    "extra argument passed to every raftkv-server (repeatable)");
  start->add_option("--peer-tls-dir", start_options.peer_tls_dir,
                    "mutual TLS between peers: DIR/ca.crt and DIR/node-<id>.crt/.key (as "
                    "tests/tls/make_certs.sh writes them)");
  auto* stop = cluster->add_subcommand("stop", "SIGTERM every node by pid file and wait");
  add_layout(stop);
  stop->add_option("--timeout-ms", stop_timeout_ms, "wait for exit per node")
      ->capture_default_str();
  auto* status = cluster->add_subcommand("status", "INFO raft from every node, as a table");
  add_layout(status);
  cli::ClusterAddOptions add_options;
  int add_ready_timeout_ms = 30000;
  auto* add =
      cluster->add_subcommand("add", "start one more node that joins the running cluster (--join)");
  add_layout(add);
  add->add_option("--id", add_options.id, "node id (default: one above the highest in --dir)")
      ->check(CLI::Range(1, 9));
  add->add_option("--join", add_options.join,
                  "a member's client address (default: the first running node)");
  add->add_option("--server-bin", add_options.server_bin,
                  "raftkv-server binary (default: found in the build tree)");
  add->add_option("--ready-timeout-ms", add_ready_timeout_ms,
                  "wait this long for the node to serve and be a member")
      ->capture_default_str();
  add->add_option("--server-arg", add_options.extra_server_args,
                  "extra argument passed to raftkv-server (repeatable)");
  add->add_option("--peer-tls-dir", add_options.peer_tls_dir,
                  "mutual TLS between peers: DIR/ca.crt and DIR/node-<id>.crt/.key");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  layout.dir = dir;

  if (cluster->parsed()) {
    if (start->parsed()) {
      start_options.ready_timeout = std::chrono::milliseconds(ready_timeout_ms);
      return cli::cluster_start(layout, start_options);
    }
    if (add->parsed()) {
      add_options.ready_timeout = std::chrono::milliseconds(add_ready_timeout_ms);
      return cli::cluster_add(layout, add_options);
    }
    if (stop->parsed())
      return cli::cluster_stop(layout, std::chrono::milliseconds(stop_timeout_ms));
    return cli::cluster_status(layout);
  }

  if (member->parsed() || transfer->parsed()) {
    auto addrs = client::parse_address_list(admin_common.addrs);
    if (!addrs) {
      fmt::print(stderr, "error: --addrs: {}\n", addrs.status().message());
      return 2;
    }
    cli::AdminOptions admin_options{std::move(addrs).value(),
                                    std::chrono::milliseconds(admin_common.timeout_ms)};
    std::vector<std::string> args;
    if (transfer->parsed()) {
      args = {"RAFTKV.TRANSFER", member_id};
    } else if (member_add->parsed()) {
      args = {"RAFTKV.MEMBER", "ADD", member_id, member_peer, member_client};
    } else if (member_remove->parsed()) {
      args = {"RAFTKV.MEMBER", "REMOVE", member_id};
    } else if (member_promote->parsed()) {
      args = {"RAFTKV.MEMBER", "PROMOTE", member_id};
    } else if (member_replace->parsed()) {
      args = {"RAFTKV.MEMBER", "REPLACE", member_id, member_new_id, member_peer, member_client};
    } else {
      args = {"RAFTKV.MEMBER", "LIST"};
    }
    return cli::run_admin_command(admin_options, std::move(args));
  }

  if (bench->parsed()) {
    auto addrs = client::parse_address_list(common.addrs);
    if (!addrs) {
      fmt::print(stderr, "error: --addrs: {}\n", addrs.status().message());
      return 2;
    }
    bench_options.addrs = std::move(addrs).value();
    bench_options.sessions = !common.no_sessions;
    bench_options.call_timeout = std::chrono::milliseconds(common.timeout_ms);
    if (Status valid = cli::validate_bench_options(bench_options); !valid) {
      fmt::print(stderr, "error: {}\n", valid.message());
      return 2;
    }
    const auto report = cli::run_bench(bench_options, [](const cli::BenchProgress& p) {
      fmt::print(stderr, "{}\n", cli::format_progress(p));
    });
    if (bench_json) {
      fmt::print("{}\n", cli::report_to_json(report).dump());
    } else {
      fmt::print("{}", cli::format_report(report));
    }
    return report.errors == 0 ? 0 : 1;
  }

  auto kv_client = make_client(common);
  if (!kv_client) return 2;
  if (get->parsed()) return print_reply(kv_client->command({"GET", key}));
  if (set->parsed()) return print_reply(kv_client->command({"SET", key, value}));
  if (incr->parsed()) return print_reply(kv_client->command({"INCR", key}));
  std::vector<std::string> args{"DEL"};
  args.insert(args.end(), keys.begin(), keys.end());
  return print_reply(kv_client->command(std::move(args)));
}
