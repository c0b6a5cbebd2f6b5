#include "client/client.h"

#include <random>
#include <thread>

namespace raftkv::client {
namespace {

using resp::Reply;
using Type = resp::Reply::Type;

Deadline min_deadline(Deadline a, Deadline b) {
  return a < b ? a : b;
}

uint64_t random_device_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device() ^
         static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// A server error reply as a Status the typed helpers return.
Status reply_error(const Reply& reply) {
  return Status(ErrorCode::kInvalidArgument, reply.text);
}

Status unexpected(const Reply& reply, std::string_view expected) {
  return Status(ErrorCode::kInternal, "unexpected reply " + resp::to_debug_string(reply) +
                                          " (expected " + std::string(expected) + ")");
}

Result<int64_t> as_integer(Result<Reply> reply) {
  if (!reply) return reply.status();
  if (reply->type == Type::kError) return reply_error(*reply);
  if (reply->type != Type::kInteger) return unexpected(*reply, "integer");
  return reply->integer;
}

Result<std::optional<std::string>> as_optional_bulk(Result<Reply> reply) {
  if (!reply) return reply.status();
  if (reply->type == Type::kError) return reply_error(*reply);
  if (reply->type == Type::kNullBulk) return std::optional<std::string>();
  if (reply->type != Type::kBulk) return unexpected(*reply, "bulk string");
  return std::optional<std::string>(std::move(reply.value().text));
}

Status as_ok(Result<Reply> reply) {
  if (!reply) return reply.status();
  if (reply->type == Type::kError) return reply_error(*reply);
  if (reply->type != Type::kSimpleString) return unexpected(*reply, "simple string");
  return Status::ok();
}

}  // namespace

Client::Client(ClientOptions options, std::unique_ptr<Rng> rng)
    : options_(std::move(options)), rng_(std::move(rng)) {
  RAFTKV_ASSERT(!options_.seeds.empty(), "Client needs at least one seed address");
  RAFTKV_ASSERT(rng_ != nullptr, "Client needs an Rng");
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
  }
  if (options_.sessions) {
    start_session();
    stats_.new_sessions = 0;  // the first session is not a restart
  }
}

Client::Client(ClientOptions options)
    : Client(std::move(options), std::make_unique<SeededRng>(random_device_seed())) {}

Client::~Client() = default;

void Client::start_session() {
  do {
    client_id_ = rng_->next_u64();
  } while (client_id_ == 0);  // 0 means "no session" to the server
  last_sequence_ = 0;
  acked_sequence_ = 0;
  ++stats_.new_sessions;
}

Result<Reply> Client::command(std::vector<std::string> args) {
  if (args.empty()) return Status(ErrorCode::kInvalidArgument, "empty command");
  ++stats_.calls;
  if (!is_write_command(args[0])) return execute(args, /*ambiguous_unsafe=*/false);
  if (!options_.sessions) return execute(args, !options_.retry_ambiguous_writes);

  const uint64_t sequence = ++last_sequence_;
  std::vector<std::string> wire;
  wire.reserve(args.size() + 4);
  wire.emplace_back("RAFTKV.REQ");
  wire.push_back(std::to_string(client_id_));
  wire.push_back(std::to_string(sequence));
  wire.push_back(std::to_string(acked_sequence_));
  for (auto& arg : args) wire.push_back(std::move(arg));
  auto result = execute(wire, /*ambiguous_unsafe=*/false);
  // The sequence is finished: answered, or abandoned (never to be resent).
  acked_sequence_ = sequence;
  if (result && classify_reply(*result).action == ReplyAction::kSessionExpired) {
    start_session();
    return Status(ErrorCode::kUnavailable,
                  "outcome unknown: the server expired this client's session (" + result->text +
                      "); a new session was started");
  }
  return result;
}

const HostPort& Client::current_target() const {
  return leader_ ? *leader_ : options_.seeds[seed_cursor_];
}

bool Client::move_to_next_target() {
  const auto& seeds = options_.seeds;
  if (leader_) {
    // Skip the failed leader in the seed list too, if it is the next seed.
    if (seeds[seed_cursor_] == *leader_) seed_cursor_ = (seed_cursor_ + 1) % seeds.size();
    leader_.reset();
  } else {
    seed_cursor_ = (seed_cursor_ + 1) % seeds.size();
  }
  if (++failed_targets_in_round_ >= seeds.size()) {
    failed_targets_in_round_ = 0;
    return true;
  }
  return false;
}

Status Client::ensure_connection(const HostPort& target, Deadline deadline) {
  if (connection_ && !connection_->broken() && connection_->peer() == target) return Status::ok();
  connection_.reset();
  auto opened = Connection::open(target, deadline);
  if (!opened) return opened.status();
  connection_ = std::move(opened).value();
  ++stats_.connects;
  return Status::ok();
}

void Client::back_off(uint32_t retry, Deadline deadline) {
  auto delay = backoff_delay(options_.backoff, retry, *rng_);
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::nanoseconds::zero()) return;
  if (delay > left) delay = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
  ++stats_.retries;
  options_.sleep(delay);
}

Result<Reply> Client::execute(const std::vector<std::string>& wire_args, bool ambiguous_unsafe) {
  using Clock = std::chrono::steady_clock;
  const Deadline deadline = Clock::now() + options_.call_timeout;
  uint32_t retry = 0;
  uint32_t redirects = 0;
  uint64_t attempts = 0;
  Status last_error(ErrorCode::kTimeout, "no attempt completed");
  auto outcome_unknown = [&](const std::string& what) {
    return Status(ErrorCode::kUnavailable,
                  "outcome unknown: a write without a session was sent, then " + what +
                      " (enable sessions for safe retries)");
  };

  while (true) {
    const auto now = Clock::now();
    if (now >= deadline) {
      return Status(ErrorCode::kTimeout, "no reply within " +
                                             std::to_string(options_.call_timeout.count()) +
                                             " ms after " + std::to_string(attempts) +
                                             " attempts; last error: " + last_error.to_string());
    }
    ++attempts;
    ++stats_.attempts;
    const HostPort target = current_target();
    if (Status connected =
            ensure_connection(target, min_deadline(deadline, now + options_.connect_timeout));
        !connected) {
      last_error = connected;
      if (move_to_next_target()) back_off(retry++, deadline);
      continue;
    }
    auto reply =
        connection_->call(wire_args, min_deadline(deadline, Clock::now() + options_.io_timeout));
    if (!reply) {
      connection_.reset();  // stream position unknown
      last_error = reply.status();
      if (ambiguous_unsafe) return outcome_unknown(last_error.to_string());
      if (move_to_next_target()) back_off(retry++, deadline);
      continue;
    }
    failed_targets_in_round_ = 0;  // a node answered
    ReplyDecision decision = classify_reply(*reply);
    switch (decision.action) {
      case ReplyAction::kDone:
      case ReplyAction::kSessionExpired:  // command() handles it
        return reply;
      case ReplyAction::kRedirect:
        ++stats_.redirects;
        last_error = Status(ErrorCode::kNotLeader, reply->text);
        leader_ = std::move(decision.redirect);
        if (++redirects > options_.max_immediate_redirects) back_off(retry++, deadline);
        continue;
      case ReplyAction::kRetryElsewhere:
        last_error = Status(ErrorCode::kUnavailable, reply->text);
        move_to_next_target();
        failed_targets_in_round_ = 0;
        back_off(retry++, deadline);
        continue;
      case ReplyAction::kRetry:
        last_error = Status(ErrorCode::kUnavailable, reply->text);
        if (ambiguous_unsafe) return outcome_unknown("the server answered " + reply->text);
        back_off(retry++, deadline);
        continue;
    }
  }
}

Result<std::optional<std::string>> Client::get(const std::string& key) {
  return as_optional_bulk(command({"GET", key}));
}

Status Client::set(const std::string& key, const std::string& value) {
  return as_ok(command({"SET", key, value}));
}

Result<int64_t> Client::del(const std::vector<std::string>& keys) {
  std::vector<std::string> args{"DEL"};
  args.insert(args.end(), keys.begin(), keys.end());
  return as_integer(command(std::move(args)));
}

Result<int64_t> Client::exists(const std::vector<std::string>& keys) {
  std::vector<std::string> args{"EXISTS"};
  args.insert(args.end(), keys.begin(), keys.end());
  return as_integer(command(std::move(args)));
}

Result<int64_t> Client::incr(const std::string& key) {
  return as_integer(command({"INCR", key}));
}

Result<int64_t> Client::incrby(const std::string& key, int64_t delta) {
  return as_integer(command({"INCRBY", key, std::to_string(delta)}));
}

Result<int64_t> Client::append(const std::string& key, const std::string& value) {
  return as_integer(command({"APPEND", key, value}));
}

Result<std::optional<std::string>> Client::getdel(const std::string& key) {
  return as_optional_bulk(command({"GETDEL", key}));
}

Result<std::vector<std::optional<std::string>>> Client::mget(const std::vector<std::string>& keys) {
  std::vector<std::string> args{"MGET"};
  args.insert(args.end(), keys.begin(), keys.end());
  auto reply = command(std::move(args));
  if (!reply) return reply.status();
  if (reply->type == Type::kError) return reply_error(*reply);
  if (reply->type != Type::kArray) return unexpected(*reply, "array");
  std::vector<std::optional<std::string>> values;
  values.reserve(reply->elements.size());
  for (auto& element : reply.value().elements) {
    if (element.type == Type::kBulk) {
      values.emplace_back(std::move(element.text));
    } else if (element.type == Type::kNullBulk) {
      values.emplace_back();
    } else {
      return unexpected(element, "bulk string or nil");
    }
  }
  return values;
}

Status Client::mset(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<std::string> args{"MSET"};
  for (const auto& [key, value] : pairs) {
    args.push_back(key);
    args.push_back(value);
  }
  return as_ok(command(std::move(args)));
}

Status Client::ping() {
  return as_ok(command({"PING"}));
}

}  // namespace raftkv::client
