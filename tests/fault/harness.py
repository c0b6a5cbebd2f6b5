"""A raftkv cluster whose nodes can be killed, paused and cut off from each other.

Network (NetnsNet, needs root and iproute2): one network namespace per node, each with one veth
to a bridge in a hub namespace, where the test's clients live (the calling thread enters it, so
the root namespace is never touched). Every address is in the loopback range, 127.100.0.0/24
(node i is 127.100.0.i, the hub 127.100.0.254): each namespace drops its own 127.0.0.0/8 local
route and sets route_localnet, so those addresses travel over the veths and never leave the
namespaces this harness made. A node's outgoing connections originate from its own address,
whatever the server binds.

A partition is a set of blackhole routes: isolating node i adds, in i's namespace, a route that
discards everything to each other node, and in each other node's namespace one to i. No packet
crosses in either direction, while clients in the hub still reach every node (so an isolated
old leader can be asked for a stale read).

Fallback (LoopbackNet): every node on 127.0.0.1 with free ports; kill and pause only.

Namespaces are named fault-<pid>-*; close() deletes them, and a new harness deletes those of
dead runs (a run ended by SIGKILL cannot clean up after itself).
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import redis

CLONE_NEWNET = 0x40000000
PREFIX = "fault"
SUBNET = "127.100.0"
HUB_IP = f"{SUBNET}.254"


def run(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def netns_available():
    """Whether this process can make network namespaces (root, iproute2); why not otherwise."""
    if os.geteuid() != 0:
        return False, "not root"
    if shutil.which("ip") is None:
        return False, "iproute2 (ip) not installed"
    name = f"{PREFIX}-{os.getpid()}-probe"
    r = run("ip", "netns", "add", name, check=False)
    if r.returncode != 0:
        return False, f"ip netns add: {r.stderr.strip()}"
    run("ip", "netns", "del", name, check=False)
    return True, ""


def delete_stale_namespaces():
    out = run("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        m = re.match(rf"({PREFIX}-(\d+)-\S+)", line)
        if not m or int(m.group(2)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(2)), 0)
        except ProcessLookupError:
            run("ip", "netns", "del", m.group(1), check=False)
        except PermissionError:
            pass


_libc = ctypes.CDLL(None, use_errno=True)


def _setns_fd(fd, what):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns({what}): {os.strerror(e)}")


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        _setns_fd(fd, path)
    finally:
        os.close(fd)


class LoopbackNet:
    """Every node on 127.0.0.1; partitions are not possible."""

    can_partition = False

    def __init__(self, n):
        self.n = n
        ports = free_ports(3 * n)
        self.client_ports, self.peer_ports, self.admin_ports = (
            ports[:n], ports[n:2 * n], ports[2 * n:])

    def client_addr(self, i):
        return ("127.0.0.1", self.client_ports[i - 1])

    def peer_addr(self, i):
        return ("127.0.0.1", self.peer_ports[i - 1])

    def admin_addr(self, i):
        return ("127.0.0.1", self.admin_ports[i - 1])

    def wrap(self, i, argv):
        return argv

    def enter(self):
        pass

    def close(self):
        pass


class NetnsNet:
    """Node i in namespace fault-<pid>-n<i> at 127.100.0.i; clients in fault-<pid>-h."""

    can_partition = True

    def __init__(self, n):
        self.n = n
        tag = f"{PREFIX}-{os.getpid()}"
        self.hub = f"{tag}-h"
        self.node_ns = {i: f"{tag}-n{i}" for i in range(1, n + 1)}
        self.blackholes = set()  # (from node, to node): traffic from→to is dropped
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self._entered = False
        self._made = []
        delete_stale_namespaces()
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _sysctl(self, ns, names):
        cmd = "; ".join(f"echo 1 > /proc/sys/net/ipv4/conf/{d}/route_localnet" for d in names)
        run("ip", "netns", "exec", ns, "/bin/sh", "-c", cmd)

    def _make_ns(self, ns):
        run("ip", "netns", "add", ns)
        self._made.append(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        self._sysctl(ns, ["all", "default"])
        # Without this, every 127.x address would be this namespace's own.
        run("ip", "-n", ns, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local")

    def _build(self):
        self._make_ns(self.hub)
        run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        for i, ns in self.node_ns.items():
            self._make_ns(ns)
            run("ip", "-n", self.hub, "link", "add", f"h{i}", "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            run("ip", "-n", self.hub, "link", "set", f"h{i}", "master", "br0")
            run("ip", "-n", self.hub, "link", "set", f"h{i}", "up")
            self._sysctl(ns, ["eth0"])
            run("ip", "-n", ns, "addr", "add", f"{SUBNET}.{i}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
        self._sysctl(self.hub, ["br0"])
        run("ip", "-n", self.hub, "addr", "add", f"{HUB_IP}/24", "dev", "br0")
        run("ip", "-n", self.hub, "link", "set", "br0", "up")

    def ip(self, i):
        return f"{SUBNET}.{i}"

    def client_addr(self, i):
        return (self.ip(i), 6379)

    def peer_addr(self, i):
        return (self.ip(i), 7000)

    def admin_addr(self, i):
        return (self.ip(i), 8000)

    def wrap(self, i, argv):
        # `ip netns exec` execs the server: the child's pid is the server's.
        return ["ip", "netns", "exec", self.node_ns[i]] + list(argv)

    def enter(self):
        """Moves the calling thread (call it from the main thread before starting others: new
        threads inherit it) into the hub namespace."""
        _setns(f"/run/netns/{self.hub}")
        self._entered = True

    def leave(self):
        if self._entered:
            _setns_fd(self._home, "the original network namespace")
            self._entered = False

    # Partitions.
    def _route(self, verb, frm, to):
        run("ip", "-n", self.node_ns[frm], "route", verb, "blackhole", f"{self.ip(to)}/32")

    def cut(self, frm, to):
        if (frm, to) not in self.blackholes:
            self._route("add", frm, to)
            self.blackholes.add((frm, to))

    def partition(self, groups):
        """Cuts every link between nodes of different groups, both ways."""
        where = {i: g for g, members in enumerate(groups) for i in members}
        for a in where:
            for b in where:
                if where[a] != where[b]:
                    self.cut(a, b)

    def isolate(self, i):
        self.partition([[i], [j for j in self.node_ns if j != i]])

    def heal(self):
        for frm, to in sorted(self.blackholes):
            self._route("del", frm, to)
        self.blackholes.clear()

    def close(self):
        self.leave()
        self.blackholes.clear()
        for ns in reversed(self._made):
            run("ip", "netns", "del", ns, check=False)
        self._made = []
        if self._home is not None:
            os.close(self._home)
            self._home = None


class Cluster:
    """raftkv-server processes on `net`; every process is started here and ended by PID.

    Node ids and network slots: the net has slots 1..net.n (an address triple each, a namespace
    with NetnsNet); node i lives in slot self.slot[i]. The first `nodes` ids (default net.n)
    bootstrap together from --peers in slots 1..nodes. Membership faults (membership.py) remove
    nodes and add new ids in free slots; those start with --join. ids() is the current members.
    """

    def __init__(self, server_bin, net, tick_ms=20, extra_args=(), data_dir=None, nodes=None):
        self.server_bin, self.net = server_bin, net
        self.n = nodes or net.n  # the initial members, ids 1..n in slots 1..n
        self.tick_ms, self.extra_args = tick_ms, list(extra_args)
        self.dir = data_dir or tempfile.mkdtemp(prefix="raftkv-fault-")
        os.makedirs(self.dir, exist_ok=True)
        self.procs = {}
        self.paused = set()
        self.exits = []  # (node, returncode) of processes that ended without being killed here
        self.slot = {i: i for i in range(1, self.n + 1)}
        self.members = set(self.slot)
        self.joins = set()  # ids that start with --join (added after the bootstrap)
        self.next_id = self.n + 1

    def ids(self):
        return sorted(self.members)

    def addr(self, i):
        host, port = self.net.client_addr(self.slot[i])
        return f"{host}:{port}"

    def peer_addr_of(self, i):
        host, port = self.net.peer_addr(self.slot[i])
        return f"{host}:{port}"

    def data_dir(self, i):
        return os.path.join(self.dir, f"node-{i}")

    def free_slot(self):
        """A slot no node holds (None when every slot is taken)."""
        used = set(self.slot.values())
        return next((s for s in range(1, self.net.n + 1) if s not in used), None)

    def start(self, i):
        fmt = lambda a: f"{a[0]}:{a[1]}"  # noqa: E731
        s = self.slot[i]
        argv = [self.server_bin, "--id", str(i),
                "--client-addr", fmt(self.net.client_addr(s)),
                "--peer-addr", fmt(self.net.peer_addr(s)),
                "--admin-addr", fmt(self.net.admin_addr(s)),
                "--data-dir", self.data_dir(i),
                "--tick-ms", str(self.tick_ms)]
        if i in self.joins:
            # Any other member will do (it forwards to the leader); a running one first.
            others = [j for j in self.ids() if j != i]
            via = next((j for j in others if self.alive(j)), others[0] if others else i)
            argv += ["--join", self.addr(via)]
        else:
            initial = range(1, self.n + 1)
            argv += ["--peers", ",".join(f"{j}={fmt(self.net.peer_addr(j))}" for j in initial),
                     "--clients", ",".join(f"{j}={fmt(self.net.client_addr(j))}"
                                           for j in initial)]
        argv += self.extra_args
        with open(os.path.join(self.dir, f"node-{i}.log"), "ab") as log:
            self.procs[i] = subprocess.Popen(self.net.wrap(s, argv), stdout=log,
                                             stderr=subprocess.STDOUT)

    def start_all(self):
        for i in self.ids():
            self.start(i)

    def wipe(self, i):
        """Deletes node i's data directory (it must not be running)."""
        assert i not in self.procs, f"node {i} is running"
        shutil.rmtree(self.data_dir(i), ignore_errors=True)

    def isolate(self, i):
        self.net.isolate(self.slot[i])

    def partition(self, groups):
        self.net.partition([[self.slot[i] for i in g] for g in groups])

    def kill(self, i):
        """kill -9 and reap; a paused process dies too."""
        p = self.procs.pop(i)
        if p.poll() is not None:  # it had ended by itself: a crash the run must report
            self.exits.append((i, p.returncode))
        p.kill()
        p.wait(timeout=30)
        self.paused.discard(i)

    def retire(self, i):
        """Ends a node that left the membership: kill -9 and reap, without counting an exit of
        its own as a crash (a removed node may stop by itself). Its slot is freed."""
        p = self.procs.pop(i, None)
        if p is not None:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
            p.wait(timeout=30)
        self.paused.discard(i)
        self.members.discard(i)
        self.joins.discard(i)
        self.slot.pop(i, None)

    def pause(self, i):
        self.procs[i].send_signal(signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i):
        self.procs[i].send_signal(signal.SIGCONT)
        self.paused.discard(i)

    def alive(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def crashed(self):
        """Nodes whose process ended although nobody here killed it: (node, returncode)."""
        return self.exits + [(i, p.returncode) for i, p in self.procs.items()
                             if p.poll() is not None]

    def client(self, i, timeout=1.0):
        host, port = self.net.client_addr(self.slot[i])
        return redis.Redis(host=host, port=port, socket_timeout=timeout,
                           socket_connect_timeout=timeout)

    def role(self, i):
        try:
            return self.client(i, 0.5).info("raft").get("role")
        except (redis.RedisError, OSError):
            return None

    def close(self):
        for i, p in list(self.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
            p.wait(timeout=30)
        self.procs.clear()
        self.paused.clear()

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)
