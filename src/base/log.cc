#include "base/log.h"

#include <atomic>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace raftkv {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};

spdlog::logger& sink() {
  static auto logger = [] {
    auto l = spdlog::stderr_logger_mt("raftkv");
    l->set_pattern("%Y-%m-%d %H:%M:%S.%f %^%L%$ %v");
    l->set_level(spdlog::level::trace);  // filtering happens in Logger::enabled()
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void set_log_level(LogLevel level) {
  g_level.store(level, std::memory_order_relaxed);
}
LogLevel log_level() {
  return g_level.load(std::memory_order_relaxed);
}

bool parse_log_level(std::string_view text, LogLevel* out) {
  static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"off", LogLevel::kOff}};
  for (const auto& [name, level] : kNames) {
    if (text == name) {
      *out = level;
      return true;
    }
  }
  return false;
}

void Logger::rebuild_prefix() {
  prefix_ = fmt::format("[{} n{} g{} t{}]", component_, node_, group_, term_);
}

void Logger::write(LogLevel level, std::string_view message) const {
  sink().log(to_spdlog(level), "{} {}", prefix_, message);
}

}  // namespace raftkv
