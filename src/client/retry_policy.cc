#include "client/retry_policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace raftkv::client {

std::chrono::nanoseconds backoff_delay(const BackoffPolicy& policy, uint32_t attempt, Rng& rng) {
  const double initial = static_cast<double>(std::max<int64_t>(policy.initial_delay.count(), 0));
  const double max = static_cast<double>(std::max<int64_t>(policy.max_delay.count(), 0));
  const double multiplier = std::max(policy.multiplier, 1.0);
  // pow() overflows to inf for large attempts; min() then picks max.
  const double cap_ns = std::min(max, initial * std::pow(multiplier, static_cast<double>(attempt)));
  const auto cap = static_cast<uint64_t>(cap_ns);
  const uint64_t half = cap / 2;
  const uint64_t jitter = rng.uniform(cap - half + 1);  // in [0, cap - half]
  return std::chrono::nanoseconds(static_cast<int64_t>(half + jitter));
}

namespace {

bool starts_with_word(std::string_view text, std::string_view word) {
  if (text.size() < word.size() || text.substr(0, word.size()) != word) return false;
  return text.size() == word.size() || text[word.size()] == ' ';
}

}  // namespace

Result<MovedRedirect> parse_moved(std::string_view error_text) {
  auto invalid = [&] {
    return Result<MovedRedirect>(ErrorCode::kInvalidArgument,
                                 "malformed MOVED reply: '" + std::string(error_text) + "'");
  };
  if (!starts_with_word(error_text, "MOVED")) return invalid();
  std::string_view rest = error_text.substr(5);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const size_t space = rest.find(' ');
  if (space == std::string_view::npos) return invalid();
  uint32_t slot = 0;
  const std::string_view slot_text = rest.substr(0, space);
  const auto [end, ec] =
      std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
  if (ec != std::errc() || end != slot_text.data() + slot_text.size() || slot >= 16384) {
    return invalid();
  }
  std::string_view addr = rest.substr(space + 1);
  while (!addr.empty() && addr.back() == ' ') addr.remove_suffix(1);
  auto address = parse_host_port(addr);
  if (!address) return invalid();
  return MovedRedirect{slot, std::move(address).value()};
}

ReplyDecision classify_reply(const resp::Reply& reply) {
  if (reply.type != resp::Reply::Type::kError) return {};
  const std::string_view text = reply.text;
  if (starts_with_word(text, "MOVED")) {
    auto moved = parse_moved(text);
    if (!moved) return {};
    return {ReplyAction::kRedirect, std::move(moved).value().address};
  }
  if (starts_with_word(text, "CLUSTERDOWN")) return {ReplyAction::kRetryElsewhere, {}};
  if (starts_with_word(text, "TRYAGAIN") || starts_with_word(text, "LOADING")) {
    return {ReplyAction::kRetry, {}};
  }
  if (starts_with_word(text, "SESSIONEXPIRED")) return {ReplyAction::kSessionExpired, {}};
  return {};
}

bool is_write_command(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kWrites = {
      "SET", "SETNX", "DEL", "APPEND", "INCR", "DECR", "INCRBY", "DECRBY", "MSET", "GETDEL"};
  if (name.size() > 8) return false;
  char upper[8];
  for (size_t i = 0; i < name.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[i])));
  }
  const std::string_view key(upper, name.size());
  return std::find(kWrites.begin(), kWrites.end(), key) != kWrites.end();
}

}  // namespace raftkv::client
