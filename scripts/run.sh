#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs raftkv.
# (Until raftkv-server lands this runs the deterministic cluster simulator: many seeded runs of
# real Raft cores over a faulty simulated network, with every invariant checked after each step.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
echo
echo "== raftkv-sim: 200 seeded 5-node clusters with network faults and crashes"
build/sim/raftkv-sim --seeds 200 --first-seed 1 --nodes 5 --faults all
echo
echo "Replay one run with its trace:   build/sim/raftkv-sim --seed 7 --nodes 5 --faults all --trace"
echo "Search more seeds:               build/sim/raftkv-sim --seeds 100000 --faults all"
