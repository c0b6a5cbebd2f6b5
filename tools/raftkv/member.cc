#include "member.h"

#include <cstdio>

#include <fmt/format.h>

#include "client/client.h"

namespace raftkv::cli {
namespace {

bool is_member_row(const resp::Reply& row) {
  if (row.type != resp::Reply::Type::kArray || row.elements.size() != 5) return false;
  if (row.elements[0].type != resp::Reply::Type::kInteger) return false;
  for (size_t i = 1; i < 5; ++i) {
    if (row.elements[i].type != resp::Reply::Type::kBulk) return false;
  }
  return true;
}

}  // namespace

Result<std::string> format_member_table(const resp::Reply& reply) {
  if (reply.type != resp::Reply::Type::kArray) {
    return Status(ErrorCode::kInvalidArgument,
                  "RAFTKV.MEMBER LIST: expected an array, got " + resp::to_debug_string(reply));
  }
  std::string out =
      fmt::format("{:<5} {:<8} {:<18} {:<22} {}\n", "id", "role", "state", "peer", "client");
  for (const auto& row : reply.elements) {
    if (!is_member_row(row)) {
      return Status(ErrorCode::kInvalidArgument,
                    "RAFTKV.MEMBER LIST: unexpected entry " + resp::to_debug_string(row));
    }
    const auto& e = row.elements;
    out += fmt::format("{:<5} {:<8} {:<18} {:<22} {}\n", e[0].integer, e[3].text, e[4].text,
                       e[1].text, e[2].text);
  }
  return out;
}

int run_admin_command(const AdminOptions& options, std::vector<std::string> args) {
  const bool list = args.size() == 2 && args[1] == "LIST";
  client::ClientOptions client_options;
  client_options.seeds = options.addrs;
  client_options.sessions = false;  // not a KV write: RAFTKV.REQ does not wrap it
  client_options.call_timeout = options.timeout;
  // One exchange may last as long as the change does (catch-up of a new node): the call's
  // deadline bounds it, and a request is not resent because it merely took long.
  client_options.io_timeout = options.timeout;
  client::Client client(std::move(client_options));
  const Result<resp::Reply> reply = client.command(std::move(args));
  if (!reply) {
    fmt::print(stderr, "error: {}\n", reply.status().to_string());
    return 1;
  }
  if (reply->type == resp::Reply::Type::kError) {
    fmt::print(stderr, "(error) {}\n", reply->text);
    return 1;
  }
  if (list) {
    const Result<std::string> table = format_member_table(*reply);
    if (!table) {
      fmt::print(stderr, "error: {}\n", table.status().message());
      return 1;
    }
    fmt::print("{}", *table);
    return 0;
  }
  fmt::print("{}\n", reply->type == resp::Reply::Type::kSimpleString
                         ? reply->text
                         : resp::to_debug_string(*reply));
  return 0;
}

}  // namespace raftkv::cli
