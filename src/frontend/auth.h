// Authentication and ACL enforcement for client connections (Redis 6/7 semantics).
//
// The ACL in force is the one the state machine published (kv/acl_state.h): replicated, so every
// node enforces the same users once it has applied the same entries. Each command is checked
// against the ACL of the moment it is dispatched, in Redis 7's processCommand order:
//   1. unknown command, wrong arity, unknown subcommand, wrong subcommand arity (errors that
//      need no authentication);
//   2. -LOADING while the node has not yet applied the log it had when the server started
//      (DispatcherOptions::loading_until_applied): the ACL it would check is older than the
//      node's own history;
//   3. the connection's user was deleted since it authenticated (or deleted and re-created):
//      the connection is closed without a reply (Redis kills such clients at ACL DELUSER; here
//      each node does it at the connection's next command);
//   4. -NOAUTH Authentication required. — unless the default user is on and nopass, or the
//      connection authenticated — for every command but AUTH, HELLO and QUIT;
//   5. -NOPERM: the user's command rules must allow the command (subcommand), and a key pattern
//      with the permissions the command needs must match each of its keys. AUTH HELLO QUIT are
//      always allowed. A user switched off keeps its authenticated connections (as in Redis);
//      only new AUTHs fail.
// Failed checks and failed AUTHs are recorded in this node's ACL LOG (as Redis: per node, not
// replicated) and counted in FrontendStats.
//
// Protected mode (Redis's protected-mode yes): while the default user is nopass, connections
// from outside the loopback interface get Redis's -DENIED message and are closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "frontend/acl_catalog.h"
#include "kv/acl_state.h"

namespace raftkv::frontend {

struct CommandSpec;

// The ACL of one published version, with each user's permission for each catalog entry
// precomputed. Immutable; shared by the connections that use it.
struct CompiledUser {
  const kv::acl::AclUser* user = nullptr;  // into the state of the CompiledAcl that holds it
  std::vector<bool> allowed;               // by catalog index

  // Whether the user may run this catalog entry (or, for a table row without one, `name`).
  bool may_run(const acl::CatalogEntry* entry, std::string_view name) const;
};

struct CompiledAcl {
  kv::acl::PublishedAcl published;
  std::map<std::string, CompiledUser, std::less<>> users;

  static std::shared_ptr<const CompiledAcl> compile(kv::acl::PublishedAcl published);
  const CompiledUser* find(std::string_view name) const;
  // Redis: the default user is off or has a password.
  bool default_requires_auth() const;
};

// One connection's authentication (ConnectionState::auth). Only dispatch() touches it.
struct AuthState {
  std::string user = std::string(kv::acl::kDefaultUserName);  // ACL WHOAMI, CLIENT LIST user=
  uint64_t generation = 0;     // the user's generation when the connection authenticated
  bool authenticated = false;  // by AUTH/HELLO, or at connect as an on + nopass default user
  // The ACL last checked against (refreshed when a new one is published) and the user in it
  // (null when the user no longer exists).
  std::shared_ptr<const CompiledAcl> acl;
  const CompiledUser* compiled_user = nullptr;
  // RAFTKV.NODEAUTH: the challenge this connection was issued (raw bytes; "" if none), and
  // once it was answered, the node the connection proved to be. A node's connection runs only
  // what nodes relay to each other (kNodeCommands), whatever the ACL says.
  std::string node_nonce;
  NodeId node;
};

// This node's ACL LOG (Redis acllog-max-len 128; entries for the same reason, object and user
// within 60 s are grouped). Thread-safe.
class AclLog {
 public:
  enum class Reason : uint8_t { kCommand, kKey, kAuth };
  static constexpr size_t kMaxEntries = 128;

  void add(Reason reason, std::string object, std::string username, std::string client_info);
  // The encoded ACL LOG reply: at most `count` entries, newest first.
  std::string reply(size_t count) const;
  void reset();
  size_t size() const;

 private:
  struct Entry {
    uint64_t count = 1;
    Reason reason = Reason::kCommand;
    std::string object;
    std::string username;
    std::string client_info;
    int64_t created_ms = 0;  // wall clock of the latest occurrence
  };
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // newest first; guarded by mu_
};

// What the dispatcher holds for authentication: the published ACL, its compiled form, the log.
// Thread-safe.
class Security {
 public:
  explicit Security(std::shared_ptr<kv::acl::AclPublisher> publisher);

  kv::acl::AclPublisher& publisher() const { return *publisher_; }
  // The compiled ACL of the publisher's current version (compiled once per version).
  std::shared_ptr<const CompiledAcl> current() const;
  // Brings auth.acl and auth.compiled_user up to the current version (one atomic load when
  // already current).
  void refresh(AuthState& auth) const;
  AclLog& log() const { return log_; }

 private:
  const std::shared_ptr<kv::acl::AclPublisher> publisher_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const CompiledAcl> compiled_;  // guarded by mu_
  mutable AclLog log_;
};

// The outcome of a permission check (Redis ACLCheckAllUserCommandPerm).
struct Permission {
  enum class Denied : uint8_t { kNone, kCommand, kKey } denied = Denied::kNone;
  std::string object;  // the command's fullname (kCommand) or the key (kKey)
};
// Checks `user` for a call of table row `spec` with `args` (RAFTKV.REQ: its wrapped command).
Permission check_permission(const CompiledUser& user, const CommandSpec& spec,
                            std::span<const std::string> args);
// Redis 7.0's -NOPERM texts (without '-') and ACL DRYRUN's.
std::string noperm_error(const Permission& permission);
std::string dryrun_denial(const Permission& permission);

// Redis connIsLocal: the client address ("ip:port", "[v6]:port") is on the loopback interface.
bool is_loopback_client(std::string_view remote_addr);
// Redis 7.0's protected-mode refusal, as sent (with "-" and CRLF).
std::string_view protected_mode_refusal();

}  // namespace raftkv::frontend
