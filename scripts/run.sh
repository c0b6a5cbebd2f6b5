#!/usr/bin/env bash
# The main job: installs dependencies, builds, and starts a local 3-node raftkv cluster of real
# processes with its data under ./data (override with RAFTKV_DATA=DIR), then prints how to use
# it. The servers keep running after this script ends; stop them with the printed command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
data=${RAFTKV_DATA:-$PWD/data}
cli=build/tools/raftkv/raftkv
if [ -f "$data/node-1.pid" ] && kill -0 "$(cat "$data/node-1.pid")" 2>/dev/null; then
  echo "A cluster is already running from $data; stopping it first."
  "$cli" cluster stop --dir "$data" --nodes 3 || true
fi
"$cli" cluster start --nodes 3 --dir "$data" --server-bin build/src/server/raftkv-server
# A fresh cluster bootstraps once all three are up, then elects a leader: wait for it (30 s at
# most), so that the first command typed is served rather than answered CLUSTERDOWN.
for _ in $(seq 150); do
  if redis-cli -p 7001 INFO raft 2>/dev/null | tr -d '\r' | grep -Eq '^leader_id:[1-9]'; then break; fi
  sleep 0.2
done
cat <<USAGE

raftkv is running: 3 nodes, every acknowledged write on a majority of disks. Peers authenticate
with the cluster secret in $data/cluster-secret (generated, mode 600; docs/security.md).
  redis-cli -c -p 7001                       # any node; -c follows MOVED to the leader
  redis-cli -c -p 7002 SET greeting hello
  $cli get greeting                          # C++ client (leader discovery, exactly-once writes)
  $cli cluster status --dir $data            # roles, terms, indexes
  $cli bench --clients 16 --duration 10      # throughput and latency percentiles
  curl -s 127.0.0.1:7201/status              # admin HTTP: /healthz /status /metrics
  $cli member list                           # members, roles, catch-up state
  $cli cluster add --dir $data --server-bin build/src/server/raftkv-server  # a 4th node (--join)
Stop it:   $cli cluster stop --dir $data --nodes 3
USAGE
