// Commands answered from the connection alone: PING ECHO COMMAND CLIENT SELECT QUIT READONLY
// READWRITE (HELLO and AUTH: acl_commands.cc).
#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "resp/reply.h"
#include "resp/request_parser.h"

namespace raftkv::frontend::handlers {
namespace {

void append_flag_names(std::string& out, uint32_t flags) {
  static constexpr std::pair<uint32_t, std::string_view> kNames[] = {
      {kFlagWrite, "write"}, {kFlagReadonly, "readonly"}, {kFlagFast, "fast"},
      {kFlagAdmin, "admin"}, {kFlagStale, "stale"},
  };
  size_t count = 0;
  for (const auto& [bit, name] : kNames) count += (flags & bit) != 0 ? 1 : 0;
  resp::append_array_header(out, count);
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) != 0) resp::append_simple_string(out, name);
  }
}

// One COMMAND / COMMAND INFO entry: [name, arity, [flags], first key, last key, step].
void append_command_entry(std::string& out, const CommandSpec& spec) {
  resp::append_array_header(out, 6);
  resp::append_bulk(out, spec.name);
  resp::append_integer(out, spec.arity);
  append_flag_names(out, spec.flags);
  resp::append_integer(out, spec.first_key);
  resp::append_integer(out, spec.last_key);
  resp::append_integer(out, spec.key_step);
}

void append_help(std::string& out, std::initializer_list<std::string_view> lines) {
  resp::append_array_header(out, lines.size());
  for (const auto line : lines) resp::append_simple_string(out, line);
}

}  // namespace

bool valid_client_name(std::string_view name) {
  for (const char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

std::string client_info_line(const ConnectionState& conn) {
  const bool readonly = conn.read_consistency == ReadConsistency::kFollower;
  return fmt::format("id={} addr={} laddr={} name={} db=0 flags={} resp=2 user={}\n", conn.id,
                     conn.remote_addr, conn.local_addr, conn.name, readonly ? "r" : "N",
                     conn.auth.user);
}

void ping(CommandCall& call) {
  if (call.args.size() > 2) {
    call.reply_error(wrong_arity_error("ping"));
    return;
  }
  if (call.args.size() == 1) {
    call.reply("+PONG\r\n");
    return;
  }
  std::string out;
  resp::append_bulk(out, call.args[1]);
  call.reply(std::move(out));
}

void echo(CommandCall& call) {
  std::string out;
  resp::append_bulk(out, call.args[1]);
  call.reply(std::move(out));
}

// COMMAND, COMMAND COUNT, COMMAND LIST, COMMAND INFO [name...], COMMAND DOCS [name...] (empty
// map: redis-cli sends it on connect and only uses it for hints).
void command(CommandCall& call) {
  const auto table = command_table();
  std::string out;
  if (call.args.size() == 1) {
    resp::append_array_header(out, table.size());
    for (const auto& spec : table) append_command_entry(out, spec);
    call.reply(std::move(out));
    return;
  }
  const std::string sub = lowercase(call.args[1]);
  if (sub == "count" && call.args.size() == 2) {
    resp::append_integer(out, static_cast<int64_t>(table.size()));
  } else if (sub == "list" && call.args.size() == 2) {
    resp::append_array_header(out, table.size());
    for (const auto& spec : table) resp::append_bulk(out, spec.name);
  } else if (sub == "info") {
    if (call.args.size() == 2) {
      resp::append_array_header(out, table.size());
      for (const auto& spec : table) append_command_entry(out, spec);
    } else {
      resp::append_array_header(out, call.args.size() - 2);
      for (size_t i = 2; i < call.args.size(); ++i) {
        const CommandSpec* spec = find_command(call.args[i]);
        if (spec == nullptr) {
          resp::append_null_array(out);
        } else {
          append_command_entry(out, *spec);
        }
      }
    }
  } else if (sub == "docs") {
    resp::append_array_header(out, 0);
  } else if (sub == "help" && call.args.size() == 2) {
    append_help(out, {"COMMAND", "COMMAND COUNT", "COMMAND LIST",
                      "COMMAND INFO [<command-name> ...]", "COMMAND DOCS [<command-name> ...]"});
  } else if (sub == "count" || sub == "list" || sub == "help") {
    call.reply_error(wrong_arity_error("command|" + sub));
    return;
  } else {
    call.reply_error(unknown_subcommand_error("COMMAND", call.args[1]));
    return;
  }
  call.reply(std::move(out));
}

// CLIENT ID | GETNAME | SETNAME name | INFO | LIST | SETINFO attr value | HELP.
// LIST shows only the calling connection (connections are not enumerable from here).
void client(CommandCall& call) {
  const std::string sub = lowercase(call.args[1]);
  const size_t argc = call.args.size();
  std::string out;
  const auto expect_argc = [&](size_t wanted) {
    if (argc == wanted) return true;
    call.reply_error(wrong_arity_error("client|" + sub));
    return false;
  };
  if (sub == "id") {
    if (!expect_argc(2)) return;
    resp::append_integer(out, static_cast<int64_t>(call.conn.id));
  } else if (sub == "getname") {
    if (!expect_argc(2)) return;
    if (call.conn.name.empty()) {
      resp::append_null_bulk(out);
    } else {
      resp::append_bulk(out, call.conn.name);
    }
  } else if (sub == "setname") {
    if (!expect_argc(3)) return;
    if (!valid_client_name(call.args[2])) {
      call.reply_error(kBadClientName);
      return;
    }
    call.conn.name = call.args[2];
    resp::append_simple_string(out, "OK");
  } else if (sub == "info" || sub == "list") {
    if (sub == "info" && !expect_argc(2)) return;
    resp::append_bulk(out, client_info_line(call.conn));
  } else if (sub == "setinfo") {
    if (!expect_argc(4)) return;
    resp::append_simple_string(out, "OK");
  } else if (sub == "help") {
    append_help(out, {"CLIENT ID", "CLIENT GETNAME", "CLIENT SETNAME <name>", "CLIENT INFO",
                      "CLIENT LIST", "CLIENT SETINFO <attr> <value>"});
  } else {
    call.reply_error(unknown_subcommand_error("CLIENT", call.args[1]));
    return;
  }
  call.reply(std::move(out));
}

void select(CommandCall& call) {
  int64_t index = 0;
  if (!resp::parse_int64_strict(call.args[1], index)) {
    call.reply_error("ERR value is not an integer or out of range");
    return;
  }
  if (index != 0) {
    call.reply_error("ERR DB index is out of range");
    return;
  }
  call.reply_ok();
}

void quit(CommandCall& call) {
  call.conn.close_after_reply = true;
  call.reply_ok();
}

// READONLY: reads on this connection may be served from this node's state as is (Redis Cluster
// replica reads). READWRITE: back to linearizable reads.
void readonly(CommandCall& call) {
  call.conn.read_consistency = ReadConsistency::kFollower;
  call.reply_ok();
}

void readwrite(CommandCall& call) {
  call.conn.read_consistency = ReadConsistency::kLinearizable;
  call.reply_ok();
}

}  // namespace raftkv::frontend::handlers
