// The raftkv client: a synchronous Redis-protocol client that finds the Raft leader, follows
// redirects, retries transient failures with backoff until a per-call deadline, and makes
// writes exactly-once with client sessions.
//
// Routing. The client keeps at most one connection, to its current target: the cached leader
// when known, else the next seed. "-MOVED <slot> <addr>" caches <addr> as the leader and retries
// there at once (after max_immediate_redirects redirects in one call, with backoff: redirect
// loops happen while an election settles). A connection failure forgets the cached leader and
// moves on to the next seed; a whole round of failed seeds backs off.
//
// Retries. "-CLUSTERDOWN" (no leader known: try another node), "-TRYAGAIN"/"-LOADING" (transient),
// connection and I/O errors and timeouts are retried with exponential backoff and jitter
// (BackoffPolicy; delays drawn from the injected Rng) until the call's deadline
// (call_timeout); then the call fails with kTimeout carrying the last error. Other error
// replies (ERR, WRONGTYPE, ...) are the command's result and are never retried.
//
// Exactly-once (Raft thesis §6.3). A Client with sessions enabled has a random non-zero 64-bit
// client id (from the Rng) and sends each write command W as
//   RAFTKV.REQ <client_id> <sequence> <acked_sequence> W...
// with a fresh sequence (1, 2, 3, ...) per write call. Every retry of that call — after a
// timeout, a reset connection, TRYAGAIN, a redirect to a new leader — reuses the SAME sequence,
// so the server applies it at most once and answers retries from its session cache.
// acked_sequence tells the server which cached replies it may drop: every sequence <= it is
// finished for the client — its reply was received, or the call was given up (deadline) and
// will never be sent again. Because calls are synchronous, sequences finish in order and
// acked_sequence is always the last finished sequence (contiguous by construction).
// A "-SESSIONEXPIRED" reply (the server dropped our session, so a retry might apply twice) ends
// the call with kUnavailable ("outcome unknown") and starts a new session (new client id,
// sequences from 1). Reads (GET, MGET, EXISTS, ...) and non-KV commands are sent plainly and
// retried freely.
//
// Without sessions (ClientOptions::sessions = false; e.g. against plain redis-server) writes are
// sent as plain commands. A failure after a write was sent (I/O error, timeout, TRYAGAIN) is
// then ambiguous — it may have been applied — so such a call fails with kUnavailable
// ("outcome unknown") unless retry_ambiguous_writes is set. Failures known to precede execution
// (connect errors, MOVED, CLUSTERDOWN) are retried either way.
//
// Thread-safety: none. Use one Client per thread (they are cheap: one socket each).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "base/status.h"
#include "client/address.h"
#include "client/connection.h"
#include "client/retry_policy.h"
#include "resp/reply.h"

namespace raftkv::client {

struct ClientOptions {
  std::vector<HostPort> seeds;          // at least one; any cluster members
  bool sessions = true;                 // exactly-once writes via RAFTKV.REQ
  bool retry_ambiguous_writes = false;  // sessions == false only: see the header comment
  // Deadline of one call, all retries included.
  std::chrono::milliseconds call_timeout{5000};
  // Bounds of one connect and of one request/reply exchange (each also bounded by the call's
  // deadline).
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds io_timeout{3000};
  BackoffPolicy backoff;
  uint32_t max_immediate_redirects = 3;
  // How the client waits between retries. Default: std::this_thread::sleep_for. Tests may
  // record the delays instead.
  std::function<void(std::chrono::nanoseconds)> sleep;
};

// Counters since construction (for tools and tests).
struct ClientStats {
  uint64_t calls = 0;
  uint64_t attempts = 0;      // requests sent or connects tried
  uint64_t redirects = 0;     // MOVED followed
  uint64_t retries = 0;       // backoff sleeps
  uint64_t connects = 0;      // successful connection opens
  uint64_t new_sessions = 0;  // sessions started after SESSIONEXPIRED
};

class Client {
 public:
  // `rng` supplies the client id and the backoff jitter; pass a SeededRng for reproducible
  // runs. Requires options.seeds non-empty.
  Client(ClientOptions options, std::unique_ptr<Rng> rng);
  // A Client with an Rng seeded from std::random_device.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Any command. Returns the server's reply, which may be an error reply (kError) for command
  // errors such as WRONGTYPE; transport and cluster errors are retried as described above and
  // end as a non-ok Result (kTimeout, kUnavailable, kInvalidArgument for empty args).
  Result<resp::Reply> command(std::vector<std::string> args);

  // Typed helpers. A server error reply becomes a Status with kInvalidArgument and the reply
  // text (e.g. "WRONGTYPE Operation against a key holding the wrong kind of value").
  Result<std::optional<std::string>> get(const std::string& key);
  Status set(const std::string& key, const std::string& value);
  Result<int64_t> del(const std::vector<std::string>& keys);
  Result<int64_t> exists(const std::vector<std::string>& keys);
  Result<int64_t> incr(const std::string& key);
  Result<int64_t> incrby(const std::string& key, int64_t delta);
  Result<int64_t> append(const std::string& key, const std::string& value);
  Result<std::optional<std::string>> getdel(const std::string& key);
  Result<std::vector<std::optional<std::string>>> mget(const std::vector<std::string>& keys);
  Status mset(const std::vector<std::pair<std::string, std::string>>& pairs);
  Status ping();

  // Session state (0 / unchanged when sessions are disabled).
  uint64_t client_id() const { return client_id_; }
  uint64_t last_sequence() const { return last_sequence_; }
  uint64_t acked_sequence() const { return acked_sequence_; }
  // The leader address learned from MOVED, if any.
  const std::optional<HostPort>& cached_leader() const { return leader_; }
  const ClientStats& stats() const { return stats_; }

 private:
  // One call: sends `wire_args` until a final reply or the deadline. `ambiguous_unsafe` marks a
  // plain (sessionless) write that must not be resent after it may have been executed.
  Result<resp::Reply> execute(const std::vector<std::string>& wire_args, bool ambiguous_unsafe);
  const HostPort& current_target() const;
  // Forgets the leader and advances to the next seed. Returns true when a whole round of
  // seeds has failed since the last backoff (time to back off).
  bool move_to_next_target();
  Status ensure_connection(const HostPort& target, Deadline deadline);
  // Sleeps the backoff for retry number `retry` (bounded by the deadline).
  void back_off(uint32_t retry, Deadline deadline);
  void start_session();

  ClientOptions options_;
  std::unique_ptr<Rng> rng_;
  std::unique_ptr<Connection> connection_;  // Invariant: null or not broken() between calls.
  std::optional<HostPort> leader_;          // from the last MOVED; cleared on failure
  size_t seed_cursor_ = 0;                  // Invariant: < options_.seeds.size()
  size_t failed_targets_in_round_ = 0;
  // Session. Invariant: acked_sequence_ <= last_sequence_; between calls they are equal
  // (calls are synchronous, so every issued sequence has finished).
  uint64_t client_id_ = 0;
  uint64_t last_sequence_ = 0;
  uint64_t acked_sequence_ = 0;
  ClientStats stats_;
};

}  // namespace raftkv::client
