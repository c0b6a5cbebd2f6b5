#!/usr/bin/env bash
# Installs every Debian package raftkv needs to build, test and run. Idempotent.
# Usage: scripts/install-deps.sh          (run as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libasio-dev libprotobuf-dev protobuf-compiler libisal-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libcpp-httplib-dev libssl-dev librocksdb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-tools redis-server python3 python3-redis iproute2 procps
  # TLS tests: the openssl CLI (tests/tls/make_certs.sh), curl, and Node for ioredis
  openssl curl nodejs
  # fuzz/ci.sh: clang 14 and its compiler-rt (libclang_rt.fuzzer, ASan/UBSan runtimes)
  clang libclang-rt-14-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Debian's nodejs comes without npm (package npm); a nodejs from elsewhere may bundle it.
if ! command -v npm >/dev/null 2>&1 && ! printf '%s\n' "${missing[@]}" | grep -qx npm; then
  missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ioredis for tests/integration/tls_test.py, into tests/integration/tls/node_modules (from the
# npm registry, versions pinned by package-lock.json). As the invoking user, not root.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/tls"
if [ ! -d "$node_dir/node_modules/ioredis" ]; then
  echo "install-deps: npm ci (ioredis) in $node_dir"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
