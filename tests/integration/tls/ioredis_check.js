// ioredis over TLS, for tls_test.py. Usage: node ioredis_check.js '<json>'
//   {"ports": [p1, p2, ...], "ca": "<ca.crt>", "cert": "<crt>"?, "key": "<key>"?, "prefix": "k"}
//   With "cluster": true, instead: a Redis.Cluster client (slot map from CLUSTER SLOTS, which a
//   TLS connection gets with TLS ports) seeded with the first port SETs and GETs 20 keys.
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

async function clusterMain() {
  const cluster = new Redis.Cluster([{ host: "127.0.0.1", port: args.ports[0] }], {
    redisOptions: { tls, connectTimeout: 5000, commandTimeout: 10000 },
    slotsRefreshTimeout: 5000, clusterRetryStrategy: () => null, maxRedirections: 4,
  });
  try {
    const values = {};
    for (let i = 0; i < 20; i++) {
      const reply = await cluster.set(`${args.prefix}:${i}`, String(i));
      if (reply !== "OK") throw new Error(`SET: ${reply}`);
    }
    for (let i = 0; i < 20; i++) values[`${args.prefix}:${i}`] = await cluster.get(`${args.prefix}:${i}`);
    const ports = cluster.nodes("all").map((n) => n.options.port).sort();
    return { cluster: values, ports };
  } finally {
    cluster.disconnect();
  }
}

(args.cluster ? clusterMain() : main()).then(
  (values) => { console.log(JSON.stringify({ ok: true, values })); process.exit(0); },
  (e) => { console.log(JSON.stringify({ ok: false, error: String(e && e.message || e) })); process.exit(1); });
