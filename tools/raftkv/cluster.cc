#include "cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "client/client.h"
#include "client/connection.h"
#include "member.h"

extern char** environ;

namespace raftkv::cli {
namespace fs = std::filesystem;

Status validate_layout(const ClusterLayout& layout) {
  if (layout.nodes < 1 || layout.nodes > 9) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--nodes must be 1..9 (got {})", layout.nodes));
  }
  if (layout.base_port == 0 || layout.base_port + 200 + layout.nodes > 65535) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--base-port {} leaves no room for admin ports up to base+{}",
                              layout.base_port, 200 + layout.nodes));
  }
  return Status::ok();
}

std::vector<std::string> server_command_line(const ClusterLayout& layout, int node,
                                             const std::string& server_bin) {
  std::string peers, clients;
  for (int i = 1; i <= layout.nodes; ++i) {
    if (i > 1) {
      peers += ",";
      clients += ",";
    }
    peers += fmt::format("{}={}:{}", i, layout.host, layout.peer_port(i));
    clients += fmt::format("{}={}", i, layout.client_addr(i));
  }
  return {server_bin,
          "--id",
          std::to_string(node),
          "--client-addr",
          layout.client_addr(node),
          "--peer-addr",
          fmt::format("{}:{}", layout.host, layout.peer_port(node)),
          "--peers",
          peers,
          "--clients",
          clients,
          "--data-dir",
          layout.data_dir(node).string(),
          "--admin-addr",
          fmt::format("{}:{}", layout.host, layout.admin_port(node)),
          "--cluster-secret-file",
          layout.secret_file().string()};
}

std::vector<std::string> join_command_line(const ClusterLayout& layout, int node,
                                           const std::string& server_bin, const std::string& join) {
  return {server_bin,
          "--id",
          std::to_string(node),
          "--client-addr",
          layout.client_addr(node),
          "--peer-addr",
          fmt::format("{}:{}", layout.host, layout.peer_port(node)),
          "--data-dir",
          layout.data_dir(node).string(),
          "--admin-addr",
          fmt::format("{}:{}", layout.host, layout.admin_port(node)),
          "--cluster-secret-file",
          layout.secret_file().string(),
          "--join",
          join};
}

std::vector<std::string> peer_tls_args(const std::string& dir, int node) {
  if (dir.empty()) return {};
  const fs::path d(dir);
  const std::string name = "node-" + std::to_string(node);
  return {"--peer-tls-cert", (d / (name + ".crt")).string(),
          "--peer-tls-key",  (d / (name + ".key")).string(),
          "--peer-tls-ca",   (d / "ca.crt").string()};
}

Status ensure_cluster_secret(const ClusterLayout& layout) {
  const fs::path path = layout.secret_file();
  std::error_code ec;
  if (fs::exists(path, ec)) return Status::ok();
  unsigned char bytes[32];
  {
    std::ifstream random("/dev/urandom", std::ios::binary);
    if (!random.read(reinterpret_cast<char*>(bytes), sizeof(bytes))) {
      return Status(ErrorCode::kIoError, "cannot read /dev/urandom for the cluster secret");
    }
  }
  std::string hex;
  for (unsigned char b : bytes) hex += fmt::format("{:02x}", b);
  hex += "\n";
  // O_EXCL: never overwrite a secret another start just wrote; 0600 from the start.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(ErrorCode::kIoError,
                  fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  const bool ok =
      ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    fs::remove(path, ec);
    return Status(ErrorCode::kIoError, fmt::format("cannot write {}", path.string()));
  }
  return Status::ok();
}

int highest_node_in_dir(const ClusterLayout& layout) {
  int highest = 0;
  for (int i = 1; i <= 9; ++i) {
    std::error_code ec;
    if (fs::exists(layout.data_dir(i), ec) || fs::exists(layout.pid_file(i), ec)) highest = i;
  }
  return highest;
}

std::string client_addresses(const ClusterLayout& layout) {
  std::string out;
  for (int i = 1; i <= layout.nodes; ++i) {
    if (i > 1) out += ",";
    out += layout.client_addr(i);
  }
  return out;
}

Result<pid_t> read_pid_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return Status(ErrorCode::kUnavailable, path.string() + ": no pid file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  int64_t pid = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc() || end != text.data() + text.size() || pid <= 0 || pid > INT32_MAX) {
    return Status(ErrorCode::kInvalidArgument,
                  path.string() + ": not a pid file (expected a positive decimal pid)");
  }
  return static_cast<pid_t>(pid);
}

Status write_pid_file(const fs::path& path, pid_t pid) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pid << "\n";
    if (!out.flush()) return Status(ErrorCode::kIoError, "cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    return Status(ErrorCode::kIoError, "cannot rename to " + path.string() + ": " + ec.message());
  return Status::ok();
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) == 0) return true;
  if (errno == EPERM) return true;  // exists, not ours
  return false;
}

bool process_is(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  if (!in || !std::getline(in, argv0, '\0')) return false;
  return fs::path(argv0).filename().string().find(name) != std::string::npos;
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  // A child of ours (started by this process) must be reaped to stop existing.
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return true;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    ::close(pidfd);
    ::waitpid(pid, &status, WNOHANG);
    return ready > 0 || !process_alive(pid);
  }
  if (errno == ESRCH) return true;
  // Kernels without pidfd_open: check every 50 ms until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process_alive(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string find_server_binary() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path dir = self.parent_path();
  for (const fs::path& candidate :
       {dir / ".." / ".." / "src" / "server" / "raftkv-server", dir / "raftkv-server"}) {
    if (::access(candidate.c_str(), X_OK) == 0) return fs::weakly_canonical(candidate, ec).string();
  }
  return "";
}

namespace {

// Spawns `argv` in its own process group (a Ctrl-C at the terminal does not reach it), with
// stdin from /dev/null and stdout/stderr appended to `log`.
Result<pid_t> spawn_server(const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  std::vector<char*> raw;
  std::vector<std::string> copy = argv;
  for (auto& arg : copy) raw.push_back(arg.data());
  raw.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, raw[0], &actions, &attributes, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) return Status(ErrorCode::kIoError, "spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// Last `lines` lines of a file (for failure reports).
std::string tail_of(const fs::path& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
}

// PING until it answers or the deadline passes; false when the process died meanwhile.
bool wait_until_serving(const client::HostPort& addr, pid_t pid, client::Deadline deadline) {
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    const auto attempt_deadline =
        std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
    auto connection = client::Connection::open(addr, attempt_deadline);
    if (connection) {
      auto reply = connection.value()->call({"PING"}, attempt_deadline);
      if (reply) return true;
    }
    // Not listening yet: retry after a short pause (start-up has no event we can wait on).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The server binary to run (`flag`, else find_server_binary()); "" after printing why not.
std::string usable_server_binary(const std::string& flag) {
  const std::string server_bin = flag.empty() ? find_server_binary() : flag;
  if (server_bin.empty() || ::access(server_bin.c_str(), X_OK) != 0) {
    fmt::print(stderr,
               "error: raftkv-server not found{}; build it (cmake --build build --target "
               "raftkv-server) or pass --server-bin PATH\n",
               server_bin.empty() ? "" : " at " + server_bin);
    return "";
  }
  return server_bin;
}

}  // namespace

int cluster_start(const ClusterLayout& layout, const ClusterStartOptions& options) {
  if (Status valid = validate_layout(layout); !valid) {
    fmt::print(stderr, "error: {}\n", valid.message());
    return 2;
  }
  const std::string server_bin = usable_server_binary(options.server_bin);
  if (server_bin.empty()) return 2;
  std::error_code ec;
  fs::create_directories(layout.dir, ec);
  if (ec) {
    fmt::print(stderr, "error: cannot create {}: {}\n", layout.dir.string(), ec.message());
    return 1;
  }
  for (int i = 1; i <= layout.nodes; ++i) {
    auto pid = read_pid_file(layout.pid_file(i));
    if (pid && process_alive(*pid) && process_is(*pid, "raftkv-server")) {
      fmt::print(stderr,
                 "error: node {} is already running (pid {}); run `raftkv cluster stop "
                 "--dir {}` first\n",
                 i, *pid, layout.dir.string());
      return 1;
    }
  }
  if (Status secret = ensure_cluster_secret(layout); !secret) {
    fmt::print(stderr, "error: {}\n", secret.message());
    return 1;
  }
  std::vector<pid_t> pids;
  for (int i = 1; i <= layout.nodes; ++i) {
    fs::create_directories(layout.data_dir(i), ec);
    auto argv = server_command_line(layout, i, server_bin);
    const auto tls = peer_tls_args(options.peer_tls_dir, i);
    argv.insert(argv.end(), tls.begin(), tls.end());
    argv.insert(argv.end(), options.extra_server_args.begin(), options.extra_server_args.end());
    auto pid = spawn_server(argv, layout.log_file(i));
    if (!pid) {
      fmt::print(stderr, "error: node {}: {}\n", i, pid.status().message());
      return 1;
    }
    if (Status written = write_pid_file(layout.pid_file(i), *pid); !written) {
      fmt::print(stderr, "error: {}\n", written.message());
      return 1;
    }
    pids.push_back(*pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  int failed = 0;
  for (int i = 1; i <= layout.nodes; ++i) {
    if (!wait_until_serving({layout.host, layout.client_port(i)}, pids[i - 1], deadline)) {
      ++failed;
      fmt::print(stderr, "node {} (pid {}) is not serving on {}; last lines of {}:\n{}", i,
                 pids[i - 1], layout.client_addr(i), layout.log_file(i).string(),
                 tail_of(layout.log_file(i), 10));
    }
  }
  fmt::print("{:<6} {:>8} {:<16} {:<16} {:<16}\n", "node", "pid", "client", "peer", "admin");
  for (int i = 1; i <= layout.nodes; ++i) {
    fmt::print("{:<6} {:>8} {:<16} {:<16} {:<16}\n", i, pids[i - 1], layout.client_addr(i),
               fmt::format("{}:{}", layout.host, layout.peer_port(i)),
               fmt::format("{}:{}", layout.host, layout.admin_port(i)));
  }
  fmt::print("data and logs in {}\n", fs::absolute(layout.dir).string());
  fmt::print("connect with:  redis-cli -c -p {}\n", layout.client_port(1));
  fmt::print("stop with:     raftkv cluster stop --dir {} --nodes {}\n", layout.dir.string(),
             layout.nodes);
  return failed == 0 ? 0 : 1;
}

namespace {

// The node's row of a RAFTKV.MEMBER LIST reply ([id, peer, client, role, state]), if listed.
const resp::Reply* member_row(const resp::Reply& list, int node) {
  if (list.type != resp::Reply::Type::kArray) return nullptr;
  for (const auto& row : list.elements) {
    if (row.type == resp::Reply::Type::kArray && row.elements.size() == 5 &&
        row.elements[0].type == resp::Reply::Type::kInteger && row.elements[0].integer == node) {
      return &row;
    }
  }
  return nullptr;
}

}  // namespace

int cluster_add(const ClusterLayout& layout, const ClusterAddOptions& options) {
  const int node = options.id != 0 ? options.id : highest_node_in_dir(layout) + 1;
  ClusterLayout grown = layout;
  grown.nodes = std::max(layout.nodes, node);
  if (Status valid = validate_layout(grown); !valid || node < 1) {
    fmt::print(stderr, "error: node {}: {}\n", node, valid ? "--id must be 1..9" : valid.message());
    return 2;
  }
  const std::string server_bin = usable_server_binary(options.server_bin);
  if (server_bin.empty()) return 2;
  if (auto pid = read_pid_file(layout.pid_file(node));
      pid && process_alive(*pid) && process_is(*pid, "raftkv-server")) {
    fmt::print(stderr, "error: node {} is already running (pid {})\n", node, *pid);
    return 1;
  }
  std::error_code ec;
  if (fs::exists(layout.data_dir(node), ec) && !fs::is_empty(layout.data_dir(node), ec)) {
    fmt::print(stderr,
               "error: {} is not empty: node {} was a member before. Restart it as it is "
               "(raftkv cluster start) or pick another --id\n",
               layout.data_dir(node).string(), node);
    return 1;
  }
  std::string join = options.join;
  for (int i = 1; join.empty() && i <= 9; ++i) {
    if (i == node) continue;
    auto pid = read_pid_file(layout.pid_file(i));
    if (pid && process_alive(*pid) && process_is(*pid, "raftkv-server")) {
      join = layout.client_addr(i);
    }
  }
  if (join.empty()) {
    fmt::print(stderr, "error: no running node in {} to join; start the cluster first\n",
               layout.dir.string());
    return 1;
  }
  auto join_addr = client::parse_host_port(join);
  if (!join_addr) {
    fmt::print(stderr, "error: --join: {}\n", join_addr.status().message());
    return 2;
  }
  if (Status secret = ensure_cluster_secret(layout); !secret) {
    fmt::print(stderr, "error: {}\n", secret.message());
    return 1;
  }
  fs::create_directories(layout.data_dir(node), ec);
  auto argv = join_command_line(layout, node, server_bin, join);
  const auto tls = peer_tls_args(options.peer_tls_dir, node);
  argv.insert(argv.end(), tls.begin(), tls.end());
  argv.insert(argv.end(), options.extra_server_args.begin(), options.extra_server_args.end());
  auto pid = spawn_server(argv, layout.log_file(node));
  if (!pid) {
    fmt::print(stderr, "error: node {}: {}\n", node, pid.status().message());
    return 1;
  }
  if (Status written = write_pid_file(layout.pid_file(node), *pid); !written) {
    fmt::print(stderr, "error: {}\n", written.message());
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  if (!wait_until_serving({layout.host, layout.client_port(node)}, *pid, deadline)) {
    fmt::print(stderr, "node {} (pid {}) is not serving on {}; last lines of {}:\n{}", node, *pid,
               layout.client_addr(node), layout.log_file(node).string(),
               tail_of(layout.log_file(node), 10));
    return 1;
  }
  // Joining: the cluster adds the node as a learner, then promotes it once caught up. Wait
  // (bounded) until the membership names it; a failed LIST is retried until the deadline.
  client::ClientOptions client_options;
  client_options.seeds = {*join_addr};
  client_options.sessions = false;
  client::Client member_client(client_options);
  std::optional<resp::Reply> list;
  while (std::chrono::steady_clock::now() < deadline) {
    auto reply = member_client.command({"RAFTKV.MEMBER", "LIST"});
    if (reply && member_row(*reply, node) != nullptr) {
      list = std::move(reply).value();
      break;
    }
    // The join is in progress and announces nothing we can wait on: look again shortly.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fmt::print("node {} (pid {}): client {}, peer {}:{}, admin {}:{}, data {}\n", node, *pid,
             layout.client_addr(node), layout.host, layout.peer_port(node), layout.host,
             layout.admin_port(node), layout.data_dir(node).string());
  if (!list) {
    fmt::print(stderr,
               "node {} serves but is not a member after {} ms; see {} and `raftkv member "
               "list --addrs {}`\n",
               node, options.ready_timeout.count(), layout.log_file(node).string(), join);
    return 1;
  }
  auto table = format_member_table(*list);
  fmt::print("{}", table ? *table : table.status().message() + "\n");
  return 0;
}

int cluster_stop(const ClusterLayout& layout, std::chrono::milliseconds timeout) {
  int exit_code = 0;
  for (int i = 1; i <= 9; ++i) {  // every node that may have been started, whatever --nodes
    const fs::path pid_path = layout.pid_file(i);
    auto pid = read_pid_file(pid_path);
    if (!pid) {
      if (pid.code() == ErrorCode::kInvalidArgument) {
        fmt::print(stderr, "node {}: {}\n", i, pid.status().message());
        exit_code = 1;
      }
      continue;
    }
    if (!process_alive(*pid) || !process_is(*pid, "raftkv-server")) {
      fmt::print("node {}: not running (stale pid {}); removing {}\n", i, *pid, pid_path.string());
      fs::remove(pid_path);
      continue;
    }
    ::kill(*pid, SIGTERM);
    if (wait_for_exit(*pid, timeout)) {
      fmt::print("node {}: stopped (pid {})\n", i, *pid);
      fs::remove(pid_path);
    } else {
      fmt::print(stderr,
                 "node {}: pid {} did not exit within {} ms after SIGTERM; "
                 "kill it with `kill -9 {}`\n",
                 i, *pid, timeout.count(), *pid);
      exit_code = 1;
    }
  }
  return exit_code;
}

std::vector<std::pair<std::string, std::string>> parse_info(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return fields;
}

int cluster_status(const ClusterLayout& layout) {
  if (Status valid = validate_layout(layout); !valid) {
    fmt::print(stderr, "error: {}\n", valid.message());
    return 2;
  }
  const std::vector<std::string> columns{"role",         "term",          "leader_id",
                                         "commit_index", "applied_index", "last_index"};
  fmt::print("{:<5} {:>8} {:<8} {:<16}", "node", "pid", "process", "client");
  for (const auto& c : columns) fmt::print(" {:>13}", c);
  fmt::print("\n");
  int serving = 0;
  // Nodes added with `cluster add` are shown too.
  const int nodes = std::max(layout.nodes, highest_node_in_dir(layout));
  for (int i = 1; i <= nodes; ++i) {
    auto pid = read_pid_file(layout.pid_file(i));
    const bool alive = pid && process_alive(*pid);
    fmt::print("{:<5} {:>8} {:<8} {:<16}", i, pid ? std::to_string(*pid) : "-",
               alive ? "running" : "stopped", layout.client_addr(i));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    auto connection = client::Connection::open({layout.host, layout.client_port(i)}, deadline);
    Result<resp::Reply> reply = connection ? connection.value()->call({"INFO", "raft"}, deadline)
                                           : Result<resp::Reply>(connection.status());
    if (!reply || reply->type != resp::Reply::Type::kBulk) {
      fmt::print("  unreachable: {}\n",
                 reply ? resp::to_debug_string(*reply) : reply.status().message());
      continue;
    }
    ++serving;
    const auto fields = parse_info(reply->text);
    for (const auto& column : columns) {
      std::string value = "?";
      for (const auto& [name, v] : fields) {
        if (name == column) value = v;
      }
      fmt::print(" {:>13}", value);
    }
    fmt::print("\n");
  }
  return serving == nodes ? 0 : 1;
}

}  // namespace raftkv::cli
