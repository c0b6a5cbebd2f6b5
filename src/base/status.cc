#include "base/status.h"

#include <fmt/format.h>

namespace raftkv {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotLeader:
      return "not leader";
    case ErrorCode::kProposalDropped:
      return "proposal dropped";
    case ErrorCode::kTooLarge:
      return "too large";
    case ErrorCode::kCompacted:
      return "compacted";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kSnapshotTemporarilyUnavailable:
      return "snapshot temporarily unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kCorruption:
      return "corruption";
    case ErrorCode::kIoError:
      return "I/O error";
    case ErrorCode::kNoSpace:
      return "no space left on device";
    case ErrorCode::kVersionMismatch:
      return "version mismatch";
    case ErrorCode::kShutdown:
      return "shutdown";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown error";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return fmt::format("{}: {}", error_code_name(code_), message_);
}

}  // namespace raftkv
