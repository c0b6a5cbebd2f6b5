// What ACLs know about each command of the table (command_dispatcher.cc): its Redis 7 ACL
// categories, how its keys are accessed, and its subcommands.
//
// Categories and key access are Redis 7.0's (COMMAND INFO of redis-server 7.0.15; key access
// from each command's key specs: ACCESS → read, INSERT/DELETE/UPDATE → write, neither → any
// pattern matches, as ACLSelectorCheckKey reads them). Container commands (CLIENT, CLUSTER,
// COMMAND, ACL) have an entry per subcommand ("client|id"), checked by itself: +client allows
// every subcommand, +client|id only that one; the container's own entry (@slow) is what runs
// for COMMAND without a subcommand. RAFTKV.REQ has no entry: it is checked as the command it
// wraps (a session is not a permission).
//
// Every row of the command table must have an entry (a test checks it); a row without one is
// allowed only to users whose rules allow every command (+@all with no later rule against it).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv/acl.h"

namespace raftkv::frontend::acl {

// Category bits (kv::acl::kCategories order; a test checks they agree).
enum Category : uint32_t {
  kKeyspace = 1u << 0,
  kRead = 1u << 1,
  kWrite = 1u << 2,
  kString = 1u << 7,
  kAdmin = 1u << 13,
  kFast = 1u << 14,
  kSlow = 1u << 15,
  kDangerous = 1u << 17,
  kConnection = 1u << 18,
};

// The permissions a key pattern needs for the command's keys (kv::acl::KeyPermission bits).
enum class KeyAccess : uint8_t {
  kAny = 0,           // RO without ACCESS (EXISTS, STRLEN): any pattern that matches
  kRead = 1,          // GET MGET
  kWrite = 2,         // SETNX DEL APPEND MSET
  kReadWrite = 3,     // INCR DECR GETDEL
  kWriteOrReadWrite,  // SET: write, read and write with the GET option
};

struct CatalogEntry {
  std::string_view fullname;  // lowercase: "get", "client|id"
  int arity;                  // Redis arity (subcommands: counting the container and the name)
  uint32_t categories;        // Category bits
  KeyAccess keys;
  bool no_auth;  // AUTH HELLO QUIT: allowed before authentication and to every user
};

// Sorted by fullname (a test checks it).
std::span<const CatalogEntry> catalog();
// Lowercase exact lookup of a fullname; nullptr when unknown.
const CatalogEntry* find_entry(std::string_view fullname);
// CLIENT, CLUSTER, COMMAND, ACL (lowercase names).
bool is_container(std::string_view name);

// The entry a call of the table row `name` with `args` runs as. kUnknownSubcommand: the
// container has no such subcommand (Redis answers "unknown subcommand"); kNotInCatalog: the row
// has no entry.
struct Resolved {
  enum class Kind : uint8_t { kEntry, kUnknownSubcommand, kNotInCatalog } kind;
  const CatalogEntry* entry = nullptr;
};
Resolved resolve(std::string_view table_name, std::span<const std::string> args);

// The permissions needed on the keys of this call (kAny for KeyAccess::kAny).
uint8_t key_permissions(const CatalogEntry& entry, std::span<const std::string> args);

// ACL CAT <category>: the fullnames of the catalog's commands in it, in catalog order.
std::vector<std::string_view> commands_in(uint32_t category_mask);

// The check of command names in ACL rules (kv::acl::CommandNames), as Redis 7.0 answers.
class CatalogNames final : public kv::acl::CommandNames {
 public:
  std::optional<std::string> check(std::string_view target, bool allow) const override;
};
const CatalogNames& catalog_names();

}  // namespace raftkv::frontend::acl
