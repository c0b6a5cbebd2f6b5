#!/usr/bin/env bash
# The short fuzz run of CI (called by scripts/test.sh): builds the libFuzzer harnesses in a
# separate clang tree, build-fuzz/ (only the folders they need), and runs each one for
# FUZZ_SECONDS (default 30) on its seed corpus, two at a time. Fails on any crash, sanitizer
# report, leak, timeout (>10 s per input) or broken harness property; the reproducer is left in
# build-fuzz/fuzz/artifacts/<name>/. Extra arguments go to ctest (after -L fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
CXX=${FUZZ_CXX:-clang++} cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRAFTKV_FUZZ=ON -DRAFTKV_WERROR=ON -DRAFTKV_BENCHMARKS=OFF -DRAFTKV_FUZZ_SECONDS="${FUZZ_SECONDS:-30}" \
  "-DRAFTKV_ONLY=src/base;src/tls;src/raft;src/storage;src/transport;src/resp;fuzz" >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzzers
ctest --test-dir build-fuzz --output-on-failure -j 2 --no-tests=ignore -L fuzz "$@"
