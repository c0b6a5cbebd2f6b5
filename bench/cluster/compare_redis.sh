#!/usr/bin/env bash
# Side-by-side benchmark: a fresh local 3-node raftkv cluster (every write fsynced on a majority)
# against one redis-server with appendonly yes / appendfsync always (every write fsynced on one
# disk), measured in the same run with the same redis-benchmark parameters.
#   bench/cluster/compare_redis.sh [BUILD_DIR]        (default: build)
# Prints one table; figures, not assertions (the machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
server=$build/src/server/raftkv-server
cli=$build/tools/raftkv/raftkv
for bin in "$server" "$cli" redis-server redis-benchmark; do
  command -v "$bin" >/dev/null || { echo "missing $bin (build first; install redis-server)"; exit 2; }
done
work=$(mktemp -d /tmp/raftkv-compare-XXXXXX)
redis_port=6390
redis_pid=""
cleanup() {
  "$cli" cluster stop --dir "$work/raftkv" --nodes 3 >/dev/null 2>&1 || true
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Refuse to measure somebody else's server (or a cluster of an earlier run still shutting down).
for p in 7401 7402 7403 $redis_port; do
  if redis-cli -p $p ping >/dev/null 2>&1; then echo "port $p already serves; not measuring"; exit 1; fi
done
"$cli" cluster start --nodes 3 --dir "$work/raftkv" --base-port 7400 --server-bin "$server" >/dev/null
mkdir -p "$work/redis"
redis-server --port $redis_port --dir "$work/redis" --appendonly yes --appendfsync always \
  --save '' --daemonize no --logfile "$work/redis/log" &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p $redis_port ping >/dev/null 2>&1 && break; sleep 0.1; done
leader=""
for _ in $(seq 100); do
  for p in 7401 7402 7403; do
    if redis-cli -p $p INFO raft 2>/dev/null | grep -q "^role:leader"; then leader=$p; fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "raftkv cluster elected no leader"; exit 1; }

# CPU time (clock ticks, user + system, every thread) of the given processes.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] && total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
raftkv_pids=$(pgrep -f -- "--data-dir $work/raftkv" | tr '\n' ' ')

# rps, p50/p99 (ms) and the server side's CPU per request (us, all its processes) of one
# redis-benchmark test, from its CSV output.
measure() {  # port test clients requests pids...
  local port=$1 test=$2 clients=$3 requests=$4
  shift 4
  local before after
  before=$(cpu_ticks "$@")
  # Bounded: redis-benchmark reconnects forever to a server that went away.
  local line
  line=$(timeout 300 redis-benchmark -p "$port" -t "$test" -c "$clients" -n "$requests" -d 100 \
    -r 10000 --csv 2>/dev/null | awk -F',' 'NR==2 { for (i = 1; i <= NF; i++) gsub(/"/, "", $i);
      printf "%10.0f %8s %8s", $2, $5, $7 }')
  after=$(cpu_ticks "$@")
  printf "%s %7.1f" "$line" "$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" \
    'BEGIN { print t * 1000000 / hz / n }')"
}
printf "%-6s %-4s | %-36s | %-36s\n" "test" "-c" "raftkv (3 nodes) rps p50 p99 cpu/req" \
  "redis fsync=always rps p50 p99 cpu/req"
for c in 1 16 64; do
  n=$(( c == 1 ? 2000 : 40000 ))
  for t in set get; do
    # shellcheck disable=SC2086
    printf "%-6s %-4s | %s | %s\n" "$t" "$c" "$(measure $leader $t $c $n $raftkv_pids)" \
      "$(measure $redis_port $t $c $n $redis_pid)"
  done
done
echo "p50/p99 in ms; cpu/req: server CPU (user+system, all threads of all its processes) per request, us"
