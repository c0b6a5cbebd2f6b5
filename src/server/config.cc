#include "server/config.h"

#include <cctype>
#include <charconv>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include "base/log.h"
#include "kv/commands.h"
#include "storage/wal_format.h"

namespace raftkv::server {
namespace {

Status bad(std::string msg) {
  return Status(ErrorCode::kInvalidArgument, std::move(msg));
}

bool has_port(const std::string& addr) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 >= addr.size()) return false;
  for (size_t i = colon + 1; i < addr.size(); ++i) {
    if (addr[i] < '0' || addr[i] > '9') return false;
  }
  return std::stoul(addr.substr(colon + 1)) <= 65535;
}

// "normal <hard> <soft> <soft-seconds>" into c's three output_limit_* fields.
Status parse_output_limit(ServerConfig& c) {
  std::istringstream in(c.client_output_buffer_limit);
  std::string cls, hard, soft, seconds, extra;
  in >> cls >> hard >> soft >> seconds >> extra;
  auto fail = [&](const std::string& why) {
    return bad(fmt::format(
        "--client-output-buffer-limit '{}': {} (expected 'normal <hard> <soft> <soft-seconds>', "
        "e.g. 'normal 128mb 64mb 60'; 0 disables a limit)",
        c.client_output_buffer_limit, why));
  };
  if (cls.empty() || seconds.empty() || !extra.empty()) return fail("needs exactly four words");
  if (cls != "normal") {
    return fail(fmt::format("class '{}' is not supported: raftkv has only normal clients", cls));
  }
  auto h = parse_redis_bytes(hard);
  if (!h.is_ok()) return fail(h.status().message());
  auto s = parse_redis_bytes(soft);
  if (!s.is_ok()) return fail(s.status().message());
  uint32_t secs = 0;
  const auto [end, ec] = std::from_chars(seconds.data(), seconds.data() + seconds.size(), secs);
  if (ec != std::errc() || end != seconds.data() + seconds.size()) {
    return fail(fmt::format("'{}' is not a number of seconds", seconds));
  }
  c.output_limit_hard_bytes = *h;
  c.output_limit_soft_bytes = *s;
  c.output_limit_soft_seconds = secs;
  return Status::ok();
}

}  // namespace

Result<uint64_t> parse_redis_bytes(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string unit = text.substr(digits);
  for (char& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},         {"b", 1},        {"k", 1000},         {"kb", 1024},
      {"m", 1000'000}, {"mb", 1 << 20}, {"g", 1000'000'000}, {"gb", uint64_t{1} << 30}};
  const auto it = kUnits.find(unit);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (digits == 0 || it == kUnits.end() || ec != std::errc() || end != text.data() + digits ||
      value > UINT64_MAX / it->second) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("'{}' is not a size (e.g. 1048576, 512kb, 64mb, 1gb)", text));
  }
  return value * it->second;
}

Result<std::map<NodeId, std::string>> parse_member_list(const std::string& text) {
  std::map<NodeId, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("'{}' is not ID=HOST:PORT (e.g. 1=127.0.0.1:7101)", item));
    }
    uint64_t id = 0;
    for (char c : item.substr(0, eq)) {
      if (c < '0' || c > '9') {
        return Status(ErrorCode::kInvalidArgument, fmt::format("'{}': id must be a number", item));
      }
      id = id * 10 + static_cast<uint64_t>(c - '0');
    }
    const std::string addr = item.substr(eq + 1);
    if (id == 0) return Status(ErrorCode::kInvalidArgument, fmt::format("'{}': id 0", item));
    if (!has_port(addr)) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("'{}': address must be HOST:PORT", item));
    }
    if (!out.emplace(NodeId(id), addr).second) {
      return Status(ErrorCode::kInvalidArgument, fmt::format("node {} listed twice", id));
    }
  }
  return out;
}

WritePathLimits write_path_limits(uint64_t max_value_bytes) {
  // Per-entry overhead on top of the request payload: raft::Entry::size_bytes() adds 16; the WAL
  // entry record adds 17 bytes of payload header; a kApp with its envelope adds < 1 KiB.
  constexpr uint64_t kEntryOverheadBytes = 16;
  constexpr uint64_t kFrameHeadroomBytes = uint64_t{1} << 20;
  constexpr uint64_t kLargestRequestBytes = kv::kMaxValueBytesCeiling + kv::kRequestHeadroomBytes;
  static_assert(kLargestRequestBytes + 64 <= storage::kMaxRecordPayload,
                "a WAL record must hold the largest entry");
  static_assert(kLargestRequestBytes + kFrameHeadroomBytes <= (uint64_t{1} << 31) - 1,
                "a peer frame must hold the largest entry (protobuf parses up to 2 GiB - 1)");
  const kv::CommandLimits kv_limits{max_value_bytes};
  WritePathLimits out;
  out.max_value_bytes = max_value_bytes;
  out.max_request_bytes = kv_limits.max_request_bytes();
  out.max_bulk_bytes = kv_limits.max_request_bytes();
  out.max_uncommitted_bytes = out.max_request_bytes + kEntryOverheadBytes + (uint64_t{64} << 20);
  out.max_frame_bytes = kLargestRequestBytes + kFrameHeadroomBytes;
  // One largest kApp beside the 64 MiB the queue holds otherwise (above the inflight window).
  out.send_queue_limit_bytes = out.max_request_bytes + kFrameHeadroomBytes + (uint64_t{64} << 20);
  out.wal_cache_bytes = out.max_request_bytes + kEntryOverheadBytes + (uint64_t{64} << 20);
  return out;
}

std::string ServerConfig::tls_addr() const {
  if (tls_port == 0) return "";
  return fmt::format("{}:{}", client_addr.substr(0, client_addr.rfind(':')), tls_port);
}

std::string ServerConfig::advertised_client_addr() const {
  return plaintext_port == 0 ? tls_addr() : client_addr;
}

// The TLS flags alone (config_tls below the other checks).
static Status validate_tls(const ServerConfig& c) {
  if (c.plaintext_port < -1 || c.plaintext_port > 65535) return bad("--port must be 0..65535");
  if (c.tls_port > 65535) return bad("--tls-port must be 1..65535");
  if (c.plaintext_port == 0 && c.tls_port == 0) {
    return bad("--port 0 turns the plaintext client port off: give --tls-port too");
  }
  const bool files = !c.tls_cert_file.empty() || !c.tls_key_file.empty();
  if (c.tls_port != 0 && (c.tls_cert_file.empty() || c.tls_key_file.empty())) {
    return bad("--tls-port needs --tls-cert-file and --tls-key-file");
  }
  if (c.tls_port == 0 && (files || !c.tls_ca_cert_file.empty() || !c.tls_auth_clients.empty())) {
    return bad(
        "--tls-cert-file, --tls-key-file, --tls-ca-cert-file and --tls-auth-clients need "
        "--tls-port");
  }
  if (!c.tls_auth_clients.empty() && c.tls_auth_clients != "yes" && c.tls_auth_clients != "no" &&
      c.tls_auth_clients != "optional") {
    return bad(fmt::format("--tls-auth-clients must be yes, no or optional (got '{}')",
                           c.tls_auth_clients));
  }
  if (c.tls_auth_clients != "" && c.tls_auth_clients != "no" && c.tls_ca_cert_file.empty()) {
    return bad(
        fmt::format("--tls-auth-clients {} needs --tls-ca-cert-file (the CA client "
                    "certificates must chain to)",
                    c.tls_auth_clients));
  }
  if (c.tls_handshake_timeout_ms == 0) return bad("--tls-handshake-timeout-ms must be > 0");
  if (c.admin_tls_cert_file.empty() != c.admin_tls_key_file.empty()) {
    return bad("--admin-tls-cert-file and --admin-tls-key-file go together");
  }
  if (!c.admin_tls_ca_cert_file.empty() && c.admin_tls_cert_file.empty()) {
    return bad("--admin-tls-ca-cert-file needs --admin-tls-cert-file and --admin-tls-key-file");
  }
  if ((!c.admin_tls_cert_file.empty() || !c.admin_token_file.empty()) && c.admin_addr.empty()) {
    return bad("--admin-token-file and --admin-tls-* need --admin-addr");
  }
  return Status::ok();
}

Status ServerConfig::validate() const {
  if (id.is_none()) return bad("--id is required and must be > 0");
  if (data_dir.empty()) return bad("--data-dir is required");
  if (!has_port(client_addr)) return bad("--client-addr must be HOST:PORT");
  if (!has_port(peer_addr)) return bad("--peer-addr must be HOST:PORT");
  if (!admin_addr.empty() && !has_port(admin_addr)) return bad("--admin-addr must be HOST:PORT");
  if (!join.empty() && !has_port(join)) {
    return bad(
        fmt::format("--join must be the HOST:PORT of a member's client address (got '{}')", join));
  }
  if (!join.empty() && force_new_cluster) {
    return bad(
        "--join and --force-new-cluster exclude each other: --force-new-cluster makes a "
        "survivor of an existing cluster the only member; --join adds a new node");
  }
  if (peers.empty() && join.empty()) {
    return bad(
        "--peers is required to start a new cluster (e.g. 1=127.0.0.1:7101,2=...,3=...); "
        "to add this node to a running cluster, give --join HOST:PORT of a member");
  }
  if (!peers.empty() && !peers.count(id)) {
    return bad(fmt::format("--peers must include this node ({}), with its --peer-addr", id));
  }
  for (const auto& [nid, addr] : clients) {
    if (!peers.empty() && !peers.count(nid)) {
      return bad(fmt::format("--clients names node {} which is not in --peers", nid));
    }
  }
  if (tick_ms == 0) return bad("--tick-ms must be > 0");
  if (election_ticks <= heartbeat_ticks) {
    return bad("--election-ticks must be greater than --heartbeat-ticks");
  }
  if (read_mode != "readindex" && read_mode != "lease") {
    return bad(fmt::format("--read-mode must be readindex or lease (got '{}')", read_mode));
  }
  if (io_threads == 0 || io_threads > 64) return bad("--io-threads must be 1..64");
  if (wal_segment_bytes < (uint64_t{1} << 20) || wal_segment_bytes > (uint64_t{1} << 32)) {
    return bad("--wal-segment-bytes must be between 1 MiB and 4 GiB");
  }
  // A chunk travels in one peer frame (64 MiB at most).
  if (snapshot_chunk_bytes < 4096 || snapshot_chunk_bytes > (uint64_t{16} << 20)) {
    return bad("--snapshot-chunk-bytes must be between 4 KiB and 16 MiB");
  }
  if (snapshot_entries == 0) return bad("--snapshot-entries must be > 0");
  if (max_value_bytes == 0 || max_value_bytes > kv::kMaxValueBytesCeiling) {
    return bad(fmt::format("--max-value-bytes must be between 1 and {} (1 GiB); got {}",
                           kv::kMaxValueBytesCeiling, max_value_bytes));
  }
  if (protected_mode != "yes" && protected_mode != "no") {
    return bad(fmt::format("--protected-mode must be yes or no (got '{}')", protected_mode));
  }
  if (Status s = validate_tls(*this); !s) return s;
  LogLevel level;
  if (!parse_log_level(log_level, &level)) {
    return bad("--log-level must be trace, debug, info, warn, error or off");
  }
  return Status::ok();
}

Result<ServerConfig> parse_server_config(int argc, char** argv) {
  ServerConfig c;
  CLI::App app{"raftkv-server: a linearizable, Raft-replicated key-value store speaking RESP"};
  uint64_t id = 0;
  std::string peers, clients, tls_clients, config_file;
  app.add_option("--config", config_file, "TOML file with the same keys as the flags");
  app.add_option("--id", id, "this node's id (> 0)");
  app.add_option("--client-addr", c.client_addr, "RESP listen address");
  app.add_option("--peer-addr", c.peer_addr, "peer listen address");
  app.add_option("--admin-addr", c.admin_addr, "HTTP admin address (/healthz /status /metrics)");
  app.add_option("--peers", peers, "every member's peer address: 1=HOST:PORT,2=...");
  app.add_option("--clients", clients, "every member's client address: 1=HOST:PORT,2=...");
  app.add_option("--data-dir", c.data_dir, "WAL and snapshots");
  app.add_option("--cluster-id", c.cluster_id, "refuse peers of another cluster");
  app.add_option("--cluster-secret-file", c.cluster_secret_file,
                 "file (mode 600) with the secret peers authenticate with; without it peer "
                 "authentication is OFF (docs/security.md)");
  app.add_option("--peer-tls-cert", c.peer_tls_cert,
                 "mutual TLS between peers: this node's certificate (PEM), naming it as "
                 "raftkv-node-<id> (CN or DNS SAN)");
  app.add_option("--peer-tls-key", c.peer_tls_key, "mutual TLS between peers: its key (PEM)");
  app.add_option("--peer-tls-ca", c.peer_tls_ca,
                 "mutual TLS between peers: the CA every node's certificate chains to (PEM)");
  app.add_option("--join", c.join,
                 "HOST:PORT of a member's client address: an empty data dir asks it to add this "
                 "node (as a learner) instead of bootstrapping from --peers");
  app.add_flag("--auto-promote,!--no-auto-promote", c.auto_promote,
               "the leader promotes caught-up learners to voters (default on; "
               "--auto-promote=false or --no-auto-promote to turn off)");
  app.add_flag("--force-new-cluster", c.force_new_cluster,
               "UNSAFE recovery when a majority is lost for good: this node rewrites the "
               "membership to itself alone (see docs/node.md)");
  app.add_option("--tick-ms", c.tick_ms, "Raft tick length");
  app.add_option("--election-ticks", c.election_ticks, "election timeout in ticks");
  app.add_option("--heartbeat-ticks", c.heartbeat_ticks, "heartbeat interval in ticks");
  app.add_option("--read-mode", c.read_mode, "readindex (default) or lease");
  app.add_option("--snapshot-entries", c.snapshot_entries, "entries between snapshots");
  app.add_option("--snapshot-keep-entries", c.snapshot_keep_entries, "log kept behind a snapshot");
  app.add_option("--wal-segment-bytes", c.wal_segment_bytes,
                 "WAL segment file size (preallocated)");
  app.add_option("--snapshot-log-bytes", c.snapshot_log_bytes,
                 "also snapshot after this many WAL bytes (0: off)");
  app.add_option("--snapshot-chunk-bytes", c.snapshot_chunk_bytes,
                 "chunk size when streaming a snapshot to a follower");
  app.add_option("--snapshot-transfer-rate", c.snapshot_transfer_rate,
                 "throttle for streaming snapshots, bytes/s (0: unthrottled)");
  app.add_option(
      "--max-value-bytes", c.max_value_bytes,
      "longest string (value or key) a write may carry (Redis proto-max-bulk-len; at most 1 GiB)");
  app.add_option("--request-timeout-ms", c.request_timeout_ms, "deadline of one request");
  app.add_option("--client-output-buffer-limit", c.client_output_buffer_limit,
                 "as Redis: 'normal <hard> <soft> <soft-seconds>' (default 'normal 128mb 0 0')");
  app.add_option("--io-threads", c.io_threads, "threads for client connections (1..64)");
  app.add_option("--log-level", c.log_level, "trace|debug|info|warn|error|off");
  app.add_option("--requirepass", c.requirepass,
                 "the default user's password until ACL SETUSER first runs (docs/security.md)");
  app.add_option("--protected-mode", c.protected_mode,
                 "yes (default): without a password, accept loopback clients only");
  app.add_option("--port", c.plaintext_port,
                 "as Redis `port`: 0 turns the plaintext client port off (with --tls-port); "
                 "N replaces the port of --client-addr");
  app.add_option("--tls-port", c.tls_port, "client TLS port, on the host of --client-addr");
  app.add_option("--tls-clients", tls_clients,
                 "every member's TLS client address, 1=HOST:PORT,...: MOVED on TLS connections "
                 "names these");
  app.add_option("--tls-cert-file", c.tls_cert_file, "client TLS: certificate (PEM, chain)");
  app.add_option("--tls-key-file", c.tls_key_file, "client TLS: private key (PEM, unencrypted)");
  app.add_option("--tls-ca-cert-file", c.tls_ca_cert_file,
                 "client TLS: CA that client certificates must chain to");
  app.add_option("--tls-auth-clients", c.tls_auth_clients,
                 "yes|no|optional: require client certificates (default yes with a CA file)");
  app.add_option("--tls-handshake-timeout-ms", c.tls_handshake_timeout_ms,
                 "close a TLS connection whose handshake takes longer");
  app.add_option("--admin-token-file", c.admin_token_file,
                 "bearer token for admin HTTP /status (first line of the file)");
  app.add_option("--admin-tls-cert-file", c.admin_tls_cert_file, "admin HTTPS certificate");
  app.add_option("--admin-tls-key-file", c.admin_tls_key_file, "admin HTTPS private key");
  app.add_option("--admin-tls-ca-cert-file", c.admin_tls_ca_cert_file,
                 "admin HTTPS: CA of client certificates that may read /status");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Status(ErrorCode::kShutdown, app.help());
  } catch (const CLI::ParseError& e) {
    return bad(e.what());
  }
  if (!config_file.empty()) {
    // File values fill in what the command line did not set.
    toml::table t;
    try {
      t = toml::parse_file(config_file);
    } catch (const toml::parse_error& e) {
      return bad(fmt::format("{}: {}", config_file, e.description()));
    }
    auto str = [&](const char* key, std::string& dst, const char* flag) {
      if (app.count(flag) == 0) {
        if (auto v = t[key].value<std::string>()) dst = *v;
      }
    };
    auto boolean = [&](const char* key, bool& dst, const char* flag) {
      if (app.count(flag) == 0) {
        if (auto v = t[key].value<bool>()) dst = *v;
      }
    };
    auto num = [&](const char* key, auto& dst, const char* flag) {
      if (app.count(flag) == 0) {
        if (auto v = t[key].value<int64_t>()) dst = static_cast<std::decay_t<decltype(dst)>>(*v);
      }
    };
    num("id", id, "--id");
    str("client-addr", c.client_addr, "--client-addr");
    str("peer-addr", c.peer_addr, "--peer-addr");
    str("admin-addr", c.admin_addr, "--admin-addr");
    str("peers", peers, "--peers");
    str("clients", clients, "--clients");
    str("data-dir", c.data_dir, "--data-dir");
    num("cluster-id", c.cluster_id, "--cluster-id");
    str("cluster-secret-file", c.cluster_secret_file, "--cluster-secret-file");
    str("peer-tls-cert", c.peer_tls_cert, "--peer-tls-cert");
    str("peer-tls-key", c.peer_tls_key, "--peer-tls-key");
    str("peer-tls-ca", c.peer_tls_ca, "--peer-tls-ca");
    str("join", c.join, "--join");
    boolean("auto-promote", c.auto_promote, "--auto-promote");
    boolean("force-new-cluster", c.force_new_cluster, "--force-new-cluster");
    num("tick-ms", c.tick_ms, "--tick-ms");
    num("election-ticks", c.election_ticks, "--election-ticks");
    num("heartbeat-ticks", c.heartbeat_ticks, "--heartbeat-ticks");
    str("read-mode", c.read_mode, "--read-mode");
    num("snapshot-entries", c.snapshot_entries, "--snapshot-entries");
    num("snapshot-keep-entries", c.snapshot_keep_entries, "--snapshot-keep-entries");
    num("snapshot-log-bytes", c.snapshot_log_bytes, "--snapshot-log-bytes");
    num("wal-segment-bytes", c.wal_segment_bytes, "--wal-segment-bytes");
    num("snapshot-chunk-bytes", c.snapshot_chunk_bytes, "--snapshot-chunk-bytes");
    num("snapshot-transfer-rate", c.snapshot_transfer_rate, "--snapshot-transfer-rate");
    num("max-value-bytes", c.max_value_bytes, "--max-value-bytes");
    num("request-timeout-ms", c.request_timeout_ms, "--request-timeout-ms");
    str("client-output-buffer-limit", c.client_output_buffer_limit, "--client-output-buffer-limit");
    num("io-threads", c.io_threads, "--io-threads");
    str("log-level", c.log_level, "--log-level");
    str("requirepass", c.requirepass, "--requirepass");
    str("protected-mode", c.protected_mode, "--protected-mode");
    num("port", c.plaintext_port, "--port");
    num("tls-port", c.tls_port, "--tls-port");
    str("tls-clients", tls_clients, "--tls-clients");
    str("tls-cert-file", c.tls_cert_file, "--tls-cert-file");
    str("tls-key-file", c.tls_key_file, "--tls-key-file");
    str("tls-ca-cert-file", c.tls_ca_cert_file, "--tls-ca-cert-file");
    str("tls-auth-clients", c.tls_auth_clients, "--tls-auth-clients");
    num("tls-handshake-timeout-ms", c.tls_handshake_timeout_ms, "--tls-handshake-timeout-ms");
    str("admin-token-file", c.admin_token_file, "--admin-token-file");
    str("admin-tls-cert-file", c.admin_tls_cert_file, "--admin-tls-cert-file");
    str("admin-tls-key-file", c.admin_tls_key_file, "--admin-tls-key-file");
    str("admin-tls-ca-cert-file", c.admin_tls_ca_cert_file, "--admin-tls-ca-cert-file");
    for (auto&& [key, value] : t) {
      static const std::set<std::string_view> kKnown = {"id",
                                                        "client-addr",
                                                        "peer-addr",
                                                        "admin-addr",
                                                        "peers",
                                                        "clients",
                                                        "data-dir",
                                                        "cluster-id",
                                                        "cluster-secret-file",
                                                        "peer-tls-cert",
                                                        "peer-tls-key",
                                                        "peer-tls-ca",
                                                        "join",
                                                        "auto-promote",
                                                        "force-new-cluster",
                                                        "tick-ms",
                                                        "election-ticks",
                                                        "heartbeat-ticks",
                                                        "read-mode",
                                                        "snapshot-entries",
                                                        "snapshot-keep-entries",
                                                        "snapshot-log-bytes",
                                                        "wal-segment-bytes",
                                                        "snapshot-chunk-bytes",
                                                        "snapshot-transfer-rate",
                                                        "max-value-bytes",
                                                        "request-timeout-ms",
                                                        "client-output-buffer-limit",
                                                        "io-threads",
                                                        "log-level",
                                                        "requirepass",
                                                        "protected-mode",
                                                        "port",
                                                        "tls-port",
                                                        "tls-clients",
                                                        "tls-cert-file",
                                                        "tls-key-file",
                                                        "tls-ca-cert-file",
                                                        "tls-auth-clients",
                                                        "tls-handshake-timeout-ms",
                                                        "admin-token-file",
                                                        "admin-tls-cert-file",
                                                        "admin-tls-key-file",
                                                        "admin-tls-ca-cert-file"};
      if (!kKnown.count(key.str())) {
        return bad(fmt::format("{}: unknown key '{}'", config_file, key.str()));
      }
    }
  }
  c.id = NodeId(id);
  auto p = parse_member_list(peers);
  if (!p.is_ok()) return bad("--peers: " + p.status().message());
  c.peers = std::move(*p);
  auto cl = parse_member_list(clients);
  if (!cl.is_ok()) return bad("--clients: " + cl.status().message());
  c.clients = std::move(*cl);
  if (c.plaintext_port > 0 && has_port(c.client_addr)) {
    c.client_addr =
        fmt::format("{}:{}", c.client_addr.substr(0, c.client_addr.rfind(':')), c.plaintext_port);
  }
  c.clients.emplace(c.id, c.advertised_client_addr());
  auto tcl = parse_member_list(tls_clients);
  if (!tcl.is_ok()) return bad("--tls-clients: " + tcl.status().message());
  c.tls_clients = std::move(*tcl);
  if (c.tls_port != 0) c.tls_clients.emplace(c.id, c.tls_addr());
  if (Status s = parse_output_limit(c); !s) return s;
  if (Status s = c.validate(); !s) return s;
  return c;
}

}  // namespace raftkv::server
