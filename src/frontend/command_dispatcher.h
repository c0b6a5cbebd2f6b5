// The command table: turns one parsed RESP request into one encoded RESP reply.
//
// Connection-level commands (PING, HELLO, CLIENT, SELECT, INFO, CLUSTER, ...) are answered
// locally; KV commands (kv::classify_command) go to Backend::write / Backend::read, and their
// completions are mapped to Redis replies (see reply_mapping.h). Every command is one entry in a
// table (name, arity, flags, key positions, handler) that also feeds COMMAND / COMMAND INFO, so
// Redis Cluster clients learn key positions from it.
//
// Every command passes the authentication and ACL checks of auth.h before its handler runs.
//
// Thread-safety: dispatch() for one ConnectionState is called by one thread at a time (the
// connection's strand); different connections may dispatch concurrently (the dispatcher's
// mutable state is thread-safe: FrontendStats are atomics, Security locks). `done` runs exactly
// once: synchronously inside dispatch() for local commands, or later on any thread (the backend's)
// for KV commands.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/auth.h"
#include "frontend/backend.h"

namespace raftkv::frontend {

// Per-connection state that commands may change. Owned by the connection; only touched inside
// dispatch() (never from backend completions).
struct ConnectionState {
  uint64_t id = 0;          // CLIENT ID; unique per server
  std::string name;         // CLIENT SETNAME
  std::string remote_addr;  // "ip:port" of the client
  std::string local_addr;   // "ip:port" of our end
  ReadConsistency read_consistency = ReadConsistency::kLinearizable;  // READONLY / READWRITE
  bool close_after_reply = false;  // QUIT: close once this reply is written
  // Set by the connection before each dispatch: writes it dispatched earlier have not
  // completed yet, so a read must be served after them (ReadOptions::after_own_writes).
  bool own_writes_in_flight = false;
  AuthState auth;    // AUTH / HELLO AUTH; set at connect by CommandDispatcher::admit()
  bool tls = false;  // the connection came in on the TLS listener
};

// How a command is ordered against the connection's other commands in flight (Redis runs a
// connection's commands in order; DESIGN rule 7). The connection dispatches commands in
// arrival order and holds one back (and everything after it) until it may go:
//   kLocal   — answered from connection state alone (PING, ECHO, CLIENT, errors): at once.
//   kRead    — a KV read: at once (unless a barrier is in flight), flagged after_own_writes
//              while the connection's earlier writes are in flight (the backend then serves
//              it after them).
//   kWrite   — replicated: only once the connection's earlier reads (and barriers) have
//              completed, so that a read never observes a write sent after it.
//   kBarrier — reports or changes the node's state (INFO, CLUSTER, ROLE, ACL GETUSER,
//              RAFTKV.MEMBER, RAFTKV.TRANSFER): once nothing is in flight; while it is in flight
//              (membership changes complete asynchronously) no read, write or barrier after it
//              goes.
//   kExclusive — changes what later commands may do (ACL SETUSER / DELUSER): once nothing is in
//              flight, and nothing after it, local commands included, is dispatched until it
//              completes, so the connection's next commands are checked against the ACL it
//              produced.
enum class CommandOrder : uint8_t { kLocal, kRead, kWrite, kBarrier, kExclusive };

// Server-wide counters shown by INFO. Thread-safe (relaxed atomics: figures, not invariants).
struct FrontendStats {
  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> total_connections_received{0};
  std::atomic<uint64_t> total_commands_processed{0};
  std::atomic<uint64_t> rejected_connections{0};
  // Connections closed for exceeding the output buffer limit (Redis 7 INFO stats name).
  std::atomic<uint64_t> client_output_buffer_limit_disconnections{0};
  // Failed AUTH / HELLO AUTH, and commands refused by the ACL (Redis 7.2 INFO stats
  // acl_access_denied_auth / _cmd / _key).
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> acl_denied_commands{0};
  std::atomic<uint64_t> acl_denied_keys{0};
  std::atomic<uint16_t> tcp_port{0};  // set once the listener is bound
};

struct DispatcherOptions {
  uint64_t max_clients = 10000;         // shown by INFO clients
  std::string redis_version = "7.0.0";  // what clients that check versions see
  // The ACL in force (the state machine publishes to it). Null: a publisher of Redis's default
  // user alone (on, nopass, every command and key), for tests and embedders without ACLs.
  std::shared_ptr<kv::acl::AclPublisher> acl;
  // Redis protected-mode: while the default user is nopass, refuse non-loopback clients.
  bool protected_mode = true;
  // Whether a client address ("ip:port") is local; null: is_loopback_client (tests override).
  std::function<bool(std::string_view remote_addr)> is_local_client;
  // Answer -LOADING until the backend has applied up to the commit index it reported when the
  // dispatcher was made (a restarted node replaying its log enforces an older ACL meanwhile).
  bool loading_until_applied = false;
  // RAFTKV.NODEAUTH (node_auth.cc): the cluster secrets a node's proof may be made with (any
  // of them; empty: the command is refused) and the cluster id proofs are bound to.
  std::function<std::vector<std::string>()> cluster_secrets;
  uint64_t cluster_id = 0;
  // RAFTKV.TLS (tls_commands.cc): reloads every TLS certificate from its files (the server's
  // SIGHUP action), and describes the ones in use. Null: TLS is off.
  std::function<Status()> tls_reload;
  std::function<std::string()> tls_status;
  // Members' TLS client addresses by plaintext address: CLUSTER, ROLE and INFO on a TLS
  // connection name these (RespServerOptions::tls_redirects; MOVED is rewritten by the
  // connection).
  std::map<std::string, std::string> tls_client_addrs;
};

// What a handler sees: the request, its connection, and where the reply goes.
// Encoded RESP bytes of exactly one reply.
using ReplyCallback = std::function<void(std::string reply)>;

class CommandDispatcher;

struct CommandCall {
  const CommandDispatcher& dispatcher;
  std::vector<std::string> args;  // args[0] is the command name as sent
  ConnectionState& conn;
  ReplyCallback done;

  // Answers with an already encoded reply (exactly once per call).
  void reply(std::string encoded);
  void reply_error(std::string_view text);  // "ERR ..." without the '-'
  void reply_ok();
};

enum CommandFlag : uint32_t {
  kFlagWrite = 1u << 0,     // replicated through the log
  kFlagReadonly = 1u << 1,  // KV read
  kFlagFast = 1u << 2,
  kFlagAdmin = 1u << 3,  // answered locally from the node's status
  kFlagStale = 1u << 4,  // allowed while no leader is known
};

// One row of the command table. arity > 0: exactly; < 0: at least -arity (Redis convention,
// including the name). Key positions as in Redis's COMMAND reply (first, last (-1 = last arg),
// step), 0 for keyless commands.
struct CommandSpec {
  std::string_view name;  // lowercase
  int arity;
  uint32_t flags;
  int first_key;
  int last_key;
  int key_step;
  void (*handler)(CommandCall& call);
};

// The whole table (sorted by name), for COMMAND and tests.
std::span<const CommandSpec> command_table();
// Case-insensitive lookup; nullptr when unknown.
const CommandSpec* find_command(std::string_view name);
// True when `argc` (including the name) satisfies `spec`'s arity.
bool arity_ok(const CommandSpec& spec, size_t argc);

class CommandDispatcher {
 public:
  // `backend` and `stats` must outlive the dispatcher and every pending completion.
  CommandDispatcher(Backend& backend, FrontendStats& stats, DispatcherOptions options = {});

  void dispatch(std::vector<std::string> args, ConnectionState& conn, ReplyCallback done) const;
  // A new connection (remote_addr set): sets its initial authentication (Redis: authenticated
  // as `default` when that user is on and nopass; never while loading()). Returns the bytes to send
  // before closing it when it is refused (protected mode), else nullopt.
  std::optional<std::string> admit(ConnectionState& conn) const;
  // How dispatch(args) must be ordered against the connection's commands in flight.
  static CommandOrder order_of(std::span<const std::string> args);

  Backend& backend() const { return backend_; }
  FrontendStats& stats() const { return stats_; }
  const DispatcherOptions& options() const { return options_; }
  uint64_t uptime_seconds() const;
  const Security& security() const { return security_; }

 private:
  // The checks of auth.h for a known command of the right arity; false when it must not run
  // (then it has been answered, or the connection is to close).
  bool admit_command(CommandCall& call, const CommandSpec& spec) const;
  // True while loading_until_applied holds commands back.
  bool loading() const;

  Backend& backend_;
  FrontendStats& stats_;
  DispatcherOptions options_;
  std::chrono::steady_clock::time_point started_;
  Security security_;
  uint64_t loading_target_ = 0;             // commit index at construction
  mutable std::atomic<bool> loaded_{true};  // false until applied >= loading_target_
};

}  // namespace raftkv::frontend
