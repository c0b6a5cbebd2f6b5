#!/usr/bin/env bash
# Generates a throw-away PKI for tests with the openssl CLI. Usage: make_certs.sh <dir> [nodes]
#
# Writes into <dir> (created if missing; existing files are overwritten), each as <name>.crt +
# <name>.key (PEM, keys unencrypted, EC P-256):
#   ca             the test CA (ca.crt is what --tls-ca-cert-file / --cacert take)
#   server         signed by ca; CN localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1
#   server2        like server, another key and serial (certificate-reload tests)
#   client         signed by ca; CN raftkv-client, extendedKeyUsage clientAuth
#   other-ca       a second, unrelated CA
#   other-server   signed by other-ca, same names as server (a client trusting ca refuses it)
#   other-client   signed by other-ca (a server trusting ca refuses it)
#   expired        signed by ca, same names as server, valid 2020-01-01 .. 2020-01-02
#   expired-client signed by ca, clientAuth, expired the same way
#   node-<id>      for id in 1..nodes (default 5): CN raftkv-node-<id>, SAN DNS:localhost,
#                  IP:127.0.0.1; serverAuth + clientAuth (peer mutual TLS)
# Also <name>.serial: the certificate's serial number in upper-case hex, as
# `openssl x509 -serial` prints it (tests compare it with what a handshake presents).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 <dir> [nodes]" >&2
  exit 2
fi
dir=$1
nodes=${2:-5}
mkdir -p "$dir"
cd "$dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/make_certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

make_ca() {  # name cn
  newkey "$1"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 3650 -subj "/O=raftkv tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  mkdir -p "$work/$1"
  : > "$work/$1/index.txt"
  openssl rand -hex 16 > "$work/$1/serial"
}

# sign <name> <ca> <cn> <extensions> [startdate enddate]: a leaf certificate through `openssl ca`
# (the only CLI path in OpenSSL 3.0 that sets arbitrary validity dates).
sign() {
  local name=$1 ca=$2 cn=$3 ext=$4 start=${5:-} end=${6:-}
  newkey "$name"
  openssl req -new -key "$name.key" -out "$work/$name.csr" -subj "/O=raftkv tests/CN=$cn"
  cat > "$work/$name.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $work/$ca/index.txt
new_certs_dir = $work/$ca
serial = $work/$ca/serial
certificate = $PWD/$ca.crt
private_key = $PWD/$ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
$ext
CNF
  local dates=(-days 825)
  if [ -n "$start" ]; then dates=(-startdate "$start" -enddate "$end"); fi
  openssl ca -batch -notext -config "$work/$name.cnf" -extensions ext \
    "${dates[@]}" -in "$work/$name.csr" -out "$name.crt" 2>/dev/null
  openssl x509 -in "$name.crt" -noout -serial | sed 's/^serial=//' > "$name.serial"
}

server_ext='extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1'
client_ext='extendedKeyUsage = clientAuth'

make_ca ca "raftkv test CA"
make_ca other-ca "raftkv other test CA"
sign server ca localhost "$server_ext"
sign server2 ca localhost "$server_ext"
sign client ca raftkv-client "$client_ext"
sign other-server other-ca localhost "$server_ext"
sign other-client other-ca raftkv-client "$client_ext"
sign expired ca localhost "$server_ext" 20200101000000Z 20200102000000Z
sign expired-client ca raftkv-client "$client_ext" 20200101000000Z 20200102000000Z
for id in $(seq 1 "$nodes"); do
  sign "node-$id" ca "raftkv-node-$id" 'extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1'
done
chmod 600 ./*.key
