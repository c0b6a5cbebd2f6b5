// ioredis over TLS, for tls_test.py. Usage: node ioredis_check.js '<json>'
//   {"ports": [p1, p2, ...], "ca": "<ca.crt>", "cert": "<crt>"?, "key": "<key>"?, "prefix": "k"}
// On every port: SET <prefix>:<port> <port> (following one MOVED, which a TLS connection gets
// with the leader's TLS address), then READONLY + GET of every key written. Prints one JSON
// object: {"ok": true, "values": {"<port>": {"<key>": "<value>"}}} or {"ok": false, "error": ...}.
const fs = require("fs");
const Redis = require("ioredis");

const args = JSON.parse(process.argv[2]);
const tls = { ca: fs.readFileSync(args.ca) };
if (args.cert) {
  tls.cert = fs.readFileSync(args.cert);
  tls.key = fs.readFileSync(args.key);
}

function connect(host, port) {
  return new Redis({
    host, port, tls, lazyConnect: true, connectTimeout: 5000, commandTimeout: 10000,
    maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false,
  });
}

async function setFollowingMoved(port, key, value) {
  const r = connect("127.0.0.1", port);
  await r.connect();
  try {
    return await r.set(key, value);
  } catch (e) {
    const m = /^MOVED \d+ (.+):(\d+)$/.exec(e.message);
    if (!m) throw e;
    const leader = connect(m[1], Number(m[2]));
    await leader.connect();
    try {
      return await leader.set(key, value);
    } finally {
      leader.disconnect();
    }
  } finally {
    r.disconnect();
  }
}

async function main() {
  const keys = [];
  for (const port of args.ports) {
    const key = `${args.prefix}:${port}`;
    const reply = await setFollowingMoved(port, key, String(port));
    if (reply !== "OK") throw new Error(`SET on ${port}: ${reply}`);
    keys.push(key);
  }
  const values = {};
  for (const port of args.ports) {
    const r = connect("127.0.0.1", port);
    await r.connect();
    try {
      await r.call("READONLY");
      values[port] = {};
      for (const key of keys) values[port][key] = await r.get(key);
    } finally {
      r.disconnect();
    }
  }
  return values;
}

main().then(
  (values) => { console.log(JSON.stringify({ ok: true, values })); process.exit(0); },
  (e) => { console.log(JSON.stringify({ ok: false, error: String(e && e.message || e) })); process.exit(1); });
