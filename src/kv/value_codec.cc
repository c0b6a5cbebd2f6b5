#include "kv/value_codec.h"

#include "base/varint.h"

#include "proto/kv.pb.h"

namespace raftkv::kv {

void append_u64_be(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t read_u64_be(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

std::string encode_stored_value(std::string_view value, std::optional<int64_t> expire_at_ms) {
  std::string out;
  append_stored_value(out, value, expire_at_ms);
  return out;
}

void append_stored_value(std::string& out, std::string_view value,
                         std::optional<int64_t> expire_at_ms) {
  out.reserve(out.size() + value.size() + (expire_at_ms ? 9 : 1));
  if (expire_at_ms) {
    out.push_back('\x01');
    append_u64_be(out, static_cast<uint64_t>(*expire_at_ms));
  } else {
    out.push_back('\x00');
  }
  out.append(value);
}

std::optional<StoredValue> decode_stored_value(std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  if (bytes[0] == '\x00') return StoredValue{std::string(bytes.substr(1)), std::nullopt};
  if (bytes[0] != '\x01' || bytes.size() < 9) return std::nullopt;
  return StoredValue{std::string(bytes.substr(9)),
                     static_cast<int64_t>(read_u64_be(bytes.substr(1)))};
}

namespace {

void to_proto(const Reply& reply, pb::Reply& out) {
  switch (reply.kind) {
    case Reply::Kind::kStatus:
      out.set_kind(pb::Reply::STATUS);
      break;
    case Reply::Kind::kError:
      out.set_kind(pb::Reply::ERROR);
      break;
    case Reply::Kind::kInteger:
      out.set_kind(pb::Reply::INTEGER);
      break;
    case Reply::Kind::kBulk:
      out.set_kind(pb::Reply::BULK);
      break;
    case Reply::Kind::kNull:
      out.set_kind(pb::Reply::NIL);
      break;
    case Reply::Kind::kArray:
      out.set_kind(pb::Reply::ARRAY);
      break;
  }
  out.set_text(reply.text);
  out.set_integer(reply.integer);
  for (const auto& e : reply.elements) to_proto(e, *out.add_elements());
}

std::optional<Reply> from_proto(const pb::Reply& in) {
  Reply reply;
  switch (in.kind()) {
    case pb::Reply::STATUS:
      reply.kind = Reply::Kind::kStatus;
      break;
    case pb::Reply::ERROR:
      reply.kind = Reply::Kind::kError;
      break;
    case pb::Reply::INTEGER:
      reply.kind = Reply::Kind::kInteger;
      break;
    case pb::Reply::BULK:
      reply.kind = Reply::Kind::kBulk;
      break;
    case pb::Reply::NIL:
      reply.kind = Reply::Kind::kNull;
      break;
    case pb::Reply::ARRAY:
      reply.kind = Reply::Kind::kArray;
      break;
    default:
      return std::nullopt;
  }
  reply.text = in.text();
  reply.integer = in.integer();
  for (const auto& e : in.elements()) {
    auto element = from_proto(e);
    if (!element) return std::nullopt;
    reply.elements.push_back(std::move(*element));
  }
  return reply;
}

}  // namespace

std::string encode_reply(const Reply& reply) {
  pb::Reply message;
  to_proto(reply, message);
  return message.SerializeAsString();
}

std::optional<Reply> decode_reply(std::string_view bytes) {
  pb::Reply message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return std::nullopt;
  return from_proto(message);
}

std::string encode_scan_cursor(std::string_view next_key) {
  if (next_key.empty()) return "0";
  std::string out = "1";
  out.reserve(1 + 3 * next_key.size());
  for (char c : next_key) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(static_cast<char>('0' + b / 100));
    out.push_back(static_cast<char>('0' + (b / 10) % 10));
    out.push_back(static_cast<char>('0' + b % 10));
  }
  return out;
}

std::optional<std::string> decode_scan_cursor(std::string_view cursor) {
  if (cursor == "0") return std::string();
  if (cursor.size() < 4 || cursor[0] != '1' || (cursor.size() - 1) % 3 != 0) return std::nullopt;
  std::string key;
  for (size_t i = 1; i < cursor.size(); i += 3) {
    int b = 0;
    for (size_t j = i; j < i + 3; ++j) {
      if (cursor[j] < '0' || cursor[j] > '9') return std::nullopt;
      b = b * 10 + (cursor[j] - '0');
    }
    if (b > 255) return std::nullopt;
    key.push_back(static_cast<char>(b));
  }
  return key;
}

// The pb::Request wire format written directly, in one allocation: building a pb::Request
// copied every argument into a heap string of its own (the write path's largest source of
// allocations). Same bytes as pb::Request::SerializeAsString() (proto3: fields in number order,
// zero scalars omitted, int64 as the varint of its two's complement, every repeated element
// written); value_codec tests compare the two.
namespace {

uint64_t encoded_args_bytes(const std::vector<std::string>& args) {
  uint64_t size = 0;
  for (const std::string& a : args) size += 1 + varint_size(a.size()) + a.size();
  return size;
}

}  // namespace

uint64_t max_encoded_request_bytes(const std::vector<std::string>& args) {
  constexpr uint64_t kHeaderBound = 4 * (1 + 10);  // four scalars: tag + the longest varint
  return kHeaderBound + encoded_args_bytes(args);
}

std::string encode_request(const RequestHeader& header, const std::vector<std::string>& args) {
  const uint64_t scalars[] = {header.client_id, header.sequence, header.acked_sequence,
                              static_cast<uint64_t>(header.timestamp_ms)};
  size_t size = 0;
  for (uint64_t v : scalars) size += v == 0 ? 0 : 1 + varint_size(v);
  size += encoded_args_bytes(args);
  std::string out;
  out.reserve(size);
  for (uint32_t field = 1; field <= 4; ++field) {
    const uint64_t v = scalars[field - 1];
    if (v == 0) continue;
    out.push_back(static_cast<char>(field << 3));  // varint
    put_varint(out, v);
  }
  for (const std::string& a : args) {
    out.push_back(static_cast<char>((5 << 3) | 2));  // args: length-delimited
    put_varint(out, a.size());
    out.append(a);
  }
  return out;
}

}  // namespace raftkv::kv
