// The replicated ACL: the users every node enforces, changed only by committed log entries, so
// that every replica holds the same users at the same applied index (beyond Redis, where ACLs
// are per-node files).
//
// Entries: normal entries whose request is
//   RAFTKV.ACL <seed> SETUSER <name> <rule>...   → +OK, or the error of ACL SETUSER
//   RAFTKV.ACL <seed> DELUSER <name>...          → :count of users deleted
// The frontend proposes them for ACL SETUSER / DELUSER once it has checked the rules against its
// command catalog, and with every cleartext password (>p, <p) replaced by its digest (#h, !h),
// so that no password reaches the log or a snapshot. RAFTKV.ACL is not a client command.
//
// The seed: until the first ACL entry is applied, the state is "unset" and each node enforces a
// `default` user built from its own seed rules (AclPublisher; from --requirepass:
// seed_rules_for_password). <seed> in an entry is the proposing node's seed: the first ACL
// entry applied (whether SETUSER or DELUSER) starts from a `default` user built from it, so
// every replica starts from the same one; later entries ignore it. Once set, the state stays
// set (in snapshots too) and `default` always exists (it cannot be deleted).
//
// Storage (engine meta space, hence snapshots): one record per user,
//   key   "u" + user name
//   value generation (8 bytes, big-endian) + User::describe()
// generation = the index of the entry that created the user (0 for `default` from a seed), so a
// connection authenticated as a user that was deleted and re-created under the same name is
// told apart from one authenticated as the current user.
//
// Deterministic: apply_entry() depends only on the state, the arguments and the index. Not
// thread-safe; AclPublisher hands immutable copies to other threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kv/acl.h"
#include "kv/reply.h"

namespace raftkv::kv::acl {

// The entry command (lowercase; matched case-insensitively).
inline constexpr std::string_view kEntryCommand = "raftkv.acl";
bool is_entry_command(std::string_view name);
// First byte of a user record's meta key.
inline constexpr char kRecordPrefix = 'u';

// The seed for --requirepass: Redis's default user, with that password when not empty
// ("on #<sha256> ~* &* +@all"; the password itself is not kept).
std::string seed_rules_for_password(std::string_view requirepass);
// Whether `rules` build a user (a seed must).
bool valid_seed(std::string_view rules);

struct AclUser {
  User user;
  uint64_t generation = 0;
  bool operator==(const AclUser&) const = default;
};

class AclState {
 public:
  using Users = std::map<std::string, AclUser, std::less<>>;

  // The unset state: no users.
  AclState() = default;
  // An unset state with only `default`, built from `rules` (which must be valid_seed()).
  static AclState seeded(std::string_view rules);

  bool is_set() const { return set_; }
  const Users& users() const { return users_; }
  const AclUser* find(std::string_view name) const;

  // Applies a RAFTKV.ACL entry (args[0] is the entry command) committed at `index`. Returns the
  // reply; on success appends to `changed` the names whose record must be rewritten (put when
  // the user exists afterwards, deleted otherwise). A failed entry changes nothing.
  Reply apply_entry(std::span<const std::string_view> args, uint64_t index,
                    std::vector<std::string>& changed);

  static std::string record_key(std::string_view name);
  // The record of a user of this state.
  std::string record_value(const AclUser& user) const;
  // Rebuilds the state from records (restore): add each, then finish_load(). kCorruption names
  // a record that does not decode, or a set state without `default`.
  Status load_record(std::string_view key, std::string_view value);
  Status finish_load();

  bool operator==(const AclState&) const = default;

 private:
  bool set_ = false;
  Users users_;
};

// The ACL this node enforces, handed from the apply thread to client connections. Thread-safe.
struct PublishedAcl {
  std::shared_ptr<const AclState> state;  // never null; is_set() false = the seed
  uint64_t version = 0;                   // changes with every publish()
};

class AclPublisher {
 public:
  // `seed_rules` must be valid_seed().
  explicit AclPublisher(std::string seed_rules = std::string(kDefaultUserRules));

  const std::string& seed_rules() const { return seed_rules_; }
  PublishedAcl current() const;
  // Cheap (one atomic load): compare with a PublishedAcl's version to see whether it is current.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Publishes the state machine's state: a set state as is, an unset one as the seed.
  void publish(const AclState& state);

 private:
  const std::string seed_rules_;
  const std::shared_ptr<const AclState> seed_state_;
  mutable std::mutex mu_;
  std::shared_ptr<const AclState> current_;  // guarded by mu_
  // Written under mu_ after current_; readers that load it first see a state at least as new.
  std::atomic<uint64_t> version_{1};
};

}  // namespace raftkv::kv::acl
