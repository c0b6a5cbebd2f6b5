// Authentication and ACL checks of every command (see auth.h).
#include "frontend/auth.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "base/log.h"
#include "frontend/command_dispatcher.h"
#include "frontend/command_handlers.h"
#include "resp/reply.h"

namespace raftkv::frontend {
namespace {

// Redis groups log entries of the same kind within this long (ACL_LOG_GROUPING_MAX_TIME_DELTA).
constexpr int64_t kLogGroupingMs = 60'000;

// Redis 7.0.15's text, byte for byte (it also suggests CONFIG SET, which raftkv does not have:
// --protected-mode no or a password are the ways here).
constexpr std::string_view kProtectedModeRefusal =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to Redis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to Redis from the same host "
    "the server is running, however MAKE SURE Redis is not publicly accessible from internet if "
    "you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and setting the "
    "protected mode option to 'no', and then restarting the server. 3) If you started the server "
    "manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
    "authentication password for the default user. NOTE: You only need to do one of the above "
    "things in order for the server to start accepting connections from the outside.\r\n";

const Logger& auth_log() {
  static const Logger log("frontend");
  return log;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view reason_name(AclLog::Reason reason) {
  switch (reason) {
    case AclLog::Reason::kCommand:
      return "command";
    case AclLog::Reason::kKey:
      return "key";
    case AclLog::Reason::kAuth:
      return "auth";
  }
  return "command";
}

std::string uppercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace

bool CompiledUser::may_run(const acl::CatalogEntry* entry, std::string_view name) const {
  if (entry != nullptr) return allowed[static_cast<size_t>(entry - acl::catalog().data())];
  return user->user.may_run(name, 0);  // a row without a catalog entry: only +@all-like rules
}

std::shared_ptr<const CompiledAcl> CompiledAcl::compile(kv::acl::PublishedAcl published) {
  auto compiled = std::make_shared<CompiledAcl>();
  compiled->published = std::move(published);
  const auto entries = acl::catalog();
  for (const auto& [name, user] : compiled->published.state->users()) {
    CompiledUser& out = compiled->users[name];
    out.user = &user;
    out.allowed.reserve(entries.size());
    for (const acl::CatalogEntry& entry : entries) {
      out.allowed.push_back(user.user.may_run(entry.fullname, entry.categories));
    }
  }
  return compiled;
}

const CompiledUser* CompiledAcl::find(std::string_view name) const {
  const auto it = users.find(name);
  return it == users.end() ? nullptr : &it->second;
}

bool CompiledAcl::default_requires_auth() const {
  const CompiledUser* user = find(kv::acl::kDefaultUserName);
  RAFTKV_ASSERT(user != nullptr, "the ACL has no default user");
  return !user->user->user.nopass || !user->user->user.enabled;
}

void AclLog::add(Reason reason, std::string object, std::string username, std::string client_info) {
  const int64_t now = wall_ms();
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->reason == reason && it->object == object && it->username == username &&
        now - it->created_ms < kLogGroupingMs) {
      Entry entry = std::move(*it);
      entries_.erase(it);
      ++entry.count;
      entry.created_ms = now;
      entry.client_info = std::move(client_info);
      entries_.push_front(std::move(entry));
      return;
    }
  }
  entries_.push_front(
      Entry{1, reason, std::move(object), std::move(username), std::move(client_info), now});
  if (entries_.size() > kMaxEntries) entries_.pop_back();
}

std::string AclLog::reply(size_t count) const {
  const int64_t now = wall_ms();
  std::lock_guard lock(mu_);
  const size_t n = std::min(count, entries_.size());
  std::string out;
  resp::append_array_header(out, n);
  for (size_t i = 0; i < n; ++i) {
    const Entry& entry = entries_[i];
    resp::append_array_header(out, 14);  // Redis 7.0's fields
    resp::append_bulk(out, "count");
    resp::append_integer(out, static_cast<int64_t>(entry.count));
    resp::append_bulk(out, "reason");
    resp::append_bulk(out, reason_name(entry.reason));
    resp::append_bulk(out, "context");
    resp::append_bulk(out, "toplevel");
    resp::append_bulk(out, "object");
    resp::append_bulk(out, entry.object);
    resp::append_bulk(out, "username");
    resp::append_bulk(out, entry.username);
    resp::append_bulk(out, "age-seconds");
    resp::append_bulk(out,
                      fmt::format("{:.17g}", static_cast<double>(now - entry.created_ms) / 1e3));
    resp::append_bulk(out, "client-info");
    resp::append_bulk(out, entry.client_info);
  }
  return out;
}

void AclLog::reset() {
  std::lock_guard lock(mu_);
  entries_.clear();
}

size_t AclLog::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Security::Security(std::shared_ptr<kv::acl::AclPublisher> publisher)
    : publisher_(publisher != nullptr ? std::move(publisher)
                                      : std::make_shared<kv::acl::AclPublisher>()) {}

std::shared_ptr<const CompiledAcl> Security::current() const {
  const uint64_t version = publisher_->version();
  std::lock_guard lock(mu_);
  if (compiled_ == nullptr || compiled_->published.version != version) {
    compiled_ = CompiledAcl::compile(publisher_->current());
  }
  return compiled_;
}

void Security::refresh(AuthState& auth) const {
  if (auth.acl != nullptr && auth.acl->published.version == publisher_->version()) return;
  auth.acl = current();
  auth.compiled_user = auth.acl->find(auth.user);
}

Permission check_permission(const CompiledUser& user, const CommandSpec& spec,
                            std::span<const std::string> args) {
  const CommandSpec* row = &spec;
  if (spec.handler == handlers::raftkv_req) {
    // Checked as the command it wraps. Anything else RAFTKV.REQ answers with an error before
    // running anything (raftkv_req in command_dispatcher.cc).
    if (args.size() < 5) return {};
    args = args.subspan(4);
    row = find_command(args[0]);
    if (row == nullptr || row->handler != handlers::kv_command || !arity_ok(*row, args.size())) {
      return {};
    }
  }
  const acl::Resolved resolved = acl::resolve(row->name, args);
  const acl::CatalogEntry* entry = resolved.entry;
  const std::string_view fullname = entry != nullptr ? entry->fullname : row->name;
  if (entry != nullptr && entry->no_auth) return {};
  if (resolved.kind == acl::Resolved::Kind::kUnknownSubcommand || !user.may_run(entry, fullname)) {
    return {Permission::Denied::kCommand, std::string(fullname)};
  }
  if (row->first_key <= 0) return {};
  const uint8_t needed =
      entry != nullptr ? acl::key_permissions(*entry, args) : uint8_t{kv::acl::kKeyReadWrite};
  const int argc = static_cast<int>(std::min<size_t>(args.size(), 1 << 30));
  const int last = row->last_key < 0 ? argc + row->last_key : row->last_key;
  for (int i = row->first_key; i <= last && i < argc; i += std::max(row->key_step, 1)) {
    if (!user.user->user.may_access_key(args[static_cast<size_t>(i)], needed)) {
      return {Permission::Denied::kKey, args[static_cast<size_t>(i)]};
    }
  }
  return {};
}

std::string noperm_error(const Permission& permission) {
  if (permission.denied == Permission::Denied::kKey) {
    return "NOPERM this user has no permissions to access one of the keys used as arguments";
  }
  return fmt::format("NOPERM this user has no permissions to run the '{}' command",
                     permission.object);
}

std::string dryrun_denial(const Permission& permission) {
  if (permission.denied == Permission::Denied::kKey) {
    return fmt::format("This user has no permissions to access the '{}' key", permission.object);
  }
  return fmt::format("This user has no permissions to run the '{}' command", permission.object);
}

bool is_loopback_client(std::string_view remote_addr) {
  return remote_addr.starts_with("127.") || remote_addr.starts_with("[::1]:") ||
         remote_addr.starts_with("[::ffff:127.");
}

std::string_view protected_mode_refusal() {
  return kProtectedModeRefusal;
}

std::optional<std::string> CommandDispatcher::admit(ConnectionState& conn) const {
  AuthState& auth = conn.auth;
  security_.refresh(auth);
  RAFTKV_ASSERT(auth.compiled_user != nullptr, "the ACL has no '{}' user", auth.user);
  const kv::acl::AclUser& user = *auth.compiled_user->user;
  // Not while loading: the ACL in force may be older than the node's log (say, the seed's
  // nopass default user), and an authenticated connection would stay so.
  auth.authenticated = user.user.enabled && user.user.nopass && !loading();
  auth.generation = user.generation;
  if (options_.protected_mode && user.user.nopass) {
    const bool local = options_.is_local_client ? options_.is_local_client(conn.remote_addr)
                                                : is_loopback_client(conn.remote_addr);
    if (!local) {
      stats_.rejected_connections.fetch_add(1, std::memory_order_relaxed);
      auth_log().info("client {} refused: protected mode (no password for the default user)",
                      conn.remote_addr);
      return std::string(kProtectedModeRefusal);
    }
  }
  return std::nullopt;
}

bool CommandDispatcher::loading() const {
  if (loaded_.load(std::memory_order_acquire)) return false;
  if (backend_.status().applied_index.value() < loading_target_) return true;
  loaded_.store(true, std::memory_order_release);
  return false;
}

bool CommandDispatcher::admit_command(CommandCall& call, const CommandSpec& spec) const {
  const acl::Resolved resolved = acl::resolve(spec.name, call.args);
  if (resolved.kind == acl::Resolved::Kind::kUnknownSubcommand) {
    call.reply_error(handlers::unknown_subcommand_error(uppercase(spec.name), call.args[1]));
    return false;
  }
  if (resolved.kind == acl::Resolved::Kind::kEntry &&
      resolved.entry->fullname.find('|') != std::string_view::npos &&
      !arity_ok(CommandSpec{resolved.entry->fullname, resolved.entry->arity, 0, 0, 0, 0, nullptr},
                call.args.size())) {
    call.reply_error(handlers::wrong_arity_error(resolved.entry->fullname));
    return false;
  }
  if (spec.handler == handlers::quit) return true;
  if (loading()) {
    call.reply_error("LOADING Redis is loading the dataset in memory");
    return false;
  }
  AuthState& auth = call.conn.auth;
  if (!auth.node.is_none()) {
    // Proved to be a node of this cluster (RAFTKV.NODEAUTH): what followers relay to the
    // leader and what --join and a restarted node ask, nothing else.
    if (spec.name == "raftkv.member" || spec.name == "raftkv.transfer" || spec.name == "ping" ||
        spec.name == "raftkv.nodeauth") {
      return true;
    }
    call.reply_error(
        "NOPERM a node's connection (RAFTKV.NODEAUTH) runs only RAFTKV.MEMBER, RAFTKV.TRANSFER "
        "and PING");
    return false;
  }
  security_.refresh(auth);
  if (auth.authenticated &&
      (auth.compiled_user == nullptr || auth.compiled_user->user->generation != auth.generation)) {
    auth_log().info("client id={} addr={}: user '{}' was deleted; closing the connection",
                    call.conn.id, call.conn.remote_addr, auth.user);
    call.conn.close_after_reply = true;
    call.reply("");  // no reply: the connection closes, as Redis kills the user's clients
    return false;
  }
  const bool no_auth = resolved.entry != nullptr && resolved.entry->no_auth;
  if (!auth.authenticated && auth.acl->default_requires_auth() && !no_auth) {
    call.reply_error("NOAUTH Authentication required.");
    return false;
  }
  if (no_auth) return true;
  // Not authenticated and no authentication required: the connection is the default user's
  // (which always exists: null only if that invariant broke, and then nothing runs).
  const CompiledUser* user = auth.compiled_user;
  if (user == nullptr) {
    call.reply_error("NOAUTH Authentication required.");
    return false;
  }
  const Permission permission = check_permission(*user, spec, call.args);
  if (permission.denied == Permission::Denied::kNone) return true;
  const bool key = permission.denied == Permission::Denied::kKey;
  (key ? stats_.acl_denied_keys : stats_.acl_denied_commands)
      .fetch_add(1, std::memory_order_relaxed);
  std::string info = handlers::client_info_line(call.conn);
  if (!info.empty() && info.back() == '\n') info.pop_back();
  security_.log().add(key ? AclLog::Reason::kKey : AclLog::Reason::kCommand, permission.object,
                      auth.user, std::move(info));
  call.reply_error(noperm_error(permission));
  return false;
}

}  // namespace raftkv::frontend
