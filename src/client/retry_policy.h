// Pure decision functions of the client's retry loop: how long to back off, and what a server
// error reply means for the request (final, redirect, retry). No I/O, no clocks: the caller
// supplies the attempt number and the Rng, so a seed reproduces a run's delays exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/rng.h"
#include "client/address.h"
#include "resp/reply.h"

namespace raftkv::client {

// Exponential backoff with "equal jitter": before retry number `attempt` (0-based) the cap is
// min(max_delay, initial_delay * multiplier^attempt), and the delay is uniform in [cap/2, cap].
// Half the cap is guaranteed (clients do not hammer a recovering cluster); the other half is
// random (clients that failed together do not retry together).
struct BackoffPolicy {
  std::chrono::nanoseconds initial_delay = std::chrono::milliseconds(10);
  std::chrono::nanoseconds max_delay = std::chrono::milliseconds(1000);
  double multiplier = 2.0;
};

// Invariant: result in [cap/2, cap] as defined above; never negative; deterministic in (policy,
// attempt, rng state); draws exactly one value from rng.
std::chrono::nanoseconds backoff_delay(const BackoffPolicy& policy, uint32_t attempt, Rng& rng);

// What the client does with a reply.
enum class ReplyAction : uint8_t {
  kDone,            // a result for the caller (including ordinary errors such as WRONGTYPE)
  kRedirect,        // "-MOVED <slot> <host:port>": the leader is elsewhere; go there, cache it
  kRetryElsewhere,  // "-CLUSTERDOWN ...": this node knows no leader; back off, try another node
  kRetry,           // "-TRYAGAIN ..." / "-LOADING ...": transient; back off, retry
  kSessionExpired,  // "-SESSIONEXPIRED ...": the server forgot our session; outcome unknown
};

struct ReplyDecision {
  ReplyAction action = ReplyAction::kDone;
  HostPort redirect;  // kRedirect only
};

// Classifies one reply. A MOVED whose address does not parse is kDone (shown to the caller as
// the server's error rather than followed blindly).
ReplyDecision classify_reply(const resp::Reply& reply);

struct MovedRedirect {
  uint32_t slot = 0;
  HostPort address;
};
// Parses the text of a "MOVED <slot> <host:port>" error (without the leading '-').
Result<MovedRedirect> parse_moved(std::string_view error_text);

// True for commands that change data and are therefore sent inside a session (RAFTKV.REQ):
// SET SETNX DEL APPEND INCR DECR INCRBY DECRBY MSET GETDEL (case-insensitive). Must match the
// server's write command table (src/kv/commands.cc).
bool is_write_command(std::string_view name);

}  // namespace raftkv::client
