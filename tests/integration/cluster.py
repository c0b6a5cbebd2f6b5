"""A local raftkv cluster of real raftkv-server processes on free loopback ports, for tests.

Every process is started by this harness and ended by PID (close() kills what is left).

Membership (issue 12): the first `nodes` ids bootstrap together from --peers; add_node() gives
one more id its own ports and start_joining() starts it with --join (it then restarts with the
same command line). member_list() and digests() read RAFTKV.MEMBER LIST and RAFTKV.DIGEST.

Peer authentication (issue 13): by default the harness writes a cluster secret (mode 600) into
its directory and passes --cluster-secret-file to every node (secret=False: none, peers then
run unauthenticated).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import redis


def resp(*args):
    """One command in RESP2 (what a client library sends), from str/int/bytes arguments."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def server_env():
    """The servers' environment. Under sanitizers (RAFTKV_SANITIZED), AddressSanitizer's
    quarantine of freed memory (256 MiB by default) is kept small, so that the tests' RSS bounds
    measure what a server holds rather than what ASan retains."""
    env = dict(os.environ)
    if env.get("RAFTKV_SANITIZED"):
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    return env


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Cluster:
    def __init__(self, server_bin, nodes=3, tick_ms=20, extra_args=(), secret=True):
        self.server_bin = server_bin
        self.n = nodes
        self.tick_ms = tick_ms
        self.extra_args = list(extra_args)
        ports = free_ports(3 * nodes)
        self.client_ports = ports[:nodes]
        self.peer_ports = ports[nodes:2 * nodes]
        self.admin_ports = ports[2 * nodes:]
        self.dir = tempfile.mkdtemp(prefix="raftkv-it-")
        self.procs = {}
        self.initial = nodes  # the ids that bootstrap from --peers
        self.join_args = {}  # id -> the command line of a node started with --join
        self.secret_file = None
        self.password = None  # AUTH sent by client() and digests() when set (--requirepass)
        if secret:
            self.secret = os.urandom(32).hex()
            self.secret_file = os.path.join(self.dir, "cluster-secret")
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.secret + "\n")

    def secret_args(self):
        return ["--cluster-secret-file", self.secret_file] if self.secret_file else []

    def ids(self):
        return range(1, self.n + 1)

    def start(self, i):
        if i in self.join_args:
            self._spawn(i, self.join_args[i])
            return
        peers = ",".join(f"{j}=127.0.0.1:{self.peer_ports[j - 1]}"
                         for j in range(1, self.initial + 1))
        clients = ",".join(f"{j}=127.0.0.1:{self.client_ports[j - 1]}"
                           for j in range(1, self.initial + 1))
        args = [self.server_bin, "--id", str(i),
                "--client-addr", f"127.0.0.1:{self.client_ports[i - 1]}",
                "--peer-addr", f"127.0.0.1:{self.peer_ports[i - 1]}",
                "--admin-addr", f"127.0.0.1:{self.admin_ports[i - 1]}",
                "--peers", peers, "--clients", clients,
                "--data-dir", os.path.join(self.dir, f"node-{i}"),
                "--tick-ms", str(self.tick_ms)] + self.secret_args() + self.extra_args
        self._spawn(i, args)

    def _spawn(self, i, args):
        log = open(os.path.join(self.dir, f"node-{i}.log"), "ab")
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         env=server_env())
        log.close()

    # --- membership (issue 12) ---

    def addr(self, i):
        return f"127.0.0.1:{self.client_ports[i - 1]}"

    def peer_addr(self, i):
        return f"127.0.0.1:{self.peer_ports[i - 1]}"

    def data_dir(self, i):
        return os.path.join(self.dir, f"node-{i}")

    def add_node(self):
        """Ports for one more node, id n+1 (not started); returns its id."""
        client, peer, admin = free_ports(3)
        self.client_ports.append(client)
        self.peer_ports.append(peer)
        self.admin_ports.append(admin)
        self.n += 1
        return self.n

    def start_joining(self, i, via, extra_args=()):
        """Starts node i with an empty data dir and --join <via's client address>; later
        start(i) calls reuse this command line."""
        self.join_args[i] = [self.server_bin, "--id", str(i),
                             "--client-addr", self.addr(i),
                             "--peer-addr", self.peer_addr(i),
                             "--admin-addr", f"127.0.0.1:{self.admin_ports[i - 1]}",
                             "--data-dir", self.data_dir(i),
                             "--tick-ms", str(self.tick_ms),
                             "--join", self.addr(via)] + self.secret_args() + self.extra_args + \
            list(extra_args)
        self._spawn(i, self.join_args[i])

    def wipe(self, i):
        """Deletes node i's data directory (the node must not be running)."""
        assert not self.alive(i), f"node {i} is running"
        shutil.rmtree(self.data_dir(i), ignore_errors=True)

    def member_list(self, i, timeout=5.0):
        """RAFTKV.MEMBER LIST on node i: {id: (peer, client, role, state)}."""
        rows = self.client(i, timeout).execute_command("RAFTKV.MEMBER", "LIST")
        return {int(r[0]): tuple(x.decode() for x in r[1:]) for r in rows}

    def digests(self, among=None, timeout=20.0):
        """{node: (applied index, state digest)}, each read on the node itself (READONLY)."""
        out = {}
        for i in among or self.ids():
            conn = redis.Redis(host="127.0.0.1", port=self.client_ports[i - 1],
                               socket_timeout=timeout, single_connection_client=True,
                               password=self.password)
            try:
                conn.execute_command("READONLY")
                applied, digest = conn.execute_command("RAFTKV.DIGEST")
                out[i] = (int(applied), digest.decode() if isinstance(digest, bytes) else digest)
            finally:
                conn.close()
        return out

    def start_all(self):
        for i in self.ids():
            self.start(i)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs[i]
        p.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            rc = p.wait(timeout=30)
            del self.procs[i]
            return rc
        return None

    def alive(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def client(self, i, timeout=2.0):
        return redis.Redis(host="127.0.0.1", port=self.client_ports[i - 1],
                           socket_timeout=timeout, socket_connect_timeout=timeout,
                           password=self.password)

    def info_raft(self, i):
        try:
            return self.client(i, 0.5).info("raft")
        except (redis.RedisError, OSError):
            return None

    def leader(self, among=None, timeout=20.0):
        """The node that reports itself leader (and is alive), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        among = list(among or self.ids())
        while time.monotonic() < deadline:
            for i in among:
                if not self.alive(i):
                    continue
                info = self.info_raft(i)
                if info and info.get("role") == "leader":
                    return i
            time.sleep(0.02)
        raise AssertionError(f"no leader among {among} within {timeout}s; logs in {self.dir}")

    def metrics(self, i):
        """Node i's /metrics as {name: value} (unlabelled samples only)."""
        url = f"http://127.0.0.1:{self.admin_ports[i - 1]}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
                out[parts[0]] = float(parts[1])
        return out

    def wait_applied(self, i, index, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.info_raft(i)
            if info and int(info.get("applied_index", 0)) >= index:
                return
            time.sleep(0.02)
        raise AssertionError(f"node {i} did not apply {index} within {timeout}s")

    def write(self, key, value, timeout=20.0):
        """SET through the current leader, retrying across leader changes; True once acked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                l = self.leader(timeout=max(0.1, deadline - time.monotonic()))
                if self.client(l).set(key, value):
                    return True
            except (redis.RedisError, OSError, AssertionError):
                time.sleep(0.02)
        return False

    def close(self):
        for i, p in list(self.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
            p.wait(timeout=30)
        self.procs.clear()

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def finish(self):
        """A test's tearDown: stop every process, then remove the data and logs unless
        RAFTKV_KEEP_LOGS is set (their directory is printed instead)."""
        self.close()
        if os.environ.get("RAFTKV_KEEP_LOGS"):
            print(f"logs kept in {self.dir}", file=sys.stderr)
        else:
            self.remove()
