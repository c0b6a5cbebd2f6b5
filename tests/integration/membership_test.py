"""Membership changes on real raftkv-server processes (issue 12; CTest label `integration`).

Usage: membership_test.py SERVER_BIN

Grow 3 -> 5 and shrink 5 -> 3 under a bounded write load; replace a dead node (REPLACE);
remove the leader; the wiped-disk sequence of the issue (an acknowledged write must survive a
node that lost its disk); a wiped follower re-admitted by itself; --force-new-cluster after
losing 2 of 3. What is asserted: replies, membership lists, acknowledged writes read back and
state digests equal on every member; never times.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import redis

from cluster import Cluster

SERVER_BIN = None
CHANGE_TIMEOUT = 60.0  # a membership change waits for its commit (and catch-up)


class Writer(threading.Thread):
    """Bounded load: SETs w<n> = unique values through the leader until stopped or `limit`
    writes; `acked` holds the writes answered +OK (each key is written once)."""

    def __init__(self, cluster, prefix="w", limit=3000):
        super().__init__(name="writer", daemon=True)
        self.c, self.prefix, self.limit = cluster, prefix, limit
        self.stop = threading.Event()
        self.acked = {}
        self.errors = 0
        self.node = 1
        self.conns = {}  # node -> redis.Redis (its own connection pool)

    def run(self):
        n = 0
        while not self.stop.is_set() and n < self.limit:
            key, value = f"{self.prefix}{n}", f"v{n}-{time.monotonic_ns()}"
            n += 1
            try:
                if self.node not in self.conns:
                    self.conns[self.node] = self.c.client(self.node, 2.0)
                if self.conns[self.node].set(key, value):
                    self.acked[key] = value
            except redis.ResponseError as e:
                self.errors += 1
                msg = str(e)
                if msg.startswith("MOVED"):
                    port = int(msg.split()[-1].rsplit(":", 1)[1])
                    if port in self.c.client_ports:
                        self.node = self.c.client_ports.index(port) + 1
                self.stop.wait(0.01)
            except (redis.RedisError, OSError):
                self.errors += 1
                self.conns.pop(self.node, None)
                self.node = self.node % self.c.n + 1
                self.stop.wait(0.01)

    def wait_more(self, n, timeout=30.0):
        """Until n more writes than now are acknowledged (the load goes on across changes)."""
        target = len(self.acked) + n
        deadline = time.monotonic() + timeout
        while len(self.acked) < target and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.acked) >= target, f"{len(self.acked)} writes acked, wanted {target}"

    def finish(self):
        self.stop.set()
        self.join(timeout=60)
        assert not self.is_alive(), "writer did not stop"
        return self.acked


class MembershipTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(SERVER_BIN)
        self.c.start_all()
        self.c.leader()

    def tearDown(self):
        self.c.finish()

    # --- helpers ---

    def member(self, *args, node=None, timeout=CHANGE_TIMEOUT):
        """RAFTKV.MEMBER/TRANSFER sent to `node` (default: the leader); the reply."""
        node = node or self.c.leader()
        return self.c.client(node, timeout).execute_command(*args)

    def members(self, node=None):
        return self.c.member_list(node or self.c.leader())

    def wait_members(self, expected, timeout=60.0):
        """Until the leader's LIST has exactly the voters `expected`, each caught-up."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            try:
                seen = self.members()
                if set(seen) == set(expected) and all(
                        seen[i][2] == "voter" and seen[i][3] == "caught-up" for i in expected):
                    return seen
            except (redis.RedisError, OSError, AssertionError):
                pass
            time.sleep(0.05)
        self.fail(f"members {seen}, expected voters {sorted(expected)} caught up; "
                  f"logs in {self.c.dir}")

    def join(self, via=1):
        """A new node started with --join; returns its id once it is a caught-up voter."""
        i = self.c.add_node()
        self.c.start_joining(i, via)
        return i

    def wait_identical(self, among, timeout=60.0):
        """Until every node of `among` reports the same (applied index, digest)."""
        deadline = time.monotonic() + timeout
        d = None
        while time.monotonic() < deadline:
            try:
                d = self.c.digests(among)
                if len(set(d.values())) == 1:
                    return d
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
        self.fail(f"replicas differ: {d}; logs in {self.c.dir}")

    def assert_readable(self, acked, among):
        """Every acknowledged write reads back (linearizable GETs through the leader)."""
        leader = self.c.leader(among=among)
        keys = sorted(acked)
        for s in range(0, len(keys), 500):
            chunk = keys[s:s + 500]
            values = self.c.client(leader, 20).mget(chunk)
            for k, v in zip(chunk, values):
                self.assertEqual(v.decode() if v is not None else None, acked[k], k)

    # --- tests ---

    def test_grow_3_to_5_and_shrink_to_3_under_writes(self):
        w = Writer(self.c)
        w.start()
        w.wait_more(50)
        added = []
        for via in (2, 3):
            added.append(self.join(via=via))
            w.wait_more(50)
        self.wait_members([1, 2, 3] + added)
        # Shrink by two of the original nodes, one at a time (each a simple change).
        for old in (1, 2):
            self.assertEqual(self.member("RAFTKV.MEMBER", "REMOVE", old), b"OK")
            self.c.kill(old)
            w.wait_more(50)
        remaining = [3] + added
        self.wait_members(remaining)
        acked = w.finish()
        self.assertGreater(len(acked), 0)
        print(f"grow/shrink: {len(acked)} writes acknowledged, {w.errors} retried errors",
              file=sys.stderr)
        self.assert_readable(acked, remaining)
        self.wait_identical(remaining)

    def test_replace_a_dead_node(self):
        for k in range(50):
            self.assertTrue(self.c.write(f"r{k}", f"v{k}"))
        leader = self.c.leader()
        dead = next(i for i in self.c.ids() if i != leader)
        self.c.kill(dead)
        new = self.c.add_node()
        # REPLACE waits for the new node's catch-up: sent first, answered once it has joined.
        result = {}

        def replace():
            try:
                result["reply"] = self.member("RAFTKV.MEMBER", "REPLACE", dead, new,
                                              self.c.peer_addr(new), self.c.addr(new))
            except redis.RedisError as e:
                result["reply"] = e

        t = threading.Thread(target=replace)
        t.start()
        # Started once REPLACE has made it a learner (docs/membership.md: started earlier, its
        # --join would add it and the leader promote it before the REPLACE).
        deadline = time.monotonic() + 20.0
        while new not in self.members() and t.is_alive():
            self.assertLess(time.monotonic(), deadline, "REPLACE did not add the learner")
            time.sleep(0.02)
        self.c.start_joining(new, via=leader)
        t.join(timeout=CHANGE_TIMEOUT + 10)
        self.assertEqual(result.get("reply"), b"OK")
        alive = [i for i in (1, 2, 3) if i != dead] + [new]
        self.wait_members(alive)
        self.assertTrue(self.c.write("after-replace", "x"))
        self.assert_readable({f"r{k}": f"v{k}" for k in range(50)} | {"after-replace": "x"},
                             alive)
        self.wait_identical(alive)

    def test_remove_the_leader(self):
        self.assertTrue(self.c.write("before", "1"))
        old = self.c.leader()
        # Sent to a follower: forwarded to the leader, which hands over leadership first.
        follower = next(i for i in self.c.ids() if i != old)
        self.assertEqual(self.member("RAFTKV.MEMBER", "REMOVE", old, node=follower), b"OK")
        rest = [i for i in self.c.ids() if i != old]
        new = self.c.leader(among=rest)
        self.assertNotEqual(new, old)
        self.wait_members(rest)
        self.c.kill(old)
        self.assertTrue(self.c.write("after", "2"))
        self.assert_readable({"before": "1", "after": "2"}, rest)
        self.wait_identical(rest)

    def test_wiped_node_never_loses_an_acknowledged_write(self):
        """The sequence of issue 12: n1 loses its disk while holding a write n2 lacks."""
        # Make node 3 the leader.
        self.assertEqual(self.member("RAFTKV.TRANSFER", 3), b"OK")
        self.assertEqual(self.c.leader(), 3)
        self.c.kill(2)
        self.assertEqual(self.c.client(3).set("wipe2", "kept"), True)  # on n3 and n1
        self.c.kill(3)
        self.c.kill(1)
        self.c.wipe(1)
        self.c.start(1)
        self.c.start(2)
        # n2 lacks wipe2 and the wiped n1 must not vote for it: no leader may serve a nil.
        deadline = time.monotonic() + 3.0  # ~15 election timeouts at --tick-ms 20
        while time.monotonic() < deadline:
            for i in (1, 2):
                try:
                    v = self.c.client(i, 0.5).get("wipe2")
                    self.assertEqual(v, b"kept", f"node {i} served {v!r} for an acked write")
                except (redis.ResponseError, redis.ConnectionError, redis.TimeoutError):
                    pass  # no leader without n3: refused, not answered
            time.sleep(0.05)
        self.c.start(3)
        leader = self.c.leader()
        self.assertEqual(self.c.client(leader).get("wipe2"), b"kept")
        # n1 is re-admitted (learner, caught up, promoted) and then holds the write too.
        self.wait_members([1, 2, 3])
        self.assertEqual(self.c.client(self.c.leader()).get("wipe2"), b"kept")
        self.wait_identical([1, 2, 3])

    def test_wiped_follower_is_readmitted_by_itself(self):
        for k in range(100):
            self.assertTrue(self.c.write(f"f{k}", f"v{k}"))
        leader = self.c.leader()
        f = next(i for i in self.c.ids() if i != leader)
        self.c.kill(f)
        self.c.wipe(f)
        self.c.start(f)  # same flags, empty data dir: a new incarnation
        self.wait_members([1, 2, 3])
        self.assertTrue(self.c.write("after-wipe", "y"))
        self.wait_identical([1, 2, 3])
        self.assert_readable({f"f{k}": f"v{k}" for k in range(100)}, [1, 2, 3])

    def test_wiped_member_finds_a_leader_that_is_not_in_its_flags(self):
        # Grown to 4, led by node 4: a wiped node 3 restarted with the original flags (peers
        # 1-3) must find node 4 (the lower id dials) and be re-admitted.
        for k in range(50):
            self.assertTrue(self.c.write(f"g{k}", f"v{k}"))
        four = self.join()
        self.wait_members([1, 2, 3, four])
        self.assertEqual(self.member("RAFTKV.TRANSFER", str(four)), b"OK")
        self.assertEqual(self.c.leader(), four)
        self.c.kill(3)
        self.c.wipe(3)
        self.c.start(3)
        self.wait_members([1, 2, 3, four])
        self.assertTrue(self.c.write("after-wipe", "y"))
        self.wait_identical([1, 2, 3, four])
        self.assert_readable({f"g{k}": f"v{k}" for k in range(50)}, [1, 2, 3, four])

    def test_force_new_cluster_after_losing_two_of_three(self):
        acked = {}
        for k in range(100):
            self.assertTrue(self.c.write(f"s{k}", f"v{k}"))
            acked[f"s{k}"] = f"v{k}"
        leader = self.c.leader()
        survivor = next(i for i in self.c.ids() if i != leader)
        self.c.wait_applied(survivor, int(self.c.info_raft(leader)["commit_index"]))
        for i in self.c.ids():
            self.c.kill(i)
        self.c.extra_args.append("--force-new-cluster")
        self.c.start(survivor)
        self.c.extra_args.remove("--force-new-cluster")
        self.assertEqual(self.c.leader(among=[survivor]), survivor)
        self.assertEqual(set(self.members(survivor)), {survivor})
        self.assert_readable(acked, [survivor])
        self.assertTrue(self.c.client(survivor).set("alone", "1"))
        # Restarted without the flag, it keeps serving alone with everything it had.
        self.c.kill(survivor, signal.SIGTERM)
        self.c.start(survivor)
        self.assertEqual(self.c.leader(among=[survivor]), survivor)
        self.assert_readable(acked | {"alone": "1"}, [survivor])


def free_base_port(nodes):
    """A base port P such that P+i, P+100+i and P+200+i (i = 1..nodes) are free now. Below the
    ephemeral range (32768+), where no client connection's TIME_WAIT can hold one of them."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(20000, 32768 - 200 - nodes)
        socks = []
        try:
            for off in (0, 100, 200):
                for i in range(1, nodes + 1):
                    sock = socket.socket()
                    socks.append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server
                    sock.bind(("127.0.0.1", base + off + i))
            return base
        except OSError:
            pass
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no free port range")


@unittest.skipIf(not os.environ.get("RAFTKV_CLI"), "RAFTKV_CLI (the raftkv binary) not set")
class CliTest(unittest.TestCase):
    """`raftkv cluster add` grows a local cluster; `raftkv member` and `transfer` drive it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raftkv-cli-")
        self.base = free_base_port(4)
        self.layout = ["--dir", self.dir, "--base-port", str(self.base)]
        self.addrs = ",".join(f"127.0.0.1:{self.base + i}" for i in (1, 2, 3))

    def tearDown(self):
        self.raftkv("cluster", "stop", *self.layout)
        if os.environ.get("RAFTKV_KEEP_LOGS"):
            print(f"logs kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def raftkv(self, *args):
        return subprocess.run([os.environ["RAFTKV_CLI"], *args], capture_output=True, text=True,
                              timeout=120)

    def member_table(self):
        out = self.raftkv("member", "list", "--addrs", self.addrs)
        if out.returncode != 0:
            return out.stderr  # an election in progress: looked at again by wait_table
        rows = [line.split() for line in out.stdout.splitlines()[1:]]
        return {int(r[0]): (r[1], r[2]) for r in rows}

    def wait_table(self, expected, timeout=60.0):
        deadline = time.monotonic() + timeout
        table = None
        while time.monotonic() < deadline:
            table = self.member_table()
            if table == expected:
                return
            time.sleep(0.1)
        self.fail(f"members {table}, expected {expected}; logs in {self.dir}")

    def test_cluster_add_member_commands_and_transfer(self):
        server = ["--server-bin", SERVER_BIN, "--server-arg=--tick-ms", "--server-arg=20"]
        out = self.raftkv("cluster", "start", *self.layout, "--nodes", "3", *server)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        out = self.raftkv("cluster", "add", *self.layout, *server)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("node 4 ", out.stdout)
        self.assertRegex(out.stdout, rf"\n4 +(voter|learner) .*127\.0\.0\.1:{self.base + 4}\n")
        voter = ("voter", "caught-up")
        self.wait_table({1: voter, 2: voter, 3: voter, 4: voter})
        out = self.raftkv("transfer", "4", "--addrs", self.addrs)
        self.assertEqual((out.returncode, out.stdout), (0, "OK\n"), out.stderr)
        out = self.raftkv("member", "remove", "1", "--addrs", self.addrs)
        self.assertEqual((out.returncode, out.stdout), (0, "OK\n"), out.stderr)
        self.wait_table({2: voter, 3: voter, 4: voter})
        out = self.raftkv("member", "promote", "9", "--addrs", self.addrs)
        self.assertEqual(out.returncode, 1)
        self.assertIn("(error) ERR", out.stderr)
        out = self.raftkv("member", "add", "5", "nope", "127.0.0.1:1", "--addrs", self.addrs)
        self.assertEqual((out.returncode, out.stderr), (1, "(error) ERR invalid address 'nope'\n"))
        status = self.raftkv("cluster", "status", *self.layout)
        self.assertIn("\n4 ", status.stdout)


class PasswordMembershipTest(unittest.TestCase):
    """With --requirepass: a follower relays RAFTKV.MEMBER to the leader after proving itself
    there with the cluster secret (RAFTKV.NODEAUTH), and --join and a wiped member's search
    for the current members authenticate the same way."""
    member = MembershipTest.member
    members = MembershipTest.members
    wait_members = MembershipTest.wait_members
    join = MembershipTest.join

    def start(self, secret=True):
        self.c = Cluster(SERVER_BIN, extra_args=["--requirepass", "pw"], secret=secret)
        self.c.password = "pw"
        self.c.start_all()
        return self.c.leader()

    def tearDown(self):
        self.c.finish()

    def test_relay_join_and_readmission_with_a_password(self):
        leader = self.start()
        f = next(i for i in self.c.ids() if i != leader)
        self.assertEqual(set(self.c.member_list(f)), {1, 2, 3})  # relayed to the leader
        four = self.join(via=f)
        self.wait_members([1, 2, 3, four])
        self.assertEqual(self.member("RAFTKV.TRANSFER", str(four), node=f), b"OK")
        self.assertEqual(self.c.leader(), four)
        # A wiped member finds leader 4 (not in its flags) through RAFTKV.MEMBER LIST.
        self.c.kill(3)
        self.c.wipe(3)
        self.c.start(3)
        self.wait_members([1, 2, 3, four])
        self.assertEqual(self.member("RAFTKV.MEMBER", "REMOVE", str(four), node=1), b"OK")
        self.wait_members([1, 2, 3])

    def test_without_a_cluster_secret_the_relay_says_what_is_missing(self):
        leader = self.start(secret=False)
        f = next(i for i in self.c.ids() if i != leader)
        with self.assertRaises(redis.ResponseError) as e:
            self.c.member_list(f)
        self.assertIn("--cluster-secret-file", str(e.exception))
        self.assertEqual(set(self.c.member_list(leader)), {1, 2, 3})


if __name__ == "__main__":
    SERVER_BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
