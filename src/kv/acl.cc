// The ACL rule language (see acl.h for the rules and where they come from).
#include "kv/acl.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/hmac.h"
#include "kv/glob.h"

namespace raftkv::kv::acl {
namespace {

// Redis 7.0's reasons (ACLSetUserStringError), by the errno Redis sets.
constexpr std::string_view kUnknownName = "Unknown command or category name in ACL";  // ENOENT
constexpr std::string_view kSyntaxError = "Syntax error";                             // EINVAL
constexpr std::string_view kPatternAfterAllKeys =                                     // EEXIST
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
    "any effect. Try 'resetkeys' to start with an empty list of patterns";
constexpr std::string_view kPatternAfterAllChannels =  // EISDIR
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
    "have any effect. Try 'resetchannels' to start with an empty list of channels";
constexpr std::string_view kNoSuchPassword =  // ENODEV
    "The password you are trying to remove from the user does not exist";
constexpr std::string_view kBadHash =  // EBADMSG
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
    "characters";
constexpr std::string_view kSelectorsUnsupported = "Selectors are not supported";

constexpr size_t kHashHexChars = 64;

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Redis ACLStringHasSpaces: isspace() or NUL anywhere.
bool has_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  });
}

bool valid_hash(std::string_view hex) {
  return hex.size() == kHashHexChars && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

void add_unique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

// ACLUpdateCommandRules: the new rule replaces every earlier rule on the same target and, for a
// command, on its subcommands; it goes last.
void update_command_rules(User& user, bool allow, std::string target) {
  std::erase_if(user.commands, [&](const CommandRule& rule) {
    return rule.target == target ||
           (rule.target.size() > target.size() && rule.target.starts_with(target) &&
            rule.target[target.size()] == '|');
  });
  user.commands.push_back(CommandRule{allow, std::move(target)});
}

std::optional<std::string> apply_key_pattern(User& user, std::string_view rule) {
  if (user.all_keys) return std::string(kPatternAfterAllKeys);
  uint8_t permissions = kKeyReadWrite;
  size_t offset = 1;
  if (rule[0] == '%') {
    permissions = 0;
    bool tilde = false;
    for (; offset < rule.size(); ++offset) {
      const char c = ascii_lower(rule[offset]);
      if (c == 'r' && (permissions & kKeyRead) == 0) {
        permissions |= kKeyRead;
      } else if (c == 'w' && (permissions & kKeyWrite) == 0) {
        permissions |= kKeyWrite;
      } else if (c == '~') {
        tilde = true;
        ++offset;
        break;
      } else {
        return std::string(kSyntaxError);
      }
    }
    if (permissions == 0 || !tilde) return std::string(kSyntaxError);
  }
  const std::string_view pattern = rule.substr(offset);
  if (has_space(pattern)) return std::string(kSyntaxError);
  if (pattern == "*" && permissions == kKeyReadWrite) {
    user.all_keys = true;
    user.keys.clear();
    return std::nullopt;
  }
  for (KeyPattern& existing : user.keys) {
    if (existing.pattern == pattern) {  // Redis merges the permissions of a repeated pattern
      existing.permissions |= permissions;
      return std::nullopt;
    }
  }
  user.keys.push_back(KeyPattern{std::string(pattern), permissions});
  return std::nullopt;
}

std::optional<std::string> apply_command_rule(User& user, std::string_view rule,
                                              const CommandNames* names) {
  const bool allow = rule[0] == '+';
  std::string target = lowercase(rule.substr(1));
  if (target == "@all") {
    user.all_commands = allow;
    user.commands.clear();
    return std::nullopt;
  }
  if (target.starts_with('@')) {
    if (category_bit(std::string_view(target).substr(1)) == 0) return std::string(kUnknownName);
  } else if (names != nullptr) {
    if (auto error = names->check(target, allow)) return error;
  }
  update_command_rules(user, allow, std::move(target));
  return std::nullopt;
}

void reset_user(User& user) {
  const User fresh = new_user();
  user = fresh;
  user.sanitize = User::Sanitize::kSanitize;  // Redis's reset sets sanitize-payload
}

}  // namespace

uint32_t category_bit(std::string_view name) {
  for (size_t i = 0; i < std::size(kCategories); ++i) {
    if (iequals(kCategories[i], name)) return uint32_t{1} << i;
  }
  return 0;
}

User new_user() {
  return User{};
}

std::optional<std::string> User::apply(std::string_view rule, const CommandNames* names) {
  if (rule.empty()) return std::nullopt;  // Redis accepts an empty rule and does nothing
  User next = *this;
  std::optional<std::string> error;
  if (iequals(rule, "on")) {
    next.enabled = true;
  } else if (iequals(rule, "off")) {
    next.enabled = false;
  } else if (iequals(rule, "nopass")) {
    next.nopass = true;
    next.passwords.clear();
  } else if (iequals(rule, "resetpass")) {
    next.nopass = false;
    next.passwords.clear();
  } else if (iequals(rule, "allkeys")) {
    next.all_keys = true;
    next.keys.clear();
  } else if (iequals(rule, "resetkeys")) {
    next.all_keys = false;
    next.keys.clear();
  } else if (iequals(rule, "allchannels")) {
    next.all_channels = true;
    next.channels.clear();
  } else if (iequals(rule, "resetchannels")) {
    next.all_channels = false;
    next.channels.clear();
  } else if (iequals(rule, "allcommands")) {
    next.all_commands = true;
    next.commands.clear();
  } else if (iequals(rule, "nocommands")) {
    next.all_commands = false;
    next.commands.clear();
  } else if (iequals(rule, "reset")) {
    reset_user(next);
  } else if (iequals(rule, "sanitize-payload")) {
    next.sanitize = Sanitize::kSanitize;
  } else if (iequals(rule, "skip-sanitize-payload")) {
    next.sanitize = Sanitize::kSkip;
  } else if (iequals(rule, "clearselectors")) {
    // There are no selectors: nothing to clear.
  } else if (rule[0] == '>' || rule[0] == '#') {
    std::string digest;
    if (rule[0] == '>') {
      digest = sha256_hex(rule.substr(1));
    } else if (!valid_hash(rule.substr(1))) {
      error = std::string(kBadHash);
    } else {
      digest = std::string(rule.substr(1));
    }
    if (!error) {
      add_unique(next.passwords, std::move(digest));
      next.nopass = false;
    }
  } else if (rule[0] == '<' || rule[0] == '!') {
    std::string digest;
    if (rule[0] == '<') {
      digest = sha256_hex(rule.substr(1));
    } else if (!valid_hash(rule.substr(1))) {
      error = std::string(kBadHash);
    } else {
      digest = std::string(rule.substr(1));
    }
    if (!error) {
      const auto it = std::find(next.passwords.begin(), next.passwords.end(), digest);
      if (it == next.passwords.end()) {
        error = std::string(kNoSuchPassword);
      } else {
        next.passwords.erase(it);
      }
    }
  } else if (rule[0] == '~' || rule[0] == '%') {
    error = apply_key_pattern(next, rule);
  } else if (rule[0] == '&') {
    const std::string_view pattern = rule.substr(1);
    if (next.all_channels) {
      error = std::string(kPatternAfterAllChannels);
    } else if (pattern == "*") {
      next.all_channels = true;
      next.channels.clear();
    } else if (has_space(pattern)) {
      error = std::string(kSyntaxError);
    } else {
      add_unique(next.channels, std::string(pattern));
    }
  } else if (rule[0] == '+' || rule[0] == '-') {
    error = apply_command_rule(next, rule, names);
  } else if (rule[0] == '(') {
    error = std::string(kSelectorsUnsupported);
  } else {
    error = std::string(kSyntaxError);
  }
  if (error) return error;
  *this = std::move(next);
  return std::nullopt;
}

std::vector<std::string> User::flag_names() const {
  std::vector<std::string> out;
  out.emplace_back(enabled ? "on" : "off");
  if (nopass) out.emplace_back("nopass");
  if (sanitize == Sanitize::kSkip) out.emplace_back("skip-sanitize-payload");
  if (sanitize == Sanitize::kSanitize) out.emplace_back("sanitize-payload");
  return out;
}

std::string User::describe_commands() const {
  std::string out = all_commands ? "+@all" : "-@all";
  for (const CommandRule& rule : commands) {
    out += rule.allow ? " +" : " -";
    out += rule.target;
  }
  return out;
}

std::string User::describe_keys() const {
  if (all_keys) return "~*";
  std::string out;
  for (const KeyPattern& key : keys) {
    if (!out.empty()) out += ' ';
    out += key.permissions == kKeyRead ? "%R~" : key.permissions == kKeyWrite ? "%W~" : "~";
    out += key.pattern;
  }
  return out;
}

std::string User::describe_channels() const {
  if (all_channels) return "&*";
  std::string out;
  for (const std::string& channel : channels) {
    if (!out.empty()) out += ' ';
    out += '&';
    out += channel;
  }
  return out;
}

std::string User::describe() const {
  std::string out;
  for (const std::string& flag : flag_names()) out += flag + ' ';
  for (const std::string& digest : passwords) out += '#' + digest + ' ';
  if (const std::string keys_text = describe_keys(); !keys_text.empty()) out += keys_text + ' ';
  if (!all_channels) out += "resetchannels ";
  if (const std::string channels_text = describe_channels(); !channels_text.empty())
    out += channels_text + ' ';
  out += describe_commands();
  return out;
}

bool User::password_matches(std::string_view cleartext) const {
  if (nopass) return true;
  const std::string digest = sha256_hex(cleartext);
  bool match = false;
  for (const std::string& stored : passwords) {  // time independent of where they differ
    match |= constant_time_equal(stored, digest);
  }
  return match;
}

bool User::may_run(std::string_view fullname, uint32_t category_mask) const {
  const size_t bar = fullname.find('|');
  const std::string_view container =
      bar == std::string_view::npos ? std::string_view() : fullname.substr(0, bar);
  bool allowed = all_commands;
  for (const CommandRule& rule : commands) {
    const std::string_view target = rule.target;
    const bool applies = target.starts_with('@')
                             ? (category_mask & category_bit(target.substr(1))) != 0
                             : target == fullname || (!container.empty() && target == container);
    if (applies) allowed = rule.allow;
  }
  return allowed;
}

bool User::may_access_key(std::string_view key, uint8_t needed) const {
  if (all_keys) return true;
  return std::any_of(keys.begin(), keys.end(), [&](const KeyPattern& pattern) {
    return (pattern.permissions & needed) == needed && glob_match(pattern.pattern, key);
  });
}

std::optional<std::string> apply_rules(User& user, std::span<const std::string_view> rules,
                                       const CommandNames* names) {
  // Redis first joins "(...)" selector arguments spread over several rules, then applies.
  std::vector<std::string> merged;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (!rules[i].starts_with('(') || rules[i].ends_with(')')) {
      merged.emplace_back(rules[i]);
      continue;
    }
    std::string selector(rules[i]);
    size_t j = i + 1;
    for (; j < rules.size(); ++j) {
      selector += ' ';
      selector += rules[j];
      if (rules[j].ends_with(')')) break;
    }
    if (j == rules.size()) {
      return fmt::format("Unmatched parenthesis in acl selector starting at '{}'.", rules[i]);
    }
    merged.push_back(std::move(selector));
    i = j;
  }
  User next = user;
  for (const std::string& rule : merged) {
    if (auto reason = next.apply(rule, names)) {
      return fmt::format("Error in ACL SETUSER modifier '{}': {}", rule, *reason);
    }
  }
  user = std::move(next);
  return std::nullopt;
}

std::optional<std::string> apply_rules(User& user, std::span<const std::string> rules,
                                       const CommandNames* names) {
  const std::vector<std::string_view> views(rules.begin(), rules.end());
  return apply_rules(user, views, names);
}

std::vector<std::string_view> split_rules(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find(' ', pos), text.size());
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool valid_user_name(std::string_view name) {
  return !has_space(name);
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const int ok =
      EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  RAFTKV_ASSERT(ok == 1 && length == 32, "OpenSSL SHA-256 failed");
  return raftkv::to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

std::string random_hex(uint32_t bits) {
  std::string hex = raftkv::to_hex(random_bytes((bits + 7) / 8));
  hex.resize((bits + 3) / 4);
  return hex;
}

}  // namespace raftkv::kv::acl
