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
  # tests/tls/make_certs.sh (the test PKI of the TLS and peer-authentication tests)
  openssl
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

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
