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
  std::map<NodeId, std::string> peers;         // every member's peer address (self included)
  std::map<NodeId, std::string> clients;       // every member's client address (for MOVED)
  std::string data_dir;
  uint64_t cluster_id = 1;

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

  Status validate() const;
};

// Parses argv (and --config FILE). On --help, returns kShutdown with the help text as message.
Result<ServerConfig> parse_server_config(int argc, char** argv);

// Redis memory sizes: "1024", "1k" (1000), "1kb" (1024), "m"/"mb", "g"/"gb", any case.
Result<uint64_t> parse_redis_bytes(const std::string& text);

// "1=host:port,2=host:port" → map; errors name the bad item.
Result<std::map<NodeId, std::string>> parse_member_list(const std::string& text);

}  // namespace raftkv::server
