// Internal to the frontend: the handlers named by the command table, and helpers they share.
// Each handler answers through call.reply*() exactly once (possibly later, from the backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "frontend/command_dispatcher.h"

namespace raftkv::frontend::handlers {

// connection_commands.cc
void ping(CommandCall& call);
void echo(CommandCall& call);
void command(CommandCall& call);
void client(CommandCall& call);
void select(CommandCall& call);
void quit(CommandCall& call);
void readonly(CommandCall& call);
void readwrite(CommandCall& call);

// acl_commands.cc: AUTH, HELLO and ACL; acl_order() is ACL's CommandOrder by subcommand.
void hello(CommandCall& call);
void auth(CommandCall& call);
void acl(CommandCall& call);
CommandOrder acl_order(std::span<const std::string> args);

// status_commands.cc
void info(CommandCall& call);
void cluster(CommandCall& call);
void role(CommandCall& call);

// member_commands.cc
void raftkv_member(CommandCall& call);
void raftkv_transfer(CommandCall& call);
void raftkv_nodeauth(CommandCall& call);
// What RAFTKV.MEMBER accepts as a member's address: "host:port" or "[v6]:port", port 1..65535
// without a sign or leading zero, a host of letters, digits, '.', '-', '_' (or hex digits, ':'
// and '.' between brackets), at most kMaxMemberAddressBytes in all.
inline constexpr size_t kMaxMemberAddressBytes = 255;
bool valid_member_address(std::string_view addr);

// tls_commands.cc
void raftkv_tls(CommandCall& call);

// command_dispatcher.cc
void kv_command(CommandCall& call);
void raftkv_req(CommandCall& call);
void raftkv_digest(CommandCall& call);

// "ERR wrong number of arguments for '<name>' command"; name like "get" or "client|setname".
std::string wrong_arity_error(std::string_view name);
// "ERR unknown subcommand '<sub>'. Try <COMMAND> HELP."
std::string unknown_subcommand_error(std::string_view command, std::string_view sub);
// ASCII lowercase copy.
std::string lowercase(std::string_view text);
// Case-insensitive ASCII equality.
bool iequals(std::string_view a, std::string_view b);
// Splits "host:port" / "[v6]:port" at the last ':'; port 0 when absent or malformed.
std::pair<std::string, uint16_t> split_host_port(std::string_view addr);
// Redis Cluster node name of a node: its id as 40 hex digits.
std::string cluster_node_name(uint64_t node_id);
// connection_commands.cc: the CLIENT INFO / CLIENT LIST line of a connection (ends with '\n').
std::string client_info_line(const ConnectionState& conn);
// Redis allows client names of printable ASCII without spaces ('!'..'~').
bool valid_client_name(std::string_view name);
inline constexpr std::string_view kBadClientName =
    "ERR Client names cannot contain spaces, newlines or special characters.";

}  // namespace raftkv::frontend::handlers
