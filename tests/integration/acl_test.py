"""AUTH and ACLs on a real 3-node cluster (CTest label `integration`).

Usage: acl_test.py SERVER_BIN

An ACL set through one node (a follower, with redis-cli -c following MOVED to the leader) is
enforced by every node once applied, survives a restart of every node (with a different
--requirepass, which no longer counts once the ACL was set), snapshots and a follower that
catches up by snapshot; redis-py and redis-cli authenticate; failed AUTHs are in each node's ACL
LOG and /metrics; a deleted user's connection is closed. Every wait is a poll with a deadline.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

import redis

from cluster import Cluster, resp

SERVER_BIN = None
ADMIN_PW = "admin-pw"
SNAPSHOT_ARGS = ["--snapshot-entries", "20", "--snapshot-keep-entries", "5"]


class AuthCluster(Cluster):
    """A Cluster whose own clients (leader(), wait_applied(), write()...) authenticate as the
    default user."""

    def __init__(self, server_bin, password, extra_args=()):
        super().__init__(server_bin, extra_args=extra_args)
        self.password = password

    def client(self, i, timeout=2.0, username=None, password=None):
        return redis.Redis(host="127.0.0.1", port=self.client_ports[i - 1],
                           username=username, password=password or self.password,
                           socket_timeout=timeout, socket_connect_timeout=timeout)


class RawClient:
    """One connection speaking RESP2 by hand, to check replies byte for byte."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def close(self):
        self.file.close()
        self.sock.close()

    def read(self):
        line = self.file.readline()
        if not line:
            return None  # closed
        kind, rest = line[:1], line[1:-2].decode()
        if kind in (b"+", b"-"):
            return kind.decode() + rest
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = self.file.read(int(rest) + 2)
            return data[:-2].decode()
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise AssertionError(f"bad reply line {line!r}")

    def call(self, *args):
        self.sock.sendall(resp(*args))
        return self.read()

    def closed(self):
        """True when the server closes the connection (EOF, or a reset: a close that finds our
        last command unread resets) before the timeout."""
        try:
            return self.file.read(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def redis_cli(port, *args):
    out = subprocess.run(["redis-cli", "--no-auth-warning", "-p", str(port)] + list(args),
                         capture_output=True, text=True, timeout=30)
    return (out.stdout + out.stderr).strip()


KEY_DENIED = "-NOPERM this user has no permissions to access one of the keys used as arguments"
WRONGPASS = "-WRONGPASS invalid username-password pair or user is disabled."


class AclTest(unittest.TestCase):
    def start(self, password=ADMIN_PW, extra=()):
        flags = ["--requirepass", password] if password else []
        self.c = AuthCluster(SERVER_BIN, password, extra_args=SNAPSHOT_ARGS + flags + list(extra))
        self.c.start_all()
        self.leader = self.c.leader()
        self.followers = [i for i in self.c.ids() if i != self.leader]

    def tearDown(self):
        self.c.finish()

    def port(self, i):
        return self.c.client_ports[i - 1]

    def caught_up(self, timeout=60.0, min_commit=0):
        """Waits until the leader's commit index is at least `min_commit` and every live node
        applied it; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                leader = self.c.leader()
                commit = int(self.c.info_raft(leader)["commit_index"])
                if commit >= min_commit and all(int((self.c.info_raft(i) or {}).get("applied_index", 0)) >= commit
                       for i in self.c.ids() if self.c.alive(i)):
                    return commit
            except (TypeError, KeyError, AssertionError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"nodes did not catch up within {timeout}s; logs in {self.c.dir}")

    def digests(self):
        """RAFTKV.DIGEST of every node (READONLY: each answers from its own state)."""
        out = {}
        for i in self.c.ids():
            r = RawClient(self.port(i))
            self.assertEqual(r.call("AUTH", ADMIN_PW), "+OK")
            self.assertEqual(r.call("READONLY"), "+OK")
            out[i] = tuple(r.call("RAFTKV.DIGEST"))
            r.close()
        return out

    def load(self, n, prefix):
        for k in range(n):
            self.assertTrue(self.c.write(f"{prefix}{k}", "v"), f"write {prefix}{k} failed")

    def test_acl_through_one_node_is_enforced_everywhere_and_survives_restarts(self):
        self.start()
        # Without AUTH nothing runs, on any node.
        for i in self.c.ids():
            r = RawClient(self.port(i))
            self.assertEqual(r.call("GET", "k"), "-NOAUTH Authentication required.")
            self.assertEqual(r.call("AUTH", "wrong"), WRONGPASS)
            self.assertEqual(r.call("AUTH", ADMIN_PW), "+OK")
            self.assertEqual(r.call("ACL", "WHOAMI"), "default")
            r.close()
        # Through a follower: redis-cli -c follows MOVED to the leader.
        f = self.followers[0]
        self.assertEqual(redis_cli(self.port(f), "-c", "-a", ADMIN_PW, "ACL", "SETUSER", "app",
                                   "on", ">app-pw", "~app:*", "%R~shared:*", "+@read", "+@write",
                                   "+acl|whoami", "+readonly"), "OK")
        with self.assertRaises(redis.ResponseError) as moved:  # a plain client is redirected
            self.c.client(f).execute_command("ACL", "SETUSER", "other", "on")
        self.assertIn("MOVED", str(moved.exception))
        self.caught_up()
        self.assertEqual(len(set(self.digests().values())), 1)
        for i in self.c.ids():
            app = self.c.client(i, username="app", password="app-pw")  # redis-py: AUTH app ...
            self.assertEqual(app.execute_command("ACL", "WHOAMI"), b"app")
            app.execute_command("READONLY")
            self.assertIsNone(app.get("app:missing"))
            self.assertIsNone(app.get("shared:x"))
            r = RawClient(self.port(i))
            self.assertEqual(r.call("AUTH", "app", "app-pw"), "+OK")
            self.assertEqual(r.call("READONLY"), "+OK")
            self.assertEqual(r.call("GET", "secret"), KEY_DENIED)
            self.assertEqual(r.call("CLIENT", "LIST"),
                             "-NOPERM this user has no permissions to run the 'client|list' "
                             "command")
            self.assertEqual(r.call("AUTH", "app", "bad"), WRONGPASS)
            self.assertEqual(r.call("AUTH", ADMIN_PW), "+OK")
            log = r.call("ACL", "LOG")  # this node's: [count, n, reason, r, context, c, object..]
            r.close()
            reasons = {(e[3], e[7]) for e in log}
            self.assertIn(("auth", "AUTH"), reasons, f"node {i}: {log}")
            self.assertIn(("key", "secret"), reasons, f"node {i}: {log}")
            self.assertGreaterEqual(self.c.metrics(i)["raftkv_auth_failures_total"], 2)
        leader_app = self.c.client(self.leader, username="app", password="app-pw")
        self.assertTrue(leader_app.set("app:1", "v1"))
        with self.assertRaises(redis.ResponseError):
            leader_app.set("shared:x", "v")  # %R~: read only
        self.assertEqual(redis_cli(self.port(self.leader), "--user", "app", "--pass", "app-pw",
                                   "GET", "app:1"), "v1")

        # Snapshots: enough entries that every node snapshots past the ACL entries.
        self.load(60, "fill")
        acl_index = self.caught_up()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(int(self.c.info_raft(i)["snapshot_index"]) > 20 for i in self.c.ids()):
                break
            time.sleep(0.05)
        for i in self.c.ids():
            self.assertGreater(int(self.c.info_raft(i)["snapshot_index"]), 20)

        # Every node restarted, now with another --requirepass: the replicated ACL wins.
        for i in self.c.ids():
            self.c.kill(i)
        self.c.extra_args = SNAPSHOT_ARGS + ["--requirepass", "ignored-now"]
        self.c.start_all()
        self.leader = self.c.leader()
        # (A new leader's commit index may start below what was committed before the restart.)
        self.caught_up(min_commit=acl_index)
        for i in self.c.ids():
            r = RawClient(self.port(i))
            self.assertEqual(r.call("AUTH", "ignored-now"), WRONGPASS)
            self.assertEqual(r.call("AUTH", "app", "app-pw"), "+OK")
            self.assertEqual(r.call("READONLY"), "+OK")
            self.assertEqual(r.call("GET", "app:1"), "v1")
            self.assertEqual(r.call("GET", "fill1"), KEY_DENIED)
            r.close()
        self.assertEqual(len(set(self.digests().values())), 1)

    def test_a_follower_catches_up_by_snapshot_and_a_deleted_users_connection_closes(self):
        self.start()
        admin = self.c.client(self.leader)
        self.assertTrue(admin.execute_command("ACL", "SETUSER", "late", "on", ">late-pw", "~*",
                                              "+@all"))
        self.caught_up()
        f = self.followers[0]
        self.c.kill(f)
        # While f is down: ACL changes, then enough writes that the leader compacts past them.
        admin.execute_command("ACL", "SETUSER", "ro", "on", ">ro-pw", "~*", "+@read")
        admin.execute_command("ACL", "SETUSER", "late", "resetpass", ">late-pw2")
        self.load(60, "k")
        deadline = time.monotonic() + 60
        while int(self.c.info_raft(self.leader)["snapshot_index"]) < 40:
            self.assertLess(time.monotonic(), deadline, "the leader did not snapshot")
            time.sleep(0.05)
        self.c.start(f)
        self.caught_up()
        self.assertGreaterEqual(int(self.c.info_raft(f)["snapshots_received"]), 1)
        r = RawClient(self.port(f))
        self.assertEqual(r.call("AUTH", "late", "late-pw"), WRONGPASS)
        self.assertEqual(r.call("AUTH", ADMIN_PW), "+OK")
        self.assertEqual(r.call("ACL", "DRYRUN", "ro", "set", "k1", "v"),
                         "This user has no permissions to run the 'set' command")
        self.assertEqual(r.call("ACL", "DRYRUN", "ro", "get", "k1"), "+OK")
        self.assertEqual(r.call("AUTH", "ro", "ro-pw"), "+OK")
        self.assertEqual(r.call("READONLY"),
                         "-NOPERM this user has no permissions to run the 'readonly' command")
        self.assertEqual(r.call("AUTH", ADMIN_PW), "+OK")
        self.assertEqual(r.call("READONLY"), "+OK")
        self.assertEqual(r.call("GET", "k1"), "v")
        r.close()
        self.assertEqual(len(set(self.digests().values())), 1)

        # A connection authenticated as `late` on a follower is closed once the follower applies
        # the user's deletion (Redis kills a deleted user's clients).
        late = RawClient(self.port(f))
        self.assertEqual(late.call("HELLO", "2", "AUTH", "late", "late-pw2")[0], "server")
        self.assertEqual(late.call("PING"), "+PONG")
        self.assertEqual(admin.execute_command("ACL", "DELUSER", "late"), 1)
        # Until the follower applied the deletion (INFO's commit index may trail the leader's
        # apply by a tick, so caught_up() alone can pass before the follower has the entry).
        deadline = time.monotonic() + 20
        while True:
            probe = RawClient(self.port(f))
            refused = probe.call("AUTH", "late", "late-pw2") == WRONGPASS
            probe.close()
            if refused:
                break
            self.assertLess(time.monotonic(), deadline, "the follower never applied DELUSER")
            time.sleep(0.02)
        late.sock.sendall(resp("PING"))
        self.assertTrue(late.closed(), "the deleted user's connection stayed open")
        late.close()
        unauthenticated = RawClient(self.port(f))
        self.assertEqual(unauthenticated.call("HELLO", "2"),
                         "-NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO AUTH <user> <pass> option can be used to "
                         "authenticate the client and select the RESP protocol version at the "
                         "same time")
        unauthenticated.close()

    def test_without_requirepass_acl_setuser_on_default_sets_a_password_everywhere(self):
        self.start(password=None)
        self.assertEqual(redis_cli(self.port(self.leader), "ACL", "SETUSER", "default",
                                   ">" + ADMIN_PW), "OK")
        self.c.password = ADMIN_PW
        self.caught_up()
        for i in self.c.ids():
            r = RawClient(self.port(i))
            self.assertEqual(r.call("PING"), "-NOAUTH Authentication required.")
            self.assertEqual(r.call("AUTH", ADMIN_PW), "+OK")
            self.assertEqual(r.call("PING"), "+PONG")
            r.close()
            self.assertEqual(redis_cli(self.port(i), "-a", ADMIN_PW, "PING"), "PONG")


if __name__ == "__main__":
    SERVER_BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main()
