"""Snapshots and log compaction with real raftkv-server processes (CTest label `snapshot`).

Usage: snapshot_test.py SERVER_BIN

What is asserted are sizes, counters and state digests (deterministic), never times.
"""
import os
import signal
import subprocess
import sys
import time
import unittest

import redis

from cluster import Cluster

SERVER_BIN = None
SANITIZED = bool(os.environ.get("RAFTKV_SANITIZED"))
SEGMENT = 4 << 20  # --wal-segment-bytes for these tests


def files(d, suffix):
    return sorted(n for n in os.listdir(d) if n.endswith(suffix))


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class SnapshotTest(unittest.TestCase):
    def start(self, *extra):
        self.c = Cluster(SERVER_BIN, extra_args=["--wal-segment-bytes", str(SEGMENT)] + list(extra))
        self.c.start_all()

    def tearDown(self):
        self.c.finish()

    def node_dir(self, i):
        return os.path.join(self.c.dir, f"node-{i}")

    def load(self, n, prefix="k", value_bytes=100, batch=500):
        """SETs n keys through the leader in pipelines; returns the values written."""
        deadline = time.monotonic() + 600
        written = 0
        while written < n:
            self.assertLess(time.monotonic(), deadline, "load did not finish")
            try:
                l = self.c.leader()
                pipe = self.c.client(l, timeout=20).pipeline(transaction=False)
                end = min(n, written + batch)
                for k in range(written, end):
                    pipe.set(f"{prefix}{k}", f"{k:08d}".ljust(value_bytes, "v"))
                pipe.execute()
                written = end
            except (redis.RedisError, OSError):
                time.sleep(0.1)  # leader change under load: the batch is re-sent (idempotent)

    def info(self, i):
        info = self.c.info_raft(i)
        self.assertIsNotNone(info, f"node {i} does not answer INFO")
        return info

    def caught_up(self, timeout=120.0):
        """Waits until every live node applied the leader's commit index; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            l = self.c.leader()
            commit = int(self.info(l)["commit_index"])
            if all(int((self.c.info_raft(i) or {}).get("applied_index", 0)) >= commit
                   for i in self.c.ids() if self.c.alive(i)):
                return commit
            time.sleep(0.05)
        raise AssertionError(f"nodes did not catch up within {timeout}s; logs in {self.c.dir}")

    def digests(self):
        """(applied index, digest) per live node, read with READONLY at a linearizable point."""
        out = {}
        for i in self.c.ids():
            if not self.c.alive(i):
                continue
            conn = self.c.client(i, timeout=20)
            conn.execute_command("READONLY")
            applied, digest = conn.execute_command("RAFTKV.DIGEST")
            out[i] = (int(applied), digest)
        return out

    def members_settled(self, timeout=60.0):
        """Until every live node is a caught-up voter in the leader's RAFTKV.MEMBER LIST: a
        wiped node is re-admitted (learner, then voter) by entries of its own, so states are
        comparable only once those have been applied everywhere."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            try:
                seen = self.c.member_list(self.c.leader())
                if all(seen.get(i, ("", "", "", ""))[2:] == ("voter", "caught-up")
                       for i in self.c.ids() if self.c.alive(i)):
                    return
            except (redis.RedisError, OSError, AssertionError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"members {seen} not all caught-up voters; logs in {self.c.dir}")

    def assert_identical_state(self, timeout=60.0):
        """Replicas that applied the same index have the same digest. Digests read at
        different indexes (an entry committed between two reads) are read again."""
        self.members_settled()
        deadline = time.monotonic() + timeout
        while True:
            self.caught_up()
            d = self.digests()
            if len({applied for applied, _ in d.values()}) == 1:
                break
            self.assertLess(time.monotonic(), deadline, f"applied indexes keep moving: {d}")
        self.assertEqual(len({v for v in d.values()}), 1, f"replicas differ: {d}")

    # -----------------------------------------------------------------------------------------

    def test_200k_keys_keep_disk_and_memory_bounded(self):
        self.start("--snapshot-entries", "20000", "--snapshot-keep-entries", "2000")
        n = 40_000 if SANITIZED else 200_000
        self.load(n)
        self.caught_up()
        l = self.c.leader()
        self.assertEqual(self.c.client(l).dbsize(), n)
        for i in self.c.ids():
            d = self.node_dir(i)
            segments = files(d, ".log")
            snaps = files(d, ".snap")
            info = self.info(i)
            # 200k SETs write ~40 MB of log; compaction keeps the tail behind the newest
            # snapshot (2,000 entries) plus the entries since it (< 20,000): a few segments.
            self.assertLessEqual(len(segments), 4, f"node {i}: {segments}")
            self.assertEqual(len(snaps), 1, f"node {i}: {snaps}")
            self.assertGreater(int(info["snapshot_index"]), n - 20_000 - 100)
            snap_bytes = os.path.getsize(os.path.join(d, snaps[0]))
            bound = 4 * SEGMENT + 2 * snap_bytes
            self.assertLessEqual(dir_bytes(d), bound, f"node {i}: {sorted(os.listdir(d))}")
            if not SANITIZED:
                # ~200k × (100 B value + key + skiplist node) plus the WAL's 64 MiB entry cache.
                self.assertLess(rss_bytes(self.c.procs[i].pid), 400 << 20, f"node {i}")
            print(f"node {i}: {len(segments)} segment(s), snapshot {snap_bytes} B, "
                  f"dir {dir_bytes(d)} B (bound {bound}), rss {rss_bytes(self.c.procs[i].pid)} B",
                  file=sys.stderr)
        self.assert_identical_state()

    def test_wiped_follower_catches_up_by_snapshot_with_identical_state(self):
        self.start("--snapshot-entries", "3000", "--snapshot-keep-entries", "500")
        self.load(12_000)
        l = self.c.leader()
        f = next(i for i in self.c.ids() if i != l)
        self.c.kill(f)
        self.load(3_000, prefix="after")
        import shutil
        shutil.rmtree(self.node_dir(f))
        self.c.start(f)
        self.assert_identical_state()
        info = self.info(f)
        self.assertGreaterEqual(int(info["snapshots_received"]), 1, info)
        self.assertGreater(int(info["snapshot_index"]), 0)
        self.assertEqual(self.c.client(self.c.leader()).dbsize(), 15_000)

    def test_follower_killed_mid_transfer_resumes_the_transfer(self):
        # ~6 MB snapshot sent at 1 MB/s in 64 KiB chunks: the transfer takes seconds, so the
        # follower can be killed while its .partial file is part-way.
        self.start("--snapshot-entries", "5000", "--snapshot-keep-entries", "500",
                   "--snapshot-chunk-bytes", "65536", "--snapshot-transfer-rate", "1000000")
        self.load(40_000)
        l = self.c.leader()
        f = next(i for i in self.c.ids() if i != l)
        self.c.kill(f)
        import shutil
        shutil.rmtree(self.node_dir(f))
        self.c.start(f)
        deadline = time.monotonic() + 120
        partial = None
        while time.monotonic() < deadline:
            if os.path.isdir(self.node_dir(f)):
                p = files(self.node_dir(f), ".partial")
                if p and os.path.getsize(os.path.join(self.node_dir(f), p[0])) > (1 << 20):
                    partial = p[0]
                    break
            time.sleep(0.02)
        self.assertIsNotNone(partial, "no partial snapshot appeared on the wiped follower")
        self.c.kill(f)
        held = os.path.getsize(os.path.join(self.node_dir(f), partial))
        self.c.start(f)
        self.assert_identical_state()
        info = self.info(f)
        self.assertGreaterEqual(int(info["snapshot_transfers_resumed"]), 1, info)
        self.assertGreaterEqual(int(info["snapshots_received"]), 1, info)
        # Resumed, not restarted: the restarted follower received only what it lacked.
        status = self.admin_status(f)
        total = status["snapshot"]["bytes_received"]
        self.assertLess(total, self.snapshot_file_bytes(l) - held + (1 << 20),
                        f"received {total} B after holding {held} B")

    def test_all_nodes_restart_from_snapshot_plus_tail(self):
        self.start("--snapshot-entries", "4000", "--snapshot-keep-entries", "500")
        self.load(10_000)
        self.load(1_000, prefix="tail")  # after the last snapshot: replayed from the log
        self.caught_up()
        for i in self.c.ids():
            self.assertGreater(int(self.info(i)["snapshot_index"]), 0)
            self.c.kill(i)
        self.c.start_all()
        self.caught_up()
        l = self.c.leader()
        self.assertEqual(self.c.client(l).dbsize(), 11_000)
        conn = self.c.client(l)
        for k in range(0, 10_000, 997):
            self.assertEqual(conn.get(f"k{k}")[:8], f"{k:08d}".encode())
        for k in range(1_000):
            self.assertEqual(conn.get(f"tail{k}")[:8], f"{k:08d}".encode())
        # The digest covers the applied index too, so replicas are compared with each other.
        self.assert_identical_state()

    def test_bad_snapshot_settings_are_refused_with_a_clear_error(self):
        self.start()
        self.c.close()
        out = subprocess.run([SERVER_BIN, "--id", "1", "--client-addr", "127.0.0.1:1",
                              "--peer-addr", "127.0.0.1:2", "--peers", "1=127.0.0.1:2",
                              "--data-dir", self.node_dir(1), "--snapshot-chunk-bytes", "1"],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--snapshot-chunk-bytes", out.stderr + out.stdout)

    # -----------------------------------------------------------------------------------------

    def admin_status(self, i):
        import json
        import urllib.request
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.c.admin_ports[i - 1]}/status", timeout=10) as r:
            return json.loads(r.read())

    def snapshot_file_bytes(self, i):
        d = self.node_dir(i)
        return max(os.path.getsize(os.path.join(d, n)) for n in files(d, ".snap"))


if __name__ == "__main__":
    SERVER_BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
