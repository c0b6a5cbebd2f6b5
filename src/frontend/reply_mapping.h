// Encoding of backend outcomes as Redis replies (the conventions of backend.h).
//
//   ok                                  → the kv::Reply, one to one (+ - : $ *)
//   kNotLeader "host:port"              → -MOVED <slot> host:port
//   kNotLeader ""                       → -CLUSTERDOWN no leader elected yet, retry later
//   kTooLarge kProposalDropped kTimeout kShutdown kUnavailable
//                                       → -TRYAGAIN <message>
//   kInvalidArgument                    → -ERR <message>
//   anything else                       → -ERR <code name>: <message>
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kv/reply.h"

namespace raftkv::frontend {

// Appends the RESP2 encoding of `reply` (recursively for arrays).
void append_kv_reply(std::string& out, const kv::Reply& reply);

// The encoded reply for a backend completion; `slot` is the slot named by MOVED.
std::string encode_backend_result(const Result<kv::Reply>& result, uint16_t slot);

// Error line (without '-') for a failed backend call.
std::string backend_error_text(const Status& status, uint16_t slot);

// The slot of the first key of a command whose keys start at args[first_key]; 0 when keyless.
uint16_t command_slot(const std::vector<std::string>& args, int first_key);

}  // namespace raftkv::frontend
