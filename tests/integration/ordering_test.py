"""A connection's commands take effect in the order sent (issue 11, defect 1), on a real
3-node cluster: pipelined over raw sockets (RESP and inline), through redis-py pipelines, on the
leader and on READONLY connections.

Usage: ordering_test.py SERVER_BIN (run by CTest, labels `integration`, `frontend`).
"""
import socket
import sys
import threading
import time
import unittest

import redis

from cluster import Cluster, resp

SERVER_BIN = None


class RawConnection:
    """One TCP connection: send bytes, read exactly the bytes expected (bounded by a deadline)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_exactly(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed; unparsed {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def read_reply(self):
        """The raw bytes of one RESP2 reply."""
        line = self.read_line()
        if line[:1] == b"$" and int(line[1:-2]) >= 0:
            return line + self.read_exactly(int(line[1:-2]) + 2)
        if line[:1] == b"*" and int(line[1:-2]) >= 0:
            return line + b"".join(self.read_reply() for _ in range(int(line[1:-2])))
        return line

    def close(self):
        self.sock.close()


class OrderingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(SERVER_BIN)
        cls.c.start_all()
        cls.leader = cls.c.leader()
        cls.follower = next(i for i in cls.c.ids() if i != cls.leader)

    @classmethod
    def tearDownClass(cls):
        cls.c.finish()

    def port(self, i):
        return self.c.client_ports[i - 1]

    def check_raw_trials(self, conn, make_batch, replies, expected, trials):
        bad = []
        for t in range(trials):
            conn.send(make_batch(t))
            got = b"".join(conn.read_reply() for _ in range(replies))
            if got != expected(t):
                bad.append((t, got))
        self.assertEqual(bad[:3], [], f"{len(bad)} of {trials} pipelines out of order")

    def test_pipelined_read_sees_earlier_writes_raw_resp_and_inline(self):
        conn = RawConnection(self.port(self.leader))
        try:
            # The user's report: SET k 1, INCR k, GET k in one write answered +OK, :2, $-1.
            self.check_raw_trials(
                conn, lambda t: resp("SET", f"raw{t}", 1) + resp("INCR", f"raw{t}") +
                resp("GET", f"raw{t}"), 3,
                lambda t: b"+OK\r\n:2\r\n$1\r\n2\r\n", 200)
            self.check_raw_trials(
                conn, lambda t: b"SET inl%d 1\r\nINCR inl%d\r\nGET inl%d\r\n" % (t, t, t), 3,
                lambda t: b"+OK\r\n:2\r\n$1\r\n2\r\n", 200)
            # MGET, EXISTS and STRLEN after DEL and APPEND, in one pipeline.
            self.check_raw_trials(
                conn, lambda t: resp("SET", f"m{t}", "ab") + resp("APPEND", f"m{t}", "cd") +
                resp("STRLEN", f"m{t}") + resp("DEL", f"m{t}") + resp("EXISTS", f"m{t}") +
                resp("MGET", f"m{t}"), 6,
                lambda t: b"+OK\r\n:4\r\n:4\r\n:1\r\n:0\r\n*1\r\n$-1\r\n", 100)
        finally:
            conn.close()

    def test_pipelined_write_is_not_seen_by_an_earlier_read(self):
        conn = RawConnection(self.port(self.leader))
        try:
            conn.send(resp("SET", "war", "old"))
            self.assertEqual(conn.read_exactly(5), b"+OK\r\n")
            self.check_raw_trials(
                conn, lambda t: resp("GET", "war") + resp("SET", "war", f"new{t}") +
                resp("GET", "war") + resp("SET", "war", "old"), 4,
                lambda t: b"$3\r\nold\r\n+OK\r\n$%d\r\nnew%d\r\n+OK\r\n" % (len(f"new{t}"), t),
                200)
        finally:
            conn.close()

    def test_redis_py_pipelines_without_transaction(self):
        r = self.c.client(self.leader, timeout=10)
        bad = 0
        for t in range(100):
            p = r.pipeline(transaction=False)
            p.set(f"py{t}", 1).incr(f"py{t}").get(f"py{t}").incrby(f"py{t}", 5).get(f"py{t}")
            if p.execute() != [True, 2, b"2", 7, b"7"]:
                bad += 1
        self.assertEqual(bad, 0, f"{bad} of 100 redis-py pipelines out of order")

    def test_readonly_connection_on_the_leader_sees_its_own_writes(self):
        conn = RawConnection(self.port(self.leader))
        try:
            conn.send(resp("READONLY"))
            self.assertEqual(conn.read_exactly(5), b"+OK\r\n")
            self.check_raw_trials(
                conn, lambda t: resp("SET", f"ro{t}", 1) + resp("INCR", f"ro{t}") +
                resp("GET", f"ro{t}"), 3,
                lambda t: b"+OK\r\n:2\r\n$1\r\n2\r\n", 100)
        finally:
            conn.close()

    def test_readonly_follower_reads_never_go_back_in_time(self):
        # A writer increments a counter on the leader; a READONLY connection to a follower
        # pipelines GETs: within the connection, each answer is >= the one before it, and it
        # is >= every increment acknowledged before the pipeline was sent.
        writer = self.c.client(self.leader, timeout=10)
        writer.set("mono", 0)
        acked = [0]
        stop = threading.Event()

        def write_loop():
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline:
                acked[0] = writer.incr("mono")

        t = threading.Thread(target=write_loop)
        t.start()
        conn = RawConnection(self.port(self.follower))
        try:
            conn.send(resp("READONLY"))
            self.assertEqual(conn.read_exactly(5), b"+OK\r\n")
            last, regressions, stale = -1, 0, 0
            for _ in range(100):
                floor = acked[0]
                conn.send(resp("GET", "mono") * 10)
                values = []
                for _ in range(10):
                    head = b""
                    while not head.endswith(b"\r\n"):
                        head += conn.read_exactly(1)
                    n = int(head[1:-2])
                    values.append(int(conn.read_exactly(n + 2)[:-2]))
                for v in values:
                    regressions += v < last
                    stale += v < floor
                    last = max(last, v)
            self.assertEqual(regressions, 0, "a later GET on the connection saw an older value")
            self.assertEqual(stale, 0, "a follower read missed an acknowledged write")
        finally:
            stop.set()
            t.join()
            conn.close()


if __name__ == "__main__":
    SERVER_BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
