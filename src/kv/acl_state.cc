// The replicated ACL state and its publication (see acl_state.h).
#include "kv/acl_state.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"
#include "kv/value_codec.h"

namespace raftkv::kv::acl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

std::optional<User> user_from_rules(std::string_view rules) {
  User user = new_user();
  const std::vector<std::string_view> parts = split_rules(rules);
  if (apply_rules(user, parts, nullptr)) return std::nullopt;
  return user;
}

}  // namespace

bool is_entry_command(std::string_view name) {
  return iequals(name, kEntryCommand);
}

std::string seed_rules_for_password(std::string_view requirepass) {
  if (requirepass.empty()) return std::string(kDefaultUserRules);
  return fmt::format("on #{} ~* &* +@all", sha256_hex(requirepass));
}

bool valid_seed(std::string_view rules) {
  return user_from_rules(rules).has_value();
}

AclState AclState::seeded(std::string_view rules) {
  auto user = user_from_rules(rules);
  RAFTKV_ASSERT(user.has_value(), "invalid ACL seed rules '{}'", rules);
  AclState state;
  state.users_.emplace(std::string(kDefaultUserName), AclUser{std::move(*user), 0});
  return state;
}

const AclUser* AclState::find(std::string_view name) const {
  const auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

Reply AclState::apply_entry(std::span<const std::string_view> args, uint64_t index,
                            std::vector<std::string>& changed) {
  if (args.size() < 4) {
    return Reply::error(
        fmt::format("ERR wrong number of arguments for '{}' command", kEntryCommand));
  }
  const std::string_view seed = args[1];
  const std::string_view op = args[2];
  AclState next;
  std::vector<std::string> names;
  if (set_) {
    next = *this;
  } else {
    if (!valid_seed(seed)) {
      return Reply::error(fmt::format("ERR invalid default user rules in ACL entry: '{}'", seed));
    }
    next = seeded(seed);
    next.set_ = true;
    names.emplace_back(kDefaultUserName);  // the default user's first record
  }
  Reply reply;
  if (iequals(op, "setuser")) {
    const std::string_view name = args[3];
    if (!valid_user_name(name)) {
      return Reply::error("ERR Usernames can't contain spaces or null characters");
    }
    const AclUser* existing = next.find(name);
    AclUser user = existing != nullptr ? *existing : AclUser{new_user(), index};
    if (auto error = apply_rules(user.user, args.subspan(4), nullptr)) {
      return Reply::error("ERR " + *error);
    }
    next.users_.insert_or_assign(std::string(name), std::move(user));
    names.emplace_back(name);
    reply = Reply::ok();
  } else if (iequals(op, "deluser")) {
    const auto targets = args.subspan(3);
    if (std::find(targets.begin(), targets.end(), kDefaultUserName) != targets.end()) {
      return Reply::error("ERR The 'default' user cannot be removed");
    }
    int64_t deleted = 0;
    for (const std::string_view name : targets) {
      if (const auto it = next.users_.find(name); it != next.users_.end()) {
        next.users_.erase(it);
        names.emplace_back(name);
        ++deleted;
      }
    }
    reply = Reply::integer_reply(deleted);
  } else {
    return Reply::error(fmt::format("ERR unknown {} operation '{}'", kEntryCommand, op));
  }
  *this = std::move(next);
  changed.insert(changed.end(), names.begin(), names.end());
  return reply;
}

std::string AclState::record_key(std::string_view name) {
  std::string key(1, kRecordPrefix);
  key.append(name);
  return key;
}

std::string AclState::record_value(const AclUser& user) const {
  std::string value;
  append_u64_be(value, user.generation);
  value += user.user.describe();
  return value;
}

Status AclState::load_record(std::string_view key, std::string_view value) {
  if (key.empty() || key[0] != kRecordPrefix || value.size() < 8 ||
      !valid_user_name(key.substr(1))) {
    return Status(ErrorCode::kCorruption, "ACL user record unreadable");
  }
  const std::string_view name = key.substr(1);
  const std::string_view rules = value.substr(8);
  auto user = user_from_rules(rules);
  if (!user || user->describe() != rules) {
    return Status(ErrorCode::kCorruption,
                  fmt::format("ACL record of user '{}' does not decode: '{}'", name, rules));
  }
  users_.insert_or_assign(std::string(name), AclUser{std::move(*user), read_u64_be(value)});
  return Status::ok();
}

Status AclState::finish_load() {
  set_ = !users_.empty();
  if (set_ && find(kDefaultUserName) == nullptr) {
    return Status(ErrorCode::kCorruption, "ACL records without the 'default' user");
  }
  return Status::ok();
}

AclPublisher::AclPublisher(std::string seed_rules)
    : seed_rules_(std::move(seed_rules)),
      seed_state_(std::make_shared<const AclState>(AclState::seeded(seed_rules_))),
      current_(seed_state_) {}

PublishedAcl AclPublisher::current() const {
  std::lock_guard lock(mu_);
  return PublishedAcl{current_, version_.load(std::memory_order_relaxed)};
}

void AclPublisher::publish(const AclState& state) {
  std::shared_ptr<const AclState> next =
      state.is_set() ? std::make_shared<const AclState>(state) : seed_state_;
  std::lock_guard lock(mu_);
  current_ = std::move(next);
  version_.fetch_add(1, std::memory_order_release);
}

}  // namespace raftkv::kv::acl
