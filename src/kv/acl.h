// The ACL rule language of Redis 6/7 (ACL SETUSER) and the users it describes.
//
// A user has: a state (on/off; a new user is off), passwords stored as SHA-256 digests in
// lowercase hex (or nopass: any password is accepted), key patterns each with read and/or write
// permission (~p = both, %R~p, %W~p, %RW~p), channel patterns (&p; accepted and shown, there is
// no pub/sub here), and command permissions: a base (+@all or -@all) followed by rules
// (+cmd, -cmd, +cmd|sub, -cmd|sub, +@category, -@category) applied in order.
//
// Rules (Redis 7, acl.c ACLSetUser; errors worded as Redis 7.0 words them):
//   on, off                 enable / disable the user (connections already authenticated as a
//                           disabled user keep working, as in Redis)
//   >pass, <pass            add / remove the SHA-256 of a cleartext password (>pass clears nopass;
//                           removing an absent one is an error)
//   #hash, !hash            add / remove a digest given as 64 lowercase hex characters
//   nopass, resetpass       accept any password and drop the digests / drop both
//   ~p, %R~p, %W~p, allkeys, resetkeys     key patterns ("~*" and allkeys = every key; a pattern
//                           after it is an error until resetkeys; the same pattern twice merges
//                           its permissions)
//   &p, allchannels, resetchannels         channel patterns, likewise
//   +cmd, -cmd, +cmd|sub, -cmd|sub, +@cat, -@cat, allcommands (= +@all), nocommands (= -@all)
//   reset                   resetpass resetkeys resetchannels off sanitize-payload -@all
//   sanitize-payload, skip-sanitize-payload, clearselectors: accepted (no effect here)
// Command rules are kept as Redis 7.2 keeps them (ACLUpdateCommandRules): in the order given,
// lowercased, each target once — a rule replaces earlier rules on the same command or category
// (and on that command's subcommands); +@all / -@all clear them. A command's permission is the
// base, then every rule that names it, its container command or one of its categories, in
// order: exactly what Redis's per-command bitmap holds. Not supported (an error): selectors
// "(...)" and first-argument rules on commands without subcommands (+select|0, deprecated in
// Redis).
//
// Pure and deterministic: the replicated ACL state (acl_state.h) is built from these.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::kv::acl {

inline constexpr std::string_view kDefaultUserName = "default";
// Redis's default user, as ACL LIST shows it: "user default on nopass ~* &* +@all".
inline constexpr std::string_view kDefaultUserRules = "on nopass ~* &* +@all";

// Redis 7's command categories, in ACL CAT order; bit i of a category mask is kCategories[i].
inline constexpr std::string_view kCategories[] = {
    "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
    "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting",
};
// The category's bit, or 0 when unknown. Case-insensitive.
uint32_t category_bit(std::string_view name);

enum KeyPermission : uint8_t { kKeyRead = 1, kKeyWrite = 2, kKeyReadWrite = 3 };

struct KeyPattern {
  std::string pattern;
  uint8_t permissions = kKeyReadWrite;  // KeyPermission bits, never 0
  bool operator==(const KeyPattern&) const = default;
};

struct CommandRule {
  bool allow = false;
  std::string target;  // lowercase: "get", "client|id", or "@read"
  bool operator==(const CommandRule&) const = default;
};

// Checks command names in rules against the commands a server knows (the frontend's catalog).
// The state machine applies rules without one: names were checked before the entry was
// proposed, and the replicated state must not depend on which commands a binary knows.
class CommandNames {
 public:
  virtual ~CommandNames() = default;
  // nullopt when `target` (lowercase "cmd" or "cmd|sub", no category) may follow '+' (allow) or
  // '-'; otherwise Redis's reason, e.g. "Unknown command or category name in ACL".
  virtual std::optional<std::string> check(std::string_view target, bool allow) const = 0;
};

struct User {
  enum class Sanitize : uint8_t { kUnset, kSanitize, kSkip };

  bool enabled = false;
  bool nopass = false;
  Sanitize sanitize = Sanitize::kUnset;
  // SHA-256 digests in lowercase hex, each once, in the order added. Empty when nopass.
  std::vector<std::string> passwords;
  bool all_keys = false;
  std::vector<KeyPattern> keys;  // empty when all_keys; each pattern once
  bool all_channels = false;
  std::vector<std::string> channels;  // empty when all_channels; each once
  bool all_commands = false;          // the base: +@all (true) or -@all
  // Applied after the base, in order. Invariant: no rule's target equals another's, and no
  // "cmd|sub" rule precedes a "cmd" rule (the later one replaced it).
  std::vector<CommandRule> commands;

  bool operator==(const User&) const = default;

  // Applies one rule. On error returns Redis's reason ("Syntax error", ...) and leaves the user
  // unchanged. `names` may be null (no check of command names).
  std::optional<std::string> apply(std::string_view rule, const CommandNames* names);

  // The rules that rebuild this user from new_user(), as ACL LIST shows them after the name:
  // flags, #digests, key patterns, channels, command rules ("on #5e88... ~app:* resetchannels
  // -@all +get"). apply_rules(new_user(), split(describe())) == *this.
  std::string describe() const;
  std::vector<std::string> flag_names() const;  // "on"/"off", "nopass", sanitize flag
  std::string describe_commands() const;        // "+@all" / "-@all +get +@read"
  std::string describe_keys() const;            // "~*" or "~a %R~b" ("" when none)
  std::string describe_channels() const;        // "&*" or "&a &b" ("" when none)

  // nopass, or the SHA-256 of `cleartext` is one of the digests (compared in constant time).
  // Whether the user is enabled is the caller's check.
  bool password_matches(std::string_view cleartext) const;
  // The command rules allow `fullname` ("get", "client|id"; lowercase), a command in the
  // categories of `category_mask`.
  bool may_run(std::string_view fullname, uint32_t category_mask) const;
  // Some key pattern with at least the `needed` permissions (KeyPermission bits; 0 = any
  // pattern) matches `key`.
  bool may_access_key(std::string_view key, uint8_t needed) const;
};

// A user as ACL SETUSER creates it: off, no password, no keys, resetchannels, -@all.
User new_user();

// ACL SETUSER's rules, applied in order to a copy of `user` that replaces it only if every rule
// applied (Redis: all or nothing). Returns the error reply text without "ERR " ("Error in ACL
// SETUSER modifier '<rule>': <reason>"), or nullopt.
std::optional<std::string> apply_rules(User& user, std::span<const std::string_view> rules,
                                       const CommandNames* names);
std::optional<std::string> apply_rules(User& user, std::span<const std::string> rules,
                                       const CommandNames* names);

// Splits describe() output (rules never contain spaces) back into rules.
std::vector<std::string_view> split_rules(std::string_view text);

// Redis: a user name may not contain whitespace or NUL.
bool valid_user_name(std::string_view name);

// SHA-256 of `data` in lowercase hex (OpenSSL EVP).
std::string sha256_hex(std::string_view data);
// Cryptographically random bytes as lowercase hex: ACL GENPASS (ceil(bits / 4) characters).
std::string random_hex(uint32_t bits);

}  // namespace raftkv::kv::acl
