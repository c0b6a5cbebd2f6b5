// The raftkv tool's logic: cluster layout and command lines, pid files, stop's safety checks,
// start/status/stop against a stand-in server (redis-server under the name raftkv-server), and
// the benchmark against a real redis-server.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "bench.h"
#include "cluster.h"
#include "fake_resp_server.h"
#include "member.h"
#include "redis_process.h"

namespace raftkv::cli {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("raftkv-cli-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// A child that lives until we kill it (blocks reading a pipe nobody writes).
pid_t spawn_idle_child() {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    char c;
    ::close(fds[1]);
    (void)::read(fds[0], &c, 1);
    ::_exit(0);
  }
  ::close(fds[0]);
  return pid;  // the write end stays open in the parent until exit: child blocks
}

TEST(ClusterLayout, PortsPathsAndServerCommandLine) {
  ClusterLayout layout;
  layout.nodes = 3;
  layout.dir = "/tmp/c";
  layout.base_port = 7000;
  EXPECT_EQ(layout.client_port(1), 7001);
  EXPECT_EQ(layout.peer_port(2), 7102);
  EXPECT_EQ(layout.admin_port(3), 7203);
  EXPECT_EQ(layout.pid_file(2), fs::path("/tmp/c/node-2.pid"));
  EXPECT_EQ(client_addresses(layout), "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003");
  EXPECT_EQ(server_command_line(layout, 2, "/bin/raftkv-server"),
            (std::vector<std::string>{
                "/bin/raftkv-server", "--id", "2", "--client-addr", "127.0.0.1:7002", "--peer-addr",
                "127.0.0.1:7102", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103",
                "--clients", "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003", "--data-dir",
                "/tmp/c/node-2", "--admin-addr", "127.0.0.1:7202", "--cluster-secret-file",
                "/tmp/c/cluster-secret"}));
  EXPECT_TRUE(validate_layout(layout).is_ok());
  layout.nodes = 0;
  EXPECT_FALSE(validate_layout(layout).is_ok());
  layout.nodes = 5;
  layout.base_port = 65400;
  EXPECT_FALSE(validate_layout(layout).is_ok());
}

// The local cluster is protected by default (issue 13): one secret per cluster directory,
// readable by its owner only, kept across restarts.
TEST(ClusterSecret, GeneratedOnceWithMode600AndKept) {
  TempDir dir;
  ClusterLayout layout;
  layout.dir = dir.path();
  ASSERT_TRUE(ensure_cluster_secret(layout).is_ok());
  const fs::perms perms = fs::status(layout.secret_file()).permissions();
  EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto read = [&] {
    std::ifstream in(layout.secret_file());
    std::string s;
    std::getline(in, s);
    return s;
  };
  const std::string first = read();
  EXPECT_EQ(first.size(), 64u);
  ASSERT_TRUE(ensure_cluster_secret(layout).is_ok());
  EXPECT_EQ(read(), first);
  TempDir other;
  layout.dir = other.path();
  ASSERT_TRUE(ensure_cluster_secret(layout).is_ok());
  EXPECT_NE(read(), first);
}

TEST(ClusterStart, PeerTlsArgumentsNameTheNodesOwnCertificate) {
  EXPECT_TRUE(peer_tls_args("", 2).empty());
  EXPECT_EQ(peer_tls_args("/pki", 2),
            (std::vector<std::string>{"--peer-tls-cert", "/pki/node-2.crt", "--peer-tls-key",
                                      "/pki/node-2.key", "--peer-tls-ca", "/pki/ca.crt"}));
}

TEST(PidFile, RoundTripMissingAndGarbage) {
  TempDir dir;
  const fs::path path = dir.path() / "node-1.pid";
  EXPECT_EQ(read_pid_file(path).code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(write_pid_file(path, 4242).is_ok());
  auto pid = read_pid_file(path);
  ASSERT_TRUE(pid.is_ok());
  EXPECT_EQ(*pid, 4242);
  for (const char* garbage : {"", "abc", "-5", "0", "12x", "99999999999"}) {
    std::ofstream(path, std::ios::trunc) << garbage;
    EXPECT_EQ(read_pid_file(path).code(), ErrorCode::kInvalidArgument) << garbage;
  }
}

TEST(Process, AliveIdentityAndWaitForExit) {
  EXPECT_TRUE(process_alive(::getpid()));
  EXPECT_TRUE(process_is(::getpid(), "cli_test"));
  EXPECT_FALSE(process_is(::getpid(), "raftkv-server"));
  const pid_t child = spawn_idle_child();
  ASSERT_GT(child, 0);
  EXPECT_TRUE(process_alive(child));
  EXPECT_FALSE(wait_for_exit(child, std::chrono::milliseconds(10)));
  ::kill(child, SIGTERM);
  EXPECT_TRUE(wait_for_exit(child, std::chrono::seconds(10)));
  EXPECT_FALSE(process_alive(child));  // reaped by wait_for_exit
}

TEST(ClusterStop, StalePidFilesAreRemovedAndForeignProcessesSpared) {
  TempDir dir;
  ClusterLayout layout;
  layout.dir = dir.path();
  layout.nodes = 2;
  // node-1: a process that is not a raftkv-server (as after pid reuse); node-2: a dead pid.
  const pid_t foreign = spawn_idle_child();
  ASSERT_TRUE(write_pid_file(layout.pid_file(1), foreign).is_ok());
  const pid_t dead = spawn_idle_child();
  ::kill(dead, SIGKILL);
  ASSERT_TRUE(wait_for_exit(dead, std::chrono::seconds(10)));
  ASSERT_TRUE(write_pid_file(layout.pid_file(2), dead).is_ok());

  EXPECT_EQ(cluster_stop(layout, std::chrono::seconds(1)), 0);
  EXPECT_FALSE(fs::exists(layout.pid_file(1)));
  EXPECT_FALSE(fs::exists(layout.pid_file(2)));
  EXPECT_TRUE(process_alive(foreign));  // never signalled
  ::kill(foreign, SIGKILL);
  EXPECT_TRUE(wait_for_exit(foreign, std::chrono::seconds(10)));
}

TEST(ClusterStart, MissingServerBinaryIsAUsageError) {
  TempDir dir;
  ClusterLayout layout;
  layout.dir = dir.path();
  ClusterStartOptions options;
  options.server_bin = (dir.path() / "no-such-raftkv-server").string();
  EXPECT_EQ(cluster_start(layout, options), 2);
}

TEST(Info, ParsesFieldsAndSkipsSections) {
  const auto fields = parse_info("# Raft\r\nrole:leader\r\nterm:3\r\n\r\nmembers:1,2,3\r\n");
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"role", "leader"}));
  EXPECT_EQ(fields[2].second, "1,2,3");
}

TEST(ClusterStart, StartStatusStopWithAStandInServer) {
  const std::string redis = client::testing::find_redis_server();
  if (redis.empty()) GTEST_SKIP() << "redis-server not installed";
  TempDir dir;
  // The stand-in takes raftkv-server's flags and runs redis-server under that name.
  const fs::path stand_in = dir.path() / "raftkv-server";
  std::ofstream(stand_in) << "#!/bin/bash\n"
                             "while [ $# -gt 0 ]; do case \"$1\" in\n"
                             "  --client-addr) addr=$2; shift 2;;\n"
                             "  --data-dir) data=$2; shift 2;;\n"
                             "  *) shift;; esac; done\n"
                             "exec -a raftkv-server "
                          << redis
                          << " --bind 127.0.0.1 --port ${addr##*:} --save '' --appendonly no"
                             " --dir \"$data\" --set-proc-title no\n";
  fs::permissions(stand_in, fs::perms::owner_all);

  ClusterLayout layout;
  layout.dir = dir.path() / "cluster";
  layout.nodes = 1;
  layout.base_port = static_cast<uint16_t>(client::testing::unused_loopback_port() - 1);
  ClusterStartOptions options;
  options.server_bin = stand_in.string();
  // Whatever happens below, stop what was started.
  struct StopAtExit {
    const ClusterLayout& layout;
    ~StopAtExit() { cluster_stop(layout, std::chrono::seconds(10)); }
  } stop_at_exit{layout};
  ASSERT_EQ(cluster_start(layout, options), 0);
  auto pid = read_pid_file(layout.pid_file(1));
  ASSERT_TRUE(pid.is_ok());
  EXPECT_TRUE(process_is(*pid, "raftkv-server"));
  EXPECT_EQ(cluster_start(layout, options), 1);  // already running
  EXPECT_EQ(cluster_status(layout), 0);          // reachable (redis answers INFO raft empty)
  EXPECT_EQ(cluster_stop(layout, std::chrono::seconds(10)), 0);
  EXPECT_FALSE(process_alive(*pid));
  EXPECT_FALSE(fs::exists(layout.pid_file(1)));
  EXPECT_EQ(cluster_status(layout), 1);  // nothing serving
}

TEST(ClusterAdd, JoinCommandLineAndNodesFoundInTheDirectory) {
  TempDir dir;
  ClusterLayout layout;
  layout.dir = dir.path();
  EXPECT_EQ(join_command_line(layout, 4, "/bin/raftkv-server", "127.0.0.1:7001"),
            (std::vector<std::string>{
                "/bin/raftkv-server", "--id", "4", "--client-addr", "127.0.0.1:7004", "--peer-addr",
                "127.0.0.1:7104", "--data-dir", (dir.path() / "node-4").string(), "--admin-addr",
                "127.0.0.1:7204", "--cluster-secret-file", (dir.path() / "cluster-secret").string(),
                "--join", "127.0.0.1:7001"}));
  EXPECT_EQ(highest_node_in_dir(layout), 0);
  fs::create_directories(layout.data_dir(1));
  fs::create_directories(layout.data_dir(3));
  EXPECT_EQ(highest_node_in_dir(layout), 3);
  ASSERT_TRUE(write_pid_file(layout.pid_file(5), 123).is_ok());
  EXPECT_EQ(highest_node_in_dir(layout), 5);
}

TEST(ClusterAdd, RefusesAUsedDataDirectoryAndAClusterWithNothingRunning) {
  TempDir dir;
  ClusterLayout layout;
  layout.dir = dir.path();
  ClusterAddOptions options;
  options.server_bin = "/bin/true";
  options.id = 2;
  fs::create_directories(layout.data_dir(2));
  std::ofstream(layout.data_dir(2) / "wal-0001") << "x";
  EXPECT_EQ(cluster_add(layout, options), 1) << "node 2's data directory is not empty";
  options.id = 4;
  EXPECT_EQ(cluster_add(layout, options), 1) << "no running node to join";
  EXPECT_FALSE(fs::exists(layout.pid_file(4))) << "nothing was started";
  options.id = 10;
  EXPECT_EQ(cluster_add(layout, options), 2);
}

resp::Reply member_row(int64_t id, std::string role, std::string state) {
  return resp::Reply::array(
      {resp::Reply::integer_reply(id), resp::Reply::bulk(fmt::format("127.0.0.1:71{:02}", id)),
       resp::Reply::bulk(fmt::format("127.0.0.1:70{:02}", id)), resp::Reply::bulk(std::move(role)),
       resp::Reply::bulk(std::move(state))});
}

TEST(Member, ListIsPrintedAsATable) {
  const auto table = format_member_table(resp::Reply::array(
      {member_row(1, "voter", "caught-up"), member_row(4, "learner", "catching-up")}));
  ASSERT_TRUE(table.is_ok()) << table.status().to_string();
  EXPECT_EQ(*table,
            "id    role     state              peer                   client\n"
            "1     voter    caught-up          127.0.0.1:7101         127.0.0.1:7001\n"
            "4     learner  catching-up        127.0.0.1:7104         127.0.0.1:7004\n");
  EXPECT_FALSE(format_member_table(resp::Reply::simple("OK")).is_ok());
  EXPECT_FALSE(
      format_member_table(resp::Reply::array({resp::Reply::array({resp::Reply::bulk("1")})}))
          .is_ok());
}

// The command goes to any node; a MOVED reply is followed to the leader; +OK exits 0 and an
// error reply exits 1 without being retried.
TEST(Member, CommandsFollowMovedAndReportErrors) {
  client::testing::FakeRespServer leader([](const std::vector<std::string>& args, size_t) {
    if (args.size() >= 3 && args[1] == "ADD" && args[2] == "4") {
      return client::testing::ScriptedAnswer::answer(resp::Reply::simple("OK"));
    }
    if (args.size() == 2 && args[1] == "LIST") {
      return client::testing::ScriptedAnswer::answer(
          resp::Reply::array({member_row(1, "voter", "caught-up")}));
    }
    return client::testing::ScriptedAnswer::answer(
        resp::Reply::error("ERR another membership change is in progress"));
  });
  client::testing::FakeRespServer follower([&](const std::vector<std::string>&, size_t) {
    return client::testing::ScriptedAnswer::answer(
        resp::Reply::error(fmt::format("MOVED 0 127.0.0.1:{}", leader.port())));
  });
  AdminOptions options;
  options.addrs = {follower.address()};
  options.timeout = std::chrono::milliseconds(10000);
  EXPECT_EQ(run_admin_command(options, {"RAFTKV.MEMBER", "ADD", "4", "h:1", "h:2"}), 0);
  EXPECT_EQ(run_admin_command(options, {"RAFTKV.MEMBER", "LIST"}), 0);
  EXPECT_EQ(run_admin_command(options, {"RAFTKV.MEMBER", "REMOVE", "2"}), 1);
  const auto received = leader.received();
  ASSERT_EQ(received.size(), 3u) << "an error reply is not retried";
  EXPECT_EQ(received[0], (std::vector<std::string>{"RAFTKV.MEMBER", "ADD", "4", "h:1", "h:2"}));
  EXPECT_EQ(received[2], (std::vector<std::string>{"RAFTKV.MEMBER", "REMOVE", "2"}));
  EXPECT_EQ(follower.received().size(), 3u);
}

TEST(Bench, BoundedRunAgainstRedisServer) {
  const std::string redis = client::testing::find_redis_server();
  if (redis.empty()) GTEST_SKIP() << "redis-server not installed";
  client::testing::RedisProcess server;
  ASSERT_TRUE(server.start(redis));
  BenchOptions options;
  options.addrs = {{"127.0.0.1", server.port()}};
  options.clients = 2;
  options.duration_s = 30;  // bounded by max_ops long before
  options.max_ops = 300;
  options.keys = 10;
  options.value_size = 32;
  options.write_ratio = 0.5;
  options.sessions = false;  // redis-server does not know RAFTKV.REQ
  options.call_timeout = std::chrono::milliseconds(10000);
  ASSERT_TRUE(validate_bench_options(options).is_ok());
  const BenchReport report = run_bench(options, nullptr);
  EXPECT_EQ(report.errors, 0u) << report.first_error;
  EXPECT_EQ(report.ops, 300u);
  EXPECT_EQ(report.reads + report.writes, 300u);
  EXPECT_GT(report.writes, 0u);
  EXPECT_GT(report.reads, 0u);
  EXPECT_EQ(report.latency_ns.count(), 300u);
  const auto json = report_to_json(report);
  EXPECT_EQ(json["ops"], 300);
  EXPECT_TRUE(json["latency_us"].contains("p999"));
  EXPECT_LE(json["latency_us"]["p50"].get<double>(), json["latency_us"]["p99"].get<double>());
  EXPECT_NE(format_report(report).find("p99.9"), std::string::npos);
}

TEST(Bench, RejectsBadOptions) {
  BenchOptions options;
  options.addrs = {{"127.0.0.1", 7001}};
  EXPECT_TRUE(validate_bench_options(options).is_ok());
  options.write_ratio = 1.5;
  EXPECT_FALSE(validate_bench_options(options).is_ok());
  options.write_ratio = 0.5;
  options.clients = 0;
  EXPECT_FALSE(validate_bench_options(options).is_ok());
  options.clients = 1;
  options.addrs.clear();
  EXPECT_FALSE(validate_bench_options(options).is_ok());
}

}  // namespace
}  // namespace raftkv::cli
