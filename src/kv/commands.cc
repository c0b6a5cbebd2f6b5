#include "kv/commands.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "base/assert.h"
#include "kv/glob.h"
#include "kv/value_codec.h"

namespace raftkv::kv {
namespace {

// ASCII case folding (what std::tolower does in the "C" locale, inline and locale-free).
char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

// Redis string2ll: strict decimal int64.
bool parse_int64(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    out = 0;
    return true;
  }
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative && s.size() == 1) return false;
  if (negative) i = 1;
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t magnitude = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const auto digit = static_cast<uint64_t>(s[i] - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  const uint64_t max_positive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (magnitude > max_positive + 1) return false;
    out = magnitude == max_positive + 1 ? std::numeric_limits<int64_t>::min()
                                        : -static_cast<int64_t>(magnitude);
  } else {
    if (magnitude > max_positive) return false;
    out = static_cast<int64_t>(magnitude);
  }
  return true;
}

const char kNotInteger[] = "ERR value is not an integer or out of range";
const char kSyntaxError[] = "ERR syntax error";

Reply wrong_arity(std::string_view name) {
  return Reply::error(
      fmt::format("ERR wrong number of arguments for '{}' command", lowercase(name)));
}

enum class Op : uint8_t {
  kGet,
  kMget,
  kExists,
  kStrlen,
  kScan,
  kDbsize,
  kSet,
  kSetnx,
  kDel,
  kAppend,
  kIncr,
  kDecr,
  kIncrby,
  kDecrby,
  kMset,
  kGetdel,
  kAcl,
};

struct CommandSpec {
  const char* name;
  Op op;
  CommandKind kind;
  int arity;  // > 0: exactly; < 0: at least -arity (Redis convention)
};

// SET and GET first: the most frequent commands are found with the fewest comparisons.
constexpr CommandSpec kCommands[] = {
    {"SET", Op::kSet, CommandKind::kWrite, -3},
    {"GET", Op::kGet, CommandKind::kRead, 2},
    {"MGET", Op::kMget, CommandKind::kRead, -2},
    {"EXISTS", Op::kExists, CommandKind::kRead, -2},
    {"STRLEN", Op::kStrlen, CommandKind::kRead, 2},
    {"SCAN", Op::kScan, CommandKind::kRead, -2},
    {"DBSIZE", Op::kDbsize, CommandKind::kRead, 1},
    {"SETNX", Op::kSetnx, CommandKind::kWrite, 3},
    {"DEL", Op::kDel, CommandKind::kWrite, -2},
    {"APPEND", Op::kAppend, CommandKind::kWrite, 3},
    {"INCR", Op::kIncr, CommandKind::kWrite, 2},
    {"DECR", Op::kDecr, CommandKind::kWrite, 2},
    {"INCRBY", Op::kIncrby, CommandKind::kWrite, 3},
    {"DECRBY", Op::kDecrby, CommandKind::kWrite, 3},
    {"MSET", Op::kMset, CommandKind::kWrite, -3},
    {"GETDEL", Op::kGetdel, CommandKind::kWrite, 2},
    // A replicated ACL change (acl_state.h): a write, applied by the state machine itself.
    {"RAFTKV.ACL", Op::kAcl, CommandKind::kWrite, -4},
};

const CommandSpec* find_spec(std::string_view name) {
  for (const auto& spec : kCommands) {
    if (iequals(spec.name, name)) return &spec;
  }
  return nullptr;
}

// One command's execution. `batch_` is null on the read path.
class Executor {
 public:
  Executor(const Engine& engine, WriteBatch* batch, std::span<const std::string_view> args,
           int64_t now_ms, const CommandLimits& limits)
      : engine_(engine), batch_(batch), args_(args), now_ms_(now_ms), limits_(limits) {}

  Reply run(const CommandSpec& spec) {
    switch (spec.op) {
      case Op::kGet:
        return get();
      case Op::kMget:
        return mget();
      case Op::kExists:
        return exists();
      case Op::kStrlen:
        return strlen();
      case Op::kScan:
        return scan();
      case Op::kDbsize:
        return Reply::integer_reply(static_cast<int64_t>(engine_.count(Space::kData)));
      case Op::kSet:
        return set();
      case Op::kSetnx:
        return setnx();
      case Op::kDel:
        return del();
      case Op::kAppend:
        return append();
      case Op::kIncr:
        return incr_by(1);
      case Op::kDecr:
        return incr_by(-1);
      case Op::kIncrby:
        return incrby_decrby(false);
      case Op::kDecrby:
        return incrby_decrby(true);
      case Op::kMset:
        return mset();
      case Op::kGetdel:
        return getdel();
      case Op::kAcl:  // StateMachine::apply() takes these before they get here
        return Reply::error("ERR RAFTKV.ACL is applied by the state machine's ACL, not executed");
    }
    RAFTKV_FATAL("command {} in the table but not dispatched", spec.name);
  }

 private:
  // The live value of `key`, or nullopt when absent or expired (an expired key is deleted by
  // write commands).
  std::optional<StoredValue> lookup(std::string_view key) {
    std::optional<StoredValue> stored;
    const bool found = engine_.read(Space::kData, key, [&](std::string_view bytes) {
      stored = decode_stored_value(bytes);  // one copy of the value, straight from the engine
    });
    if (!found) return std::nullopt;
    RAFTKV_ASSERT(stored.has_value(), "corrupt stored value for a key of {} bytes", key.size());
    if (stored->expired_at(now_ms_)) {
      if (batch_ != nullptr) batch_->del(Space::kData, key);
      return std::nullopt;
    }
    return stored;
  }

  void put(std::string_view key, std::string_view value, std::optional<int64_t> expire_at_ms) {
    append_stored_value(batch_->put_value(Space::kData, key), value, expire_at_ms);
  }

  bool too_large(size_t bytes) const { return bytes > limits_.max_value_bytes; }

  Reply get() {
    auto v = lookup(args_[1]);
    return v ? Reply::bulk(std::move(v->value)) : Reply::null();
  }

  Reply mget() {
    std::vector<Reply> out;
    out.reserve(args_.size() - 1);
    for (size_t i = 1; i < args_.size(); ++i) {
      auto v = lookup(args_[i]);
      out.push_back(v ? Reply::bulk(std::move(v->value)) : Reply::null());
    }
    return Reply::array(std::move(out));
  }

  Reply exists() {
    int64_t n = 0;
    for (size_t i = 1; i < args_.size(); ++i) n += lookup(args_[i]).has_value() ? 1 : 0;
    return Reply::integer_reply(n);
  }

  Reply strlen() {
    auto v = lookup(args_[1]);
    return Reply::integer_reply(v ? static_cast<int64_t>(v->value.size()) : 0);
  }

  // SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. COUNT bounds the keys examined.
  Reply scan() {
    auto start = decode_scan_cursor(args_[1]);
    if (!start) return Reply::error("ERR invalid cursor");
    std::string_view pattern = "*";
    int64_t count = 10;
    bool type_matches = true;
    for (size_t i = 2; i < args_.size(); i += 2) {
      if (i + 1 >= args_.size()) return Reply::error(kSyntaxError);
      if (iequals(args_[i], "MATCH")) {
        pattern = args_[i + 1];
      } else if (iequals(args_[i], "COUNT")) {
        if (!parse_int64(args_[i + 1], count)) return Reply::error(kNotInteger);
        if (count < 1) return Reply::error(kSyntaxError);
      } else if (iequals(args_[i], "TYPE")) {
        type_matches = iequals(args_[i + 1], "string");
      } else {
        return Reply::error(kSyntaxError);
      }
    }
    std::vector<Reply> keys;
    std::string next_key;
    int64_t examined = 0;
    const bool match_all = pattern == "*";
    engine_.scan(Space::kData, *start, [&](std::string_view key, std::string_view bytes) {
      if (examined == count) {
        next_key = key;
        return false;
      }
      ++examined;
      auto stored = decode_stored_value(bytes);
      RAFTKV_ASSERT(stored.has_value(), "corrupt stored value during SCAN");
      if (type_matches && !stored->expired_at(now_ms_) && (match_all || glob_match(pattern, key))) {
        keys.push_back(Reply::bulk(std::string(key)));
      }
      return true;
    });
    return Reply::array({Reply::bulk(encode_scan_cursor(next_key)), Reply::array(std::move(keys))});
  }

  // SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] (Redis 7 semantics).
  Reply set() {
    enum class Unit { kNone, kEx, kPx, kExAt, kPxAt };
    bool nx = false, xx = false, get_old = false, keep_ttl = false;
    Unit unit = Unit::kNone;
    std::string_view expire_arg;
    for (size_t j = 3; j < args_.size(); ++j) {
      const std::string_view opt = args_[j];
      const bool has_next = j + 1 < args_.size();
      if (iequals(opt, "NX") && !xx) {
        nx = true;
      } else if (iequals(opt, "XX") && !nx) {
        xx = true;
      } else if (iequals(opt, "GET")) {
        get_old = true;
      } else if (iequals(opt, "KEEPTTL") && unit == Unit::kNone) {
        keep_ttl = true;
      } else if (!keep_ttl && unit == Unit::kNone && has_next &&
                 (iequals(opt, "EX") || iequals(opt, "PX") || iequals(opt, "EXAT") ||
                  iequals(opt, "PXAT"))) {
        unit = iequals(opt, "EX")     ? Unit::kEx
               : iequals(opt, "PX")   ? Unit::kPx
               : iequals(opt, "EXAT") ? Unit::kExAt
                                      : Unit::kPxAt;
        expire_arg = args_[++j];
      } else {
        return Reply::error(kSyntaxError);
      }
    }
    std::optional<int64_t> expire_at_ms;
    if (unit != Unit::kNone) {
      int64_t n = 0;
      if (!parse_int64(expire_arg, n)) return Reply::error(kNotInteger);
      const bool seconds = unit == Unit::kEx || unit == Unit::kExAt;
      const Reply invalid = Reply::error("ERR invalid expire time in 'set' command");
      if (n <= 0 || (seconds && n > std::numeric_limits<int64_t>::max() / 1000)) return invalid;
      if (seconds) n *= 1000;
      if (unit == Unit::kEx || unit == Unit::kPx) {
        if (n > std::numeric_limits<int64_t>::max() - now_ms_) return invalid;
        n += now_ms_;
      }
      expire_at_ms = n;
    }
    const std::string_view key = args_[1];
    const std::string_view value = args_[2];
    if (too_large(value.size())) return value_too_large_error();
    const bool expired_at_once = expire_at_ms && *expire_at_ms <= now_ms_;
    if (!nx && !xx && !get_old && !keep_ttl && !expired_at_once) {
      // The old value cannot change the outcome: put without looking it up. (Looking up an
      // expired key would also delete it first, and delete + put leaves the same state as put.)
      put(key, value, expire_at_ms);
      return Reply::ok();
    }
    auto old = lookup(key);
    const auto old_reply = [&] { return old ? Reply::bulk(std::move(old->value)) : Reply::null(); };
    if ((nx && old) || (xx && !old)) return get_old ? old_reply() : Reply::null();
    if (expired_at_once) {
      // Already expired (EXAT/PXAT in the past): Redis deletes the key and replies as if set.
      if (old) batch_->del(Space::kData, key);
    } else {
      if (keep_ttl && old) expire_at_ms = old->expire_at_ms;
      put(key, value, expire_at_ms);
    }
    return get_old ? old_reply() : Reply::ok();
  }

  Reply setnx() {
    if (too_large(args_[2].size())) return value_too_large_error();
    if (lookup(args_[1])) return Reply::integer_reply(0);
    put(args_[1], args_[2], std::nullopt);
    return Reply::integer_reply(1);
  }

  Reply del() {
    std::set<std::string_view> deleted;  // a key named twice counts once
    int64_t n = 0;
    for (size_t i = 1; i < args_.size(); ++i) {
      if (deleted.count(args_[i]) > 0) continue;
      if (lookup(args_[i])) {
        batch_->del(Space::kData, args_[i]);
        deleted.insert(args_[i]);
        ++n;
      }
    }
    return Reply::integer_reply(n);
  }

  Reply append() {
    auto old = lookup(args_[1]);
    const size_t old_size = old ? old->value.size() : 0;
    if (too_large(old_size + args_[2].size())) return value_too_large_error();
    std::string value = old ? std::move(old->value) : std::string();
    value += args_[2];
    put(args_[1], value, old ? old->expire_at_ms : std::nullopt);  // APPEND keeps the TTL
    return Reply::integer_reply(static_cast<int64_t>(value.size()));
  }

  Reply incr_by(int64_t increment) {
    auto old = lookup(args_[1]);
    int64_t current = 0;
    if (old && !parse_int64(old->value, current)) return Reply::error(kNotInteger);
    if ((increment < 0 && current < 0 &&
         increment < std::numeric_limits<int64_t>::min() - current) ||
        (increment > 0 && current > 0 &&
         increment > std::numeric_limits<int64_t>::max() - current)) {
      return Reply::error("ERR increment or decrement would overflow");
    }
    const int64_t result = current + increment;
    put(args_[1], std::to_string(result), old ? old->expire_at_ms : std::nullopt);  // keeps TTL
    return Reply::integer_reply(result);
  }

  Reply incrby_decrby(bool decrement) {
    int64_t n = 0;
    if (!parse_int64(args_[2], n)) return Reply::error(kNotInteger);
    if (decrement) {
      if (n == std::numeric_limits<int64_t>::min()) {
        return Reply::error("ERR decrement would overflow");
      }
      n = -n;
    }
    return incr_by(n);
  }

  Reply mset() {
    if (args_.size() % 2 != 1) return wrong_arity("MSET");
    for (size_t i = 2; i < args_.size(); i += 2) {
      if (too_large(args_[i].size())) return value_too_large_error();
    }
    for (size_t i = 1; i < args_.size(); i += 2) put(args_[i], args_[i + 1], std::nullopt);
    return Reply::ok();
  }

  Reply getdel() {
    auto old = lookup(args_[1]);
    if (!old) return Reply::null();
    batch_->del(Space::kData, args_[1]);
    return Reply::bulk(std::move(old->value));
  }

  const Engine& engine_;
  WriteBatch* batch_;
  const std::span<const std::string_view> args_;
  const int64_t now_ms_;
  const CommandLimits& limits_;
};

}  // namespace

CommandKind classify_command(std::string_view name) {
  const CommandSpec* spec = find_spec(name);
  return spec == nullptr ? CommandKind::kUnknown : spec->kind;
}

Reply value_too_large_error() {
  return Reply::error("ERR string exceeds maximum allowed size");
}

std::optional<Reply> check_write_size(const std::vector<std::string>& args,
                                      const CommandLimits& limits) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i].size() > limits.max_value_bytes) return value_too_large_error();
  }
  const uint64_t bytes = max_encoded_request_bytes(args);
  if (bytes > limits.max_request_bytes()) {
    return Reply::error(fmt::format(
        "ERR request of {} bytes exceeds the largest log entry ({} bytes: max-value-bytes + {}); "
        "send fewer or smaller values per command",
        bytes, limits.max_request_bytes(), kRequestHeadroomBytes));
  }
  return std::nullopt;
}

Reply execute_command(const Engine& engine, WriteBatch* batch,
                      std::span<const std::string_view> args, int64_t now_ms,
                      const CommandLimits& limits) {
  if (args.empty()) return Reply::error("ERR empty command");
  const CommandSpec* spec = find_spec(args[0]);
  if (spec == nullptr) {
    std::string preview;
    for (size_t i = 1; i < args.size() && preview.size() < 128; ++i) {
      preview += fmt::format("'{}' ", args[i].substr(0, 128));
    }
    return Reply::error(fmt::format("ERR unknown command '{}', with args beginning with: {}",
                                    args[0].substr(0, 128), preview));
  }
  const auto argc = static_cast<int>(std::min<size_t>(args.size(), 1 << 30));
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    return wrong_arity(spec->name);
  }
  if (spec->kind == CommandKind::kWrite && batch == nullptr) {
    return Reply::error(
        fmt::format("ERR '{}' is a write command: it must go through the log, not the read path",
                    lowercase(spec->name)));
  }
  return Executor(engine, batch, args, now_ms, limits).run(*spec);
}

Reply execute_command(const Engine& engine, WriteBatch* batch, const std::vector<std::string>& args,
                      int64_t now_ms, const CommandLimits& limits) {
  const std::vector<std::string_view> views(args.begin(), args.end());
  return execute_command(engine, batch, views, now_ms, limits);
}

}  // namespace raftkv::kv
