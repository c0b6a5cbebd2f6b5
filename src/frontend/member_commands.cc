// RAFTKV.MEMBER ADD | REMOVE | PROMOTE | REPLACE | LIST | HELP and RAFTKV.TRANSFER: the
// operator's membership interface (docs/membership.md). The frontend checks the syntax (arity of
// each subcommand, node ids, addresses) and hands a MemberChange to the backend, which replies
// once the change is committed or with the reason nothing was changed. Their order class is
// kBarrier (the dispatcher's table marks them admin): they run once the connection's earlier
// commands have completed, and the connection's later reads and writes wait for their reply, so
// a client sees its commands take effect in the order it sent them, membership included.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "frontend/reply_mapping.h"
#include "resp/reply.h"

namespace raftkv::frontend::handlers {
namespace {

// At most 128 bytes of a client's argument, up to its first NUL (as Redis echoes arguments).
std::string_view echoed(std::string_view bytes) {
  return bytes.substr(0, std::min<size_t>(128, bytes.find('\0')));
}

// A node id: an unsigned decimal integer without sign or leading zero (as Redis's string2ll),
// non-zero (0 means "no node" throughout raftkv).
bool parse_node_id(std::string_view text, NodeId& out) {
  uint64_t value = 0;
  if (text.empty() || text.front() < '1' || text.front() > '9') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return false;
  out = NodeId(value);
  return true;
}

bool host_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.';
}

// Takes over the call's reply: the backend's outcome, mapped as for any command (MOVED names
// slot 0). Called only once nothing else will answer the call.
Completion backend_completion(CommandCall& call) {
  return [done = std::move(call.done)](Result<kv::Reply> result) {
    done(encode_backend_result(result, 0));
  };
}

}  // namespace

bool valid_member_address(std::string_view addr) {
  // Kept in the replicated membership and shown in CLUSTER NODES and MOVED: short, and made
  // of characters that need no quoting anywhere they are printed.
  if (addr.size() > kMaxMemberAddressBytes) return false;
  const size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = addr.substr(0, colon);
  const std::string_view port_text = addr.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 || port_text.front() == '0') return false;
  uint32_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return false;
  }
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    const std::string_view inner = host.substr(1, host.size() - 2);
    for (const char c : inner) {
      if (!ipv6_char(c)) return false;
    }
    return true;
  }
  for (const char c : host) {
    if (!host_name_char(c)) return false;
  }
  return true;
}

// RAFTKV.MEMBER <subcommand> [args]: one row per subcommand with its exact argument count
// (including "RAFTKV.MEMBER" and the subcommand), as Redis checks container commands.
void raftkv_member(CommandCall& call) {
  const std::string sub = lowercase(call.args[1]);
  const size_t argc = call.args.size();
  struct Subcommand {
    std::string_view name;
    size_t argc;
  };
  static constexpr Subcommand kSubcommands[] = {
      {"add", 5}, {"remove", 3}, {"promote", 3}, {"replace", 6}, {"list", 2}, {"help", 2},
  };
  const Subcommand* found = nullptr;
  for (const auto& s : kSubcommands) {
    if (s.name == sub) found = &s;
  }
  if (found == nullptr) {
    call.reply_error(unknown_subcommand_error("RAFTKV.MEMBER", call.args[1]));
    return;
  }
  if (argc != found->argc) {
    call.reply_error(wrong_arity_error("raftkv.member|" + sub));
    return;
  }
  if (sub == "help") {
    std::string out;
    constexpr std::string_view kHelp[] = {
        "RAFTKV.MEMBER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADD <node-id> <peer-addr> <client-addr>",
        "    Add a node as a learner; it becomes a voter once caught up (--auto-promote).",
        "REMOVE <node-id>",
        "    Remove a voter or learner (the leader hands over leadership first).",
        "PROMOTE <node-id>",
        "    Make a caught-up learner a voter.",
        "REPLACE <old-id> <new-id> <peer-addr> <client-addr>",
        "    Add the new node as a learner, then promote it and remove the old one in one",
        "    joint change.",
        "LIST",
        "    One entry per member: [id, peer-addr, client-addr, voter|learner, state].",
        "HELP",
        "    Print this help.",
    };
    resp::append_array_header(out, std::size(kHelp));
    for (const auto line : kHelp) resp::append_simple_string(out, line);
    call.reply(std::move(out));
    return;
  }
  Backend& backend = call.dispatcher.backend();
  if (sub == "list") {
    backend.list_members(backend_completion(call));
    return;
  }
  MemberChange change;
  if (!parse_node_id(call.args[2], change.node)) {
    call.reply_error(fmt::format("ERR invalid node id '{}'", echoed(call.args[2])));
    return;
  }
  if (sub == "remove" || sub == "promote") {
    change.op = sub == "remove" ? MemberChange::Op::kRemove : MemberChange::Op::kPromote;
    backend.change_membership(std::move(change), backend_completion(call));
    return;
  }
  size_t addr_arg = 3;  // ADD <id> <peer> <client>
  change.op = MemberChange::Op::kAdd;
  if (sub == "replace") {  // REPLACE <old> <new> <peer> <client>
    change.op = MemberChange::Op::kReplace;
    if (!parse_node_id(call.args[3], change.new_node)) {
      call.reply_error(fmt::format("ERR invalid node id '{}'", echoed(call.args[3])));
      return;
    }
    if (change.new_node == change.node) {
      call.reply_error(fmt::format("ERR cannot replace node {} by itself", change.node.value()));
      return;
    }
    addr_arg = 4;
  }
  for (size_t i = addr_arg; i < addr_arg + 2; ++i) {
    if (!valid_member_address(call.args[i])) {
      call.reply_error(fmt::format("ERR invalid address '{}'", echoed(call.args[i])));
      return;
    }
  }
  change.peer_addr = std::move(call.args[addr_arg]);
  change.client_addr = std::move(call.args[addr_arg + 1]);
  backend.change_membership(std::move(change), backend_completion(call));
}

// RAFTKV.TRANSFER <node-id>: +OK once that node is the leader.
void raftkv_transfer(CommandCall& call) {
  NodeId to;
  if (!parse_node_id(call.args[1], to)) {
    call.reply_error(fmt::format("ERR invalid node id '{}'", echoed(call.args[1])));
    return;
  }
  call.dispatcher.backend().transfer_leadership(to, backend_completion(call));
}

}  // namespace raftkv::frontend::handlers
