// The ACL catalog of the command table (see acl_catalog.h).
#include "frontend/acl_catalog.h"

#include <algorithm>
#include <array>

namespace raftkv::frontend::acl {
namespace {

constexpr uint32_t kAdminSlow = kAdmin | kSlow | kDangerous;
constexpr uint32_t kConnFast = kFast | kConnection;
constexpr uint32_t kConnSlow = kSlow | kConnection;
constexpr uint32_t kReadString = kRead | kString | kFast;
constexpr uint32_t kWriteStringFast = kWrite | kString | kFast;

using K = KeyAccess;

// Sorted by fullname. Redis 7.0.15's COMMAND INFO, plus raftkv's own commands (admin).
constexpr std::array kCatalog = {
    CatalogEntry{"acl", -2, kSlow, K::kAny, false},
    CatalogEntry{"acl|cat", -2, kSlow, K::kAny, false},
    CatalogEntry{"acl|deluser", -3, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|dryrun", -4, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|genpass", -2, kSlow, K::kAny, false},
    CatalogEntry{"acl|getuser", 3, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|help", 2, kSlow, K::kAny, false},
    CatalogEntry{"acl|list", 2, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|log", -2, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|setuser", -3, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|users", 2, kAdminSlow, K::kAny, false},
    CatalogEntry{"acl|whoami", 2, kSlow, K::kAny, false},
    CatalogEntry{"append", 3, kWriteStringFast, K::kWrite, false},
    CatalogEntry{"auth", -2, kConnFast, K::kAny, true},
    CatalogEntry{"client", -2, kSlow, K::kAny, false},
    CatalogEntry{"client|getname", 2, kConnSlow, K::kAny, false},
    CatalogEntry{"client|help", 2, kConnSlow, K::kAny, false},
    CatalogEntry{"client|id", 2, kConnSlow, K::kAny, false},
    CatalogEntry{"client|info", 2, kConnSlow, K::kAny, false},
    CatalogEntry{"client|list", -2, kAdminSlow | kConnection, K::kAny, false},
    CatalogEntry{"client|setinfo", 4, kConnSlow, K::kAny, false},
    CatalogEntry{"client|setname", 3, kConnSlow, K::kAny, false},
    CatalogEntry{"cluster", -2, kSlow, K::kAny, false},
    CatalogEntry{"cluster|help", 2, kSlow, K::kAny, false},
    CatalogEntry{"cluster|info", 2, kSlow, K::kAny, false},
    CatalogEntry{"cluster|keyslot", 3, kSlow, K::kAny, false},
    CatalogEntry{"cluster|myid", 2, kSlow, K::kAny, false},
    CatalogEntry{"cluster|nodes", 2, kSlow, K::kAny, false},
    CatalogEntry{"cluster|shards", 2, kSlow, K::kAny, false},
    CatalogEntry{"cluster|slots", 2, kSlow, K::kAny, false},
    CatalogEntry{"command", -1, kConnSlow, K::kAny, false},
    CatalogEntry{"command|count", 2, kConnSlow, K::kAny, false},
    CatalogEntry{"command|docs", -2, kConnSlow, K::kAny, false},
    CatalogEntry{"command|help", 2, kConnSlow, K::kAny, false},
    CatalogEntry{"command|info", -2, kConnSlow, K::kAny, false},
    CatalogEntry{"command|list", -2, kConnSlow, K::kAny, false},
    CatalogEntry{"dbsize", 1, kKeyspace | kRead | kFast, K::kAny, false},
    CatalogEntry{"decr", 2, kWriteStringFast, K::kReadWrite, false},
    CatalogEntry{"decrby", 3, kWriteStringFast, K::kReadWrite, false},
    CatalogEntry{"del", -2, kKeyspace | kWrite | kSlow, K::kWrite, false},
    CatalogEntry{"echo", 2, kConnFast, K::kAny, false},
    CatalogEntry{"exists", -2, kKeyspace | kRead | kFast, K::kAny, false},
    CatalogEntry{"get", 2, kReadString, K::kRead, false},
    CatalogEntry{"getdel", 2, kWriteStringFast, K::kReadWrite, false},
    CatalogEntry{"hello", -1, kConnFast, K::kAny, true},
    CatalogEntry{"incr", 2, kWriteStringFast, K::kReadWrite, false},
    CatalogEntry{"incrby", 3, kWriteStringFast, K::kReadWrite, false},
    CatalogEntry{"info", -1, kSlow | kDangerous, K::kAny, false},
    CatalogEntry{"mget", -2, kReadString, K::kRead, false},
    CatalogEntry{"mset", -3, kWrite | kString | kSlow, K::kWrite, false},
    CatalogEntry{"ping", -1, kConnFast, K::kAny, false},
    CatalogEntry{"quit", -1, kConnFast, K::kAny, true},
    // raftkv's own: the state digest of every key, membership changes, leadership transfer.
    CatalogEntry{"raftkv.digest", 1, kAdminSlow, K::kAny, false},
    CatalogEntry{"raftkv.member", -2, kAdminSlow, K::kAny, false},
    // Runs before authentication, as AUTH does: it is an authentication.
    CatalogEntry{"raftkv.nodeauth", -2, kConnFast, K::kAny, true},
    CatalogEntry{"raftkv.tls", 2, kAdminSlow, K::kAny, false},
    CatalogEntry{"raftkv.transfer", 2, kAdminSlow, K::kAny, false},
    CatalogEntry{"readonly", 1, kConnFast, K::kAny, false},
    CatalogEntry{"readwrite", 1, kConnFast, K::kAny, false},
    CatalogEntry{"role", 1, kAdmin | kFast | kDangerous, K::kAny, false},
    CatalogEntry{"scan", -2, kKeyspace | kRead | kSlow, K::kAny, false},
    CatalogEntry{"select", 2, kConnFast, K::kAny, false},
    CatalogEntry{"set", -3, kWrite | kString | kSlow, K::kWriteOrReadWrite, false},
    CatalogEntry{"setnx", 3, kWriteStringFast, K::kWrite, false},
    CatalogEntry{"strlen", 2, kRead | kString | kFast, K::kAny, false},
};

constexpr std::string_view kContainers[] = {"acl", "client", "cluster", "command"};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

constexpr std::string_view kUnknownName = "Unknown command or category name in ACL";

}  // namespace

std::span<const CatalogEntry> catalog() {
  return kCatalog;
}

const CatalogEntry* find_entry(std::string_view fullname) {
  const auto it = std::lower_bound(
      kCatalog.begin(), kCatalog.end(), fullname,
      [](const CatalogEntry& entry, std::string_view name) { return entry.fullname < name; });
  return it != kCatalog.end() && it->fullname == fullname ? &*it : nullptr;
}

bool is_container(std::string_view name) {
  return std::find(std::begin(kContainers), std::end(kContainers), name) != std::end(kContainers);
}

Resolved resolve(std::string_view table_name, std::span<const std::string> args) {
  if (is_container(table_name) && args.size() >= 2) {
    // A subcommand name longer than any known one is unknown (and not lowercased).
    if (args[1].size() > 32) return {Resolved::Kind::kUnknownSubcommand, nullptr};
    const std::string fullname = std::string(table_name) + "|" + lowercase(args[1]);
    const CatalogEntry* entry = find_entry(fullname);
    if (entry == nullptr) return {Resolved::Kind::kUnknownSubcommand, nullptr};
    return {Resolved::Kind::kEntry, entry};
  }
  const CatalogEntry* entry = find_entry(table_name);
  if (entry == nullptr) return {Resolved::Kind::kNotInCatalog, nullptr};
  return {Resolved::Kind::kEntry, entry};
}

uint8_t key_permissions(const CatalogEntry& entry, std::span<const std::string> args) {
  if (entry.keys != KeyAccess::kWriteOrReadWrite) return static_cast<uint8_t>(entry.keys);
  // Redis setGetKeys: a GET among the options (after key and value) reads the old value.
  for (size_t i = 3; i < args.size(); ++i) {
    if (args[i].size() == 3 && lowercase(args[i]) == "get") return kv::acl::kKeyReadWrite;
  }
  return kv::acl::kKeyWrite;
}

std::vector<std::string_view> commands_in(uint32_t category_mask) {
  std::vector<std::string_view> out;
  for (const CatalogEntry& entry : kCatalog) {
    if ((entry.categories & category_mask) != 0) out.push_back(entry.fullname);
  }
  return out;
}

std::optional<std::string> CatalogNames::check(std::string_view target, bool allow) const {
  const size_t bar = target.find('|');
  if (bar == std::string_view::npos) {
    if (find_entry(target) == nullptr) return std::string(kUnknownName);
    return std::nullopt;
  }
  const std::string_view command = target.substr(0, bar);
  const std::string_view sub = target.substr(bar + 1);
  if (find_entry(command) == nullptr) return std::string(kUnknownName);
  if (!allow) {  // -cmd|sub names a subcommand exactly
    if (find_entry(target) == nullptr) return std::string(kUnknownName);
    return std::nullopt;
  }
  if (sub.empty()) return std::string("Syntax error");
  if (!is_container(command)) {
    // Redis 7 still accepts +select|0 (a deprecated "first-arg" rule); raftkv does not.
    return std::string(
        "Allowing first-arg of a command without subcommands is not supported (deprecated in "
        "Redis)");
  }
  if (sub.find('|') != std::string_view::npos) {
    return std::string("Allowing first-arg of a subcommand is not supported");
  }
  if (find_entry(target) == nullptr) return std::string(kUnknownName);
  return std::nullopt;
}

const CatalogNames& catalog_names() {
  static const CatalogNames names;
  return names;
}

}  // namespace raftkv::frontend::acl
