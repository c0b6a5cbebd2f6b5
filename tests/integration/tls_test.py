"""Client TLS and the admin endpoint's access control on real processes (CTest label
`integration`, `tls`).

Usage: tls_test.py SERVER_BIN

A 3-node cluster with --tls-port on every node (tls-auth-clients optional, --tls-clients so
that MOVED on a TLS connection names the leader's TLS port): SET/GET through TLS on every node
with redis-cli --tls, redis-py ssl=True and ioredis tls; a wrong CA, an expired client
certificate, a certificate of another CA, a plaintext client on the TLS port and a TLS client on
the plaintext port get clear errors and every node keeps serving. A single node with
tls-auth-clients yes, the plaintext port off (--port 0), an admin token and admin HTTPS: a
missing client certificate is refused; SIGHUP and RAFTKV.TLS RELOAD pick up a new certificate
for new connections (its serial), a broken one is refused and the old one stays; /status needs
the token or a client certificate (401 otherwise), /metrics and /healthz stay open. Waits are
polls with deadlines; every process is ended by PID.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import redis

from cluster import Cluster, free_ports
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls"))
from certs import TestPki  # noqa: E402

SERVER_BIN = None
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls")
TOKEN = "0123456789abcdef-admin-token"


def redis_cli(*args, timeout=20):
    """redis-cli's exit code, stdout and stderr (bounded in time)."""
    p = subprocess.run(["redis-cli", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def peer_serial(port, ca, cert=None, key=None):
    """The serial of the certificate a new TLS connection to `port` is shown."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert()["serialNumber"]


def poll(condition, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class TlsCluster(Cluster):
    """A Cluster whose nodes also listen for TLS clients (self.tls_ports)."""

    def __init__(self, server_bin, pki, nodes=3, tls_args=()):
        super().__init__(server_bin, nodes=nodes)
        self.tls_ports = free_ports(nodes)
        self.extra_args = [
            "--tls-cert-file", pki.cert("server"), "--tls-key-file", pki.key("server"),
            "--tls-ca-cert-file", pki.cert("ca"),
            "--tls-clients", ",".join(f"{i}=127.0.0.1:{p}"
                                      for i, p in enumerate(self.tls_ports, start=1)),
        ] + list(tls_args)

    def _spawn(self, i, args):
        super()._spawn(i, args + ["--tls-port", str(self.tls_ports[i - 1])])

    def tls_client(self, i, ca, **kwargs):
        return redis.Redis(host="127.0.0.1", port=self.tls_ports[i - 1], ssl=True,
                           ssl_ca_certs=ca, socket_timeout=10, socket_connect_timeout=10,
                           **kwargs)


class TlsClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = TestPki(nodes=3)
        cls.c = TlsCluster(SERVER_BIN, cls.pki, tls_args=["--tls-auth-clients", "optional"])
        cls.c.start_all()
        cls.c.leader()
        cls.ca = cls.pki.cert("ca")

    @classmethod
    def tearDownClass(cls):
        cls.c.finish()
        cls.pki.remove()

    def assert_all_serving(self):
        """Every node still answers over TLS and over plaintext."""
        for i in self.c.ids():
            self.assertTrue(self.c.tls_client(i, self.ca).ping())
            self.assertTrue(self.c.client(i).ping())

    def test_redis_cli_tls_set_and_get_on_every_node(self):
        for i in self.c.ids():
            port = str(self.c.tls_ports[i - 1])
            # -c follows the MOVED of a follower, which names the leader's TLS port.
            rc, out, err = redis_cli("--tls", "--cacert", self.ca, "-c", "-p", port,
                                     "SET", f"cli:{i}", f"v{i}")
            self.assertEqual((rc, out), (0, "OK"), err)
        for i in self.c.ids():
            port = str(self.c.tls_ports[i - 1])
            for j in self.c.ids():
                rc, out, err = redis_cli("--tls", "--cacert", self.ca, "-c", "-p", port,
                                         "GET", f"cli:{j}")
                self.assertEqual((rc, out), (0, f"v{j}"), err)

    def test_redis_py_ssl_set_and_get_on_every_node(self):
        leader = self.c.leader()
        for i in self.c.ids():
            r = self.c.tls_client(i, self.ca)
            if i == leader:
                self.assertTrue(r.set(f"py:{i}", f"v{i}"))
            else:
                with self.assertRaisesRegex(redis.ResponseError,
                                            f"MOVED \\d+ 127.0.0.1:{self.c.tls_ports[leader - 1]}"):
                    r.set(f"py:{i}", f"v{i}")
                self.assertTrue(self.c.tls_client(leader, self.ca).set(f"py:{i}", f"v{i}"))
            r.close()
        for i in self.c.ids():
            r = redis.Redis(host="127.0.0.1", port=self.c.tls_ports[i - 1], ssl=True,
                            ssl_ca_certs=self.ca, socket_timeout=10,
                            single_connection_client=True)
            r.execute_command("READONLY")
            for j in self.c.ids():
                self.assertEqual(r.get(f"py:{j}"), f"v{j}".encode())
            r.close()
        # With a client certificate (tls-auth-clients optional: verified when sent).
        r = self.c.tls_client(leader, self.ca, ssl_certfile=self.pki.cert("client"),
                              ssl_keyfile=self.pki.key("client"))
        self.assertTrue(r.set("py:cert", "yes"))
        self.assertEqual(r.get("py:cert"), b"yes")

    def test_ioredis_tls_set_and_get_on_every_node(self):
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ioredis")):
            self.fail("ioredis is not installed: run scripts/install-deps.sh")
        arg = json.dumps({"ports": self.c.tls_ports, "ca": self.ca, "prefix": "ioredis"})
        p = subprocess.run(["node", os.path.join(NODE_DIR, "ioredis_check.js"), arg],
                           capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        result = json.loads(p.stdout)
        self.assertTrue(result["ok"], result)
        for port in self.c.tls_ports:
            for key_port in self.c.tls_ports:
                self.assertEqual(result["values"][str(port)][f"ioredis:{key_port}"],
                                 str(key_port))

    def test_cluster_clients_over_tls_learn_tls_ports(self):
        """ioredis Redis.Cluster and redis-py RedisCluster with TLS: CLUSTER SLOTS on a TLS
        connection names every node's TLS port, so they route by themselves."""
        arg = json.dumps({"ports": self.c.tls_ports, "ca": self.ca, "prefix": "iocluster",
                          "cluster": True})
        p = subprocess.run(["node", os.path.join(NODE_DIR, "ioredis_check.js"), arg],
                           capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        result = json.loads(p.stdout)
        self.assertTrue(result["ok"], result)
        self.assertEqual(result["values"]["cluster"],
                         {f"iocluster:{i}": str(i) for i in range(20)})
        self.assertTrue(set(result["values"]["ports"]) <= set(self.c.tls_ports), result)
        from redis.cluster import RedisCluster
        rc = RedisCluster(host="127.0.0.1", port=self.c.tls_ports[1], ssl=True,
                          ssl_ca_certs=self.ca, socket_timeout=10)
        for i in range(10):
            self.assertTrue(rc.set(f"pycluster:{i}", str(i)))
        for i in range(10):
            self.assertEqual(rc.get(f"pycluster:{i}"), str(i).encode())
        self.assertTrue({n.port for n in rc.get_nodes()} <= set(self.c.tls_ports))
        rc.close()

    def test_wrong_ca_is_refused_with_a_clear_error(self):
        port = str(self.c.tls_ports[0])
        rc, out, err = redis_cli("--tls", "--cacert", self.pki.cert("other-ca"), "-p", port,
                                 "PING")
        self.assertIn("certificate verify failed", out + err)
        with self.assertRaises(redis.ConnectionError) as e:
            self.c.tls_client(1, self.pki.cert("other-ca")).ping()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(e.exception))
        self.assert_all_serving()

    def test_expired_or_foreign_client_certificate_is_refused(self):
        for name, reason in (("expired-client", "certificate has expired"),
                             ("other-client", "unable to get local issuer certificate")):
            r = self.c.tls_client(1, self.ca, ssl_certfile=self.pki.cert(name),
                                  ssl_keyfile=self.pki.key(name))
            with self.assertRaises(redis.ConnectionError):
                r.ping()
            # The alert reaches the client before the node has logged why.
            line = f"TLS handshake failed: certificate verify failed (SSL routines): {reason}"
            poll(lambda: line in open(os.path.join(self.c.dir, "node-1.log")).read(),
                 f"the log line '{line}'")
        self.assert_all_serving()

    def test_plaintext_client_on_the_tls_port_gets_an_error(self):
        port = str(self.c.tls_ports[1])
        rc, out, err = redis_cli("-p", port, "PING")
        self.assertIn("this port speaks TLS only", out + err)
        r = redis.Redis(host="127.0.0.1", port=self.c.tls_ports[1], socket_timeout=10)
        with self.assertRaisesRegex(redis.RedisError, "this port speaks TLS only"):
            r.ping()
        self.assert_all_serving()

    def test_tls_client_on_the_plaintext_port_gets_an_error(self):
        port = str(self.c.client_ports[2])
        rc, out, err = redis_cli("--tls", "--cacert", self.ca, "-p", port, "PING")
        self.assertNotEqual(rc, 0)
        self.assertIn("wrong version number", out + err)
        r = redis.Redis(host="127.0.0.1", port=self.c.client_ports[2], ssl=True,
                        ssl_ca_certs=self.ca, socket_timeout=10, socket_connect_timeout=10)
        with self.assertRaises(redis.ConnectionError):
            r.ping()
        self.assertGreaterEqual(self.c.metrics(3)["raftkv_tls_plaintext_refused_total"], 2)
        self.assert_all_serving()


class TlsNodeTest(unittest.TestCase):
    """One node: client certificates required, plaintext off, reload, admin token and HTTPS."""

    def setUp(self):
        self.pki = TestPki(nodes=1)
        self.dir = self.pki.dir
        # The files the server reads; the test rotates them in place.
        for ext in ("crt", "key"):
            shutil.copy(os.path.join(self.dir, f"server.{ext}"),
                        os.path.join(self.dir, f"live.{ext}"))
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(TOKEN + "\n")
        self.tls_port, self.peer_port, self.admin_port, self.plain_port = free_ports(4)
        args = [SERVER_BIN, "--id", "1", "--client-addr", f"127.0.0.1:{self.plain_port}",
                "--port", "0", "--tls-port", str(self.tls_port),
                "--peer-addr", f"127.0.0.1:{self.peer_port}",
                "--peers", f"1=127.0.0.1:{self.peer_port}",
                "--data-dir", os.path.join(self.dir, "data"), "--tick-ms", "20",
                "--tls-cert-file", os.path.join(self.dir, "live.crt"),
                "--tls-key-file", os.path.join(self.dir, "live.key"),
                "--tls-ca-cert-file", self.pki.cert("ca"),
                "--admin-addr", f"127.0.0.1:{self.admin_port}",
                "--admin-token-file", os.path.join(self.dir, "token"),
                "--admin-tls-cert-file", os.path.join(self.dir, "live.crt"),
                "--admin-tls-key-file", os.path.join(self.dir, "live.key"),
                "--admin-tls-ca-cert-file", self.pki.cert("ca")]
        self.log_path = os.path.join(self.dir, "node.log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        poll(self.ready, "the node to serve over TLS")

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        if os.environ.get("RAFTKV_KEEP_LOGS"):
            print(f"logs kept in {self.dir}", file=sys.stderr)
        else:
            self.pki.remove()

    def client(self, cert="client", **kwargs):
        extra = {"ssl_certfile": self.pki.cert(cert), "ssl_keyfile": self.pki.key(cert)} \
            if cert else {}
        return redis.Redis(host="127.0.0.1", port=self.tls_port, ssl=True,
                           ssl_ca_certs=self.pki.cert("ca"), socket_timeout=10,
                           socket_connect_timeout=10, **extra, **kwargs)

    def ready(self):
        try:
            return self.client().set("ready", "1")
        except redis.RedisError:
            return False

    def admin(self, path, token=None, cert=None):
        ctx = ssl.create_default_context(cafile=self.pki.cert("ca"))
        if cert:
            ctx.load_cert_chain(self.pki.cert(cert), self.pki.key(cert))
        req = urllib.request.Request(f"https://127.0.0.1:{self.admin_port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_client_certificate_required_and_plaintext_port_off(self):
        r = self.client(cert=None)
        with self.assertRaises(redis.ConnectionError):
            r.ping()
        poll(lambda: "a client certificate is required" in open(self.log_path).read(),
             "the refusal in the log")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.plain_port), timeout=5).close()
        self.assertTrue(self.client().ping())

    def test_sighup_and_command_reload_the_certificate_for_new_connections(self):
        ca = self.pki.cert("ca")
        client_cert = (self.pki.cert("client"), self.pki.key("client"))
        self.assertEqual(peer_serial(self.tls_port, ca, *client_cert), self.pki.serial("server"))
        old = self.client(single_connection_client=True)
        self.assertTrue(old.ping())
        for ext in ("crt", "key"):
            shutil.copy(os.path.join(self.dir, f"server2.{ext}"),
                        os.path.join(self.dir, f"live.{ext}"))
        self.proc.send_signal(signal.SIGHUP)
        poll(lambda: b"tls_generation:2" in self.client().execute_command("RAFTKV.TLS", "STATUS"),
             "the SIGHUP reload")
        self.assertEqual(peer_serial(self.tls_port, ca, *client_cert), self.pki.serial("server2"))
        self.assertTrue(old.ping())  # the open connection keeps its session
        status = self.client().execute_command("RAFTKV.TLS", "STATUS").decode()
        self.assertIn(f"tls_cert_serial:{self.pki.serial('server2')}", status)

        # A broken pair (the key of another certificate): refused, the loaded one stays.
        shutil.copy(self.pki.key("client"), os.path.join(self.dir, "live.key"))
        with self.assertRaisesRegex(redis.ResponseError,
                                    "TLS reload failed, the previous certificate stays in use: "
                                    ".*does not match the certificate"):
            self.client().execute_command("RAFTKV.TLS", "RELOAD")
        self.assertEqual(peer_serial(self.tls_port, ca, *client_cert), self.pki.serial("server2"))
        # Fixed: RAFTKV.TLS RELOAD answers OK and serves it.
        for ext in ("crt", "key"):
            shutil.copy(os.path.join(self.dir, f"server.{ext}"),
                        os.path.join(self.dir, f"live.{ext}"))
        self.assertTrue(self.client().execute_command("RAFTKV.TLS", "RELOAD"))
        self.assertEqual(peer_serial(self.tls_port, ca, *client_cert), self.pki.serial("server"))
        # The admin endpoint reloaded too.
        ctx = ssl.create_default_context(cafile=ca)
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                self.assertEqual(s.getpeercert()["serialNumber"], self.pki.serial("server"))

    def test_admin_status_needs_a_token_or_a_client_certificate(self):
        code, body = self.admin("/status")
        self.assertEqual(code, 401)
        self.assertIn("--admin-token-file", body)
        self.assertEqual(self.admin("/status", token="wrong-token-0123456789")[0], 401)
        code, body = self.admin("/status", token=TOKEN)
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["id"], 1)
        self.assertEqual(self.admin("/status", cert="client")[0], 200)
        # A certificate of another CA does not even complete the handshake.
        with self.assertRaises(OSError):
            self.admin("/status", cert="other-client")
        code, body = self.admin("/metrics")
        self.assertEqual(code, 200)
        self.assertIn("raftkv_admin_unauthorized_total", body)
        self.assertEqual(self.admin("/healthz")[0], 200)


if __name__ == "__main__":
    SERVER_BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main()
