#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds a release
# tree and an ASan+UBSan tree, and runs every CTest test in both; compiles a Release tree (the
# user build type); then a short fuzz run.
#   scripts/test.sh                  everything
#   scripts/test.sh -L raft          only tests labelled raft (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${JOBS:-$(nproc)}

echo "== release build"
scripts/build.sh release
echo "== release tests"
ctest --test-dir build --output-on-failure -j "$jobs" --no-tests=error "$@"

# The build type users pick (Release, -O3), compiled but not run: GCC finds some warnings only
# when optimizing this hard. With ccache warm (CI keeps its cache) it takes ~1 min on 2 cores
# (cache hits and links); cold it compiles the tree once more (~10 CPU-minutes, ~5-6 min on 2
# cores). RAFTKV_SKIP_OPTIMIZED=1 skips it.
if [[ "${RAFTKV_SKIP_OPTIMIZED:-0}" != 1 ]]; then
  echo "== optimized (Release) build"
  scripts/build.sh optimized
fi

echo "== ASan+UBSan build"
scripts/build.sh asan
echo "== ASan+UBSan tests"
# Sanitizers make the simulator ~10x slower; tests read RAFTKV_SANITIZED to scale down seeds.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 RAFTKV_SANITIZED=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --no-tests=error -LE nosan "$@"

echo "== fuzz (clang + libFuzzer, ~1 min; see fuzz/ci.sh)"
fuzz/ci.sh "$@"
