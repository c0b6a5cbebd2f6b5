"""Jepsen-style run: real raftkv-server processes, concurrent clients, faults, a checker.

  nemesis.py --server build/src/server/raftkv-server --nemesis mixed --duration 20

Starts an N-node cluster (harness.py: one network namespace per node when root, else loopback),
C client threads (one connection each, following MOVED to the leader) doing GET / SET / DEL /
APPEND / INCR over a few keys that rotate every --ops-per-key ops, with a unique value per
write so a lost write shows. Meanwhile a nemesis injects one fault at a time on a seeded
schedule: kill -9 then restart one node or, at times, all of them (kill), SIGSTOP then SIGCONT
(stop), isolating a node or a minority both ways (partition), a membership change (member:
remove a node and add it back with an empty disk, or replace a node by a new one; membership.py),
or any of these (mixed). Then every fault is healed, each key is read once more through the
leader, and lincheck.py judges the history.

The network has one spare slot (an address, a namespace) beyond --nodes when membership faults
run, for the new node of a replace; clients address slots, not node ids, and follow MOVED.

Each operation is recorded with monotonic invoke/complete times and a status: ok; fail (it
cannot have taken effect: MOVED or CLUSTERDOWN, answered before proposing, or any error on a
read); info (a write that timed out, lost its connection or got TRYAGAIN: it may or may not
have been applied).

Prints `linearizable: yes|no|unknown` with counts; exit status 0 yes, 1 no, 2 unknown, 3 the
cluster crashed or did not recover, 77 the nemesis needs network namespaces and they are not
available. Faults are healed and namespaces deleted on every exit (finally, SIGTERM, SIGINT).
"""
import argparse
import atexit
import json
import os
import random
import shutil
import signal
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import lincheck  # noqa: E402
import membership  # noqa: E402
from lincheck import FAIL, INFO, OK  # noqa: E402

# "amnesia" is a self-test of the harness, not a fault Raft tolerates: once, every node is
# killed and restarted with its data directory wiped, so acknowledged writes vanish and the
# checker must answer "no".
NEMESES = ("none", "kill", "stop", "partition", "member", "mixed", "amnesia")
SKIP = 77


class Workload:
    """Shared by the clients: which keys are live, and the history they record."""

    def __init__(self, seed, n_keys, ops_per_key):
        self.n_keys, self.ops_per_key = n_keys, ops_per_key
        self.lock = threading.Lock()
        self.issued = 0
        self.keys_used = set()
        self.seed = seed

    def next_key(self, rng):
        with self.lock:
            epoch = self.issued // (self.n_keys * self.ops_per_key)
            self.issued += 1
            key = f"k{epoch}.{rng.randrange(self.n_keys)}"
            self.keys_used.add(key)
            return key


class Client(threading.Thread):
    """One connection at a time; one op at a time; records every op it invokes."""

    MIX = (("get", 35), ("set", 20), ("append", 15), ("incr", 20), ("del", 10))

    def __init__(self, p, cluster, workload, stop, timeout, follower_reads=False):
        super().__init__(name=f"client-{p}", daemon=True)
        # Follower reads: GETs go, on a READONLY connection, to one fixed node whatever its
        # role; a follower forwards ReadIndex to the leader, so they must stay linearizable.
        self.follower_reads = follower_reads
        self.slots = cluster.net.n  # clients address network slots: a node id may move
        self.read_node = (p % cluster.n) + 1
        self.p, self.cluster, self.workload, self.stop = p, cluster, workload, stop
        self.timeout = timeout
        self.rng = random.Random(workload.seed * 1000 + p)
        self.node = (p % cluster.n) + 1
        self.conn = None
        self.conn_node = None
        self.seq = 0
        self.history = []
        self.unexpected = []  # error replies that fit no known case
        self.by_addr = {"%s:%d" % cluster.net.client_addr(s): s for s in range(1, self.slots + 1)}

    def _connect(self, node):
        if self.conn is not None and self.conn_node != node:
            self._drop(False)
        if self.conn is None:
            host, port = self.cluster.net.client_addr(node)
            self.conn = redis.Connection(host=host, port=port, socket_timeout=self.timeout,
                                         socket_connect_timeout=self.timeout)
            self.conn_node = node
            if self.follower_reads:
                self.conn.send_command("READONLY")
                self.conn.read_response()
        return self.conn

    def _drop(self, move_on):
        if self.conn is not None:
            self.conn.disconnect()
            self.conn = None
        if move_on:
            self.node = self.node % self.slots + 1

    def _pick(self):
        f = self.rng.choices([m[0] for m in self.MIX], [m[1] for m in self.MIX])[0]
        self.seq += 1
        arg = None
        if f == "set":  # a unique decimal int64, so INCR can follow it
            arg = str((self.p + 1) * 10**12 + self.seq * 1000)
        elif f == "append":
            arg = f"-{self.p}.{self.seq}"
        return f, self.workload.next_key(self.rng), arg

    def invoke(self, f, key, arg):
        """Runs one op and returns its lincheck.Op."""
        cmd = {"get": ("GET", key), "set": ("SET", key, arg), "del": ("DEL", key),
               "append": ("APPEND", key, arg), "incr": ("INCR", key)}[f]
        t0 = time.monotonic()
        status, result = OK, None
        read_fixed = self.follower_reads and f == "get"
        try:
            c = self._connect(self.read_node if read_fixed else self.node)
            c.connect()  # no-op when connected
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            # Never sent, so never applied.
            self._drop(not read_fixed)
            return lincheck.Op(f, key, arg, None, FAIL, t0, time.monotonic(), self.p)
        try:
            c.send_command(*cmd)
            r = c.read_response()
            result = ({"get": lambda v: None if v is None else v.decode(),
                       "set": lambda v: "OK" if v in (b"OK", True) else repr(v)}
                      .get(f, lambda v: v)(r))
        except redis.ResponseError as e:
            msg = str(e)
            if f == "incr" and ("not an integer" in msg or "overflow" in msg):
                result = lincheck.ERR
            elif msg.startswith("MOVED"):
                status = FAIL
                self.node = self.by_addr.get(msg.split()[-1], self.node)
                self._drop(False)
            elif msg.startswith("CLUSTERDOWN"):
                status = FAIL
                self._drop(True)
            elif msg.startswith("TRYAGAIN"):
                status = FAIL if f == "get" else INFO
            else:
                status = FAIL if f == "get" else INFO
                self.unexpected.append(f"{cmd}: {msg}")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            status = FAIL if f == "get" else INFO
            self._drop(not read_fixed)
        t1 = time.monotonic()
        return lincheck.Op(f, key, arg, result, status, t0, t1, self.p)

    def run(self):
        while not self.stop.is_set():
            op = self.invoke(*self._pick())
            self.history.append(op)
            if op.status != OK:
                self.stop.wait(0.02)  # pacing while the cluster is unavailable
        self._drop(False)


class Nemesis(threading.Thread):
    """One fault at a time: wait, inject, hold, heal; every fault is logged with its times."""

    def __init__(self, kind, cluster, stop, seed, t0, interval=(0.5, 1.5), hold=(1.0, 3.0)):
        super().__init__(name="nemesis", daemon=True)
        self.kind, self.cluster, self.stop = kind, cluster, stop
        self.rng = random.Random(seed)
        self.member = membership.MemberFaults(cluster, self.rng)
        self.t0, self.interval, self.hold = t0, interval, hold
        self.log = []  # (start, end, description)
        self.error = None
        self.lock = threading.Lock()  # held while a fault is active; heal_all takes it

    def leader(self):
        for i in self.cluster.ids():
            if self.cluster.alive(i) and i not in self.cluster.paused and \
                    self.cluster.role(i) == "leader":
                return i
        return None

    def target(self):
        leader = self.leader()
        if leader is not None and self.rng.random() < 0.5:
            return leader
        return self.rng.choice(list(self.cluster.ids()))

    def run(self):
        try:
            while self.kind != "none" and not self.stop.wait(self.rng.uniform(*self.interval)):
                kind = self.kind if self.kind != "mixed" else self.rng.choice(
                    ["kill", "stop", "member"] +
                    (["partition"] if self.cluster.net.can_partition else []))
                with self.lock:
                    start = time.monotonic()
                    heal, what = self.inject(kind)
                self.stop.wait(self.rng.uniform(*self.hold))
                with self.lock:
                    heal()
                    self.log.append((start - self.t0, time.monotonic() - self.t0, what))
        except Exception as e:  # reported by the runner; the main thread heals
            self.error = e

    def inject(self, kind):
        c = self.cluster
        if kind == "amnesia":
            for i in c.ids():
                c.kill(i)
                shutil.rmtree(os.path.join(c.dir, f"node-{i}"), ignore_errors=True)
            self.kind = "none"
            return c.start_all, "amnesia: kill -9 every node, wipe its data, restart"
        if kind == "kill" and self.rng.random() < 0.2:
            # Every node at once: acknowledged writes must all come back from the disks.
            for i in c.ids():
                c.kill(i)
            return c.start_all, "kill -9 every node, restart"
        if kind == "kill":
            i = self.target()
            c.kill(i)
            return (lambda: c.start(i)), f"kill -9 node {i}, restart"
        if kind == "stop":
            i = self.target()
            c.pause(i)
            return (lambda: c.resume(i)), f"SIGSTOP node {i}, SIGCONT"
        if kind == "member":
            return self.member.inject(self.target())
        net = c.net
        nodes = list(c.ids())
        if len(nodes) >= 5 and self.rng.random() < 0.5:
            self.rng.shuffle(nodes)
            half = len(nodes) // 2
            minority, majority = sorted(nodes[:half]), sorted(nodes[half:])
            c.partition([minority, majority])
            return net.heal, f"partition {minority} | {majority}"
        i = self.target()
        c.isolate(i)
        return net.heal, f"isolate node {i} both ways"


def heal_all(cluster, nemesis=None):
    """Every fault undone: nodes resumed, partitions healed, killed nodes restarted."""
    lock = nemesis.lock if nemesis else threading.Lock()
    with lock:
        for i in list(cluster.paused):
            cluster.resume(i)
        if cluster.net.can_partition:
            cluster.net.heal()
        for i in cluster.ids():
            if i not in cluster.procs:
                cluster.start(i)
        if nemesis and nemesis.member.injected:
            # After a change whose outcome was unknown, the cluster's list decides.
            if not nemesis.member.reconcile():
                nemesis.member.problems.append("no RAFTKV.MEMBER LIST after healing")


def final_reads(cluster, keys, deadline, p):
    """One linearizable GET of every key after healing, through whichever node leads."""
    ops, node, slots = [], 1, cluster.net.n
    by_addr = {"%s:%d" % cluster.net.client_addr(s): s for s in range(1, slots + 1)}
    for key in sorted(keys):
        while True:
            if time.monotonic() > deadline:
                return ops, f"no final read of {key} before the deadline"
            t0 = time.monotonic()
            try:
                host, port = cluster.net.client_addr(node)
                v = redis.Redis(host=host, port=port, socket_timeout=2.0,
                                socket_connect_timeout=2.0).get(key)
                ops.append(lincheck.Op("get", key, None, None if v is None else v.decode(),
                                       OK, t0, time.monotonic(), p))
                break
            except redis.ResponseError as e:
                msg = str(e)
                node = by_addr.get(msg.split()[-1], node % slots + 1) \
                    if msg.startswith("MOVED") else node % slots + 1
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                node = node % slots + 1
            time.sleep(0.05)  # bounded by the deadline: waiting for an election
    return ops, None


def make_net(kind, nodes, nemesis):
    ok, why = harness.netns_available() if kind != "loopback" else (False, "--net loopback")
    slots = nodes + (1 if nemesis in ("member", "mixed") else 0)  # a replace's new node
    if ok:
        return harness.NetnsNet(slots), None
    if kind == "netns" or nemesis == "partition":
        return None, f"network namespaces unavailable ({why})"
    return harness.LoopbackNet(slots), None


def run(a):
    net, why = make_net(a.net, a.nodes, a.nemesis)
    if net is None:
        print(f"SKIP: {why}")
        return SKIP
    cluster = harness.Cluster(a.server, net, tick_ms=a.tick_ms, nodes=a.nodes,
                              extra_args=["--read-mode", a.read_mode, "--request-timeout-ms",
                                          str(a.request_timeout_ms), "--log-level", "info"]
                              + (["--snapshot-entries", str(a.snapshot_entries),
                                  "--snapshot-keep-entries", str(a.snapshot_entries // 2)]
                                 if a.snapshot_entries else []),
                              data_dir=a.out)
    stop = threading.Event()
    nemesis = None
    closed = []

    def cleanup():
        if closed:
            return
        closed.append(True)
        stop.set()
        cluster.close()
        net.close()
        if not a.keep and not verdict_box["keep"]:
            cluster.remove()
        elif not verdict_box.get("said"):
            print(f"data and server logs kept in {cluster.dir}")

    verdict_box = {"keep": True}  # logs are kept unless the run ends as expected
    atexit.register(cleanup)
    # Both end the run through the finally below, even where SIGINT was inherited ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    t_setup = time.monotonic()
    try:
        net.enter()
        cluster.start_all()
        workload = Workload(a.seed, a.keys, a.ops_per_key)
        clients = [Client(p, cluster, workload, stop, a.op_timeout, a.follower_reads)
                   for p in range(a.clients)]
        t0 = time.monotonic()
        for c in clients:
            c.start()
        if a.nemesis != "none":
            nemesis = Nemesis(a.nemesis, cluster, stop, a.seed, t0, a.fault_every, a.fault_hold)
            nemesis.start()
        end = t0 + a.duration
        while time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
        stop.set()
        for t in clients + ([nemesis] if nemesis else []):
            t.join(timeout=60)
            if t.is_alive():
                raise RuntimeError(f"{t.name} did not stop within 60 s")
        t_stop = time.monotonic()
        heal_all(cluster, nemesis)
        finals, hang = final_reads(cluster, workload.keys_used, time.monotonic() + a.recover_s,
                                   a.clients)
        crashed = cluster.crashed()
        t_final = time.monotonic()

        history = sorted([o for c in clients for o in c.history] + finals,
                         key=lambda o: o.call)
        for i, o in enumerate(history):
            o.index = i
        os.makedirs(cluster.dir, exist_ok=True)
        lincheck.save(history, os.path.join(cluster.dir, "history.jsonl"))
        faults = nemesis.log if nemesis else []
        with open(os.path.join(cluster.dir, "faults.json"), "w") as f:
            json.dump(faults, f)

        counts = {s: sum(1 for o in history if o.status == s) for s in (OK, FAIL, INFO)}
        print(f"run: nemesis={a.nemesis} nodes={a.nodes} clients={a.clients} "
              f"duration={a.duration}s seed={a.seed} net={type(net).__name__} "
              f"read-mode={a.read_mode}{' follower-reads' if a.follower_reads else ''}"
              f"{f' snapshot-entries={a.snapshot_entries}' if a.snapshot_entries else ''}")
        kinds = {}
        for _, _, what in faults:
            k = what.split()[0]
            kinds[k] = kinds.get(k, 0) + 1
        print(f"faults injected: {len(faults)} {kinds}; members at the end: {cluster.ids()}")
        for s, e, what in faults:
            print(f"  {s:7.2f}s .. {e:7.2f}s  {what}")
        print(f"ops: {len(history)} (ok {counts[OK]}, fail {counts[FAIL]}, info {counts[INFO]}) "
              f"over {len(workload.keys_used)} keys; final reads {len(finals)}")
        for c in clients:
            for u in c.unexpected[:5]:
                print(f"unexpected error reply: {u}")
        if nemesis and nemesis.error:
            print(f"nemesis error: {nemesis.error!r}")
        v = lincheck.check(history, max_steps=a.max_steps, max_seconds=a.check_seconds)
        v.report()
        print(f"time: setup+workload {t_stop - t_setup:.1f} s, stop+heal+final reads "
              f"{t_final - t_stop:.1f} s, check {v.seconds:.1f} s")
        print(f"linearizable: {v.verdict} (checked in {v.seconds:.2f} s, {v.steps} search steps)")
        anomalies = []
        if crashed:
            anomalies.append(f"server process(es) exited on their own: {crashed}")
        if hang:
            anomalies.append(f"cluster did not recover after healing: {hang}")
        if nemesis and nemesis.error:
            anomalies.append("nemesis failed")
        for x in (nemesis.member.problems if nemesis else []):
            anomalies.append(f"membership: {x}")
        for x in anomalies:
            print(f"ANOMALY: {x}")
        if (v.verdict != "yes" or anomalies) and a.nemesis != "amnesia":
            print(f"history, faults and server logs kept in {cluster.dir}")
            verdict_box["said"] = True
        else:
            verdict_box["keep"] = False
        if v.verdict == "no":
            return 1
        if anomalies:
            return 3
        return 0 if v.verdict == "yes" else 2
    finally:
        cleanup()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="raftkv-server binary")
    ap.add_argument("--nemesis", choices=NEMESES, default="mixed")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--clients", type=int, default=5)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of workload")
    ap.add_argument("--seed", type=int, default=None)
    pair = lambda text: tuple(float(x) for x in text.split(","))  # noqa: E731
    ap.add_argument("--fault-every", type=pair, default=(0.5, 1.5), metavar="MIN,MAX",
                    help="seconds between faults (uniform)")
    ap.add_argument("--fault-hold", type=pair, default=(1.0, 3.0), metavar="MIN,MAX",
                    help="seconds a fault lasts (uniform)")
    ap.add_argument("--keys", type=int, default=3, help="keys live at once")
    ap.add_argument("--ops-per-key", type=int, default=100, help="ops before a key retires")
    ap.add_argument("--tick-ms", type=int, default=20)
    ap.add_argument("--read-mode", choices=("readindex", "lease"), default="readindex")
    ap.add_argument("--snapshot-entries", type=int, default=0,
                    help="snapshot every N entries (0: the server's default)")
    ap.add_argument("--request-timeout-ms", type=int, default=1000)
    ap.add_argument("--op-timeout", type=float, default=1.5, help="client socket timeout (s)")
    ap.add_argument("--recover-s", type=float, default=30.0,
                    help="time allowed for the final reads after healing")
    ap.add_argument("--net", choices=("auto", "netns", "loopback"), default="auto")
    ap.add_argument("--max-steps", type=int, default=20_000_000, help="checker budget")
    ap.add_argument("--check-seconds", type=float, default=120.0, help="checker budget")
    ap.add_argument("--follower-reads", action="store_true",
                    help="GETs on READONLY connections to fixed nodes, followers included")
    ap.add_argument("--out", default=None, help="data dir (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the data dir even on success")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2**31)
    a.server = os.path.abspath(a.server)
    try:
        return run(a)
    except KeyboardInterrupt:
        print("interrupted: every fault healed, every process ended")
        return 130


if __name__ == "__main__":
    sys.exit(main())
