"""Real raftkv-server processes on loopback: what a Redis user relies on, under crashes.

Usage: cluster_test.py SERVER_BIN (run by CTest, label `integration`).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.request

import redis

from cluster import Cluster

SERVER_BIN = None


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(SERVER_BIN)
        self.c.start_all()

    def tearDown(self):
        self.c.finish()

    def test_basic_read_write_through_redis_cli_cluster_mode(self):
        l = self.c.leader()
        f = next(i for i in self.c.ids() if i != l)
        port = str(self.c.client_ports[f - 1])
        # Sent to a follower: redis-cli -c follows MOVED to the leader.
        out = subprocess.run(["redis-cli", "-c", "-p", port, "SET", "greeting", "hello"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout.strip(), "OK", out.stdout + out.stderr)
        out = subprocess.run(["redis-cli", "-c", "-p", port, "GET", "greeting"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout.strip(), "hello")
        # Without -c a follower answers MOVED with the leader's address.
        with self.assertRaises(redis.ResponseError) as e:
            self.c.client(f).get("greeting")
        self.assertIn(f"MOVED", str(e.exception))
        self.assertIn(f"127.0.0.1:{self.c.client_ports[l - 1]}", str(e.exception))
        self.assertEqual(self.c.client(l).mget("greeting", "nope"), [b"hello", None])

    def test_kill_leader_loses_no_acknowledged_write(self):
        acked = {}
        for k in range(60):
            self.assertTrue(self.c.write(f"k{k}", f"v{k}"))
            acked[f"k{k}"] = f"v{k}"
        old = self.c.leader()
        self.c.kill(old)  # kill -9
        for k in range(60, 120):
            self.assertTrue(self.c.write(f"k{k}", f"v{k}"), "writes must continue")
            acked[f"k{k}"] = f"v{k}"
        new = self.c.leader()
        self.assertNotEqual(new, old)
        # The new leader counts the election it won and the leader change it saw.
        metrics = self.c.metrics(new)
        self.assertGreaterEqual(metrics["raftkv_elections_started_total"], 1)
        self.assertGreaterEqual(metrics["raftkv_elections_won_total"], 1)
        self.assertGreaterEqual(metrics["raftkv_leader_changes_total"], 2)
        # The node's queues are visible (docs/node.md) and drain once the writes are done.
        for name in ("raftkv_inbox_bytes", "raftkv_inbox_dropped_total", "raftkv_apps_refused_total",
                     "raftkv_persist_backlog_bytes", "raftkv_apply_backlog_bytes",
                     "raftkv_pending_reads"):
            self.assertIn(name, metrics)
        self.assertIn("apply_backlog_bytes", self.c.info_raft(new))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = self.c.metrics(new)
            if m["raftkv_apply_backlog_bytes"] == 0 and m["raftkv_pending_reads"] == 0 and \
                    m["raftkv_persist_backlog_bytes"] == 0:
                break
            time.sleep(0.05)  # bounded by the deadline
        else:
            self.fail(f"queues did not drain on an idle leader: {m}")
        # The old leader restarts from its disk and catches up.
        self.c.start(old)
        commit = int(self.c.info_raft(new)["commit_index"])
        self.c.wait_applied(old, commit)
        # Every node stops at once; all acknowledged data comes back.
        for i in list(self.c.procs):
            self.c.kill(i)
        self.c.start_all()
        l = self.c.leader()
        got = self.c.client(l).mget(list(acked))
        self.assertEqual([g.decode() for g in got], list(acked.values()))

    def test_paused_old_leader_never_serves_a_stale_read(self):
        self.assertTrue(self.c.write("x", "old"))
        old = self.c.leader()
        self.c.kill(old, signal.SIGSTOP)
        try:
            new = self.c.leader(among=[i for i in self.c.ids() if i != old])
            self.assertTrue(self.c.client(new).set("x", "new"))
        finally:
            self.c.kill(old, signal.SIGCONT)
        # The old leader wakes up still believing it leads; its read must not return "old".
        try:
            v = self.c.client(old, timeout=10).get("x")
            self.assertEqual(v, b"new")
        except redis.ResponseError as e:
            self.assertRegex(str(e), r"^(MOVED|TRYAGAIN|CLUSTERDOWN)")

    def test_retried_request_applies_once(self):
        l = self.c.leader()
        r = self.c.client(l)
        for _ in range(3):  # the same request, retried
            self.assertEqual(r.execute_command("RAFTKV.REQ", 991, 1, 0, "INCR", "n"), 1)
        self.assertEqual(r.execute_command("RAFTKV.REQ", 991, 2, 1, "APPEND", "s", "ab"), 2)
        self.assertEqual(r.execute_command("RAFTKV.REQ", 991, 2, 1, "APPEND", "s", "ab"), 2)
        self.assertEqual(r.get("n"), b"1")
        self.assertEqual(r.get("s"), b"ab")

    def test_sigterm_hands_leadership_over(self):
        l = self.c.leader()
        self.assertEqual(self.c.kill(l, signal.SIGTERM), 0)
        new = self.c.leader(among=[i for i in self.c.ids() if i != l], timeout=10)
        self.assertTrue(self.c.client(new).set("after", "term"))

    def test_admin_http_reports_health_status_and_latency_histograms(self):
        l = self.c.leader()
        r = self.c.client(l)
        for k in range(20):
            r.set(f"m{k}", "v")
            r.get(f"m{k}")
        base = f"http://127.0.0.1:{self.c.admin_ports[l - 1]}"
        self.assertEqual(urllib.request.urlopen(base + "/healthz", timeout=5).read(), b"ok\n")
        status = json.loads(urllib.request.urlopen(base + "/status", timeout=5).read())
        self.assertEqual(status["role"], "leader")
        self.assertEqual(len(status["members"]), 3)
        self.assertEqual(sorted(f["id"] for f in status["followers"]),
                         sorted(i for i in self.c.ids() if i != l))
        metrics = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        self.assertIn("raftkv_is_leader 1", metrics)
        self.assertRegex(metrics, r'raftkv_request_duration_seconds_count\{command="set"\} 2\d')
        self.assertRegex(metrics, r'raftkv_request_duration_seconds_count\{command="get"\} 2\d')
        self.assertRegex(metrics, r"raftkv_fsync_duration_seconds_count [1-9]")

    @unittest.skipIf(not os.environ.get("RAFTKV_CLI"), "RAFTKV_CLI (the raftkv binary) not set")
    def test_cluster_rw_bench_reports_figures(self):
        # Figures only (this machine is shared and noisy): the assertion is on errors, not speed.
        addrs = ",".join(f"127.0.0.1:{p}" for p in self.c.client_ports)
        self.c.leader()
        out = subprocess.run([os.environ["RAFTKV_CLI"], "bench", "--addrs", addrs,
                              "--clients", "8", "--duration", "3", "--value-size", "100",
                              "--keys", "1000", "--write-ratio", "0.5", "--json"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        print(f"\ncluster rw bench: {json.dumps(report)}", file=sys.stderr)
        self.assertEqual(report["errors"], 0)
        self.assertGreater(report["ops"], 0)

    @unittest.skipIf(shutil.which("redis-benchmark") is None, "redis-benchmark not installed")
    def test_redis_benchmark_runs_without_errors(self):
        l = self.c.leader()
        out = subprocess.run(["redis-benchmark", "-p", str(self.c.client_ports[l - 1]),
                              "-t", "set,get", "-n", "2000", "-c", "8", "-d", "100",
                              "-r", "1000", "-q"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("ERR", out.stdout + out.stderr)
        self.assertGreater(int(self.c.client(l).dbsize()), 0)


if __name__ == "__main__":
    SERVER_BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
