// Encodings used by the KV state machine.
//
// Stored value (engine kData space):
//   byte 0 = 0: no expiry;            bytes 1..  = the value
//   byte 0 = 1: expires; bytes 1..8 = expire_at_ms (big-endian int64, Unix ms);  9.. = value
// A key is expired at time `now_ms` when now_ms > expire_at_ms (Redis keyIsExpired).
//
// Meta keys (kMeta space of snapshots; the engine holds all but "applied", see state_machine.h):
//   "applied"                       → 24 bytes: index, term, now_ms (big-endian u64 each)
//   "s" + client_id (BE u64)        → pb::SessionHeader
//   "r" + client_id + sequence (BE) → pb::Reply (a cached reply of that request)
//
// SCAN cursors: "0" starts and ends an iteration; any other cursor is "1" followed by three
// decimal digits per byte of the next key to visit (all digits, so clients that parse cursors
// as integers, like redis-py, round-trip them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv/reply.h"

namespace raftkv::kv {

struct StoredValue {
  std::string value;
  std::optional<int64_t> expire_at_ms;
  bool expired_at(int64_t now_ms) const { return expire_at_ms && now_ms > *expire_at_ms; }
};

std::string encode_stored_value(std::string_view value, std::optional<int64_t> expire_at_ms);
void append_stored_value(std::string& out, std::string_view value,
                         std::optional<int64_t> expire_at_ms);
// Returns nullopt when `bytes` is not a stored value (a corrupt engine: the caller asserts).
std::optional<StoredValue> decode_stored_value(std::string_view bytes);
// Whether a stored value carries an expiry (expired or not), without decoding it.
inline bool stored_value_has_ttl(std::string_view bytes) {
  return !bytes.empty() && bytes[0] == '\x01';
}

void append_u64_be(std::string& out, uint64_t v);
uint64_t read_u64_be(std::string_view bytes);  // requires bytes.size() >= 8

std::string encode_reply(const Reply& reply);  // pb::Reply bytes
std::optional<Reply> decode_reply(std::string_view bytes);

std::string encode_scan_cursor(std::string_view next_key);  // "0" when next_key is empty
// Returns the key to resume from ("" for "0"), or nullopt for a malformed cursor.
std::optional<std::string> decode_scan_cursor(std::string_view cursor);

// The entry payload of a client command (what the frontend proposes). See proto/kv.proto.
struct RequestHeader {
  uint64_t client_id = 0;       // 0 = no session
  uint64_t sequence = 0;        // >= 1 when client_id != 0
  uint64_t acked_sequence = 0;  // replies up to here were received by the client
  int64_t timestamp_ms = 0;     // leader's wall clock when proposing
};
std::string encode_request(const RequestHeader& header, const std::vector<std::string>& args);
// An upper bound of encode_request(h, args).size() for every header h.
uint64_t max_encoded_request_bytes(const std::vector<std::string>& args);

}  // namespace raftkv::kv
