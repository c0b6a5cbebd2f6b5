"""Peer authentication on a real 3-node cluster (issue 13; CTest label `integration`).

Usage: peer_auth_test.py SERVER_BIN

The forged-peer attack of issue 13, automated. A cluster with a cluster secret runs; from here
a stranger opens the peer port of a follower and claims to be node 1 with
  (a) the issue's attack: a protocol-2 Hello followed by an AppendEntries carrying a SET;
  (b) the handshake with a wrong secret, then the forged AppendEntries;
  (c) a replay of a handshake recorded from an earlier connection of ours that used the right
      secret (that connection stopped before its Hello, so it was never attached);
  (d) raw AppendEntries frames with no handshake at all.
Each is refused (the connection is closed with nothing but the follower's nonce sent), logged
and counted in /metrics (raftkv_peer_auth_failures_total); the real node 1's connection is
never replaced, writes keep replicating, and RAFTKV.DIGEST is the same on every node at the end.
The right-secret handshake of (c) also checks this file's implementation of the protocol against
the server's, so that (b) fails for its secret, not for a bug here. PeerTlsTest does the same
with mutual TLS between peers (certificates from tests/tls/make_certs.sh).

The wire format is written by hand below (frames of src/transport/frame.h, the handshake of
src/transport/handshake.h, protobuf of proto/raft.proto and proto/kv.proto): no generated code.
"""
import hashlib
import hmac
import os
import socket
import ssl
import struct
import sys
import time
import unittest

import redis

from cluster import Cluster

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls"))
from certs import TestPki  # noqa: E402

SERVER_BIN = None
CLUSTER_ID = 1  # raftkv-server's default --cluster-id
PROTOCOL_VERSION = 3
MAC_LABEL = b"raftkv peer auth v3"


# --- frames (src/transport/frame.h): version 1, flags, u32 length, u32 CRC32C, payload ---

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def frame(payload):
    return struct.pack("<BBII", 1, 0, len(payload), crc32c(payload)) + payload


# --- protobuf, by hand ---

def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(number, v):
    return varint(number << 3) + varint(v) if v else b""


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def legacy_hello(node):
    """A protocol-2 PeerMessage{hello}: what any TCP client sent to claim a node before."""
    hello = field_varint(1, node) + field_varint(2, CLUSTER_ID) + field_varint(3, 2) + \
        field_varint(5, 1)
    return field_bytes(1, hello)


def forged_append(sender, to, term, prev_index, prev_term, key):
    """PeerMessage{envelope} with one MSG_APP that appends and commits SET key pwned."""
    request = b"".join(field_bytes(5, a) for a in (b"SET", key, b"pwned"))
    entry = field_varint(1, term) + field_varint(2, prev_index + 1) + field_bytes(4, request)
    message = (field_varint(1, 10) + field_varint(2, sender) + field_varint(3, to) +
               field_varint(4, term) + field_varint(5, prev_term) + field_varint(6, prev_index) +
               field_bytes(7, entry) + field_varint(8, prev_index + 1))
    group = field_varint(1, 1) + field_bytes(2, message)
    envelope = field_varint(1, sender) + field_varint(2, CLUSTER_ID) + field_bytes(3, group)
    return field_bytes(2, envelope)


# --- the handshake (src/transport/handshake.h) ---

def challenge(nonce):
    return b"RKVC" + struct.pack("<I", PROTOCOL_VERSION) + nonce


def proof(node, mac):
    return b"RKVP" + struct.pack("<Q", node) + mac


def proof_mac(secret, role, dialer, acceptor, nonce_d, nonce_a):
    msg = MAC_LABEL + role + struct.pack("<QQQ", CLUSTER_ID, dialer, acceptor) + nonce_d + nonce_a
    return hmac.new(secret, msg, hashlib.sha256).digest()


def wait_same_digests(test, c, timeout=20.0):
    """Every node reports the same applied index and RAFTKV.DIGEST (polled: the last entries
    may still be applying)."""
    deadline = time.monotonic() + timeout
    digests = None
    while True:
        try:
            digests = c.digests()
            if len({d for _, d in digests.values()}) == 1 and \
                    len({a for a, _ in digests.values()}) == 1:
                return
        except redis.RedisError:
            pass  # e.g. CLUSTERDOWN while a leader is elected after a restart
        test.assertLess(time.monotonic(), deadline, f"replicas differ: {digests}")
        time.sleep(0.05)


class PeerSocket:
    """One TCP connection to a peer port, reading whole frames."""

    def __init__(self, port, timeout=10.0, tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock)
        self.buf = b""
        self.sent = b""

    def send(self, data):
        self.sock.sendall(data)
        self.sent += data

    def read_payload(self):
        """The next frame's payload, or None once the other end closed the connection."""
        while True:
            if len(self.buf) >= 10:
                version, flags, length, crc = struct.unpack("<BBII", self.buf[:10])
                assert version == 1 and flags == 0, self.buf[:10]
                if len(self.buf) >= 10 + length:
                    payload = self.buf[10:10 + length]
                    self.buf = self.buf[10 + length:]
                    assert crc32c(payload) == crc
                    return payload
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                return None
            self.buf += data

    def payloads_until_closed(self):
        """Every payload the other end still sends before it closes (socket timeout: error)."""
        out = []
        while (p := self.read_payload()) is not None:
            out.append(p)
        return out

    def close(self):
        self.sock.close()


class PeerAuthTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(SERVER_BIN, nodes=3)
        self.c.start_all()
        self.secret = self.c.secret.encode()

    def tearDown(self):
        self.c.finish()

    def log(self, i):
        with open(os.path.join(self.c.dir, f"node-{i}.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def auth_failures(self, i):
        return self.c.metrics(i).get("raftkv_peer_auth_failures_total", 0)

    def auth_failures_or_0(self, i):
        """As auth_failures, 0 while node i's admin port is not up yet."""
        try:
            return self.auth_failures(i)
        except OSError:
            return 0

    def wait_auth_failures(self, i, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.auth_failures(i) >= n:
                return
            time.sleep(0.02)
        self.fail(f"node {i}: {self.auth_failures(i)} refused handshakes, expected {n}")

    def handshake(self, port, claim, target, secret):
        """Our side of the handshake as `claim`; returns (socket, the target's Proof or None)."""
        s = PeerSocket(port)
        nonce_d = os.urandom(32)
        s.send(frame(challenge(nonce_d)))
        theirs = s.read_payload()
        self.assertIsNotNone(theirs)
        self.assertEqual(theirs[:4], b"RKVC")
        self.assertEqual(len(theirs), 40, "a Challenge is a version and a nonce, nothing more")
        nonce_a = theirs[8:]
        s.send(frame(proof(claim, proof_mac(secret, b"D", claim, target, nonce_d, nonce_a))))
        reply = s.read_payload()
        if reply is not None:
            self.assertEqual(reply[:4], b"RKVP")
            node, = struct.unpack("<Q", reply[4:12])
            self.assertEqual(node, target)
            expected = proof_mac(secret, b"A", claim, target, nonce_d, nonce_a)
            self.assertTrue(hmac.compare_digest(reply[12:], expected),
                            "the acceptor's proof does not verify")
        return s, reply

    def test_forged_and_replayed_peers_are_refused_and_replicas_do_not_diverge(self):
        c = self.c
        leader = c.leader()
        for k in range(20):
            self.assertTrue(c.write(f"before-{k}", str(k)))
        # The follower to attack: the highest id that is not the leader; node 1 (or 2) dials it,
        # and the stranger claims to be node 1.
        target = max(i for i in c.ids() if i != leader)
        port = c.peer_ports[target - 1]
        info = c.info_raft(target)
        term, last = int(info["term"]), int(info["last_index"])
        c.wait_applied(target, last)
        append = frame(forged_append(1, target, term, last, term, b"pwned-key"))
        failures = self.auth_failures(target)
        log_start = len(self.log(target))

        # (a) The attack of issue 13: a protocol-2 Hello claiming node 1, then AppendEntries.
        s = PeerSocket(port)
        s.send(frame(legacy_hello(1)) + append)
        got = s.payloads_until_closed()
        self.assertLessEqual(len(got), 1)
        self.assertTrue(all(p[:4] == b"RKVC" for p in got), "only a nonce goes to a stranger")
        s.close()
        failures += 1
        self.wait_auth_failures(target, failures)

        # (b) The handshake with a wrong secret, with the forged AppendEntries right behind.
        s, reply = self.handshake(port, 1, target, b"not-the-cluster-secret-0123456789")
        self.assertIsNone(reply, "a proof with the wrong secret was answered")
        s.close()
        failures += 1
        self.wait_auth_failures(target, failures)
        s = PeerSocket(port)
        s.send(frame(challenge(os.urandom(32))) +
               frame(proof(1, os.urandom(32))) + append)
        self.assertLessEqual(len(s.payloads_until_closed()), 1)
        s.close()
        failures += 1
        self.wait_auth_failures(target, failures)

        # (c) Record a genuine handshake (right secret, this file's implementation checked
        # against the server's), stop before the Hello, then replay the recorded bytes.
        s, reply = self.handshake(port, 1, target, self.secret)
        self.assertIsNotNone(reply, "the right secret's proof was refused")
        recorded = s.sent
        s.close()
        s = PeerSocket(port)
        s.send(recorded + append)
        got = s.payloads_until_closed()
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][:4], b"RKVC", "a replayed handshake got more than a nonce")
        s.close()
        failures += 1
        self.wait_auth_failures(target, failures)

        # (d) Raw AppendEntries frames, no handshake.
        s = PeerSocket(port)
        s.send(append * 3)
        self.assertLessEqual(len(s.payloads_until_closed()), 1)
        s.close()
        failures += 1
        self.wait_auth_failures(target, failures)

        # Writes keep replicating to the attacked follower; nothing forged was applied; every
        # replica has the same state.
        for k in range(20):
            self.assertTrue(c.write(f"after-{k}", str(k)))
        leader = c.leader()
        goal = int(c.info_raft(leader)["commit_index"])
        for i in c.ids():
            c.wait_applied(i, goal)
        wait_same_digests(self, c)
        follower = c.client(target)
        follower.execute_command("READONLY")
        self.assertIsNone(follower.get("pwned-key"))
        self.assertEqual(follower.get("after-19"), b"19")

        # Logged: every refusal on the target (at most one line a second, the rest counted in
        # the next line), and node 1's connection to it never replaced nor closed.
        log = self.log(target)[log_start:]
        self.assertIn("refused the peer handshake", log)
        self.assertIn("protocol version 2 without peer authentication", log)
        self.assertNotIn("replaced by a new connection", log)
        self.assertNotRegex(log, r"connection to peer 1 \(.*\) closed")
        self.assertEqual(self.auth_failures(target), failures)
        for i in c.ids():
            self.assertNotIn("PEER AUTHENTICATION IS OFF", self.log(i))

    def test_the_secret_rotates_without_a_restart(self):
        """The secret file rewritten in three steps (current+next, next+current, next) while
        the cluster serves: new connections use it; the old secret is refused at the end."""
        c = self.c
        self.assertTrue(c.write("k0", "v"))
        old = self.secret
        new = ("rotated-" + os.urandom(16).hex()).encode()

        def rewrite(lines):
            tmp = c.secret_file + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(b"".join(line + b"\n" for line in lines))
            os.rename(tmp, c.secret_file)

        leader = c.leader()
        target = max(i for i in c.ids() if i != leader)
        port = c.peer_ports[target - 1]
        for step, lines in enumerate([[old, new], [new, old], [new]]):
            rewrite(lines)
            # A node restarted now reconnects with the file as it is.
            victim = next(i for i in c.ids() if i != c.leader())
            c.kill(victim)
            self.assertTrue(c.write(f"k{step}-a", "v"))
            c.start(victim)
            self.assertTrue(c.write(f"k{step}-b", "v"))
            goal = int(c.info_raft(c.leader())["commit_index"])
            c.wait_applied(victim, goal)
            # Our own handshake (proving with the file's first line) is accepted.
            s, reply = self.handshake(port, 1, target, lines[0])
            s.close()
            if reply is None:
                self.fail(f"step {step}: the proof by the file's first secret was refused")
        s, reply = self.handshake(port, 1, target, old)
        s.close()
        self.assertIsNone(reply, "the retired secret was still accepted")
        self.assertIn("reloaded", self.log(target))
        wait_same_digests(self, c)

    def test_a_node_without_the_secret_cannot_join_the_cluster(self):
        """A fourth process on node 3's data with another secret: refused by the others."""
        c = self.c
        leader = c.leader()
        self.assertTrue(c.write("k", "v"))
        victim = max(i for i in c.ids() if i != leader)
        c.kill(victim)
        other = os.path.join(c.dir, "other-secret")
        fd = os.open(other, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("another-secret-" + os.urandom(16).hex() + "\n")
        c.secret_file = other
        log_before = len(self.log(victim))
        c.start(victim)
        # Whichever side accepts refuses the other's proof (the victim refuses those who dial
        # it; those it dials refuse it).
        deadline = time.monotonic() + 20
        while sum(self.auth_failures_or_0(i) for i in c.ids()) < 2:
            self.assertLess(time.monotonic(), deadline, "no refused handshake")
            time.sleep(0.05)
        self.assertTrue(c.write("k2", "v2"))
        info = c.info_raft(victim)
        self.assertNotEqual(info and info.get("role"), "leader")
        self.assertNotIn("connected to peer", self.log(victim)[log_before:])


class SecretFileTest(unittest.TestCase):
    """A secret file that is unsafe or unusable stops the server at start, saying why."""

    def test_bad_secret_files_stop_the_server_with_the_reason(self):
        for content, mode, reason in [("a-good-long-cluster-secret-0123\n", 0o644, "chmod 600"),
                                      ("\n\n", 0o600, "holds no secret"),
                                      ("short\n", 0o600, "too short"),
                                      (None, 0o600, "No such file")]:
            with self.subTest(reason=reason):
                c = Cluster(SERVER_BIN, nodes=1, secret=False)
                try:
                    path = os.path.join(c.dir, "secret")
                    if content is not None:
                        with open(path, "w") as f:
                            f.write(content)
                        os.chmod(path, mode)
                    c.extra_args = ["--cluster-secret-file", path]
                    c.start(1)
                    self.assertNotEqual(c.procs[1].wait(timeout=20), 0)
                    with open(os.path.join(c.dir, "node-1.log"), "rb") as f:
                        log = f.read().decode(errors="replace")
                    self.assertIn(reason, log)
                    self.assertIn(path, log)
                finally:
                    c.finish()


class TlsCluster(Cluster):
    """Every node with mutual TLS between peers (its own node-<id> certificate, or the one
    `certs` names for it) and the cluster secret."""

    def __init__(self, server_bin, pki):
        super().__init__(server_bin, nodes=3)
        self.pki = pki
        self.certs = {}  # id -> the certificate name node id presents (default node-<id>)

    def _spawn(self, i, args):
        name = self.certs.get(i, f"node-{i}")
        super()._spawn(i, args + ["--peer-tls-cert", self.pki.cert(name),
                                  "--peer-tls-key", self.pki.key(name),
                                  "--peer-tls-ca", self.pki.cert("ca")])


class PeerTlsTest(unittest.TestCase):
    """Mutual TLS between peers (with the secret too): a cluster replicates over it; a
    stranger presenting another node's (valid) certificate is refused even with the secret; a
    node given another node's certificate refuses to start; a plain-text stranger is refused;
    the real peers stay connected and the replicas equal."""

    @classmethod
    def setUpClass(cls):
        cls.pki = TestPki(nodes=3)

    @classmethod
    def tearDownClass(cls):
        cls.pki.remove()

    def setUp(self):
        self.c = TlsCluster(SERVER_BIN, self.pki)
        self.c.start_all()

    def tearDown(self):
        self.c.finish()

    def log(self, i):
        with open(os.path.join(self.c.dir, f"node-{i}.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def test_a_certificate_naming_another_node_is_refused(self):
        c = self.c
        leader = c.leader()
        for k in range(10):
            self.assertTrue(c.write(f"k{k}", str(k)))
        for i in c.ids():
            self.assertIn("peers authenticate with mutual TLS and the cluster secret", self.log(i))
        # The victim restarted with node 1's certificate and key.
        victim = max(i for i in c.ids() if i != leader)
        others = [i for i in c.ids() if i != victim]

        # A stranger with a valid certificate of the cluster's CA, but node X's, who knows the
        # secret and claims node 1 (X != 1): refused for the name, before any proof of ours.
        x = next(i for i in c.ids() if i not in (1, victim))
        log_start = len(self.log(victim))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.load_verify_locations(self.pki.cert("ca"))
        tls.load_cert_chain(self.pki.cert(f"node-{x}"), self.pki.key(f"node-{x}"))
        s = PeerSocket(c.peer_ports[victim - 1], tls=tls)
        nonce_d = os.urandom(32)
        s.send(frame(challenge(nonce_d)))
        theirs = s.read_payload()
        self.assertEqual(theirs[:4], b"RKVC")
        secret = c.secret.encode()
        s.send(frame(proof(1, proof_mac(secret, b"D", 1, victim, nonce_d, theirs[8:]))))
        self.assertEqual(s.payloads_until_closed(), [], "a proof went to a mismatched certificate")
        s.close()
        deadline = time.monotonic() + 10
        while f"claims to be node 1, but its certificate names node {x}" not in self.log(victim):
            self.assertLess(time.monotonic(), deadline, "the mismatched certificate not logged")
            time.sleep(0.05)
        self.assertTrue(c.write("after-stranger", "1"))
        self.assertNotIn("replaced by a new connection", self.log(victim)[log_start:])

        c.kill(victim)
        c.certs[victim] = "node-1"
        c.start(victim)
        # Its own certificate is checked at start: it does not name it, so the node refuses to
        # run, with the reason.
        self.assertEqual(c.procs[victim].wait(timeout=20), 1)
        self.assertIn(f"names node 1, but this is node {victim}", self.log(victim))
        # A stranger with a plain connection: refused by the TLS handshake.
        s = socket.create_connection(("127.0.0.1", c.peer_ports[others[-1] - 1]), timeout=10)
        s.sendall(frame(challenge(os.urandom(32))))
        s.settimeout(10)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        self.assertNotIn(b"RKVC", data, "a TLS node answered a plain-text handshake")
        deadline = time.monotonic() + 10
        while "does not speak TLS" not in self.log(others[-1]):
            self.assertLess(time.monotonic(), deadline, "the plain-text stranger was not logged")
            time.sleep(0.05)
        # Writes go on between the two others, and the victim catches up once it presents its
        # own certificate again.
        for k in range(10, 20):
            self.assertTrue(c.write(f"k{k}", str(k)))
        c.certs.pop(victim)
        c.start(victim)
        goal = int(c.info_raft(c.leader())["commit_index"])
        for i in c.ids():
            c.wait_applied(i, goal)
        wait_same_digests(self, c)


def main():
    global SERVER_BIN
    SERVER_BIN = sys.argv.pop(1)
    unittest.main()


if __name__ == "__main__":
    main()
