#!/usr/bin/env bash
# How long adding a node takes to a cluster that holds data (issue 12's closing figure): a fresh
# local 3-node cluster is loaded with KEYS keys of VALUE_BYTES bytes, snapshotted, then node 4
# is added with `raftkv cluster add` (raftkv-server --join: a learner that catches up by
# snapshot, then is promoted automatically). Prints the load time, the time until node 4 is a
# learner, and until it is a caught-up voter, plus its applied index against the leader's.
#   bench/cluster/add_node.sh [BUILD_DIR] [KEYS] [VALUE_BYTES]     (default: build 1000000 100)
# Figures, not assertions (the machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
keys=${2:-1000000}
value_bytes=${3:-100}
server=$build/src/server/raftkv-server
cli=$build/tools/raftkv/raftkv
for bin in "$server" "$cli" redis-cli python3; do
  command -v "$bin" >/dev/null || { echo "missing $bin (build first)"; exit 2; }
done
work=$(mktemp -d /tmp/raftkv-addnode-XXXXXX)
base=7500
cleanup() {
  "$cli" cluster stop --dir "$work" --base-port $base --nodes 4 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
for p in $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)); do
  if redis-cli -p $p ping >/dev/null 2>&1; then echo "port $p already serves; not measuring"; exit 1; fi
done
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

"$cli" cluster start --nodes 3 --dir "$work" --base-port $base --server-bin "$server" >/dev/null
leader=""
for _ in $(seq 200); do
  for p in $((base + 1)) $((base + 2)) $((base + 3)); do
    if redis-cli -p $p INFO raft 2>/dev/null | grep -q "^role:leader"; then leader=$p; fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "no leader"; exit 1; }

# The load: every key written once, pipelined in RESP through redis-cli --pipe.
t0=$(now)
python3 - "$keys" "$value_bytes" <<'PY' | redis-cli -p "$leader" --pipe >/dev/null
import sys
keys, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
value = b"v" * size
chunk = []
for i in range(keys):
    k = b"key:%09d" % i
    chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, value))
    if len(chunk) == 10000:
        out.write(b"".join(chunk)); chunk = []
out.write(b"".join(chunk))
PY
load_s=$(since "$t0")
dbsize=$(redis-cli -p "$leader" DBSIZE)
applied=$(redis-cli -p "$leader" INFO raft | tr -d '\r' | awk -F: '/^applied_index:/{print $2}')
echo "loaded $dbsize keys of $value_bytes B in ${load_s} s (leader applied index $applied)"

t1=$(now)
"$cli" cluster add --dir "$work" --base-port $base --id 4 --server-bin "$server" >/dev/null
added_s=$(since "$t1")
state=""
for _ in $(seq 3000); do
  state=$(redis-cli -p "$leader" RAFTKV.MEMBER LIST | paste -sd' ' | grep -o "4 127.0.0.1:[0-9]* 127.0.0.1:[0-9]* [a-z]* [a-z-]*" || true)
  case "$state" in *" voter caught-up") break ;; esac
  sleep 0.1
done
voter_s=$(since "$t1")
# The leader counts node 4 caught up once its log (the installed snapshot file, durable) is;
# the node then still loads the snapshot into memory before it serves reads at that index.
n4=$((base + 4))
n4_applied=0
for _ in $(seq 6000); do
  n4_applied=$(redis-cli -p $n4 INFO raft 2>/dev/null | tr -d '\r' | awk -F: '/^applied_index:/{print $2}')
  [ "${n4_applied:-0}" -ge "$applied" ] && break
  sleep 0.1
done
applied_s=$(since "$t1")
n4_keys=$(redis-cli -p $n4 INFO keyspace | tr -d '\r' | grep -o 'keys=[0-9]*' | cut -d= -f2)
snap=$(redis-cli -p $n4 INFO raft | tr -d '\r' | grep -E '^(snapshots_received|snapshot_index):' | paste -sd' ')
echo "node 4: learner after ${added_s} s, caught-up voter after ${voter_s} s ($state)"
echo "node 4: applied the leader's index $applied after ${applied_s} s: applied $n4_applied, keys ${n4_keys:-0} (leader had $dbsize); $snap"
