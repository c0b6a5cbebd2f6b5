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
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv/engine.h"
#include "kv/reply.h"

namespace raftkv::kv {

// Bytes a write request may encode to beyond its largest string: the key, the command name and
// options, the session header and the encoding's length prefixes.
inline constexpr uint64_t kRequestHeadroomBytes = uint64_t{1} << 20;
// The largest max_value_bytes a server accepts: every other size limit on the write path (RESP
// bulk length, raft entry, peer frame, WAL record) is derived from it and must hold one entry of
// max_request_bytes(); see server/config.h.
inline constexpr uint64_t kMaxValueBytesCeiling = uint64_t{1} << 30;

struct CommandLimits {
  // The longest string (value or key) a write may carry or produce: Redis's proto-max-bulk-len.
  uint64_t max_value_bytes = uint64_t{512} << 20;
  // The longest encoded write request (one log entry's payload): a max-size value plus headroom.
  uint64_t max_request_bytes() const { return max_value_bytes + kRequestHeadroomBytes; }
};

enum class CommandKind : uint8_t {
  kRead,     // GET MGET EXISTS STRLEN SCAN DBSIZE: may be served from the state (ReadIndex)
  kWrite,    // SET SETNX DEL APPEND INCR INCRBY DECR DECRBY MSET GETDEL RAFTKV.ACL: through the log
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

// The error reply for a string longer than max_value_bytes (Redis 7 adds " (proto-max-bulk-len)"):
// "ERR string exceeds maximum allowed size".
Reply value_too_large_error();

// Checked before a write is proposed, so that nothing over the limits reaches the log: every
// argument after the command name is at most max_value_bytes (else value_too_large_error()) and
// the request encodes to at most max_request_bytes() (else an error naming both sizes). Returns
// the error reply, or nullopt when the request fits. (APPEND's result length depends on the
// stored value: it is checked again when applied, as are all the others.)
std::optional<Reply> check_write_size(const std::vector<std::string>& args,
                                      const CommandLimits& limits);

}  // namespace raftkv::kv
