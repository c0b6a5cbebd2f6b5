"""A leader cut off by a network partition never serves a stale GET (issue #4).

The old leader is isolated both ways (network namespaces, harness.py) while clients still reach
it; the majority elects a new leader and acknowledges a new value. Every GET the old leader
answers that began after that acknowledgement must not return the old value: an error, MOVED
or a timeout are fine. After healing it rejoins and serves the new value.

Usage: partition_test.py SERVER_BIN (CTest labels `fault`, `integration`); exits 77 (skipped)
when network namespaces are unavailable (not root). FAULT_DEBUG=1 prints every probe.
"""
import os
import socket
import sys
import threading
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SERVER_BIN = None


def wait_for(what, fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Prober(threading.Thread):
    """Pipelines `GET key` to one node every 5 ms over one raw connection, without waiting for
    replies (so a read hung on a lost quorum does not stop later reads from being sent), and
    pairs the in-order replies with their send times: results is [(sent, reply)]."""

    def __init__(self, cluster, node, key, stop):
        super().__init__(daemon=True)
        self.cluster, self.node, self.key, self.stop = cluster, node, key, stop
        self.sent = []
        self.results = []
        self.error = None

    def run(self):
        host, port = self.cluster.net.client_addr(self.node)
        sock = socket.create_connection((host, port), timeout=5)
        reader = threading.Thread(target=self.read, args=(sock.makefile("rb"),), daemon=True)
        reader.start()
        req = f"*2\r\n$3\r\nGET\r\n${len(self.key)}\r\n{self.key}\r\n".encode()
        try:
            while not self.stop.wait(0.005) and len(self.sent) < 20000:
                self.sent.append(time.monotonic())
                sock.sendall(req)
            # A last PING wakes a reader blocked with nothing owed; its +PONG is not a probe.
            self.sent.append(time.monotonic())
            sock.sendall(b"PING\r\n")
        except OSError as e:
            self.error = e
        reader.join(timeout=10)  # the replies still owed arrive, or the read times out
        sock.close()
        self.results = [r for r in self.results if r[1] != "+PONG"]

    def read(self, f):
        try:
            while not (self.stop.is_set() and len(self.results) >= len(self.sent)):
                line = f.readline()
                if not line:
                    return
                if line.startswith(b"$-1"):
                    v = None
                elif line.startswith(b"$"):
                    v = f.read(int(line[1:]) + 2)[:-2]
                else:
                    v = line.decode().strip()  # -ERROR or +simple
                self.results.append((self.sent[len(self.results)], v))
        except OSError as e:  # a timeout: the rest of the replies never came
            self.error = e


class PartitionedLeaderTest(unittest.TestCase):
    READ_MODE = "readindex"

    def setUp(self):
        self.net = harness.NetnsNet(3)
        self.addCleanup(self.net.close)
        self.net.enter()
        self.c = harness.Cluster(SERVER_BIN, self.net,
                                 extra_args=["--read-mode", self.READ_MODE])
        self.addCleanup(self.c.remove)
        self.addCleanup(self.c.close)
        self.c.start_all()

    def leader(self, among):
        return wait_for("a leader", lambda: next(
            (i for i in among if self.c.role(i) == "leader"), None))

    def test_isolated_old_leader_never_serves_the_old_value(self):
        old = self.leader(self.c.ids())
        self.assertTrue(self.c.client(old).set("x", "old"))
        stop = threading.Event()
        prober = Prober(self.c, old, "x", stop)
        prober.start()
        try:
            wait_for("a first probe", lambda: prober.results)
            self.net.isolate(old)
            rest = [i for i in self.c.ids() if i != old]
            new = self.leader(rest)

            def write_new():
                try:
                    return self.c.client(new).set("x", "new")
                except (redis.RedisError, OSError):
                    return False
            wait_for("the majority to acknowledge x=new", write_new)
            acked = time.monotonic()
            # Probe on until the old leader has answered several reads begun after the ack.
            wait_for("replies to probes sent after the ack", lambda: sum(
                1 for t0, _ in prober.results if t0 > acked) >= 5)
        finally:
            stop.set()
            prober.join(timeout=10)
            self.net.heal()
        after = [(t0, v) for t0, v in prober.results if t0 > acked]
        if os.environ.get("FAULT_DEBUG"):
            print([(round(t0 - acked, 3), v) for t0, v in prober.results])
        stale = [v for _, v in after if v == b"old"]
        self.assertEqual(stale, [], f"stale reads from the isolated old leader: {after[:10]}")
        for _, v in after:
            self.assertTrue(v == b"new" or (isinstance(v, str) and (
                v.startswith(("-MOVED", "-CLUSTERDOWN", "-TRYAGAIN")))),
                f"unexpected reply {v!r}")
        # Healed: the old node learns the new leader and, as a follower, answers MOVED to it
        # for a linearizable GET, and serves the new value to a READONLY connection.
        def follows():
            try:
                info = self.c.client(old, 0.5).info("raft")
            except (redis.RedisError, OSError):
                return False
            return info.get("role") == "follower" and int(info.get("leader_id", 0)) != 0
        wait_for("the old leader to follow a new one", follows)
        r = self.c.client(old)
        with self.assertRaisesRegex(redis.ResponseError, "MOVED"):
            r.get("x")
        r.execute_command("READONLY")
        wait_for("the old leader to serve x=new", lambda: r.get("x") == b"new")


class PartitionedLeaseLeaderTest(PartitionedLeaderTest):
    """The same with lease reads: the old leader's lease must end before a new leader can win."""
    READ_MODE = "lease"


if __name__ == "__main__":
    SERVER_BIN = os.path.abspath(sys.argv.pop(1))
    ok, why = harness.netns_available()
    if not ok:
        print(f"SKIP: network namespaces unavailable ({why})")
        sys.exit(77)
    unittest.main(verbosity=2)
