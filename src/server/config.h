// raftkv-server configuration: command-line flags, optionally a TOML file with the same keys
// (flags win), validated with messages that say what is wrong and how to fix it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/status.h"

namespace raftkv::server {

struct ServerConfig {
  NodeId id;
  std::string client_addr = "127.0.0.1:7001";  // RESP clients
  std::string peer_addr = "127.0.0.1:7101";    // other nodes
  std::string admin_addr;                      // HTTP /healthz /status /metrics ("" = off)
  // The initial members' peer and client addresses (self included). They seed the first start
  // only: a fresh data dir bootstraps from them (node/node.h, "Bootstrap"); afterwards the
  // addresses of members come from the replicated membership. Empty with --join.
  std::map<NodeId, std::string> peers;
  std::map<NodeId, std::string> clients;
  std::string data_dir;
  uint64_t cluster_id = 1;
  // File holding the cluster secret(s) peers authenticate with (transport/handshake.h; one per
  // line, the first proves, any verifies). Empty: peer authentication is off (logged loudly).
  std::string cluster_secret_file;
  // Mutual TLS between peers (transport/peer_tls.h): all three or none. The certificate must
  // name this node (CN or DNS SAN "raftkv-node-<id>").
  std::string peer_tls_cert;
  std::string peer_tls_key;
  std::string peer_tls_ca;
  // Membership (issue 12, docs/membership.md).
  //   join: "host:port" of any member's client address. A fresh data dir then asks that member
  //   to add this node (RAFTKV.MEMBER ADD) and waits to be replicated to; never bootstraps.
  //   Ignored once the data dir holds the cluster's log.
  std::string join;
  //   The leader promotes a learner to voter once it has caught up.
  bool auto_promote = true;
  //   Unsafe recovery: this node rewrites the membership to itself alone (docs/node.md).
  bool force_new_cluster = false;

  uint32_t tick_ms = 100;
  uint32_t election_ticks = 10;
  uint32_t heartbeat_ticks = 1;
  std::string read_mode = "readindex";  // or "lease"
  uint64_t snapshot_entries = 50'000;
  uint64_t snapshot_keep_entries = 5'000;
  uint64_t snapshot_log_bytes = uint64_t{256} << 20;
  uint64_t wal_segment_bytes = uint64_t{64} << 20;
  uint64_t snapshot_chunk_bytes = uint64_t{1} << 20;
  uint64_t snapshot_transfer_rate = 0;  // bytes per second, 0 = unthrottled
  // Longest string a write may carry or produce (Redis proto-max-bulk-len), 1 B .. 1 GiB; every
  // other size limit on the write path is derived from it (write_path_limits below).
  uint64_t max_value_bytes = 512ull << 20;
  uint32_t request_timeout_ms = 10'000;
  // Redis's `client-output-buffer-limit normal <hard> <soft> <soft-seconds>` (sizes in Redis
  // units: 64mb, 1gb, 500k, plain bytes; 0 = no limit): replies waiting for a client that does
  // not read them, beyond which it is disconnected. Parsed into the three fields below.
  std::string client_output_buffer_limit = "normal 128mb 0 0";
  uint64_t output_limit_hard_bytes = uint64_t{128} << 20;
  uint64_t output_limit_soft_bytes = 0;
  uint32_t output_limit_soft_seconds = 0;
  // Threads running the client io_context (the RESP acceptor and client connections). The raft
  // strand and the peer transport run on an io_context of their own (server/server.h), the WAL
  // persister and the applier on their own threads, so client load never delays Raft ticks.
  // One is best when nodes share cores (a local cluster, a 2-core box): with two, most
  // connection hand-offs wake the other io thread.
  uint32_t io_threads = 1;
  std::string log_level = "info";
  // Redis's requirepass: the default user's password, used only while the replicated ACL has
  // never been set (docs/security.md). Redis's protected-mode: "yes" or "no".
  std::string requirepass;
  std::string protected_mode = "yes";

  // Client TLS, with Redis's option names (docs/security.md). tls_port > 0: a TLS listener on
  // client_addr's host. plaintext_port: Redis `port`; -1 keeps client_addr's port, 0 turns the
  // plaintext listener off (then only tls_port serves clients), > 0 replaces client_addr's port.
  // tls_auth_clients: "yes" | "no" | "optional"; "" means yes when a CA file is given, else no.
  int32_t plaintext_port = -1;
  uint32_t tls_port = 0;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_cert_file;
  std::string tls_auth_clients;
  uint32_t tls_handshake_timeout_ms = 10'000;
  // Every member's TLS client address (1=host:port,...; self is added from tls_port): MOVED and
  // ASK on TLS connections name these instead of the plaintext addresses of `clients`.
  std::map<NodeId, std::string> tls_clients;
  // Admin HTTP: a bearer token (the file's first line) for /status and everything that is not
  // /metrics or /healthz; HTTPS with these files, a verified client certificate (when a CA is
  // given) also admits to /status.
  std::string admin_token_file;
  std::string admin_tls_cert_file;
  std::string admin_tls_key_file;
  std::string admin_tls_ca_cert_file;

  // "host:port" of the TLS listener ("" when tls_port is 0).
  std::string tls_addr() const;
  // The client address other nodes and clients are told (MOVED, CLUSTER SLOTS, membership):
  // client_addr, or tls_addr() when the plaintext listener is off.
  std::string advertised_client_addr() const;

  Status validate() const;
};

// The size limits of every stage a write passes through, derived from --max-value-bytes so that
// one write of the largest allowed size fits all of them (issue 11.2: a value that a stage could
// not carry wedged the log): client → RESP parser → size check before proposing → raft
// uncommitted-bytes admission → kApp (always at least one entry) → peer frame → WAL record →
// snapshot stream (fields up to 4 GiB). A write over the limits is refused before it reaches the
// log.
struct WritePathLimits {
  uint64_t max_value_bytes = 0;    // kv: longest string, key or value
  uint64_t max_request_bytes = 0;  // kv: longest encoded write, i.e. log entry payload
  // RESP parser: longest bulk argument. A string up to kRequestHeadroomBytes over the max is
  // read and answered "string exceeds maximum allowed size"; a longer bulk is a protocol error
  // (as in Redis for a bulk over proto-max-bulk-len) and closes the connection.
  uint64_t max_bulk_bytes = 0;
  // raft: one max-size entry plus the default 64 MiB of others may be uncommitted (an entry is
  // also always admitted when nothing is uncommitted).
  uint64_t max_uncommitted_bytes = 0;
  // transport, both directions: fixed, for an App carrying one entry of the largest request any
  // node may be configured for, so that nodes with different --max-value-bytes still read each
  // other's frames (a frame a peer refuses would stop replication to it).
  uint64_t max_frame_bytes = 0;
  // transport: estimated bytes queued per peer. Room for one max-size kApp beside the default
  // 256 MiB of others (a queue that is not empty refuses a message beyond its cap, so with less a
  // large kApp was dropped whenever a heartbeat was queued). Queued messages share the entries'
  // bytes with the log: this bounds references more than copies.
  uint64_t send_queue_limit_bytes = 0;
  // storage: recent entries the WAL keeps in memory. Room for one max-size entry beside the
  // default 64 MiB: with less, an entry larger than the cache was evicted as soon as it was
  // written and read back from disk (a zeroed buffer, a read and a decoding copy, each on the
  // raft strand) to apply it and again for every follower's kApp — 4 of a 100 MiB SET's 4.3 s
  // of leader CPU. The cache shares the entries' bytes with the log.
  uint64_t wal_cache_bytes = 0;
};
WritePathLimits write_path_limits(uint64_t max_value_bytes);

// Parses argv (and --config FILE). On --help, returns kShutdown with the help text as message.
Result<ServerConfig> parse_server_config(int argc, char** argv);

// Redis memory sizes: "1024", "1k" (1000), "1kb" (1024), "m"/"mb", "g"/"gb", any case.
Result<uint64_t> parse_redis_bytes(const std::string& text);

// "1=host:port,2=host:port" → map; errors name the bad item.
Result<std::map<NodeId, std::string>> parse_member_list(const std::string& text);

}  // namespace raftkv::server
