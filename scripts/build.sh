#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh [release|asan|optimized]
#   release   → build/       (RelWithDebInfo, benchmarks on)
#   asan      → build-asan/  (AddressSanitizer + UndefinedBehaviorSanitizer)
#   optimized → build-opt/   (Release, -O3: the build type users pick; CI only compiles it, for
#                             the warnings that only the optimizer finds)
# Warnings are errors in every tree built here (RAFTKV_WERROR; off in a plain cmake build).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
jobs=${JOBS:-$(nproc)}
# Let ccache share objects between checkouts in different directories (CI clones afresh).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAFTKV_SANITIZE=ON -DRAFTKV_BENCHMARKS=OFF) ;;
  optimized) dir=build-opt; flags=(-DCMAKE_BUILD_TYPE=Release -DRAFTKV_BENCHMARKS=OFF) ;;
  *) echo "usage: $0 [release|asan|optimized]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DRAFTKV_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
