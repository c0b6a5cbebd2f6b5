#include "frontend/reply_mapping.h"

#include <algorithm>

#include <fmt/format.h>

#include "frontend/backend.h"
#include "frontend/key_slot.h"
#include "resp/reply.h"

namespace raftkv::frontend {

void append_kv_reply(std::string& out, const kv::Reply& reply) {
  switch (reply.kind) {
    case kv::Reply::Kind::kStatus:
      resp::append_simple_string(out, reply.text);
      return;
    case kv::Reply::Kind::kError:
      resp::append_error(out, reply.text);
      return;
    case kv::Reply::Kind::kInteger:
      resp::append_integer(out, reply.integer);
      return;
    case kv::Reply::Kind::kBulk:
      resp::append_bulk(out, reply.text);
      return;
    case kv::Reply::Kind::kNull:
      resp::append_null_bulk(out);
      return;
    case kv::Reply::Kind::kArray:
      resp::append_array_header(out, reply.elements.size());
      for (const auto& element : reply.elements) append_kv_reply(out, element);
      return;
  }
  resp::append_error(out, "ERR internal error: unknown reply kind");
}

std::string backend_error_text(const Status& status, uint16_t slot) {
  const std::string& message = status.message();
  switch (status.code()) {
    case ErrorCode::kNotLeader:
      if (message.empty()) return "CLUSTERDOWN no leader elected yet, retry later";
      return fmt::format("MOVED {} {}", slot, message);
    case ErrorCode::kTooLarge:
    case ErrorCode::kProposalDropped:
    case ErrorCode::kTimeout:
    case ErrorCode::kShutdown:
    case ErrorCode::kUnavailable:
      return fmt::format("TRYAGAIN {}",
                         message.empty() ? std::string(error_code_name(status.code())) : message);
    case ErrorCode::kInvalidArgument:
      return fmt::format("ERR {}", message);
    default:
      return fmt::format("ERR {}: {}", error_code_name(status.code()), message);
  }
}

std::string encode_backend_result(const Result<kv::Reply>& result, uint16_t slot) {
  std::string out;
  if (result.is_ok()) {
    append_kv_reply(out, result.value());
  } else {
    resp::append_error(out, backend_error_text(result.status(), slot));
  }
  return out;
}

uint16_t command_slot(const std::vector<std::string>& args, int first_key) {
  if (first_key <= 0 || static_cast<size_t>(first_key) >= args.size()) return 0;
  return key_slot(args[static_cast<size_t>(first_key)]);
}

kv::Reply member_list_reply(std::vector<MemberRow> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const MemberRow& a, const MemberRow& b) { return a.id < b.id; });
  std::vector<kv::Reply> elements;
  elements.reserve(rows.size());
  for (MemberRow& row : rows) {
    elements.push_back(kv::Reply::array({
        kv::Reply::integer_reply(static_cast<int64_t>(row.id.value())),
        kv::Reply::bulk(std::move(row.peer_addr)),
        kv::Reply::bulk(std::move(row.client_addr)),
        kv::Reply::bulk(row.voter ? "voter" : "learner"),
        kv::Reply::bulk(std::move(row.state)),
    }));
  }
  return kv::Reply::array(std::move(elements));
}

}  // namespace raftkv::frontend
