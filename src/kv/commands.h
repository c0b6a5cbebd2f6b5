// Execution of KV commands against an engine (Redis string semantics and error texts).
//
// Deterministic: the result depends only on the engine contents, the arguments, `now_ms` and
// the limits. Writes are not applied here: they are appended to a WriteBatch that the caller
// commits (one batch per log entry), so a command never observes its own writes — commands
// are written so that they need not (see DEL with repeated keys).
// Expiry: a key whose expire_at_ms < now_ms is absent. When a write command meets an expired
// key it also deletes it (lazy expiry, as in Redis).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv/engine.h"
#include "kv/reply.h"

namespace raftkv::kv {

struct CommandLimits {
  uint64_t max_value_bytes = 512ull * 1024 * 1024;
};

enum class CommandKind : uint8_t {
  kRead,     // GET MGET EXISTS STRLEN SCAN DBSIZE: may be served from the state (ReadIndex)
  kWrite,    // SET SETNX DEL APPEND INCR INCRBY DECR DECRBY MSET GETDEL: must go through the log
  kUnknown,  // not a KV command
};

// Case-insensitive.
CommandKind classify_command(std::string_view name);

// Executes args[0] with args[1..]. With batch == nullptr only read commands are allowed (the
// read path); a write command then gets an error reply. `args` need only live for the call:
// the batch and the reply own copies of what they keep.
Reply execute_command(const Engine& engine, WriteBatch* batch,
                      std::span<const std::string_view> args, int64_t now_ms,
                      const CommandLimits& limits);
Reply execute_command(const Engine& engine, WriteBatch* batch, const std::vector<std::string>& args,
                      int64_t now_ms, const CommandLimits& limits);

// The error reply for oversized values: "ERR value exceeds max-value-bytes (N bytes)".
Reply value_too_large_error(uint64_t max_value_bytes);

}  // namespace raftkv::kv
