// Expected outcomes as values: Status (ok or an error) and Result<T> (a value or an error).
//
// Errors that callers are expected to handle (not leader, compacted, timeout, ...) travel as
// values with an ErrorCode and a human-readable message. Broken invariants are not errors:
// they stop the process (see assert.h).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace raftkv {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed
  kNotLeader,        // this node cannot serve the request; retry at the leader
  kProposalDropped,  // the proposal was not appended (no leader, transfer in progress, ...)
  kTooLarge,         // a value, batch or uncommitted backlog exceeds its configured cap
  kCompacted,        // requested log entries were compacted into a snapshot
  kUnavailable,      // requested log entries are not (yet) available
  kSnapshotTemporarilyUnavailable,
  kTimeout,
  kCorruption,       // persisted data fails its checksum or format checks
  kIoError,          // an operating-system I/O call failed
  kNoSpace,          // ENOSPC
  kVersionMismatch,  // data written by a newer/unknown format version
  kShutdown,         // the component is stopping
  kInternal,
};

std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "ok".
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    RAFTKV_ASSERT(!std::get<Status>(v_).is_ok(), "Result constructed from an ok Status");
  }
  Result(ErrorCode code, std::string message) : Result(Status(code, std::move(message))) {}

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  const T& value() const& {
    RAFTKV_ASSERT(is_ok(), "Result::value() on error: {}", std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  T& value() & {
    RAFTKV_ASSERT(is_ok(), "Result::value() on error: {}", std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  T value() && {
    RAFTKV_ASSERT(is_ok(), "Result::value() on error: {}", std::get<Status>(v_).to_string());
    return std::get<T>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  Status status() const { return is_ok() ? Status() : std::get<Status>(v_); }
  ErrorCode code() const { return is_ok() ? ErrorCode::kOk : std::get<Status>(v_).code(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace raftkv
