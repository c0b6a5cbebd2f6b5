#include "frontend/command_dispatcher.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "frontend/reply_mapping.h"
#include "kv/commands.h"
#include "resp/reply.h"

namespace raftkv::frontend {
namespace {

constexpr uint32_t kRead = kFlagReadonly;
constexpr uint32_t kReadFast = kFlagReadonly | kFlagFast;
constexpr uint32_t kWrite = kFlagWrite;
constexpr uint32_t kWriteFast = kFlagWrite | kFlagFast;
constexpr uint32_t kLocal = kFlagFast | kFlagStale;
constexpr uint32_t kStatus = kFlagAdmin | kFlagStale;

// Sorted by name (checked by a test). KV rows use handlers::kv_command; their key positions
// match Redis's, so cluster clients route them by themselves.
constexpr std::array kCommandTable = {
    // ACL <subcommand>: acl_commands.cc; SETUSER and DELUSER replicate (kv/acl_state.h).
    CommandSpec{"acl", -2, kLocal, 0, 0, 0, handlers::acl},
    CommandSpec{"append", 3, kWrite, 1, 1, 1, handlers::kv_command},
    CommandSpec{"auth", -2, kLocal, 0, 0, 0, handlers::auth},
    CommandSpec{"client", -2, kLocal, 0, 0, 0, handlers::client},
    CommandSpec{"cluster", -2, kStatus, 0, 0, 0, handlers::cluster},
    CommandSpec{"command", -1, kLocal, 0, 0, 0, handlers::command},
    CommandSpec{"dbsize", 1, kReadFast, 0, 0, 0, handlers::kv_command},
    CommandSpec{"decr", 2, kWriteFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"decrby", 3, kWriteFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"del", -2, kWrite, 1, -1, 1, handlers::kv_command},
    CommandSpec{"echo", 2, kLocal, 0, 0, 0, handlers::echo},
    CommandSpec{"exists", -2, kReadFast, 1, -1, 1, handlers::kv_command},
    CommandSpec{"get", 2, kReadFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"getdel", 2, kWriteFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"hello", -1, kLocal, 0, 0, 0, handlers::hello},
    CommandSpec{"incr", 2, kWriteFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"incrby", 3, kWriteFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"info", -1, kStatus, 0, 0, 0, handlers::info},
    CommandSpec{"mget", -2, kReadFast, 1, -1, 1, handlers::kv_command},
    CommandSpec{"mset", -3, kWrite, 1, -1, 2, handlers::kv_command},
    CommandSpec{"ping", -1, kLocal, 0, 0, 0, handlers::ping},
    CommandSpec{"quit", -1, kLocal, 0, 0, 0, handlers::quit},
    // RAFTKV.REQ <client_id> <seq> <acked> <cmd> <key> ...: the wrapped command's first key.
    // RAFTKV.DIGEST: [applied index, 64-bit state digest in hex] at a linearizable point.
    CommandSpec{"raftkv.digest", 1, kRead, 0, 0, 0, handlers::raftkv_digest},
    // RAFTKV.MEMBER / RAFTKV.TRANSFER: membership and leadership (member_commands.cc); admin,
    // so ordered as barriers.
    CommandSpec{"raftkv.member", -2, kFlagAdmin, 0, 0, 0, handlers::raftkv_member},
    // RAFTKV.NODEAUTH CHALLENGE | PROVE <node-id> <hex>: a node proves it knows the cluster
    // secret (node_auth.cc), to relay operator commands.
    CommandSpec{"raftkv.nodeauth", -2, kLocal, 0, 0, 0, handlers::raftkv_nodeauth},
    CommandSpec{"raftkv.req", -5, kWrite, 5, 5, 1, handlers::raftkv_req},
    // RAFTKV.TLS RELOAD|STATUS: the TLS certificates (tls_commands.cc).
    CommandSpec{"raftkv.tls", 2, kStatus, 0, 0, 0, handlers::raftkv_tls},
    CommandSpec{"raftkv.transfer", 2, kFlagAdmin, 0, 0, 0, handlers::raftkv_transfer},
    CommandSpec{"readonly", 1, kLocal, 0, 0, 0, handlers::readonly},
    CommandSpec{"readwrite", 1, kLocal, 0, 0, 0, handlers::readwrite},
    CommandSpec{"role", 1, kStatus, 0, 0, 0, handlers::role},
    CommandSpec{"scan", -2, kRead, 0, 0, 0, handlers::kv_command},
    CommandSpec{"select", 2, kLocal, 0, 0, 0, handlers::select},
    CommandSpec{"set", -3, kWrite, 1, 1, 1, handlers::kv_command},
    CommandSpec{"setnx", 3, kWriteFast, 1, 1, 1, handlers::kv_command},
    CommandSpec{"strlen", 2, kReadFast, 1, 1, 1, handlers::kv_command},
};

// How Redis 7 echoes a client's bytes in an error: through printf's "%.*s" (commandCheckExistence
// in server.c), so at most `max_bytes` and nothing from the first NUL on. (CR and LF become
// spaces when the error line is encoded, as Redis's sdsmapchars does.)
std::string_view echoed(std::string_view bytes, size_t max_bytes) {
  return bytes.substr(0, std::min(max_bytes, bytes.find('\0')));
}

// Redis 7 wording: at most 128 bytes of the name and of the argument preview.
std::string unknown_command_error(const std::vector<std::string>& args) {
  std::string preview;
  for (size_t i = 1; i < args.size() && preview.size() < 128; ++i) {
    preview += fmt::format("'{}' ", echoed(args[i], 128 - preview.size()));
  }
  return fmt::format("ERR unknown command '{}', with args beginning with: {}", echoed(args[0], 128),
                     preview);
}

bool parse_uint64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.front() == '+' || text.front() == '-') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Sends a KV command (already checked against the table) to the backend; the reply names the
// slot of args[first_key] in MOVED.
void route_kv(CommandCall& call, std::vector<std::string> args, int first_key,
              ClientSession session) {
  const uint16_t slot = command_slot(args, first_key);
  Completion completion = [slot, done = std::move(call.done)](Result<kv::Reply> result) {
    done(encode_backend_result(result, slot));
  };
  Backend& backend = call.dispatcher.backend();
  switch (kv::classify_command(args[0])) {
    case kv::CommandKind::kWrite:
      backend.write(std::move(args), session, std::move(completion));
      return;
    case kv::CommandKind::kRead:
      backend.read(std::move(args),
                   ReadOptions{call.conn.read_consistency, call.conn.own_writes_in_flight},
                   std::move(completion));
      return;
    case kv::CommandKind::kUnknown:
      break;
  }
  // A table row marked as KV that the state machine does not know: a bug in the table.
  completion(Result<kv::Reply>(
      ErrorCode::kInternal,
      fmt::format("'{}' is in the command table but is not a KV command", args[0])));
}

}  // namespace

void CommandCall::reply(std::string encoded) {
  done(std::move(encoded));
}

void CommandCall::reply_error(std::string_view text) {
  std::string out;
  resp::append_error(out, text);
  done(std::move(out));
}

void CommandCall::reply_ok() {
  done("+OK\r\n");
}

std::span<const CommandSpec> command_table() {
  return kCommandTable;
}

const CommandSpec* find_command(std::string_view name) {
  if (name.size() > 32) return nullptr;
  const std::string lower = handlers::lowercase(name);
  const auto it = std::lower_bound(
      kCommandTable.begin(), kCommandTable.end(), lower,
      [](const CommandSpec& spec, const std::string& key) { return spec.name < key; });
  return it != kCommandTable.end() && it->name == lower ? &*it : nullptr;
}

bool arity_ok(const CommandSpec& spec, size_t argc) {
  if (spec.arity > 0) return argc == static_cast<size_t>(spec.arity);
  return argc >= static_cast<size_t>(-spec.arity);
}

CommandDispatcher::CommandDispatcher(Backend& backend, FrontendStats& stats,
                                     DispatcherOptions options)
    : backend_(backend),
      stats_(stats),
      options_(std::move(options)),
      started_(std::chrono::steady_clock::now()),
      security_(options_.acl) {
  if (options_.loading_until_applied) {
    loading_target_ = backend_.status().commit_index.value();
    loaded_.store(false, std::memory_order_release);
  }
}

uint64_t CommandDispatcher::uptime_seconds() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count());
}

void CommandDispatcher::dispatch(std::vector<std::string> args, ConnectionState& conn,
                                 ReplyCallback done) const {
  stats_.total_commands_processed.fetch_add(1, std::memory_order_relaxed);
  CommandCall call{*this, std::move(args), conn, std::move(done)};
  if (call.args.empty()) {
    call.reply_error("ERR empty command");
    return;
  }
  const CommandSpec* spec = find_command(call.args[0]);
  if (spec == nullptr) {
    call.reply_error(unknown_command_error(call.args));
    return;
  }
  if (!arity_ok(*spec, call.args.size())) {
    call.reply_error(handlers::wrong_arity_error(spec->name));
    return;
  }
  if (!admit_command(call, *spec)) return;
  spec->handler(call);
}

CommandOrder CommandDispatcher::order_of(std::span<const std::string> args) {
  if (args.empty()) return CommandOrder::kLocal;
  const CommandSpec* spec = find_command(args[0]);
  if (spec == nullptr || !arity_ok(*spec, args.size())) return CommandOrder::kLocal;  // an error
  if (spec->handler == handlers::raftkv_digest) return CommandOrder::kRead;
  if (spec->handler == handlers::acl) return handlers::acl_order(args);
  if (spec->handler == handlers::raftkv_req) {
    // Classified by the wrapped command, which must be a KV command (one level: a wrapper of a
    // wrapper, or of anything else, is answered with an error at once).
    args = args.subspan(4);
    spec = find_command(args[0]);
    if (spec == nullptr || spec->handler != handlers::kv_command) return CommandOrder::kLocal;
  }
  if (spec->handler == handlers::kv_command) {
    switch (kv::classify_command(args[0])) {
      case kv::CommandKind::kWrite:
        return CommandOrder::kWrite;
      case kv::CommandKind::kRead:
        return CommandOrder::kRead;
      case kv::CommandKind::kUnknown:
        return CommandOrder::kLocal;
    }
  }
  if ((spec->flags & kFlagAdmin) != 0) return CommandOrder::kBarrier;
  return CommandOrder::kLocal;
}

namespace handlers {

void kv_command(CommandCall& call) {
  const CommandSpec* spec = find_command(call.args[0]);
  route_kv(call, std::move(call.args), spec->first_key, ClientSession{});
}

void raftkv_digest(CommandCall& call) {
  Completion completion = [done = std::move(call.done)](Result<kv::Reply> result) {
    done(encode_backend_result(result, 0));
  };
  call.dispatcher.backend().read(
      {std::string(kDigestCommand)},
      ReadOptions{call.conn.read_consistency, call.conn.own_writes_in_flight},
      std::move(completion));
}

// RAFTKV.REQ <client_id> <sequence> <acked_sequence> <command> [args...] (backend.h): the
// wrapped write carries the session so the state machine applies it at most once. A wrapped
// read is served as a plain read (reads need no deduplication).
void raftkv_req(CommandCall& call) {
  ClientSession session;
  if (!parse_uint64(call.args[1], session.client_id) ||
      !parse_uint64(call.args[2], session.sequence) ||
      !parse_uint64(call.args[3], session.acked_sequence)) {
    call.reply_error(
        "ERR RAFTKV.REQ client_id, sequence and acked_sequence must be unsigned integers");
    return;
  }
  if (session.client_id != 0 && session.acked_sequence >= session.sequence) {
    call.reply_error("ERR RAFTKV.REQ acked_sequence must be lower than sequence");
    return;
  }
  std::vector<std::string> inner(std::make_move_iterator(call.args.begin() + 4),
                                 std::make_move_iterator(call.args.end()));
  const CommandSpec* spec = find_command(inner[0]);
  if (spec == nullptr) {
    call.reply_error(unknown_command_error(inner));
    return;
  }
  if (spec->handler != kv_command) {
    call.reply_error(fmt::format("ERR RAFTKV.REQ wraps KV commands only, not '{}'", spec->name));
    return;
  }
  if (!arity_ok(*spec, inner.size())) {
    call.reply_error(wrong_arity_error(spec->name));
    return;
  }
  route_kv(call, std::move(inner), spec->first_key, session);
}

std::string wrong_arity_error(std::string_view name) {
  return fmt::format("ERR wrong number of arguments for '{}' command", name);
}

std::string unknown_subcommand_error(std::string_view command, std::string_view sub) {
  return fmt::format("ERR unknown subcommand '{}'. Try {} HELP.", echoed(sub, 128), command);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lowercase(a) == lowercase(b);
}

std::pair<std::string, uint16_t> split_host_port(std::string_view addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return {std::string(addr), 0};
  std::string_view host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = addr.substr(colon + 1);
  uint16_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size()) port = 0;
  return {std::string(host), port};
}

std::string cluster_node_name(uint64_t node_id) {
  return fmt::format("{:040x}", node_id);
}

}  // namespace handlers
}  // namespace raftkv::frontend
