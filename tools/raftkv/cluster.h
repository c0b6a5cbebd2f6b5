// `raftkv cluster start|add|stop|status`: a local cluster of real raftkv-server processes.
//
// Layout of node i (1-based) for base port P and directory D:
//   client (RESP) port P+i, peer port P+100+i, admin (HTTP) port P+200+i, all on 127.0.0.1;
//   data D/node-i/, log D/node-i.log (stdout and stderr, appended), pid D/node-i.pid
//   (the decimal pid and a newline, written after a successful spawn).
// stop sends SIGTERM to each pid file's process — only if it is still a raftkv-server (a stale
// pid may have been reused) — waits for it to exit (bounded), then removes the pid file.
//
// Thread-safety: none needed; used by the CLI's main thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace raftkv::cli {

struct ClusterLayout {
  int nodes = 3;  // 1..9
  std::filesystem::path dir = "raftkv-cluster";
  uint16_t base_port = 7000;
  std::string host = "127.0.0.1";

  uint16_t client_port(int node) const { return static_cast<uint16_t>(base_port + node); }
  uint16_t peer_port(int node) const { return static_cast<uint16_t>(base_port + 100 + node); }
  uint16_t admin_port(int node) const { return static_cast<uint16_t>(base_port + 200 + node); }
  std::string client_addr(int node) const { return host + ":" + std::to_string(client_port(node)); }
  std::filesystem::path data_dir(int node) const { return dir / ("node-" + std::to_string(node)); }
  std::filesystem::path log_file(int node) const {
    return dir / ("node-" + std::to_string(node) + ".log");
  }
  std::filesystem::path pid_file(int node) const {
    return dir / ("node-" + std::to_string(node) + ".pid");
  }
  // The cluster secret every node authenticates its peers with (--cluster-secret-file).
  std::filesystem::path secret_file() const { return dir / "cluster-secret"; }
};

// Creates layout.secret_file() (mode 600, 32 random bytes in hex) unless it exists; an existing
// one is kept, so that a restarted cluster keeps its secret. Fails with the path and the reason.
Status ensure_cluster_secret(const ClusterLayout& layout);

// Checks node count (1..9) and that the highest port fits in 16 bits.
Status validate_layout(const ClusterLayout& layout);
// The raftkv-server command line for `node` (argv[0] is `server_bin`).
std::vector<std::string> server_command_line(const ClusterLayout& layout, int node,
                                             const std::string& server_bin);
// "127.0.0.1:7001,127.0.0.1:7002,..." — the client addresses, for --addrs.
std::string client_addresses(const ClusterLayout& layout);

// Pid files. read_pid_file: the pid, or kUnavailable when the file is absent, or
// kInvalidArgument when its content is not a positive decimal pid.
Result<pid_t> read_pid_file(const std::filesystem::path& path);
Status write_pid_file(const std::filesystem::path& path, pid_t pid);
bool process_alive(pid_t pid);
// True when /proc/<pid>/cmdline's program name contains `name` (guards against pid reuse).
bool process_is(pid_t pid, const std::string& name);
// Waits until `pid` exits or `timeout` passes (pidfd + poll; no sleep loop). True if it exited.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// The default raftkv-server binary: in the build tree, <build>/src/server/raftkv-server
// relative to this executable (<build>/tools/raftkv/raftkv), else beside this executable.
// Empty when neither exists.
std::string find_server_binary();

struct ClusterStartOptions {
  std::string server_bin;  // empty: find_server_binary()
  std::chrono::milliseconds ready_timeout{10000};
  std::vector<std::string> extra_server_args;
  // Mutual TLS between peers: a directory laid out as tests/tls/make_certs.sh writes it
  // (ca.crt, node-<id>.crt, node-<id>.key); "" for none. See peer_tls_args().
  std::string peer_tls_dir;
};

// --peer-tls-cert DIR/node-<node>.crt --peer-tls-key DIR/node-<node>.key --peer-tls-ca
// DIR/ca.crt; nothing when `dir` is empty.
std::vector<std::string> peer_tls_args(const std::string& dir, int node);

// `raftkv cluster add`: one more node for a running cluster (issue 12, docs/membership.md).
struct ClusterAddOptions {
  int id = 0;              // 0: one above the highest node the directory holds
  std::string join;        // a member's client address; "": the first running node's
  std::string server_bin;  // empty: find_server_binary()
  std::chrono::milliseconds ready_timeout{30000};
  std::vector<std::string> extra_server_args;
  std::string peer_tls_dir;  // as ClusterStartOptions::peer_tls_dir
};

// The raftkv-server command line of a node that joins through `join` with an empty data dir:
// its own addresses from the layout, no --peers/--clients (the membership comes from the
// cluster).
std::vector<std::string> join_command_line(const ClusterLayout& layout, int node,
                                           const std::string& server_bin, const std::string& join);
// The highest node number 1..9 with a data directory or a pid file under layout.dir; 0 if none.
int highest_node_in_dir(const ClusterLayout& layout);

// Each command prints to stdout and returns a process exit code (0 = success).
int cluster_start(const ClusterLayout& layout, const ClusterStartOptions& options);
// Starts node `id` with --join, waits until it serves and until the cluster's RAFTKV.MEMBER LIST
// names it, then prints that list. Refuses an id whose data directory is not empty (a node that
// lost or kept its data is re-admitted by restarting it, not by adding it again).
int cluster_add(const ClusterLayout& layout, const ClusterAddOptions& options);
int cluster_stop(const ClusterLayout& layout, std::chrono::milliseconds timeout);
int cluster_status(const ClusterLayout& layout);

// Parses an INFO reply ("field:value" lines, "# Section" headers) into ordered pairs.
std::vector<std::pair<std::string, std::string>> parse_info(const std::string& text);

}  // namespace raftkv::cli
