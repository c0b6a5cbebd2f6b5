// Logging facade. Every line carries its context: which node, which group, which term.
//
// A Logger is a cheap value owned by a component (a Raft core, a WAL, a connection). The owner
// refreshes the context when it changes (e.g. the core calls set_term() on every term change),
// so call sites never repeat it. Backed by spdlog; formatting is skipped for disabled levels.
// Thread-safety: a Logger instance is used by one thread at a time (its owner's); the sink is
// shared and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/ids.h"

namespace raftkv {

enum class LogLevel : uint8_t { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Process-wide level and output. Defaults: kInfo, stderr.
void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "trace|debug|info|warn|error|off"; returns false on anything else.
bool parse_log_level(std::string_view text, LogLevel* out);

class Logger {
 public:
  explicit Logger(std::string component = "raftkv") : component_(std::move(component)) {
    rebuild_prefix();
  }

  void set_node(NodeId node) {
    node_ = node;
    rebuild_prefix();
  }
  void set_group(GroupId group) {
    group_ = group;
    rebuild_prefix();
  }
  void set_term(Term term) {
    term_ = term;
    rebuild_prefix();
  }

  template <typename... Args>
  void trace(fmt::format_string<Args...> f, Args&&... args) const {
    log(LogLevel::kTrace, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) const {
    log(LogLevel::kDebug, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) const {
    log(LogLevel::kInfo, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) const {
    log(LogLevel::kWarn, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) const {
    log(LogLevel::kError, f, std::forward<Args>(args)...);
  }

  static bool enabled(LogLevel level) { return level >= log_level(); }

 private:
  template <typename... Args>
  void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) const {
    if (!enabled(level)) return;
    write(level, fmt::format(f, std::forward<Args>(args)...));
  }
  void write(LogLevel level, std::string_view message) const;
  void rebuild_prefix();

  std::string component_;
  NodeId node_;
  GroupId group_;
  Term term_;
  std::string prefix_;
};

}  // namespace raftkv
