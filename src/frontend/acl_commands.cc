// AUTH, HELLO and ACL (Redis 7.0 replies and errors). The checks every command passes are in
// auth.cc; the users are the replicated ACL (kv/acl_state.h): ACL SETUSER and DELUSER are
// proposed as RAFTKV.ACL entries and answered once applied, the other subcommands read the ACL
// this node has applied.
#include <charconv>

#include <fmt/format.h>

#include "frontend/auth.h"
#include "frontend/command_handlers.h"
#include "frontend/reply_mapping.h"
#include "resp/reply.h"
#include "resp/request_parser.h"

namespace raftkv::frontend::handlers {
namespace {

constexpr std::string_view kWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";

// AUTH and HELLO AUTH: on success the connection becomes `user`'s. A failure is counted, logged
// in ACL LOG (object: the command as sent) and leaves the connection as it was.
bool authenticate(CommandCall& call, std::string_view user, std::string_view password) {
  const Security& security = call.dispatcher.security();
  AuthState& auth = call.conn.auth;
  security.refresh(auth);
  const CompiledUser* candidate = auth.acl->find(user);
  const bool ok = candidate != nullptr && candidate->user->user.enabled &&
                  candidate->user->user.password_matches(password);
  if (!ok && candidate == nullptr) (void)kv::acl::sha256_hex(password);  // same work either way
  if (ok) {
    auth.user = std::string(user);
    auth.generation = candidate->user->generation;
    auth.authenticated = true;
    auth.compiled_user = candidate;
    return true;
  }
  call.dispatcher.stats().auth_failures.fetch_add(1, std::memory_order_relaxed);
  std::string info = client_info_line(call.conn);
  if (!info.empty() && info.back() == '\n') info.pop_back();
  security.log().add(AclLog::Reason::kAuth, call.args[0], std::string(user), std::move(info));
  return false;
}

bool parse_int64(std::string_view text, int64_t& out) {
  return resp::parse_int64_strict(text, out);
}

void append_help(std::string& out, std::initializer_list<std::string_view> lines) {
  resp::append_array_header(out, lines.size());
  for (const auto line : lines) resp::append_simple_string(out, line);
}

std::string syntax_error(std::string_view sub) {
  return fmt::format("ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                     sub.substr(0, 128));
}

// ACL SETUSER / DELUSER: checked here against this node's ACL and the command catalog, then
// proposed (cleartext passwords replaced by their digests) and answered once applied.
void propose(CommandCall& call, std::vector<std::string> entry) {
  Completion completion = [done = std::move(call.done)](Result<kv::Reply> result) {
    done(encode_backend_result(result, 0));
  };
  call.dispatcher.backend().write(std::move(entry), ClientSession{}, std::move(completion));
}

std::vector<std::string> entry_header(const CommandCall& call, std::string_view op) {
  return {std::string(kv::acl::kEntryCommand), call.dispatcher.security().publisher().seed_rules(),
          std::string(op)};
}

void acl_setuser(CommandCall& call) {
  const std::string& name = call.args[2];
  if (!kv::acl::valid_user_name(name)) {
    call.reply_error("ERR Usernames can't contain spaces or null characters");
    return;
  }
  const std::span<const std::string> rules(call.args.begin() + 3, call.args.end());
  const auto acl = call.dispatcher.security().current();
  const kv::acl::AclUser* existing = acl->published.state->find(name);
  kv::acl::User user = existing != nullptr ? existing->user : kv::acl::new_user();
  if (auto error = kv::acl::apply_rules(user, rules, &acl::catalog_names())) {
    call.reply_error("ERR " + *error);
    return;
  }
  std::vector<std::string> entry = entry_header(call, "SETUSER");
  entry.push_back(name);
  for (const std::string& rule : rules) {
    if (rule.starts_with('>')) {
      entry.push_back("#" + kv::acl::sha256_hex(std::string_view(rule).substr(1)));
    } else if (rule.starts_with('<')) {
      entry.push_back("!" + kv::acl::sha256_hex(std::string_view(rule).substr(1)));
    } else {
      entry.push_back(rule);
    }
  }
  propose(call, std::move(entry));
}

void acl_deluser(CommandCall& call) {
  for (size_t i = 2; i < call.args.size(); ++i) {
    if (call.args[i] == kv::acl::kDefaultUserName) {
      call.reply_error("ERR The 'default' user cannot be removed");
      return;
    }
  }
  std::vector<std::string> entry = entry_header(call, "DELUSER");
  entry.insert(entry.end(), call.args.begin() + 2, call.args.end());
  propose(call, std::move(entry));
}

void acl_getuser(CommandCall& call) {
  const auto acl = call.dispatcher.security().current();
  const kv::acl::AclUser* found = acl->published.state->find(call.args[2]);
  std::string out;
  if (found == nullptr) {
    resp::append_null_bulk(out);
    call.reply(std::move(out));
    return;
  }
  const kv::acl::User& user = found->user;
  resp::append_array_header(out, 12);
  resp::append_bulk(out, "flags");
  const auto flags = user.flag_names();
  resp::append_array_header(out, flags.size());
  for (const auto& flag : flags) resp::append_bulk(out, flag);
  resp::append_bulk(out, "passwords");
  resp::append_array_header(out, user.passwords.size());
  for (const auto& digest : user.passwords) resp::append_bulk(out, digest);
  resp::append_bulk(out, "commands");
  resp::append_bulk(out, user.describe_commands());
  resp::append_bulk(out, "keys");
  resp::append_bulk(out, user.describe_keys());
  resp::append_bulk(out, "channels");
  resp::append_bulk(out, user.describe_channels());
  resp::append_bulk(out, "selectors");
  resp::append_array_header(out, 0);
  call.reply(std::move(out));
}

void acl_list_or_users(CommandCall& call, bool list) {
  const auto acl = call.dispatcher.security().current();
  const auto& users = acl->published.state->users();
  std::string out;
  resp::append_array_header(out, users.size());
  for (const auto& [name, user] : users) {
    resp::append_bulk(out, list ? fmt::format("user {} {}", name, user.user.describe()) : name);
  }
  call.reply(std::move(out));
}

void acl_cat(CommandCall& call) {
  std::string out;
  if (call.args.size() == 2) {
    resp::append_array_header(out, std::size(kv::acl::kCategories));
    for (const std::string_view category : kv::acl::kCategories) resp::append_bulk(out, category);
    call.reply(std::move(out));
    return;
  }
  const uint32_t bit = kv::acl::category_bit(call.args[2]);
  if (bit == 0) {
    call.reply_error(fmt::format("ERR Unknown category '{}'", call.args[2].substr(0, 128)));
    return;
  }
  const auto names = acl::commands_in(bit);
  resp::append_array_header(out, names.size());
  for (const std::string_view name : names) resp::append_bulk(out, name);
  call.reply(std::move(out));
}

// ACL DRYRUN <user> <command> [args...]: the checks of auth.cc for that user, without running
// anything (whether the user is on is not looked at, as in Redis).
void acl_dryrun(CommandCall& call) {
  const auto acl = call.dispatcher.security().current();
  const CompiledUser* user = acl->find(call.args[2]);
  if (user == nullptr) {
    call.reply_error(fmt::format("ERR User '{}' not found", call.args[2].substr(0, 128)));
    return;
  }
  const std::span<const std::string> command(call.args.begin() + 3, call.args.end());
  const CommandSpec* spec = find_command(command[0]);
  const acl::Resolved resolved = spec == nullptr
                                     ? acl::Resolved{acl::Resolved::Kind::kNotInCatalog, nullptr}
                                     : acl::resolve(spec->name, command);
  if (spec == nullptr || resolved.kind == acl::Resolved::Kind::kUnknownSubcommand) {
    call.reply_error(fmt::format("ERR Command '{}' not found", command[0].substr(0, 128)));
    return;
  }
  if (!arity_ok(*spec, command.size())) {
    call.reply_error(wrong_arity_error(spec->name));
    return;
  }
  const acl::CatalogEntry* entry = resolved.entry;
  if (entry != nullptr && entry->fullname.find('|') != std::string_view::npos &&
      !arity_ok(CommandSpec{entry->fullname, entry->arity, 0, 0, 0, 0, nullptr}, command.size())) {
    call.reply_error(wrong_arity_error(entry->fullname));
    return;
  }
  const Permission permission = check_permission(*user, *spec, command);
  if (permission.denied == Permission::Denied::kNone) {
    call.reply_ok();
    return;
  }
  std::string out;
  resp::append_bulk(out, dryrun_denial(permission));
  call.reply(std::move(out));
}

void acl_genpass(CommandCall& call) {
  int64_t bits = 256;
  if (call.args.size() == 3) {
    if (!parse_int64(call.args[2], bits)) {
      call.reply_error(kNotInteger);
      return;
    }
    if (bits <= 0 || bits > 4096) {
      call.reply_error(
          "ERR ACL GENPASS argument must be the number of bits for the output password, a "
          "positive number up to 4096");
      return;
    }
  }
  std::string out;
  resp::append_bulk(out, kv::acl::random_hex(static_cast<uint32_t>(bits)));
  call.reply(std::move(out));
}

void acl_log(CommandCall& call) {
  AclLog& log = call.dispatcher.security().log();
  size_t count = 10;  // Redis's default
  if (call.args.size() == 3) {
    if (iequals(call.args[2], "reset")) {
      log.reset();
      call.reply_ok();
      return;
    }
    int64_t n = 0;
    if (!parse_int64(call.args[2], n)) {
      call.reply_error(kNotInteger);
      return;
    }
    count = n < 0 ? 0 : static_cast<size_t>(n);
  }
  call.reply(log.reply(count));
}

}  // namespace

CommandOrder acl_order(std::span<const std::string> args) {
  // Changes of the ACL: nothing after them runs before they applied (command_dispatcher.h).
  if (args.size() >= 2 && (iequals(args[1], "setuser") || iequals(args[1], "deluser"))) {
    return CommandOrder::kExclusive;
  }
  return CommandOrder::kLocal;
}

// ACL <subcommand>: the subcommand exists and has its arity (checked by the dispatcher).
void acl(CommandCall& call) {
  const std::string sub = lowercase(call.args[1]);
  const size_t argc = call.args.size();
  if (sub == "setuser") {
    acl_setuser(call);
  } else if (sub == "deluser") {
    acl_deluser(call);
  } else if (sub == "getuser") {
    acl_getuser(call);
  } else if (sub == "list" || sub == "users") {
    acl_list_or_users(call, sub == "list");
  } else if (sub == "whoami") {
    std::string out;
    resp::append_bulk(out, call.conn.auth.user);
    call.reply(std::move(out));
  } else if (sub == "cat" && argc <= 3) {
    acl_cat(call);
  } else if (sub == "dryrun") {
    acl_dryrun(call);
  } else if (sub == "genpass" && argc <= 3) {
    acl_genpass(call);
  } else if (sub == "log" && argc <= 3) {
    acl_log(call);
  } else if (sub == "help") {
    std::string out;
    append_help(out,
                {"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                 "CAT [<category>]",
                 "    List all commands that belong to <category>, or all command categories",
                 "    when no category is specified.",
                 "DELUSER <username> [<username> ...]",
                 "    Delete a list of users (replicated).",
                 "DRYRUN <username> <command> [<arg> ...]",
                 "    Returns whether the user can execute the given command without executing the "
                 "command.",
                 "GETUSER <username>",
                 "    Get the user's details.",
                 "GENPASS [<bits>]",
                 "    Generate a secure 256-bit user password. The optional `bits` argument can",
                 "    be used to specify a different size.",
                 "LIST",
                 "    Show users details in config file format.",
                 "LOG [<count> | RESET]",
                 "    Show the ACL log entries (of this node).",
                 "SETUSER <username> <attribute> [<attribute> ...]",
                 "    Create or modify a user with the specified attributes (replicated).",
                 "USERS",
                 "    List all the registered usernames.",
                 "WHOAMI",
                 "    Return the current connection username.",
                 "HELP",
                 "    Prints this help."});
    call.reply(std::move(out));
  } else {
    call.reply_error(syntax_error(call.args[1]));
  }
}

// AUTH [username] password (Redis 6+): the two-argument form authenticates as `default`.
void auth(CommandCall& call) {
  if (call.args.size() > 3) {
    call.reply_error("ERR syntax error");
    return;
  }
  std::string_view user = kv::acl::kDefaultUserName;
  std::string_view password = call.args[1];
  if (call.args.size() == 2) {
    call.dispatcher.security().refresh(call.conn.auth);
    const CompiledUser* default_user = call.conn.auth.acl->find(kv::acl::kDefaultUserName);
    if (default_user != nullptr && default_user->user->user.nopass) {
      call.reply_error(
          "ERR AUTH <password> called without any password configured for the default user. Are "
          "you sure your configuration is correct?");
      return;
    }
  } else {
    user = call.args[1];
    password = call.args[2];
  }
  if (authenticate(call, user, password)) {
    call.reply_ok();
  } else {
    call.reply_error(kWrongPass);
  }
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]. Only RESP2 is spoken. As in
// Redis 7: options are parsed first, then AUTH, then the connection must be authenticated.
void hello(CommandCall& call) {
  if (call.args.size() >= 2) {
    int64_t version = 0;
    if (!resp::parse_int64_strict(call.args[1], version)) {
      call.reply_error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (version != 2) {
      call.reply_error("NOPROTO sorry, this protocol version is not supported");
      return;
    }
  }
  std::string new_name = call.conn.name;
  const std::string* user = nullptr;
  const std::string* password = nullptr;
  for (size_t i = 2; i < call.args.size(); ++i) {
    const bool has_more = i + 1 < call.args.size();
    if (iequals(call.args[i], "AUTH") && i + 2 < call.args.size()) {
      user = &call.args[i + 1];
      password = &call.args[i + 2];
      i += 2;
    } else if (iequals(call.args[i], "SETNAME") && has_more) {
      new_name = call.args[++i];
      if (!valid_client_name(new_name)) {
        call.reply_error(kBadClientName);
        return;
      }
    } else {
      call.reply_error(fmt::format("ERR Syntax error in HELLO option '{}'", call.args[i]));
      return;
    }
  }
  if (user != nullptr && !authenticate(call, *user, *password)) {
    call.reply_error(kWrongPass);
    return;
  }
  AuthState& auth = call.conn.auth;
  call.dispatcher.security().refresh(auth);
  if (!auth.authenticated && auth.acl->default_requires_auth()) {
    call.reply_error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
        "protocol version at the same time");
    return;
  }
  call.conn.name = std::move(new_name);
  const bool leader = call.dispatcher.backend().status().role == "leader";
  std::string out;
  resp::append_array_header(out, 14);
  resp::append_bulk(out, "server");
  resp::append_bulk(out, "redis");
  resp::append_bulk(out, "version");
  resp::append_bulk(out, call.dispatcher.options().redis_version);
  resp::append_bulk(out, "proto");
  resp::append_integer(out, 2);
  resp::append_bulk(out, "id");
  resp::append_integer(out, static_cast<int64_t>(call.conn.id));
  resp::append_bulk(out, "mode");
  resp::append_bulk(out, "cluster");
  resp::append_bulk(out, "role");
  resp::append_bulk(out, leader ? "master" : "replica");
  resp::append_bulk(out, "modules");
  resp::append_array_header(out, 0);
  call.reply(std::move(out));
}

}  // namespace raftkv::frontend::handlers
