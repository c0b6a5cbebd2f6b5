"""Snapshot figures on a real 3-node cluster (issue #5): snapshot creation rate, restart time
from snapshot + tail vs full log replay, catch-up time of a wiped follower. Prints figures;
asserts nothing about time.

Usage: /usr/bin/python3 bench/cluster/snapshot_bench.py SERVER_BIN [--keys 1000000]
"""
import argparse
import os
import shutil
import sys
import time
import json
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from cluster import Cluster  # noqa: E402


def load(c, keys, per_mset=100):
    l = c.leader()
    conn = c.client(l, timeout=60)
    pipe = conn.pipeline(transaction=False)
    for start in range(0, keys, per_mset):
        pipe.mset({f"key{k}": f"{k:08d}".ljust(100, "v") for k in range(start, min(keys, start + per_mset))})
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def status(c, i):
    with urllib.request.urlopen(f"http://127.0.0.1:{c.admin_ports[i - 1]}/status", timeout=30) as r:
        return json.loads(r.read())


def wait_caught_up(c, i, commit, timeout=600):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        info = c.info_raft(i)
        if info and int(info.get("applied_index", 0)) >= commit:
            return time.monotonic() - t0
        time.sleep(0.01)
    raise AssertionError(f"node {i} did not catch up")


def restart_time(c, i):
    """Seconds from start to serving INFO with applied >= the commit it had."""
    commit = int(c.info_raft(c.leader())["commit_index"])
    c.kill(i)
    t0 = time.monotonic()
    c.start(i)
    wait_caught_up(c, i, commit)
    return time.monotonic() - t0


def run(server, keys, snapshot_entries, label):
    c = Cluster(server, extra_args=["--snapshot-entries", str(snapshot_entries),
                                    "--snapshot-keep-entries", "100"])
    try:
        c.start_all()
        t0 = time.monotonic()
        load(c, keys)
        load_s = time.monotonic() - t0
        l = c.leader()
        commit = int(c.info_raft(l)["commit_index"])
        for i in c.ids():
            wait_caught_up(c, i, commit)
        st = status(c, l)["snapshot"]
        print(f"[{label}] loaded {keys} keys in {load_s:.1f}s ({commit} entries); "
              f"leader snapshot {st['bytes']} B in {st['duration_ms']} ms"
              + (f" = {st['bytes'] / 1e6 / max(st['duration_ms'], 1) * 1000:.0f} MB/s"
                 if st['bytes'] else ""), flush=True)
        f = next(i for i in c.ids() if i != l)
        print(f"[{label}] follower restart (kill -9, start, caught up): {restart_time(c, f):.2f}s",
              flush=True)
        if snapshot_entries < 10**9:
            c.kill(f)
            shutil.rmtree(os.path.join(c.dir, f"node-{f}"))
            t0 = time.monotonic()
            c.start(f)
            wait_caught_up(c, f, int(c.info_raft(l)["commit_index"]))
            print(f"[{label}] wiped follower caught up by snapshot in {time.monotonic() - t0:.2f}s",
                  flush=True)
    finally:
        c.close()
        c.remove()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--keys", type=int, default=1_000_000)
    a = ap.parse_args()
    # MSET of 100 keys per entry: 1M keys = 10,000 entries.
    run(a.server, a.keys, 5_000, "snapshot+tail")
    run(a.server, a.keys, 10**12, "full replay")
