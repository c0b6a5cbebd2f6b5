"""Client TLS cost on a real 3-node cluster: SET/GET throughput, latency and server CPU per
request with TLS off (plaintext port) and on (tls-port) in the same run, on the same leader,
with the same redis-benchmark parameters; plus new connections per second (redis-benchmark
-k 0: one connection, hence one TLS handshake, per request). Prints figures; asserts nothing.

Usage: /usr/bin/python3 bench/tls/tls_bench.py SERVER_BIN [--rounds 2] [--requests 40000]

CPU per request is the user + system time of all three server processes over the run divided
by the requests (the cluster replicates every SET, so it includes the followers' work).
Plaintext and TLS runs alternate (--rounds times) so that drift of a shared machine spreads over
both; the table shows the median of the rounds.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "tls"))
from certs import TestPki  # noqa: E402
from tls_test import TlsCluster  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / HZ


def bench(port, tls_args, test, clients, requests, pids, keepalive=True):
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test, "-c", str(clients),
            "-n", str(requests), "-d", "100", "-r", "10000", "--csv"] + tls_args
    if not keepalive:
        args += ["-k", "0"]
    before = cpu_seconds(pids)
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True).stdout
    after = cpu_seconds(pids)
    row = [f.strip('"') for f in out.strip().splitlines()[1].split(",")]
    return {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6]),
            "cpu_us": (after - before) * 1e6 / requests}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server_bin")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--requests", type=int, default=40000)
    a = ap.parse_args()
    pki = TestPki(nodes=3)
    c = TlsCluster(os.path.abspath(a.server_bin), pki, tls_args=["--tls-auth-clients", "optional"])
    try:
        c.start_all()
        leader = c.leader()
        pids = [p.pid for p in c.procs.values()]
        tls = ["--tls", "--cacert", pki.cert("ca")]
        plain_port, tls_port = c.client_ports[leader - 1], c.tls_ports[leader - 1]
        cases = [(t, n_clients) for n_clients in (1, 16, 64) for t in ("set", "get")]
        print(f"3-node cluster, leader n{leader}; redis-benchmark -d 100 -r 10000, "
              f"{a.requests} requests (2000 with -c 1), median of {a.rounds} alternating rounds")
        print(f"{'test':<6}{'-c':>4} | {'plaintext rps   p50   p99 cpu/req':>36} | "
              f"{'TLS rps   p50   p99 cpu/req':>36} | {'TLS/plain rps':>13} {'cpu':>6}")
        for test, n in cases:
            requests = 2000 if n == 1 else a.requests
            runs = {"plain": [], "tls": []}
            for _ in range(a.rounds):
                runs["plain"].append(bench(plain_port, [], test, n, requests, pids))
                runs["tls"].append(bench(tls_port, tls, test, n, requests, pids))
            med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in runs.items()}
            p, t = med["plain"], med["tls"]
            print(f"{test:<6}{n:>4} | {p['rps']:>12.0f} {p['p50']:>5.2f} {p['p99']:>5.2f} "
                  f"{p['cpu_us']:>7.1f}us | {t['rps']:>12.0f} {t['p50']:>5.2f} {t['p99']:>5.2f} "
                  f"{t['cpu_us']:>7.1f}us | {t['rps'] / p['rps']:>13.2f} "
                  f"{t['cpu_us'] / p['cpu_us']:>6.2f}")
        # New connection per request: the TLS handshake's cost (PING, answered locally).
        requests = 4000
        p = bench(plain_port, [], "ping_mbulk", 8, requests, pids, keepalive=False)
        t = bench(tls_port, tls, "ping_mbulk", 8, requests, pids, keepalive=False)
        print(f"{'connect+PING -k 0 -c 8':<24} plaintext {p['rps']:.0f}/s {p['cpu_us']:.1f}us | "
              f"TLS {t['rps']:.0f}/s {t['cpu_us']:.1f}us per connection (server CPU)")
    finally:
        c.finish()
        pki.remove()


if __name__ == "__main__":
    main()
