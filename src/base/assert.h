// Always-on assertions. A broken invariant stops the process with a message that names it;
// they are not compiled out in release builds (NDEBUG has no effect here).
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace raftkv {

// Prints "<file>:<line>: invariant violated: <expr>: <message>" to stderr and aborts.
[[noreturn]] void assertion_failed(const char* file, int line, std::string_view expr,
                                   const std::string& message);

}  // namespace raftkv

#define RAFTKV_ASSERT(cond, ...)                                                         \
  do {                                                                                   \
    if (!(cond)) [[unlikely]] {                                                          \
      ::raftkv::assertion_failed(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__)); \
    }                                                                                    \
  } while (0)

#define RAFTKV_FATAL(...) \
  ::raftkv::assertion_failed(__FILE__, __LINE__, "fatal", ::fmt::format(__VA_ARGS__))
